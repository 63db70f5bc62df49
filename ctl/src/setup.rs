//! `mapminctl provision --apply` and `--remove`: the whole CE from one configuration, and
//! nothing stale from the one before.
//!
//! In place after `--apply` (each step replaces, so running it again changes nothing):
//! - the mapmint device (created if missing), its configuration (one CONFIG_SET), up, with the
//!   configuration's MTU;
//! - the CE's IPv4 address on the device, the IPv4 default route into it, and a route for its
//!   MAP address (/128: the rest of the delegated prefix stays the LAN's);
//! - the NAPT into the port set (the contiguous range under `port-mapping contiguous`), with
//!   nft (one table of its own, replaced atomically) or iptables (a chain of its own), and the
//!   TCP MSS clamping of forwarded connections through the device in the same table (iptables:
//!   a chain of the same name in the mangle table).
//!
//! What was put in place is written to a state file, so that the next `--apply` (a new lease)
//! removes the address and route the old configuration had, and `--remove` undoes all.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use mapcore::config::PortMapping;

use crate::config_file::ConfigFile;
use mapcore::genl::cmd;
use mapcore::Mode;
use serde_json::{json, Value};

use crate::control::ifindex_attr;
use crate::nl::{self, Genl};

/// The NAT front end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Nat {
    /// nft (nftables).
    #[default]
    Nft,
    /// iptables (whichever the system's `iptables` is).
    Iptables,
    /// iptables-legacy.
    IptablesLegacy,
}

impl Nat {
    pub fn name(self) -> &'static str {
        match self {
            Nat::Nft => "nft",
            Nat::Iptables => "iptables",
            Nat::IptablesLegacy => "iptables-legacy",
        }
    }

    pub fn of(name: &str) -> Option<Self> {
        [Nat::Nft, Nat::Iptables, Nat::IptablesLegacy].into_iter().find(|n| n.name() == name)
    }
}

/// What `--apply` put in place.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    dev: String,
    created_dev: bool,
    ipv4: Ipv4Addr,
    map_address: Ipv6Addr,
    nat: Nat,
}

impl State {
    fn to_json(&self) -> Value {
        json!({
            "dev": self.dev,
            "created_dev": self.created_dev,
            "ipv4": self.ipv4.to_string(),
            "map_address": self.map_address.to_string(),
            "nat": self.nat.name(),
        })
    }

    fn from_json(v: &Value) -> Option<Self> {
        Some(State {
            dev: v["dev"].as_str()?.to_string(),
            created_dev: v["created_dev"].as_bool()?,
            ipv4: v["ipv4"].as_str()?.parse().ok()?,
            map_address: v["map_address"].as_str()?.parse().ok()?,
            nat: Nat::of(v["nat"].as_str()?)?,
        })
    }
}

/// The state file of `dev` unless one is given.
pub fn state_path(given: Option<&Path>, dev: &str) -> PathBuf {
    given.map_or_else(|| PathBuf::from(format!("/run/mapmint/provision-{dev}.json")), Path::to_path_buf)
}

/// A lock held (until the file closes) while `apply` or `remove` changes a device. DHCPv6
/// clients start their hooks without waiting for the one before (dhcpcd), so a release's
/// removal and the next lease's apply could interleave their steps, the removal taking the new
/// address away; with the lock they take turns, in the order they started.
fn take_turn(state_file: &Path) -> Result<std::fs::File, String> {
    let path = state_file.with_extension("lock");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.lock().map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file)
}

/// The NAT front end of what `--apply` put in place, by its state file.
pub fn provisioned_nat(path: &Path) -> Option<Nat> {
    read_state(path).ok().flatten().map(|s| s.nat)
}

/// How much larger an IPv4 packet leaves the device: RFC 7915's IPv6 header replaces the IPv4
/// one (MAP-T), or an IPv6 header is added (MAP-E).
pub fn map_header_growth(mode: Mode) -> u32 {
    if mode == Mode::MapE { 40 } else { 20 }
}

/// The device up, with `mtu` when one is configured.
pub fn link_up(dev: &str, mtu: Option<u16>) -> Result<(), String> {
    let mtu = mtu.map(|m| m.to_string());
    let mut link = vec!["link", "set", "dev", dev, "up"];
    if let Some(mtu) = &mtu {
        link.extend(["mtu", mtu]);
    }
    run("ip", &link, None)
}

fn read_state(path: &Path) -> Result<Option<State>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let value: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            State::from_json(&value).map(Some).ok_or_else(|| format!("{}: not a state file of mapminctl provision", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Runs a program; its failure (with stderr) is an error.
fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    use std::io::Write;
    let mut command = Command::new(program);
    command.args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    if stdin.is_some() {
        command.stdin(std::process::Stdio::piped());
    }
    let mut child = command.spawn().map_err(|e| format!("{program}: {e}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).map_err(|e| format!("{program}: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Runs a program whose failure means "nothing to remove".
fn run_quietly(program: &str, args: &[&str]) {
    let _ = Command::new(program).args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status();
}

fn nft_table(dev: &str) -> String {
    format!("mapmint_provision_{dev}").replace(['-', '.'], "_")
}

fn iptables_chain(dev: &str) -> String {
    format!("MAPMINT_{dev}")
}

/// An iptables chain of ours in `table`, hooked into `builtin` once (`hook` selects the
/// packets), holding exactly `rules`.
fn iptables_chain_apply(program: &str, table: &str, builtin: &str, hook: &[&str], chain: &str, rules: &[Vec<&str>]) -> Result<(), String> {
    run_quietly(program, &["-t", table, "-N", chain]);
    run(program, &["-t", table, "-F", chain], None)?;
    for rule in rules {
        let mut args = vec!["-t", table, "-A", chain];
        args.extend(rule.iter().copied());
        run(program, &args, None)?;
    }
    let jump = |op: &'static str| -> Vec<&str> {
        let mut args = vec!["-t", table, op, builtin];
        args.extend(hook.iter().copied());
        args.extend(["-j", chain]);
        args
    };
    if run(program, &jump("-C"), None).is_err() {
        run(program, &jump("-A"), None)?;
    }
    Ok(())
}

fn iptables_chain_remove(program: &str, table: &str, builtin: &str, hook: &[&str], chain: &str) {
    let mut args = vec!["-t", table, "-D", builtin];
    args.extend(hook.iter().copied());
    args.extend(["-j", chain]);
    run_quietly(program, &args);
    run_quietly(program, &["-t", table, "-F", chain]);
    run_quietly(program, &["-t", table, "-X", chain]);
}

/// The NAPT (`to` is ADDRESS:FIRST-LAST) and the TCP MSS clamping of forwarded connections:
/// SYNs and SYN-ACKs through `dev`, both ways, carry at most `mss`, so that neither end sends
/// segments that grow past the MAP link's MTU (the LAN hosts know only their 1500-byte link,
/// and the device's MTU is the IPv6 link's, so the route's MTU would not clamp). Both front
/// ends only lower an MSS (nft's exthdr set and xt_TCPMSS never raise one).
fn nat_apply(nat: Nat, dev: &str, to: &str, mss: u32) -> Result<(), String> {
    match nat {
        Nat::Nft => {
            let table = nft_table(dev);
            // declared, deleted and declared again in one transaction: replaced atomically
            let script = format!(
                "table ip {table} {{}}\ndelete table ip {table}\ntable ip {table} {{\n\
                 \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat;\n\
                 \t\toifname \"{dev}\" meta l4proto {{ tcp, udp, icmp }} snat ip to {to}\n\t}}\n\
                 \tchain forward {{\n\t\ttype filter hook forward priority mangle;\n\
                 \t\toifname \"{dev}\" tcp flags syn / syn,rst tcp option maxseg size set {mss}\n\
                 \t\tiifname \"{dev}\" tcp flags syn / syn,rst tcp option maxseg size set {mss}\n\t}}\n}}\n"
            );
            run("nft", &["-f", "-"], Some(&script))
        }
        Nat::Iptables | Nat::IptablesLegacy => {
            let program = nat.name();
            let chain = iptables_chain(dev);
            let snat = ["tcp", "udp", "icmp"].map(|proto| vec!["-p", proto, "-j", "SNAT", "--to-source", to]);
            iptables_chain_apply(program, "nat", "POSTROUTING", &["-o", dev], &chain, &snat)?;
            let mss = mss.to_string();
            let clamp = ["-o", "-i"].map(|way| vec![way, dev, "-p", "tcp", "--tcp-flags", "SYN,RST", "SYN", "-j", "TCPMSS", "--set-mss", &mss]);
            iptables_chain_apply(program, "mangle", "FORWARD", &[], &chain, &clamp)
        }
    }
}

fn nat_remove(nat: Nat, dev: &str) {
    match nat {
        Nat::Nft => run_quietly("nft", &["delete", "table", "ip", &nft_table(dev)]),
        Nat::Iptables | Nat::IptablesLegacy => {
            let program = nat.name();
            let chain = iptables_chain(dev);
            iptables_chain_remove(program, "nat", "POSTROUTING", &["-o", dev], &chain);
            iptables_chain_remove(program, "mangle", "FORWARD", &[], &chain);
        }
    }
}

/// Puts the configuration `file` in place on `dev`; returns what was done, one line each.
pub fn apply(file: &ConfigFile, dev: &str, nat: Nat, state_file: &Path) -> Result<String, String> {
    let _turn = take_turn(state_file)?;
    let config = &file.config;
    let mapping = config
        .ce_mapping()
        .ok_or("the configuration has no CE mapping")?
        .map_err(|e| e.to_string())?;
    let previous = read_state(state_file)?;
    let mut done = String::new();
    let mut note = |s: String| {
        done.push_str(&s);
        done.push('\n');
    };
    let created_dev = match nl::ifindex(dev) {
        Ok(_) => previous.as_ref().is_some_and(|p| p.dev == dev && p.created_dev),
        Err(_) => {
            nl::link_add(dev).map_err(|e| format!("creating {dev}: {e}"))?;
            note(format!("created {dev}"));
            true
        }
    };
    crate::control::config_set(dev, file).map_err(|e| format!("configuring {dev}: {e}"))?;
    note(format!("configured {dev}"));
    link_up(dev, config.mtu)?;
    // What the previous configuration had and this one has not goes first.
    if let Some(prev) = previous.as_ref().filter(|p| p.dev == dev) {
        if prev.ipv4 != mapping.ipv4.addr {
            run_quietly("ip", &["addr", "del", &format!("{}/32", prev.ipv4), "dev", dev]);
            note(format!("removed the old address {}", prev.ipv4));
        }
        if prev.map_address != mapping.map_address {
            run_quietly("ip", &["-6", "route", "del", &format!("{}/128", prev.map_address), "dev", dev]);
            note(format!("removed the old route to {}", prev.map_address));
        }
        if prev.nat != nat {
            nat_remove(prev.nat, dev);
        }
    }
    let ipv4 = mapping.ipv4.addr;
    run("ip", &["addr", "replace", &format!("{ipv4}/32"), "dev", dev], None)?;
    run("ip", &["route", "replace", "default", "dev", dev], None)?;
    run("ip", &["-6", "route", "replace", &format!("{}/128", mapping.map_address), "dev", dev], None)?;
    note(format!("{ipv4}/32 on {dev}, the IPv4 default route and {}/128 into it", mapping.map_address));
    let set = mapping.port_set;
    let ports = match config.port_mapping {
        PortMapping::Contiguous => set.contiguous_range(),
        PortMapping::Off if set.range_count() == 1 => set.range(0).ok_or("the port set has no range")?,
        PortMapping::Off => return Err("a port set of several ranges needs port-mapping contiguous for one NAPT rule".into()),
    };
    let to = if mapping.ipv4.len == 32 {
        format!("{ipv4}:{ports}")
    } else {
        // a CE given a prefix: all its addresses, all ports
        let last = Ipv4Addr::from(u32::from(ipv4) | (u32::MAX >> mapping.ipv4.len));
        format!("{ipv4}-{last}")
    };
    let dev_mtu: u32 = std::fs::read_to_string(format!("/sys/class/net/{dev}/mtu"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("cannot read the MTU of {dev}"))?;
    // the MAP header, then IPv4 and TCP headers without options
    let mss = dev_mtu.saturating_sub(map_header_growth(config.mode) + 40);
    nat_apply(nat, dev, &to, mss)?;
    note(format!("NAPT to {to} with {}, TCP MSS clamped to {mss} through {dev}", nat.name()));
    let state = State { dev: dev.to_string(), created_dev, ipv4, map_address: mapping.map_address, nat };
    if let Some(dir) = state_file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(state_file, state.to_json().to_string() + "\n").map_err(|e| format!("{}: {e}", state_file.display()))?;
    Ok(done)
}

/// Undoes what `apply` put in place on `dev` (by its state file).
pub fn remove(dev: &str, state_file: &Path) -> Result<String, String> {
    let _turn = take_turn(state_file)?;
    let state = read_state(state_file)?.ok_or_else(|| format!("{}: nothing provisioned on {dev}", state_file.display()))?;
    nat_remove(state.nat, &state.dev);
    run_quietly("ip", &["-6", "route", "del", &format!("{}/128", state.map_address), "dev", &state.dev]);
    run_quietly("ip", &["route", "del", "default", "dev", &state.dev]);
    run_quietly("ip", &["addr", "del", &format!("{}/32", state.ipv4), "dev", &state.dev]);
    let mut done = format!("removed the NAPT, routes and address of {}\n", state.dev);
    if state.created_dev {
        if let Ok(index) = nl::ifindex(&state.dev) {
            nl::link_del(index).map_err(|e| format!("deleting {}: {e}", state.dev))?;
            done.push_str(&format!("deleted {}\n", state.dev));
        }
    } else if let Ok(index) = nl::ifindex(&state.dev) {
        // not ours to delete: its configuration goes
        let genl = Genl::connect().map_err(|e| e.to_string())?;
        genl.change(cmd::RULE_FLUSH, &[ifindex_attr(index)]).map_err(|e| e.to_string())?;
        run_quietly("ip", &["link", "set", "dev", &state.dev, "down"]);
        done.push_str(&format!("flushed the rules of {} and set it down\n", state.dev));
    }
    std::fs::remove_file(state_file).map_err(|e| format!("{}: {e}", state_file.display()))?;
    Ok(done)
}
