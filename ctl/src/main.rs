//! mapminctl: the control tool of the mapmint translator.

use clap::{Parser, Subcommand};

/// Control tool for the mapmint MAP-E/MAP-T translator (RFC 7597, RFC 7599).
#[derive(Parser, Debug)]
#[command(name = "mapminctl", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the version of mapminctl.
    Version,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Version) => println!("mapminctl {}", env!("CARGO_PKG_VERSION")),
        None => {
            use clap::CommandFactory;
            Cli::command().print_help().expect("stdout");
            println!();
        }
    }
}
