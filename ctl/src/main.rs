//! mapminctl: the control tool of the mapmint translator.

mod calc;

use std::io::Write;
use std::process::ExitCode;

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
    /// Compute MAP addresses, PSIDs and port sets from a rule (like OpenWrt's mapcalc).
    #[command(after_help = "Examples (RFC 7597 Appendix A):
  mapminctl calc --rule 2001:db8::/40,192.0.2.0/24,16 --prefix 2001:db8:12:3400::/56
  mapminctl calc --rule 2001:db8::/40,192.0.2.0/24,16 --ipv4 192.0.2.18 --port 1232
  mapminctl calc --rule 2001:db8::/40,192.0.2.0/24,16 --ipv6 2001:db8:12:3400:0:c000:212:34
  mapminctl calc --dmr 2001:db8:ffff::/64 --ipv4 10.2.3.4 --json")]
    Calc(calc::CalcArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Version) => println!("mapminctl {}", env!("CARGO_PKG_VERSION")),
        Some(Command::Calc(args)) => match calc::calc(&args) {
            Ok(answer) => {
                let out = if args.json { answer.to_json() + "\n" } else { answer.to_text() };
                if std::io::stdout().write_all(out.as_bytes()).is_err() {
                    return ExitCode::FAILURE;
                }
            }
            Err(calc::InputError(message)) => {
                eprintln!("mapminctl calc: {message}");
                return ExitCode::from(2);
            }
        },
        None => {
            use clap::CommandFactory;
            Cli::command().print_help().expect("stdout");
            println!();
        }
    }
    ExitCode::SUCCESS
}
