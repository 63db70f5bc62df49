//! mapminctl: the control tool of the mapmint translator.

mod calc;
mod config_file;
mod control;
mod nl;
mod persist;
mod provision;
mod setup;
mod stats;
mod translate;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Control tool for the mapmint MAP-E/MAP-T translator (RFC 7597, RFC 7599).
#[derive(Parser, Debug)]
#[command(name = "mapminctl", version, about, long_about = None)]
struct Cli {
    /// Print JSON (every show, and calc).
    #[arg(short = 'j', long)]
    json: bool,
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
    /// Instances: dev show [NAME] | add NAME | del NAME | set NAME SETTING...
    #[command(subcommand)]
    Dev(control::DevCommand),
    /// Mapping rules: rule add|del|show|flush [dev NAME] bmr|fmr ...
    #[command(subcommand)]
    Rule(control::RuleCommand),
    /// Replace an instance's whole configuration with a file's, atomically.
    #[command(after_help = "Example:\n  mapminctl apply --config /etc/mapmint.conf dev mapmint")]
    Apply(control::ApplyArgs),
    /// Counters: packets and bytes translated each way, ICMP errors sent, drops by reason.
    #[command(after_help = "Examples:
  mapminctl stats                  the default instance, mapmint
  mapminctl stats dev m0 --all     every drop reason, also those at 0
  mapminctl -j stats --all-devices every instance in this network namespace, as a JSON array")]
    Stats(stats::StatsArgs),
    /// A CE's configuration from an ISP's DHCPv6 S46 options (RFC 7598), in `apply` syntax.
    #[command(after_help = "Examples:
  mapminctl provision --pcap dhcpv6.pcap                  the last Reply's MAP container and delegated prefix
  mapminctl provision --hex 005f001c... --prefix 2001:db8:ce:11b::/64
  mapminctl provision --odhcp6c \"$MAPT\" --prefix \"$PREFIX\"
  mapminctl provision --env > /etc/mapmint.conf          in a DHCPv6 client's hook
  mapminctl provision --env --apply                       ... and put it all in place
  mapminctl provision --remove                            undo it
Output: the configuration with a comment for every choice; -j: JSON.")]
    Provision(provision::ProvisionArgs),
    /// Write every mapmint device's configuration to /etc/mapmint/NAME.conf (for restore at boot).
    Save(persist::SaveArgs),
    /// Put back what save wrote: each device created if missing, configured, up (mapmint.service).
    Restore(persist::RestoreArgs),
    /// Run the MAP core offline on a pcap or raw-IP file: translated packets and one verdict per packet.
    #[command(after_help = translate::AFTER_HELP)]
    Translate(translate::TranslateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Version) => println!("mapminctl {}", env!("CARGO_PKG_VERSION")),
        Some(Command::Calc(args)) => match calc::calc(&args) {
            Ok(answer) => {
                let out = if args.json || cli.json { answer.to_json() + "\n" } else { answer.to_text() };
                if std::io::stdout().write_all(out.as_bytes()).is_err() {
                    return ExitCode::FAILURE;
                }
            }
            Err(calc::InputError(message)) => {
                eprintln!("mapminctl calc: {message}");
                return ExitCode::from(2);
            }
        },
        Some(Command::Dev(command)) => return control_output(command.verb(), control::dev(command, cli.json)),
        Some(Command::Rule(command)) => return control_output(command.verb(), control::rule(command, cli.json)),
        Some(Command::Apply(args)) => return control_output("apply", control::apply(args)),
        Some(Command::Stats(args)) => return control_output("stats", stats::stats(args, cli.json)),
        Some(Command::Save(args)) => return control_output("save", persist::save(args)),
        Some(Command::Restore(args)) => return control_output("restore", persist::restore(args)),
        Some(Command::Translate(args)) => return translate::run(&args, cli.json),
        Some(Command::Provision(args)) => match provision::run(&args) {
            Ok((text, json)) => {
                // (also on stderr: the configuration usually goes to a file)
                for warning in json["warnings"].as_array().into_iter().flatten() {
                    eprintln!("mapminctl provision: warning: {}", warning.as_str().unwrap_or_default());
                }
                let out = if cli.json { json.to_string() + "\n" } else { text };
                if std::io::stdout().write_all(out.as_bytes()).is_err() {
                    return ExitCode::FAILURE;
                }
            }
            Err(message) => {
                eprintln!("mapminctl provision: {message}");
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

/// Prints a control command's output, or `mapminctl: VERB: why` with exit 1 (failed) or 2 (usage).
fn control_output(verb: &'static str, outcome: Result<String, control::Failure>) -> ExitCode {
    match outcome {
        Ok(out) => {
            if std::io::stdout().write_all(out.as_bytes()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("mapminctl: {verb}: {}", failure.message());
            ExitCode::from(failure.exit_code())
        }
    }
}
