//! `mapminctl calc`: the MAP core's arithmetic on the command line (like OpenWrt's mapcalc).
//!
//! - `--rule R --prefix P`: what a CE derives from its BMR and End-user IPv6 prefix;
//! - `--rule R --ipv4 A [--port N]`: the PSID and MAP IPv6 address owning `A:N` (FMR, BR);
//! - `--rule R --ipv6 X`: the IPv4 address and PSID a MAP IPv6 address carries;
//! - `--dmr D --ipv4 A` / `--dmr D --ipv6 X`: RFC 6052 embedding and extraction.
//!
//! `R` is either the comma form `<ipv6-prefix>,<ipv4-prefix>,<ea-len>[,<psid-offset>]` or
//! the rule text syntax `<ipv6-prefix> <ipv4-prefix> ea-len N [psid-offset A] ...`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use clap::{Args, ValueEnum};
use mapcore::{
    parse_rule_csv_params, parse_rule_params, Ipv6Prefix, MapError, Mode, PortSet, Rfc6052Prefix, Rule, RuleParams,
};
use serde_json::{json, Value};

/// Arguments of `mapminctl calc`. Values are taken as text and checked here, so that every
/// illegal value gets one line naming it.
#[derive(Args, Debug, Default)]
pub struct CalcArgs {
    /// Mapping rule: <ipv6-prefix>,<ipv4-prefix>,<ea-len>[,<psid-offset>], or the rule syntax
    /// "<ipv6-prefix> <ipv4-prefix> ea-len N [psid-offset A] [psid-len K psid P]".
    #[arg(long, value_name = "RULE")]
    pub rule: Option<String>,
    /// End-user IPv6 prefix of a CE (with --rule).
    #[arg(long, value_name = "IPV6-PREFIX")]
    pub prefix: Option<String>,
    /// IPv4 address to map (with --rule or --dmr).
    #[arg(long, value_name = "ADDR")]
    pub ipv4: Option<String>,
    /// Port of the IPv4 address (with --rule --ipv4; needed when the rule shares addresses).
    /// With --prefix: a port of the CE's set, to show the NAPT-side port that stands for it
    /// under `port-mapping contiguous`.
    #[arg(long, value_name = "N")]
    pub port: Option<String>,
    /// With --rule --prefix: a NAPT-side port of `port-mapping contiguous`, to show the port of
    /// the set it stands for.
    #[arg(long, value_name = "N")]
    pub napt_port: Option<String>,
    /// The mapmint device the printed NAT rules name (with --prefix).
    #[arg(long, value_name = "NAME", default_value = "mapmint")]
    pub dev: String,
    /// IPv6 address to map back: a MAP address (with --rule) or an RFC 6052 address (with --dmr).
    #[arg(long, value_name = "ADDR")]
    pub ipv6: Option<String>,
    /// The legacy (pre-RFC 7597) interface identifier format of the Japanese IPoE providers'
    /// MAP-E (OpenWrt's `legacymap`); the PSID offset defaults to 4 then. The rule keyword
    /// `legacy` says the same.
    #[arg(long)]
    pub legacy: bool,
    /// Explicit PSID length, for rules whose EA bits carry no PSID (with --psid).
    #[arg(long, value_name = "K")]
    pub psid_len: Option<String>,
    /// Explicit PSID, for rules whose EA bits carry no PSID (with --psid-len).
    #[arg(long, value_name = "P")]
    pub psid: Option<String>,
    /// Default Mapping Rule / RFC 6052 prefix (32, 40, 48, 56, 64 or 96 bits).
    #[arg(long, value_name = "IPV6-PREFIX")]
    pub dmr: Option<String>,
    /// MAP address form: e (RFC 7597 §6) or t (RFC 7599: the full IPv4 address in the
    /// interface identifier of a CE given an IPv4 prefix).
    #[arg(long, value_enum, default_value_t = ModeArg::E)]
    pub mode: ModeArg,
    /// Print one JSON object instead of text.
    #[arg(short = 'j', long)]
    pub json: bool,
}

/// `--mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// MAP-E.
    #[default]
    E,
    /// MAP-T.
    T,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::E => Mode::MapE,
            ModeArg::T => Mode::MapT,
        }
    }
}

/// The answer: ordered (key, value) pairs, printed as text or JSON.
#[derive(Debug, Default, PartialEq)]
pub struct Answer {
    pub fields: Vec<(&'static str, Value)>,
}

impl Answer {
    fn push(&mut self, key: &'static str, value: Value) {
        self.fields.push((key, value));
    }

    /// One JSON object.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, Value> =
            self.fields.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect();
        Value::Object(map).to_string()
    }

    /// `key  value` lines; port ranges as `first-last` separated by spaces.
    pub fn to_text(&self) -> String {
        let width = self.fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (key, value) in &self.fields {
            let text = match (*key, value) {
                ("port_ranges", Value::Array(ranges)) => ranges
                    .iter()
                    .map(|r| match r.as_array().map(Vec::as_slice) {
                        Some([first, last]) => format!("{first}-{last}"),
                        _ => r.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                ("napt_ports", Value::Array(ends)) => match ends.as_slice() {
                    [first, last] => format!("{first}-{last}"),
                    _ => value.to_string(),
                },
                // one command per line, under each other
                ("iptables_rules", Value::Array(lines)) => lines
                    .iter()
                    .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(&format!("\n{:width$}  ", "")),
                ("psid", Value::Number(n)) => format!("{n} (0x{:x})", n.as_u64().unwrap_or(0)),
                (_, Value::String(s)) => s.clone(),
                (_, other) => other.to_string(),
            };
            let _ = writeln!(out, "{key:<width$}  {text}");
        }
        out
    }
}

/// Illegal input: one line naming the bad value (exit code 2).
#[derive(Debug, PartialEq, Eq)]
pub struct InputError(pub String);

fn bad(msg: impl Into<String>) -> InputError {
    InputError(msg.into())
}

fn parse_number(option: &str, text: &str, max: u32) -> Result<u32, InputError> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => u32::from_str_radix(hex, 16).ok(),
        None if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => text.parse::<u32>().ok(),
        _ => None,
    };
    parsed
        .filter(|n| *n <= max)
        .ok_or_else(|| bad(format!("bad {option} '{text}': not a number from 0 to {max}")))
}

fn parse_ipv4(option: &str, text: &str) -> Result<Ipv4Addr, InputError> {
    text.parse().map_err(|_| bad(format!("bad {option} '{text}': not an IPv4 address")))
}

fn parse_ipv6(option: &str, text: &str) -> Result<Ipv6Addr, InputError> {
    text.parse().map_err(|_| bad(format!("bad {option} '{text}': not an IPv6 address")))
}

fn parse_ipv6_prefix(option: &str, text: &str) -> Result<Ipv6Prefix, InputError> {
    Ipv6Prefix::parse(text).map_err(|e| bad(format!("bad {option} '{text}': {e}")))
}

/// The rule of `--rule` (either syntax) with `--psid-len`/`--psid` applied.
pub fn parse_rule_arg(args: &CalcArgs, text: &str) -> Result<Rule, InputError> {
    let parsed = if text.trim().contains(char::is_whitespace) {
        parse_rule_params(text)
    } else {
        parse_rule_csv_params(text)
    };
    let mut params: RuleParams = parse_rule_params_or(parsed)?;
    params.legacy |= args.legacy;
    if let Some(k) = &args.psid_len {
        if params.psid_len.is_some() {
            return Err(bad(format!("bad --psid-len '{k}': the rule already gives psid-len")));
        }
        params.psid_len = Some(parse_number("--psid-len", k, 255)? as u8);
    }
    if let Some(p) = &args.psid {
        if params.psid.is_some() {
            return Err(bad(format!("bad --psid '{p}': the rule already gives psid")));
        }
        params.psid = Some(parse_number("--psid", p, 65535)? as u16);
    }
    Rule::new(params).map_err(|e| bad(format!("bad --rule '{text}': {e}")))
}

fn parse_rule_params_or(parsed: Result<RuleParams, mapcore::TextError<'_>>) -> Result<RuleParams, InputError> {
    parsed.map_err(|e| bad(format!("bad --rule: {e}")))
}

fn ranges_json(set: &PortSet) -> Value {
    Value::Array(set.ranges().map(|r| json!([r.first, r.last])).collect())
}

fn ipv4_text(addr: Ipv4Addr, len: u8) -> String {
    if len == 32 {
        addr.to_string()
    } else {
        format!("{addr}/{len}")
    }
}

fn port_set_fields(answer: &mut Answer, set: &PortSet) {
    answer.push("psid", json!(set.psid()));
    answer.push("psid_len", json!(set.psid_len()));
    answer.push("psid_offset", json!(set.offset()));
    answer.push("port_ranges", ranges_json(set));
}

/// What `port-mapping contiguous` gives a CE with a shared address: the NAPT-side range, the
/// one NAT rule that fills it (nft; iptables needs one per protocol to take a port range),
/// and the port asked for with --port or --napt-port on the other side.
fn napt_fields(answer: &mut Answer, args: &CalcArgs, ipv4: &str, set: &PortSet) -> Result<(), InputError> {
    let port = args.port.as_deref().map(|p| parse_number("--port", p, 65535)).transpose()?;
    let napt_port = args.napt_port.as_deref().map(|p| parse_number("--napt-port", p, 65535)).transpose()?;
    if set.is_whole() {
        return match port.or(napt_port) {
            Some(_) => Err(bad("--port and --napt-port need a shared address (a PSID length above 0)")),
            None => Ok(()),
        };
    }
    let range = set.contiguous_range();
    answer.push("napt_ports", json!([range.first, range.last]));
    let dev = &args.dev;
    let to = format!("{ipv4}:{range}");
    answer.push("nft_rule", json!(format!("oifname \"{dev}\" meta l4proto {{ tcp, udp, icmp }} snat ip to {to}")));
    let iptables: Vec<String> = ["tcp", "udp", "icmp"]
        .iter()
        .map(|p| format!("iptables -t nat -A POSTROUTING -o {dev} -p {p} -j SNAT --to-source {to}"))
        .collect();
    answer.push("iptables_rules", json!(iptables));
    match (port, napt_port) {
        (Some(_), Some(_)) => return Err(bad("--port and --napt-port cannot be used together")),
        (Some(real), None) => {
            let napt = set
                .to_contiguous(real as u16)
                .ok_or_else(|| bad(format!("bad --port '{real}': not in the CE's port set")))?;
            answer.push("port", json!(real));
            answer.push("napt_port", json!(napt));
        }
        (None, Some(napt)) => {
            let real = set
                .to_real(napt as u16)
                .ok_or_else(|| bad(format!("bad --napt-port '{napt}': not in the NAPT range {range}")))?;
            answer.push("napt_port", json!(napt));
            answer.push("port", json!(real));
        }
        (None, None) => {}
    }
    Ok(())
}

/// Runs `calc` and returns its answer.
pub fn calc(args: &CalcArgs) -> Result<Answer, InputError> {
    let mode = Mode::from(args.mode);
    let mut answer = Answer::default();
    match (&args.rule, &args.dmr) {
        (Some(_), Some(_)) => Err(bad("--rule and --dmr cannot be used together")),
        (None, None) => Err(bad("calc needs --rule (with --prefix, --ipv4 or --ipv6) or --dmr (with --ipv4 or --ipv6)")),
        (None, Some(dmr_text)) => {
            if args.prefix.is_some()
                || args.port.is_some()
                || args.napt_port.is_some()
                || args.psid.is_some()
                || args.psid_len.is_some()
            {
                return Err(bad("--dmr takes only --ipv4 or --ipv6"));
            }
            let dmr = Rfc6052Prefix::new(parse_ipv6_prefix("--dmr", dmr_text)?)
                .map_err(|e| bad(format!("bad --dmr '{dmr_text}': {e}")))?;
            match (&args.ipv4, &args.ipv6) {
                (Some(v4), None) => {
                    let v4 = parse_ipv4("--ipv4", v4)?;
                    answer.push("ipv4", json!(v4.to_string()));
                    answer.push("ipv6", json!(dmr.embed(v4).to_string()));
                }
                (None, Some(v6)) => {
                    let v6 = parse_ipv6("--ipv6", v6)?;
                    let v4 = dmr.extract(v6).map_err(|e| bad(format!("bad --ipv6 '{v6}': {e}")))?;
                    answer.push("ipv4", json!(v4.to_string()));
                    answer.push("ipv6", json!(v6.to_string()));
                }
                _ => return Err(bad("--dmr needs exactly one of --ipv4 and --ipv6")),
            }
            answer.push("dmr", json!(dmr.to_string()));
            Ok(answer)
        }
        (Some(rule_text), None) => {
            let rule = parse_rule_arg(args, rule_text)?;
            match (&args.prefix, &args.ipv4, &args.ipv6) {
                (Some(prefix_text), None, None) => {
                    let prefix = parse_ipv6_prefix("--prefix", prefix_text)?;
                    let ce = rule.ce_mapping(prefix).map_err(|e| bad(format!("bad --prefix '{prefix_text}': {e}")))?;
                    let ipv4 = ipv4_text(ce.ipv4.addr, ce.ipv4.len);
                    answer.push("ipv4", json!(ipv4));
                    port_set_fields(&mut answer, &ce.port_set);
                    answer.push("map_address", json!(ce.map_address.to_string()));
                    answer.push("end_user_prefix", json!(ce.end_user_prefix.to_string()));
                    napt_fields(&mut answer, args, &ipv4, &ce.port_set)?;
                }
                (None, Some(v4_text), None) => {
                    if args.napt_port.is_some() {
                        return Err(bad("--napt-port goes with --prefix"));
                    }
                    let v4 = parse_ipv4("--ipv4", v4_text)?;
                    let port = args.port.as_deref().map(|p| parse_number("--port", p, 65535)).transpose()?;
                    let (psid, map_address) = match port {
                        Some(port) => rule.map_address_for_port(v4, port as u16, mode).map_err(|e| match e {
                            MapError::Ipv4NotInRule { .. } => bad(format!("bad --ipv4 '{v4_text}': {e}")),
                            _ => bad(format!("bad --port '{port}': {e}")),
                        })?,
                        None if rule.psid_len() == 0 || rule.explicit_psid().is_some() => {
                            let psid = rule.explicit_psid().unwrap_or(0);
                            let a = rule.map_address(v4, psid, mode).map_err(|e| bad(format!("bad --ipv4 '{v4_text}': {e}")))?;
                            (psid, a)
                        }
                        None => {
                            return Err(bad(format!(
                                "--port is needed: the rule shares each IPv4 address among {} CEs (PSID length {})",
                                rule.sharing_ratio(),
                                rule.psid_len()
                            )))
                        }
                    };
                    let set = rule.port_set(psid).map_err(|e| bad(e.to_string()))?;
                    answer.push("ipv4", json!(v4.to_string()));
                    if let Some(port) = port {
                        answer.push("port", json!(port));
                    }
                    port_set_fields(&mut answer, &set);
                    answer.push("map_address", json!(map_address.to_string()));
                }
                (None, None, Some(v6_text)) => {
                    if args.port.is_some() || args.napt_port.is_some() {
                        return Err(bad("--port goes with --ipv4 or --prefix, not --ipv6"));
                    }
                    let v6 = parse_ipv6("--ipv6", v6_text)?;
                    let d = rule.decode(v6, mode).map_err(|e| bad(format!("bad --ipv6 '{v6_text}': {e}")))?;
                    let set = rule.port_set(d.psid).map_err(|e| bad(e.to_string()))?;
                    let shown = if mode == Mode::MapE { ipv4_text(d.ce_ipv4.addr, d.ce_ipv4.len) } else { d.ipv4.to_string() };
                    answer.push("ipv4", json!(shown));
                    port_set_fields(&mut answer, &set);
                    answer.push("map_address", json!(v6.to_string()));
                }
                _ => return Err(bad("--rule needs exactly one of --prefix, --ipv4 and --ipv6")),
            }
            answer.push("rule", json!(rule.to_string()));
            Ok(answer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(rule: &str) -> CalcArgs {
        CalcArgs { rule: Some(rule.into()), ..CalcArgs::default() }
    }

    #[test]
    fn both_rule_syntaxes() {
        let a = args("2001:db8::/40,192.0.2.0/24,16");
        let b = args("2001:db8::/40 192.0.2.0/24 ea-len 16");
        assert_eq!(parse_rule_arg(&a, a.rule.as_deref().unwrap()), parse_rule_arg(&b, b.rule.as_deref().unwrap()));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("--port", "1232", 65535), Ok(1232));
        assert_eq!(parse_number("--psid", "0x34", 65535), Ok(0x34));
        assert!(parse_number("--port", "65536", 65535).is_err());
        assert!(parse_number("--port", "+1", 65535).is_err());
        assert!(parse_number("--port", "0x", 65535).is_err());
        assert!(parse_number("--port", "", 65535).is_err());
    }

    #[test]
    fn text_rendering() {
        let mut a = Answer::default();
        a.push("psid", json!(52));
        a.push("port_ranges", json!([[1, 2], [3, 4]]));
        a.push("map_address", json!("::1"));
        assert_eq!(a.to_text(), "psid         52 (0x34)\nport_ranges  1-2 3-4\nmap_address  ::1\n");
        assert_eq!(a.to_json(), r#"{"map_address":"::1","port_ranges":[[1,2],[3,4]],"psid":52}"#);
    }
}
