//! `mapminctl provision`: from what an ISP's DHCPv6 server sent (RFC 7598 S46 options) and
//! the delegated prefix to the CE's configuration, in `apply` syntax, every choice explained in
//! a comment.
//!
//! Inputs, one of:
//! - `--hex BYTES`: DHCPv6 options (code, length, data...) as hex, `00:5f:...`, `005f...`, or
//!   with unpadded bytes as isc-dhcp-client prints them (`0:5f:...`);
//! - `--message FILE`: a whole DHCPv6 Reply or Advertise (RFC 8415 §8);
//! - `--pcap FILE`: a capture of the exchange (pcap or pcapng): its last Reply (else
//!   Advertise) from a server;
//! - `--env`: the environment a DHCPv6 client gives its hook: isc-dhcp-client's and dhcpcd's
//!   `new_dhcp6_s46_cont_mape`/`_mapt`/`_lw` (a container's data as hex) and their delegated
//!   prefix (`new_ip6_prefix`; `new_dhcp6_ia_pd1_prefix1` and `_length`), or odhcp6c's
//!   `MAPE`/`MAPT`/`LW4O6` and `PREFIXES`;
//! - `--odhcp6c STRING`: one of odhcp6c's `MAPE=`/`MAPT=` values.

use std::net::Ipv6Addr;
use std::path::PathBuf;

use clap::Args;
use crate::config_file::ConfigFile;
use mapcore::portset::psid_from_left_aligned;
use mapcore::s46::{Container, ContainerKind, PortParams, S46Options};
use mapcore::{Ipv4Prefix, Ipv6Prefix, Mode, Rule, RuleParams};
use serde_json::{json, Value};

/// Arguments of `mapminctl provision`.
#[derive(Args, Debug, Default)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["hex", "message", "pcap", "env", "odhcp6c", "remove"]))]
pub struct ProvisionArgs {
    /// DHCPv6 options as hex bytes (with or without ':' separators, bytes may be unpadded).
    #[arg(long, value_name = "BYTES")]
    pub hex: Option<String>,
    /// A DHCPv6 Reply or Advertise message (binary file).
    #[arg(long, value_name = "FILE")]
    pub message: Option<PathBuf>,
    /// A pcap or pcapng capture of the DHCPv6 exchange.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Read a DHCPv6 client's hook environment (isc-dhcp-client, dhcpcd, odhcp6c).
    #[arg(long)]
    pub env: bool,
    /// An odhcp6c MAPE= or MAPT= value.
    #[arg(long, value_name = "STRING")]
    pub odhcp6c: Option<String>,
    /// The CE's delegated (end-user) IPv6 prefix; needed when the input carries none.
    #[arg(long, value_name = "IPV6-PREFIX")]
    pub prefix: Option<String>,
    /// The IPv6 access link's MTU (e.g. from the router advertisement): the device's MTU.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1280..))]
    pub link_mtu: Option<u16>,
    /// Put it all in place: device, configuration, address, routes, NAPT (see setup.rs);
    /// again with the same lease changes nothing, with a new one replaces it.
    #[arg(long)]
    pub apply: bool,
    /// Undo what --apply put in place.
    #[arg(long)]
    pub remove: bool,
    /// The mapmint device to set up.
    #[arg(long, value_name = "NAME", default_value = "mapmint")]
    pub dev: String,
    /// The NAT front end for --apply.
    #[arg(long, value_enum, default_value_t = crate::setup::Nat::Nft)]
    pub nat: crate::setup::Nat,
    /// Where --apply records what it put in place (default /run/mapmint/provision-DEV.json).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// The rules use the legacy (pre-RFC 7597) interface identifier format, as the Japanese
    /// IPoE providers' MAP-E does; no DHCPv6 option says so. Their PSID offset defaults to 4.
    #[arg(long)]
    pub legacy: bool,
}

/// What one softwire container offers, whichever form it came in.
#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    pub kind: ContainerKind,
    pub rules: Vec<RuleParams>,
    pub brs: Vec<Ipv6Addr>,
    pub dmr: Option<Ipv6Prefix>,
    /// Each rule's S46_PORTPARAMS (none: RFC 7597's default offset).
    pub port_params: Vec<Option<PortParams>>,
}

/// Everything the input said.
#[derive(Debug, Default)]
pub struct Lease {
    pub offers: Vec<Offer>,
    pub priority: Vec<u16>,
    pub delegated: Option<Ipv6Prefix>,
    /// Where it came from, for the first comment line.
    pub source: String,
}

/// Hex bytes: `00:5f:...` (bytes of 1 or 2 digits between colons, as isc-dhcp-client prints
/// them) or a run of digit pairs; spaces and newlines are ignored.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let shown: String = text.chars().take(40).collect();
    let bad = |what: &str| format!("bad hex '{shown}': {what}");
    if !text.is_ascii() {
        return Err(bad("not a hex digit"));
    }
    if text.contains(':') {
        text.split(':')
            .map(|b| {
                if b.is_empty() || b.len() > 2 {
                    return Err(bad("each ':'-separated byte needs 1 or 2 hex digits"));
                }
                u8::from_str_radix(b, 16).map_err(|_| bad("not a hex digit"))
            })
            .collect()
    } else {
        if !text.len().is_multiple_of(2) {
            return Err(bad("an odd number of hex digits"));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| bad("not a hex digit")))
            .collect()
    }
}

fn offer_of(container: &Container<'_>) -> Offer {
    let mut offer = Offer {
        kind: container.kind,
        rules: Vec::new(),
        brs: container.brs().collect(),
        dmr: container.dmr(),
        port_params: Vec::new(),
    };
    for rule in container.rules() {
        offer.port_params.push(rule.port_params);
        offer.rules.push(rule.params());
    }
    offer
}

/// The delegated prefix of an IA_PD's data (RFC 8415 §21.21, IAPREFIX §21.22).
fn delegated_prefix(ia_pd: &[u8]) -> Option<Ipv6Prefix> {
    let inner = S46Options::parse(ia_pd.get(12..)?).ok()?;
    let iaprefix = inner.options(26).next()?;
    let len = *iaprefix.get(8)?;
    let addr: [u8; 16] = iaprefix.get(9..25)?.try_into().ok()?;
    Ipv6Prefix::new(Ipv6Addr::from(addr), len)
}

/// A sequence of DHCPv6 options.
pub fn lease_of_options(bytes: &[u8], source: String) -> Result<Lease, String> {
    let options = S46Options::parse(bytes).map_err(|e| e.to_string())?;
    Ok(Lease {
        offers: options.containers().map(|c| offer_of(&c)).collect(),
        priority: options.priority().collect(),
        delegated: options.options(25).find_map(delegated_prefix),
        source,
    })
}

/// A whole DHCPv6 message: msg-type (1), transaction-id (3), options.
pub fn lease_of_message(bytes: &[u8], source: &str) -> Result<Lease, String> {
    let kind = match bytes.first() {
        Some(7) => "Reply",
        Some(2) => "Advertise",
        Some(t) => return Err(format!("{source}: message type {t} is not a Reply (7) or Advertise (2)")),
        None => return Err(format!("{source}: empty message")),
    };
    let options = bytes.get(4..).ok_or_else(|| format!("{source}: shorter than a DHCPv6 header"))?;
    lease_of_options(options, format!("the DHCPv6 {kind} in {source}")).map_err(|e| format!("{source}: options, {e} (from byte 4 of the message)"))
}

/// The server's message (UDP from port 547) of an IPv6 packet, if it is one.
fn dhcpv6_from_server(packet: &[u8]) -> Option<&[u8]> {
    if packet.first()? >> 4 != 6 || *packet.get(6)? != 17 {
        return None;
    }
    let udp = packet.get(40..)?;
    (u16::from_be_bytes([*udp.first()?, *udp.get(1)?]) == 547).then(|| udp.get(8..)).flatten()
}

/// The last Reply of a capture, else its last Advertise.
pub fn lease_of_capture(input: &[u8], source: &str) -> Result<Lease, String> {
    let (frames, damage) = crate::translate::frames(input).map_err(|e| format!("{source}: {e}"))?;
    let messages: Vec<(usize, &[u8])> = frames
        .iter()
        .enumerate()
        .filter_map(|(i, f)| match &f.data {
            crate::translate::FrameData::Ip(p) => dhcpv6_from_server(p).map(|m| (i + 1, m)),
            _ => None,
        })
        .collect();
    let pick = |t| messages.iter().rev().find(|(_, m)| m.first() == Some(&t));
    let (number, message) = pick(7).or_else(|| pick(2)).ok_or_else(|| {
        format!(
            "{source}: no DHCPv6 Reply or Advertise from a server (UDP port 547) among {} packets{}",
            frames.len(),
            damage.map(|d| format!(" ({d})")).unwrap_or_default()
        )
    })?;
    lease_of_message(message, &format!("{source}, packet {number}"))
}

/// An odhcp6c rule list (`MAPE=`/`MAPT=`): space-separated rules, each
/// `[fmr,]type=map-t,ealen=N,prefix4len=N,prefix6len=N,ipv4prefix=A,ipv6prefix=P,[offset=N,psidlen=N,psid=N,]br=A,|dmr=P/N,`
/// (`psid` left-aligned, as odhcp6c copies it from S46_PORTPARAMS).
pub fn offers_of_odhcp6c(text: &str) -> Result<Vec<Offer>, String> {
    let mut offers: Vec<Offer> = Vec::new();
    for (index, item) in text.split_whitespace().enumerate() {
        let bad = |what: String| format!("odhcp6c rule {}: {what}", index + 1);
        let (mut kind, mut forwarding, mut ea_len, mut len4, mut len6) = (None, false, None, None, None);
        let (mut v4, mut v6, mut offset, mut psid_len, mut psid) = (None, None, None, None, None);
        let mut brs: Vec<Ipv6Addr> = Vec::new();
        let mut dmr = None;
        for field in item.split(',').filter(|f| !f.is_empty()) {
            let (key, value) = field.split_once('=').unwrap_or((field, ""));
            let number = |v: &str| v.parse::<u16>().map_err(|_| bad(format!("{key}={v} is not a number")));
            match key {
                "fmr" => forwarding = true,
                "type" => {
                    kind = Some(match value {
                        "map-e" => ContainerKind::MapE,
                        "map-t" => ContainerKind::MapT,
                        "lw4o6" => ContainerKind::Lw4o6,
                        other => return Err(bad(format!("unknown type '{other}'"))),
                    })
                }
                "ealen" => ea_len = Some(number(value)?),
                "prefix4len" => len4 = Some(number(value)?),
                "prefix6len" => len6 = Some(number(value)?),
                "ipv4prefix" => v4 = Some(value.parse().map_err(|_| bad(format!("ipv4prefix={value}")))?),
                "ipv6prefix" => v6 = Some(value.parse::<Ipv6Addr>().map_err(|_| bad(format!("ipv6prefix={value}")))?),
                "offset" => offset = Some(number(value)?),
                "psidlen" => psid_len = Some(number(value)?),
                "psid" => psid = Some(number(value)?),
                "br" => brs.push(value.parse().map_err(|_| bad(format!("br={value}")))?),
                "dmr" => dmr = Some(Ipv6Prefix::parse(value).map_err(|e| bad(format!("dmr={value}: {e}")))?),
                _ => {}
            }
        }
        let kind = kind.ok_or_else(|| bad("no type=".into()))?;
        let need = |v: Option<u16>, what: &str| v.ok_or_else(|| bad(format!("no {what}=")));
        let (ea_len, len4, len6) = (need(ea_len, "ealen")?, need(len4, "prefix4len")?, need(len6, "prefix6len")?);
        let to_u8 = |v: u16, what: &str| u8::try_from(v).map_err(|_| bad(format!("{what}={v} is too large")));
        let ipv4 = Ipv4Prefix::new(v4.ok_or_else(|| bad("no ipv4prefix=".into()))?, to_u8(len4, "prefix4len")?)
            .ok_or_else(|| bad(format!("prefix4len={len4} is above 32")))?;
        let ipv6 = Ipv6Prefix::new(v6.ok_or_else(|| bad("no ipv6prefix=".into()))?, to_u8(len6, "prefix6len")?)
            .ok_or_else(|| bad(format!("prefix6len={len6} is above 128")))?;
        let mut params = RuleParams::new(ipv6, ipv4, to_u8(ea_len, "ealen")?);
        params.forwarding = forwarding;
        if let Some(offset) = offset {
            params.psid_offset = Some(to_u8(offset, "offset")?);
        }
        if let (Some(k), Some(field)) = (psid_len, psid) {
            let k = to_u8(k, "psidlen")?;
            let value = psid_from_left_aligned(field, k)
                .ok_or_else(|| bad(format!("psid={field} has bits past its {k}-bit length (it is left-aligned)")))?;
            if u32::from(params.ea_len) <= 32 - u32::from(ipv4.len) && k > 0 {
                params.psid_len = Some(k);
                params.psid = Some(value);
            }
        }
        // Rules of one type go into one offer, as they came in one container.
        let at = offers.iter().position(|o| o.kind == kind);
        let offer = match at {
            Some(i) => &mut offers[i],
            None => {
                offers.push(Offer { kind, rules: Vec::new(), brs: Vec::new(), dmr: None, port_params: Vec::new() });
                offers.last_mut().expect("just pushed")
            }
        };
        offer.port_params.push(match (params.psid_offset, psid_len, psid) {
            (Some(offset), k, field) => {
                let k = k.map_or(Ok(0), |k| to_u8(k, "psidlen"))?;
                Some(PortParams { offset, psid_len: k, psid: field.and_then(|f| psid_from_left_aligned(f, k)).unwrap_or(0) })
            }
            _ => None,
        });
        offer.rules.push(params);
        offer.brs.extend(brs);
        offer.dmr = offer.dmr.or(dmr);
    }
    if offers.is_empty() {
        return Err("odhcp6c: no rule in the string".into());
    }
    Ok(offers)
}

/// A DHCPv6 client's hook environment, read through `var`.
pub fn lease_of_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Lease, String> {
    let mut lease = Lease { source: "the DHCPv6 client's environment".into(), ..Lease::default() };
    for (kind, name) in [
        (ContainerKind::MapE, "new_dhcp6_s46_cont_mape"),
        (ContainerKind::MapT, "new_dhcp6_s46_cont_mapt"),
        (ContainerKind::Lw4o6, "new_dhcp6_s46_cont_lw"),
    ] {
        if let Some(text) = var(name).filter(|t| !t.trim().is_empty()) {
            let bytes = parse_hex(&text).map_err(|e| format!("{name}: {e}"))?;
            let container = S46Options::container_payload(kind, &bytes).map_err(|e| format!("{name}: {e}"))?;
            lease.offers.push(offer_of(&container));
        }
    }
    for name in ["MAPE", "MAPT"] {
        if let Some(text) = var(name).filter(|t| !t.trim().is_empty()) {
            lease.offers.extend(offers_of_odhcp6c(&text).map_err(|e| format!("{name}: {e}"))?);
        }
    }
    if lease.offers.is_empty() {
        return Err("the environment has no S46 container (new_dhcp6_s46_cont_mape/_mapt/_lw, MAPE, MAPT)".into());
    }
    let prefix_text = var("new_ip6_prefix")
        .or_else(|| {
            let prefix = var("new_dhcp6_ia_pd1_prefix1")?;
            Some(format!("{prefix}/{}", var("new_dhcp6_ia_pd1_prefix1_length")?))
        })
        // odhcp6c: PREFIXES="2001:db8::/56,preferred,valid ..."
        .or_else(|| var("PREFIXES").and_then(|p| p.split_whitespace().next().map(|f| f.split(',').next().unwrap_or("").to_string())));
    if let Some(text) = prefix_text.filter(|t| !t.is_empty()) {
        lease.delegated = Some(Ipv6Prefix::parse(&text).map_err(|e| format!("delegated prefix '{text}': {e}"))?);
    }
    Ok(lease)
}

/// The offer to use: the first supported kind in S46_PRIORITY, else the first MAP-T or MAP-E
/// container; and why.
fn choose(lease: &Lease) -> Result<(&Offer, String), String> {
    let supported = |o: &&Offer| o.kind != ContainerKind::Lw4o6;
    for code_ in &lease.priority {
        if let Some(offer) = lease.offers.iter().filter(supported).find(|o| o.kind.code() == *code_) {
            let list: Vec<String> = lease.priority.iter().map(u16::to_string).collect();
            return Ok((offer, format!("{}: the first supported one in S46_PRIORITY ({})", offer.kind.name(), list.join(", "))));
        }
    }
    let offer = lease.offers.iter().find(supported).ok_or_else(|| {
        if lease.offers.is_empty() {
            "no S46 container (OPTION_S46_CONT_MAPE 94, _MAPT 95) in the input".to_string()
        } else {
            "only lightweight 4over6 (OPTION_S46_CONT_LW) is offered, which mapmint does not implement".to_string()
        }
    })?;
    let why = if lease.offers.len() == 1 {
        format!("{}: the only container", offer.kind.name())
    } else {
        format!("{}: the first MAP container (no S46_PRIORITY says otherwise)", offer.kind.name())
    };
    Ok((offer, why))
}

/// The configuration for `lease` and the CE's prefix: (text with comments, JSON).
pub fn provision(lease: &Lease, prefix_arg: Option<Ipv6Prefix>, link_mtu: Option<u16>) -> Result<(String, Value), String> {
    let (offer, why) = choose(lease)?;
    let (prefix, prefix_why) = match (prefix_arg, lease.delegated) {
        (Some(p), _) => (p, "given with --prefix".to_string()),
        (None, Some(p)) => (p, "the delegated prefix of the lease".to_string()),
        (None, None) => return Err("no end-user prefix: the input delegates none, give it with --prefix".into()),
    };
    let mut text = String::new();
    let mut line = |s: String| {
        text.push_str(&s);
        text.push('\n');
    };
    line(format!("# mapminctl provision, from {}", lease.source));
    line(format!("# container: {why}"));
    let mode = match offer.kind {
        ContainerKind::MapT => Mode::MapT,
        _ => Mode::MapE,
    };
    line("role ce".into());
    line(format!("mode {}", if mode == Mode::MapT { "t" } else { "e" }));
    line(format!("# end-user prefix: {prefix_why}"));
    line(format!("end-user-prefix {prefix}"));
    // The BMR: the longest rule prefix holding the end-user prefix (RFC 7597 §5).
    let bmr = offer
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.ipv6.len <= prefix.len && Ipv6Prefix::new(prefix.addr, r.ipv6.len).is_some_and(|p| same_prefix(p, r.ipv6)))
        .max_by_key(|(_, r)| r.ipv6.len);
    let Some((bmr_index, bmr)) = bmr else {
        let rules: Vec<String> = offer.rules.iter().map(|r| r.ipv6.to_string()).collect();
        return Err(format!(
            "the end-user prefix {prefix} lies in no rule's IPv6 prefix ({}): this lease has no Basic Mapping Rule for it",
            rules.join(", ")
        ));
    };
    let bmr_rule = Rule::new(*bmr).map_err(|e| format!("the BMR {}: {e}", bmr.ipv6))?;
    line(format!("# bmr: the rule whose IPv6 prefix {} holds the end-user prefix (longest match, RFC 7597 §5)", bmr.ipv6));
    if offer.port_params[bmr_index].is_none() && bmr.psid_offset.is_none() {
        line(if bmr.legacy {
            "#   psid-offset 4: the rule has no S46_PORTPARAMS, so the legacy format's default".into()
        } else {
            "#   psid-offset 6: the rule has no S46_PORTPARAMS, so RFC 7597's default".into()
        });
    }
    line(format!("bmr {bmr_rule}"));
    let mut fmrs = Vec::new();
    for (i, r) in offer.rules.iter().enumerate() {
        if i != bmr_index && r.forwarding {
            fmrs.push(Rule::new(*r).map_err(|e| format!("the FMR {}: {e}", r.ipv6))?);
        }
    }
    if !fmrs.is_empty() {
        line("# fmr: the other rules with the F flag (forwarding: CE to CE directly)".into());
    }
    for f in &fmrs {
        line(format!("fmr {f}"));
    }
    match mode {
        Mode::MapT => line(format!("dmr {}", offer.dmr.ok_or("the MAP-T container has no DMR")?)),
        Mode::MapE => {
            let br = offer.brs.first().ok_or("the MAP-E container has no BR")?;
            if offer.brs.len() > 1 {
                line(format!("# br: the first of {} S46_BRs", offer.brs.len()));
            }
            line(format!("br {br}"));
        }
    }
    let mapping = bmr_rule.ce_mapping(prefix).map_err(|e| format!("the BMR does not map the end-user prefix {prefix}: {e}"))?;
    let set = mapping.port_set;
    let mut warnings = Vec::new();
    let suffix_bits = 32u8.saturating_sub(bmr.ipv4.len);
    let ea_psid_bits = bmr.ea_len.saturating_sub(suffix_bits);
    if let Some(pp) = offer.port_params[bmr_index] {
        if ea_psid_bits > 0 && pp.psid_len != 0 && pp.psid_len != ea_psid_bits {
            warnings.push(format!(
                "S46_PORTPARAMS says PSID length {}, but ea-len {} with an IPv4 prefix /{} leaves {} PSID bits: the EA bits decide (RFC 7597 §5.2), PSID {} of {} bits",
                pp.psid_len, bmr.ea_len, bmr.ipv4.len, ea_psid_bits, set.psid(), set.psid_len()
            ));
        }
        if pp.offset == 0 && set.psid_len() > 0 {
            let range = set.range(0).map(|r| r.to_string()).unwrap_or_default();
            warnings.push(format!(
                "psid-offset 0 from S46_PORTPARAMS: the port set is the one range {range}{}; a CE that assumed the default offset 6 would use other ports and lose its traffic (openwrt#25190)",
                if set.range(0).is_some_and(|r| r.first < 1024) { ", system ports included" } else { "" }
            ));
        }
    }
    if set.port_count() < 256 {
        warnings.push(format!(
            "the port set has {} ports: a household's NAPT runs out quickly (a browser alone opens hundreds of connections)",
            set.port_count()
        ));
    }
    if let Some(mtu) = link_mtu {
        let overhead = crate::setup::map_header_growth(mode);
        let ipv4 = u32::from(mtu).saturating_sub(overhead);
        line(format!("# mtu: the access link's, given with --link-mtu; IPv4 packets up to {ipv4} bytes cross whole"));
        line(format!("mtu {mtu}"));
        if ipv4 < 1280 {
            warnings.push(format!(
                "link MTU {mtu} leaves {ipv4}-byte IPv4 packets after {} ({overhead} bytes): below 1280, so many IPv4 paths fragment or need PMTUD to work; RFC 7597 §8.3.1 asks for an IPv6 MTU that avoids this",
                if mode == Mode::MapT { "translation" } else { "encapsulation" }
            ));
        }
    }
    for w in &warnings {
        line(format!("# warning: {w}"));
    }
    if !set.is_whole() && set.range_count() > 1 {
        line(format!(
            "# port set: {} ranges of {} ports; one NAPT rule fills {} with port-mapping contiguous",
            set.range_count(),
            set.range_size(),
            set.contiguous_range()
        ));
        line("port-mapping contiguous".into());
    }
    let config = ConfigFile::parse(&text).map_err(|e| format!("the configuration made does not hold: {e}"))?;
    let json = json!({
        "container": offer.kind.name(),
        "mode": if mode == Mode::MapT { "t" } else { "e" },
        "end_user_prefix": prefix.to_string(),
        "bmr": bmr_rule.to_string(),
        "fmrs": fmrs.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        "dmr": offer.dmr.filter(|_| mode == Mode::MapT).map(|d| d.to_string()),
        "br": offer.brs.first().filter(|_| mode == Mode::MapE).map(|b| b.to_string()),
        "ipv4": mapping.ipv4.to_string(),
        "psid": set.psid(),
        "psid_len": set.psid_len(),
        "psid_offset": set.offset(),
        "port_ranges": set.ranges().map(|r| json!([r.first, r.last])).collect::<Vec<_>>(),
        "port_mapping": config.config.port_mapping.keyword(),
        "config": config.to_string(),
        "warnings": warnings,
    });
    Ok((text, json))
}

fn same_prefix(a: Ipv6Prefix, b: Ipv6Prefix) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(b.len)).unwrap_or(0);
    u128::from(a.addr) & mask == u128::from(b.addr) & mask
}

/// Runs `provision`: the lease from the input given, then the configuration (and with
/// --apply, put in place; with --remove, what was, undone).
pub fn run(args: &ProvisionArgs) -> Result<(String, Value), String> {
    let state = crate::setup::state_path(args.state.as_deref(), &args.dev);
    if args.remove {
        let done = crate::setup::remove(&args.dev, &state)?;
        return Ok((done.clone(), json!({ "removed": done.lines().collect::<Vec<_>>(), "warnings": [] })));
    }
    let read = |path: &PathBuf| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    let mut lease = if let Some(hex) = &args.hex {
        lease_of_options(&parse_hex(hex)?, "the options given with --hex".into())?
    } else if let Some(path) = &args.message {
        lease_of_message(&read(path)?, &path.display().to_string())?
    } else if let Some(path) = &args.pcap {
        lease_of_capture(&read(path)?, &path.display().to_string())?
    } else if let Some(text) = &args.odhcp6c {
        Lease { offers: offers_of_odhcp6c(text)?, source: "the odhcp6c string given".into(), ..Lease::default() }
    } else {
        lease_of_env(&|name| std::env::var(name).ok())?
    };
    if args.legacy {
        lease.offers.iter_mut().flat_map(|offer| offer.rules.iter_mut()).for_each(|rule| rule.legacy = true);
    }
    let prefix = args
        .prefix
        .as_deref()
        .map(|p| Ipv6Prefix::parse(p).map_err(|e| format!("bad --prefix '{p}': {e}")))
        .transpose()?;
    let (mut text, mut json) = provision(&lease, prefix, args.link_mtu)?;
    if args.apply {
        let config = ConfigFile::parse(&text).map_err(|e| format!("the configuration made does not hold: {e}"))?;
        let done = crate::setup::apply(&config, &args.dev, args.nat, &state)?;
        for line in done.lines() {
            text.push_str(&format!("# applied: {line}\n"));
        }
        json["applied"] = json!(done.lines().collect::<Vec<_>>());
    }
    Ok((text, json))
}
