//! `mapminctl dev|rule|apply`: instances and their configuration, through the generic
//! netlink family "mapmint" (see `mapcore::genl` for the protocol) and rtnetlink.
//!
//! The syntax follows iproute2: keywords and values, the instance named by `dev NAME`
//! (default `mapmint`, the device `insmod` creates) or, for `dev ...`, right after the verb.
//! A rule is written as in the configuration file (`mapcore::text`), so the lines of
//! `rule show` are lines of a file `apply` reads.
//!
//! Rules and settings are only checked for syntax here: the kernel judges them, and a
//! refusal quotes its extack message.

use std::fmt::Write as _;
use std::net::Ipv6Addr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use mapcore::config::{mode_keyword, Config, PortMapping, Role};
use mapcore::genl::{self, attr, cmd, rule_attr};
use mapcore::{parse_rule_params, Ipv4Prefix, Ipv6Prefix, Mode, PortSet, Rule, RuleParams};
use serde_json::{json, Map, Value};

use crate::config_file::ConfigFile;
use crate::nl::{self, Attr, Attrs, Genl, NlError};

/// The instance rule and apply commands use without `dev NAME`.
pub const DEFAULT_DEV: &str = "mapmint";

/// `mapminctl dev ...`.
#[derive(Subcommand, Debug)]
pub enum DevCommand {
    /// Show one instance, or every instance in this network namespace.
    Show {
        /// The instance's interface name (default: all).
        name: Option<String>,
        /// Print JSON.
        #[arg(short = 'j', long)]
        json: bool,
    },
    /// Create an instance (like `ip link add NAME type mapmint`).
    Add { name: String },
    /// Delete an instance (refuses other kinds of interfaces).
    Del { name: String },
    /// Change settings: role ce|br, mode t|e, end-user-prefix P, ipv4-address A[/L], dmr P,
    /// br ADDR, mtu N, port-mapping off|contiguous, icmp-source-pool P; no-end-user-prefix,
    /// no-ipv4-address, no-dmr, no-br, no-mtu, no-icmp-source-pool remove one.
    #[command(after_help = "Example:
  mapminctl dev set mapmint role ce mode t end-user-prefix 2001:db8:ce:11b::/64 dmr 64:ff9b::/96")]
    Set {
        name: String,
        /// KEYWORD VALUE pairs and no-KEYWORD words.
        #[arg(required = true, num_args = 1.., value_name = "SETTING")]
        settings: Vec<String>,
    },
}

/// `mapminctl rule ...`.
#[derive(Subcommand, Debug)]
pub enum RuleCommand {
    /// Add a rule: [dev NAME] bmr|fmr IPV6-PREFIX IPV4-PREFIX ea-len N [psid-offset A]
    /// [psid-len K psid P] [legacy] [forwarding].
    #[command(after_help = "Example:
  mapminctl rule add dev mapmint bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0")]
    Add {
        #[arg(required = true, num_args = 1.., value_name = "WORD")]
        words: Vec<String>,
    },
    /// Delete a rule: [dev NAME] bmr|fmr IPV6-PREFIX [the rest of the rule, ignored].
    Del {
        #[arg(required = true, num_args = 1.., value_name = "WORD")]
        words: Vec<String>,
    },
    /// Show the rules: [dev NAME] [bmr|fmr]. Each line is a line of a configuration file.
    Show {
        #[arg(value_name = "WORD")]
        words: Vec<String>,
        /// Print JSON.
        #[arg(short = 'j', long)]
        json: bool,
    },
    /// Delete the rules: [dev NAME] [bmr|fmr] (default: both kinds).
    Flush {
        #[arg(value_name = "WORD")]
        words: Vec<String>,
    },
}

impl DevCommand {
    /// The command's name in error messages.
    pub fn verb(&self) -> &'static str {
        match self {
            DevCommand::Show { .. } => "dev show",
            DevCommand::Add { .. } => "dev add",
            DevCommand::Del { .. } => "dev del",
            DevCommand::Set { .. } => "dev set",
        }
    }
}

impl RuleCommand {
    /// The command's name in error messages.
    pub fn verb(&self) -> &'static str {
        match self {
            RuleCommand::Add { .. } => "rule add",
            RuleCommand::Del { .. } => "rule del",
            RuleCommand::Show { .. } => "rule show",
            RuleCommand::Flush { .. } => "rule flush",
        }
    }
}

/// `mapminctl apply --config FILE [dev NAME]`.
#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The configuration file (the syntax of `mapcore::config`; see the README).
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: PathBuf,
    /// dev NAME: the instance (default: mapmint).
    #[arg(value_name = "WORD")]
    pub words: Vec<String>,
}

/// Why a command did not do its job: a usage error (exit 2) or a failed operation (exit 1).
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    Usage(String),
    Failed(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Failed(_) => 1,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Failed(m) => m,
        }
    }
}

pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

impl From<NlError> for Failure {
    fn from(e: NlError) -> Self {
        let mut text = e.to_string();
        if e.errno == Some(libc::EPERM) && e.message.is_none() {
            text.push_str(": changing mapmint needs CAP_NET_ADMIN over the device's network namespace (root, or a container's root in its own)");
        }
        Failure::Failed(text)
    }
}

pub(crate) type Outcome = Result<String, Failure>;

// --- argument parsing

/// Takes `dev NAME` out of `words` (anywhere), giving the instance's name.
pub(crate) fn take_dev(words: &mut Vec<String>) -> Result<String, Failure> {
    let mut name = None;
    while let Some(at) = words.iter().position(|w| w == "dev") {
        if at + 1 >= words.len() {
            return Err(usage("'dev' needs an interface name"));
        }
        let value = words.remove(at + 1);
        words.remove(at);
        if name.replace(value).is_some() {
            return Err(usage("'dev' is given twice"));
        }
    }
    let name = name.unwrap_or_else(|| DEFAULT_DEV.to_string());
    check_ifname(&name)?;
    Ok(name)
}

/// Interface names are 1 to 15 bytes without '/', ':' or whitespace (dev_valid_name).
fn check_ifname(name: &str) -> Result<(), Failure> {
    let ok = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.bytes().any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace());
    if ok {
        Ok(())
    } else {
        Err(usage(format!("bad interface name '{name}'")))
    }
}

fn rule_kind(word: &str) -> Result<u8, Failure> {
    match word {
        "bmr" => Ok(genl::RULE_KIND_BMR),
        "fmr" => Ok(genl::RULE_KIND_FMR),
        _ => Err(usage(format!("expected bmr or fmr, not '{word}'"))),
    }
}

fn kind_name(kind: u8) -> &'static str {
    if kind == genl::RULE_KIND_BMR {
        "bmr"
    } else {
        "fmr"
    }
}

/// `[dev NAME] bmr|fmr RULE...` → (name, kind, rule text).
fn parse_rule_words(mut words: Vec<String>) -> Result<(String, u8, String), Failure> {
    let name = take_dev(&mut words)?;
    let Some(first) = words.first() else {
        return Err(usage("expected bmr or fmr and a rule"));
    };
    let kind = rule_kind(first)?;
    Ok((name, kind, words[1..].join(" ")))
}

/// `[dev NAME] [bmr|fmr]` → (name, optional kind).
fn parse_kind_filter(mut words: Vec<String>) -> Result<(String, Option<u8>), Failure> {
    let name = take_dev(&mut words)?;
    match words.as_slice() {
        [] => Ok((name, None)),
        [kind] => Ok((name, Some(rule_kind(kind)?))),
        [_, extra, ..] => Err(usage(format!("unexpected '{extra}'"))),
    }
}

/// The attributes of a rule's nest.
pub fn rule_attrs(params: &RuleParams) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    genl::rule_attributes(params, |k, v| out.push((k, v.to_vec())));
    out
}

fn parse_ipv6_prefix(keyword: &str, value: &str) -> Result<Ipv6Prefix, Failure> {
    Ipv6Prefix::parse(value).map_err(|e| usage(format!("bad {keyword} '{value}': {e}")))
}

/// `dev set` settings → the DEV_SET attributes (without IFINDEX), CLEAR last.
pub fn parse_settings(words: &[String]) -> Result<Vec<Attr>, Failure> {
    let mut attrs = Vec::new();
    let mut clear = 0u8;
    let mut seen: Vec<&str> = Vec::new();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let (keyword, bit) = match word.as_str() {
            "no-end-user-prefix" => ("end-user-prefix", genl::CLEAR_END_USER_PREFIX),
            "no-ipv4-address" => ("ipv4-address", genl::CLEAR_IPV4_ADDRESS),
            "no-dmr" => ("dmr", genl::CLEAR_DMR),
            "no-br" => ("br", genl::CLEAR_BR_ADDRESS),
            "no-mtu" => ("mtu", genl::CLEAR_MTU),
            "no-icmp-source-pool" => ("icmp-source-pool", genl::CLEAR_ICMP_SOURCE_POOL),
            other => (other, 0),
        };
        let known =
            ["role", "mode", "end-user-prefix", "ipv4-address", "dmr", "br", "mtu", "port-mapping", "icmp-source-pool", "translate-on-receive"];
        let Some(keyword) = known.iter().copied().find(|k| *k == keyword) else {
            return Err(usage(format!(
                "unknown setting '{word}' (expected role, mode, end-user-prefix, ipv4-address, dmr, br, mtu, port-mapping, icmp-source-pool, translate-on-receive or no-KEYWORD)"
            )));
        };
        if seen.contains(&keyword) {
            return Err(usage(format!("'{keyword}' is given twice")));
        }
        seen.push(keyword);
        if bit != 0 {
            clear |= bit;
            continue;
        }
        let Some(value) = words.next() else {
            return Err(usage(format!("'{keyword}' needs a value")));
        };
        let value = value.as_str();
        let attribute = match keyword {
            "role" => Attr::Value(attr::ROLE, vec![genl::role_to_u8(parse_role(value)?)]),
            "mode" => Attr::Value(attr::MODE, vec![genl::mode_to_u8(parse_mode(value)?)]),
            "end-user-prefix" => Attr::Value(
                attr::END_USER_PREFIX,
                genl::encode_ipv6_prefix(parse_ipv6_prefix(keyword, value)?).to_vec(),
            ),
            "ipv4-address" => {
                let prefix = Ipv4Prefix::parse(value).map_err(|e| usage(format!("bad ipv4-address '{value}': {e}")))?;
                Attr::Value(attr::IPV4_ADDRESS, genl::encode_ipv4_prefix(prefix).to_vec())
            }
            "dmr" => Attr::Value(attr::DMR, genl::encode_ipv6_prefix(parse_ipv6_prefix(keyword, value)?).to_vec()),
            "br" => {
                let addr: Ipv6Addr =
                    value.parse().map_err(|_| usage(format!("bad br '{value}': not an IPv6 address")))?;
                Attr::Value(attr::BR_ADDRESS, addr.octets().to_vec())
            }
            "icmp-source-pool" => {
                let pool = Ipv4Prefix::parse(value).map_err(|e| usage(format!("bad icmp-source-pool '{value}': {e}")))?;
                Attr::Value(attr::ICMP_SOURCE_POOL, genl::encode_ipv4_prefix(pool).to_vec())
            }
            "port-mapping" => {
                let mapping = PortMapping::from_keyword(value)
                    .ok_or_else(|| usage(format!("bad port-mapping '{value}': expected off or contiguous")))?;
                Attr::Value(attr::PORT_MAPPING, vec![genl::port_mapping_to_u8(mapping)])
            }
            "translate-on-receive" => {
                let on = match value {
                    "on" => 1,
                    "off" => 0,
                    _ => return Err(usage(format!("bad translate-on-receive '{value}': expected on or off"))),
                };
                Attr::Value(attr::TRANSLATE_ON_RECEIVE, vec![on])
            }
            _ => {
                let mtu = parse_decimal_u32(value)
                    .ok_or_else(|| usage(format!("bad mtu '{value}': not a number")))?;
                Attr::Value(attr::MTU, mtu.to_ne_bytes().to_vec())
            }
        };
        attrs.push(attribute);
    }
    if clear != 0 {
        attrs.push(Attr::Value(attr::CLEAR, vec![clear]));
    }
    Ok(attrs)
}

fn parse_decimal_u32(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_role(value: &str) -> Result<Role, Failure> {
    match value {
        "ce" => Ok(Role::Ce),
        "br" => Ok(Role::Br),
        _ => Err(usage(format!("bad role '{value}': expected ce or br"))),
    }
}

fn parse_mode(value: &str) -> Result<Mode, Failure> {
    match value {
        "t" => Ok(Mode::MapT),
        "e" => Ok(Mode::MapE),
        _ => Err(usage(format!("bad mode '{value}': expected t or e"))),
    }
}

/// The CONFIG_SET attributes (without IFINDEX) of a configuration and the FMRs `fmrs` (those
/// the message carries itself).
pub fn config_attrs(config: &Config, fmrs: &[Rule]) -> Vec<Attr> {
    let mut attrs = vec![
        Attr::Value(attr::ROLE, vec![genl::role_to_u8(config.role)]),
        Attr::Value(attr::MODE, vec![genl::mode_to_u8(config.mode)]),
    ];
    if let Some(prefix) = config.end_user_prefix {
        attrs.push(Attr::Value(attr::END_USER_PREFIX, genl::encode_ipv6_prefix(prefix).to_vec()));
    }
    if let Some(prefix) = config.ipv4_address {
        attrs.push(Attr::Value(attr::IPV4_ADDRESS, genl::encode_ipv4_prefix(prefix).to_vec()));
    }
    if let Some(bmr) = &config.bmr {
        attrs.push(Attr::Nested(attr::BMR, rule_attrs(&bmr.params())));
    }
    if !fmrs.is_empty() {
        attrs.push(fmr_attrs(fmrs));
    }
    if let Some(dmr) = config.dmr {
        attrs.push(Attr::Value(attr::DMR, genl::encode_ipv6_prefix(dmr.prefix()).to_vec()));
    }
    if let Some(br) = config.br_address {
        attrs.push(Attr::Value(attr::BR_ADDRESS, br.octets().to_vec()));
    }
    if let Some(mtu) = config.mtu {
        attrs.push(Attr::Value(attr::MTU, u32::from(mtu).to_ne_bytes().to_vec()));
    }
    if config.port_mapping != PortMapping::Off {
        attrs.push(Attr::Value(attr::PORT_MAPPING, vec![genl::port_mapping_to_u8(config.port_mapping)]));
    }
    if let Some(pool) = config.icmp_source_pool {
        attrs.push(Attr::Value(attr::ICMP_SOURCE_POOL, genl::encode_ipv4_prefix(pool).to_vec()));
    }
    if config.translate_on_receive {
        attrs.push(Attr::Value(attr::TRANSLATE_ON_RECEIVE, vec![1]));
    }
    attrs
}

// --- replies

/// One rule as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    pub kind: u8,
    pub params: RuleParams,
}

impl RuleInfo {
    pub(crate) fn from_nest(kind: u8, nest: &[u8]) -> Result<Self, Failure> {
        let attrs = nl::nested(nest);
        let params = genl::rule_params_from(|k| nl::find(&attrs, k))
            .map_err(|e| Failure::Failed(format!("the kernel sent a bad rule: {e}")))?;
        Ok(RuleInfo { kind, params })
    }

    /// The rule in the text syntax (the kernel's rules are valid; a bad one is shown raw).
    pub fn text(&self) -> String {
        match Rule::new(self.params) {
            Ok(rule) => rule.to_string(),
            Err(_) => {
                let p = &self.params;
                let mut text = format!("{} {} ea-len {}", p.ipv6, p.ipv4, p.ea_len);
                if let Some(offset) = p.psid_offset {
                    let _ = write!(text, " psid-offset {offset}");
                }
                if let (Some(len), Some(psid)) = (p.psid_len, p.psid) {
                    let _ = write!(text, " psid-len {len} psid {psid}");
                }
                if p.legacy {
                    text.push_str(" legacy");
                }
                if p.forwarding {
                    text.push_str(" forwarding");
                }
                text
            }
        }
    }

    pub fn to_json(&self) -> Value {
        let p = &self.params;
        json!({
            "kind": kind_name(self.kind),
            "ipv6_prefix": p.ipv6.to_string(),
            "ipv4_prefix": p.ipv4.to_string(),
            "ea_len": p.ea_len,
            "psid_offset": p.psid_offset,
            "psid_len": p.psid_len,
            "psid": p.psid,
            "forwarding": p.forwarding,
            "legacy": p.legacy,
            "rule": self.text(),
        })
    }
}

/// What a CE derives from its BMR and End-user prefix, as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CeInfo {
    pub ipv4: Ipv4Prefix,
    pub psid: u16,
    pub psid_len: u8,
    pub map_address: Ipv6Addr,
}

/// One instance, as DEV_GET reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevInfo {
    pub ifindex: u32,
    pub name: String,
    pub role: Role,
    pub mode: Mode,
    pub end_user_prefix: Option<Ipv6Prefix>,
    pub ipv4_address: Option<Ipv4Prefix>,
    pub bmr: Option<RuleInfo>,
    pub fmr_count: u32,
    pub dmr: Option<Ipv6Prefix>,
    pub br: Option<Ipv6Addr>,
    pub mtu: Option<u32>,
    pub port_mapping: PortMapping,
    pub icmp_source_pool: Option<Ipv4Prefix>,
    pub translate_on_receive: bool,
    pub ce: Option<CeInfo>,
    pub missing: Option<String>,
}

pub(crate) fn bad_reply(what: &str) -> Failure {
    Failure::Failed(format!("the kernel's reply has a bad or missing {what}"))
}

pub(crate) fn u32_of(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

pub(crate) fn string_of(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl DevInfo {
    pub fn from_attrs(attrs: &Attrs) -> Result<Self, Failure> {
        let get = |k| nl::find(attrs, k);
        let ifindex = get(attr::IFINDEX).and_then(u32_of).ok_or_else(|| bad_reply("IFINDEX"))?;
        let name = get(attr::IFNAME).map(string_of).ok_or_else(|| bad_reply("IFNAME"))?;
        let role = match get(attr::ROLE) {
            Some(&[v]) => genl::role_from_u8(v),
            _ => None,
        }
        .ok_or_else(|| bad_reply("ROLE"))?;
        let mode = match get(attr::MODE) {
            Some(&[v]) => genl::mode_from_u8(v),
            _ => None,
        }
        .ok_or_else(|| bad_reply("MODE"))?;
        let v6 = |k, what| get(k).map(|b| genl::decode_ipv6_prefix(b).ok_or_else(|| bad_reply(what))).transpose();
        let end_user_prefix = v6(attr::END_USER_PREFIX, "END_USER_PREFIX")?;
        let dmr = v6(attr::DMR, "DMR")?;
        let ipv4_address = get(attr::IPV4_ADDRESS)
            .map(|b| genl::decode_ipv4_prefix(b).ok_or_else(|| bad_reply("IPV4_ADDRESS")))
            .transpose()?;
        let bmr = get(attr::BMR).map(|nest| RuleInfo::from_nest(genl::RULE_KIND_BMR, nest)).transpose()?;
        let fmr_count = get(attr::FMR_COUNT).and_then(u32_of).unwrap_or(0);
        let br = get(attr::BR_ADDRESS)
            .map(|b| genl::decode_ipv6_addr(b).ok_or_else(|| bad_reply("BR_ADDRESS")))
            .transpose()?;
        let mtu = get(attr::MTU).map(|b| u32_of(b).ok_or_else(|| bad_reply("MTU"))).transpose()?;
        // (a kernel module older than the setting sends none)
        let port_mapping = match get(attr::PORT_MAPPING) {
            None => PortMapping::Off,
            Some(&[v]) => genl::port_mapping_from_u8(v).ok_or_else(|| bad_reply("PORT_MAPPING"))?,
            Some(_) => return Err(bad_reply("PORT_MAPPING")),
        };
        let icmp_source_pool = get(attr::ICMP_SOURCE_POOL)
            .map(|b| genl::decode_ipv4_prefix(b).ok_or_else(|| bad_reply("ICMP_SOURCE_POOL")))
            .transpose()?;
        let translate_on_receive = match get(attr::TRANSLATE_ON_RECEIVE) {
            None => false,
            Some(&[v]) => v != 0,
            Some(_) => return Err(bad_reply("TRANSLATE_ON_RECEIVE")),
        };
        let ce = match get(attr::CE_IPV4) {
            None => None,
            Some(ipv4) => Some(CeInfo {
                ipv4: genl::decode_ipv4_prefix(ipv4).ok_or_else(|| bad_reply("CE_IPV4"))?,
                psid: match get(attr::CE_PSID) {
                    Some(&[a, b]) => u16::from_ne_bytes([a, b]),
                    _ => return Err(bad_reply("CE_PSID")),
                },
                psid_len: match get(attr::CE_PSID_LEN) {
                    Some(&[v]) => v,
                    _ => return Err(bad_reply("CE_PSID_LEN")),
                },
                map_address: get(attr::CE_MAP_ADDRESS)
                    .and_then(genl::decode_ipv6_addr)
                    .ok_or_else(|| bad_reply("CE_MAP_ADDRESS"))?,
            }),
        };
        let missing = get(attr::MISSING).map(string_of);
        Ok(DevInfo {
            ifindex,
            name,
            role,
            mode,
            end_user_prefix,
            ipv4_address,
            bmr,
            fmr_count,
            dmr,
            br,
            mtu,
            port_mapping,
            icmp_source_pool,
            translate_on_receive,
            ce,
            missing,
        })
    }

    /// The CE's port set (its PSID offset is the BMR's).
    fn port_set(&self) -> Option<PortSet> {
        let ce = self.ce.as_ref()?;
        let offset = self.bmr.as_ref()?.params.psid_offset.unwrap_or(6);
        PortSet::new(offset, ce.psid_len, ce.psid).ok()
    }

    /// The instance's settings as configuration-file lines: those that go before the FMRs and
    /// those after them (`dev show` puts the FMR count between, `save` the FMRs themselves).
    pub(crate) fn setting_lines(&self) -> (Vec<String>, Vec<String>) {
        let mut before = Vec::new();
        if let Some(p) = self.end_user_prefix {
            before.push(format!("end-user-prefix {p}"));
        }
        if let Some(p) = self.ipv4_address {
            before.push(format!("ipv4-address {p}"));
        }
        if let Some(bmr) = &self.bmr {
            before.push(format!("bmr {}", bmr.text()));
        }
        let mut after = Vec::new();
        if let Some(p) = self.dmr {
            after.push(format!("dmr {p}"));
        }
        if let Some(br) = self.br {
            after.push(format!("br {br}"));
        }
        if let Some(mtu) = self.mtu {
            after.push(format!("mtu {mtu}"));
        }
        // (given when on: off is the default, as in the configuration file)
        if self.port_mapping != PortMapping::Off {
            after.push(format!("port-mapping {}", self.port_mapping.keyword()));
        }
        if let Some(pool) = self.icmp_source_pool {
            after.push(format!("icmp-source-pool {pool}"));
        }
        if self.translate_on_receive {
            after.push("translate-on-receive on".to_string());
        }
        (before, after)
    }

    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{}: {}: role {} mode {} {}\n",
            self.ifindex,
            self.name,
            self.role.keyword(),
            mode_keyword(self.mode),
            match &self.missing {
                None => "complete".to_string(),
                Some(what) => format!("incomplete: no {what}"),
            }
        );
        let mut line = |text: String| {
            out.push_str("    ");
            out.push_str(&text);
            out.push('\n');
        };
        let (before_fmrs, after_fmrs) = self.setting_lines();
        before_fmrs.into_iter().for_each(&mut line);
        line(format!("fmrs {}", self.fmr_count));
        after_fmrs.into_iter().for_each(&mut line);
        if let Some(ce) = &self.ce {
            let mut text = format!("ce ipv4 {} psid {} psid-len {}", ipv4_text(ce.ipv4), ce.psid, ce.psid_len);
            if let Some(set) = self.port_set() {
                let _ = write!(text, " ports {}", ports_text(&set));
            }
            line(text);
            if let (Some(set), PortMapping::Contiguous) = (self.port_set(), self.port_mapping) {
                line(format!("ce napt-ports {}", set.contiguous_range()));
            }
            line(format!("ce map-address {}", ce.map_address));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("ifindex".into(), json!(self.ifindex));
        object.insert("ifname".into(), json!(self.name));
        object.insert("role".into(), json!(self.role.keyword()));
        object.insert("mode".into(), json!(mode_keyword(self.mode)));
        object.insert("end_user_prefix".into(), json!(self.end_user_prefix.map(|p| p.to_string())));
        object.insert("ipv4_address".into(), json!(self.ipv4_address.map(|p| p.to_string())));
        object.insert("bmr".into(), self.bmr.as_ref().map_or(Value::Null, RuleInfo::to_json));
        object.insert("fmr_count".into(), json!(self.fmr_count));
        object.insert("dmr".into(), json!(self.dmr.map(|p| p.to_string())));
        object.insert("br".into(), json!(self.br.map(|a| a.to_string())));
        object.insert("mtu".into(), json!(self.mtu));
        object.insert("port_mapping".into(), json!(self.port_mapping.keyword()));
        object.insert("icmp_source_pool".into(), json!(self.icmp_source_pool.map(|p| p.to_string())));
        object.insert("translate_on_receive".into(), json!(self.translate_on_receive));
        let ce = self.ce.as_ref().map_or(Value::Null, |ce| {
            let ranges: Vec<Value> =
                self.port_set().map(|s| s.ranges().map(|r| json!([r.first, r.last])).collect()).unwrap_or_default();
            json!({
                "ipv4": ipv4_text(ce.ipv4),
                "psid": ce.psid,
                "psid_len": ce.psid_len,
                "psid_offset": self.port_set().map(|s| s.offset()),
                "port_ranges": ranges,
                "napt_ports": self.port_set().filter(|_| self.port_mapping == PortMapping::Contiguous).map(|s| {
                    let range = s.contiguous_range();
                    json!([range.first, range.last])
                }),
                "map_address": ce.map_address.to_string(),
            })
        });
        object.insert("ce".into(), ce);
        object.insert("complete".into(), json!(self.missing.is_none()));
        object.insert("missing".into(), json!(self.missing));
        Value::Object(object)
    }
}

fn ipv4_text(prefix: Ipv4Prefix) -> String {
    if prefix.len == 32 {
        prefix.addr.to_string()
    } else {
        prefix.to_string()
    }
}

/// A port set in a line: every range when there are few, else the first ones and a count.
fn ports_text(set: &PortSet) -> String {
    const SHOWN: usize = 4;
    let ranges: Vec<String> = set.ranges().take(SHOWN + 1).map(|r| r.to_string()).collect();
    if ranges.len() <= SHOWN {
        ranges.join(" ")
    } else {
        format!(
            "{} ... ({} ranges of {} ports)",
            ranges[..SHOWN].join(" "),
            set.range_count(),
            set.range_size()
        )
    }
}

// --- commands

pub(crate) fn ifindex_attr(index: u32) -> Attr {
    Attr::Value(attr::IFINDEX, index.to_ne_bytes().to_vec())
}

/// The DEV_GET reply of the instance `name` (which also proves it is a mapmint device).
fn dev_get(genl: &Genl, name: &str) -> Result<DevInfo, Failure> {
    let index = nl::ifindex(name)?;
    let replies = genl.get(cmd::DEV_GET, &[ifindex_attr(index)])?;
    let reply = replies.first().ok_or_else(|| Failure::Failed("the kernel sent no reply".into()))?;
    DevInfo::from_attrs(reply)
}

pub fn dev(command: DevCommand, json_flag: bool) -> Outcome {
    match command {
        DevCommand::Show { name, json } => {
            let genl = Genl::connect()?;
            let devices = match name {
                Some(name) => {
                    check_ifname(&name)?;
                    vec![dev_get(&genl, &name)?]
                }
                None => genl
                    .dump(cmd::DEV_GET, &[])?
                    .iter()
                    .map(DevInfo::from_attrs)
                    .collect::<Result<Vec<_>, _>>()?,
            };
            if json || json_flag {
                let list: Vec<Value> = devices.iter().map(DevInfo::to_json).collect();
                Ok(Value::Array(list).to_string() + "\n")
            } else {
                Ok(devices.iter().map(DevInfo::to_text).collect())
            }
        }
        DevCommand::Add { name } => {
            check_ifname(&name)?;
            nl::link_add(&name)?;
            Ok(String::new())
        }
        DevCommand::Del { name } => {
            check_ifname(&name)?;
            let genl = Genl::connect()?;
            let dev = dev_get(&genl, &name)?;
            nl::link_del(dev.ifindex)?;
            Ok(String::new())
        }
        DevCommand::Set { name, settings } => {
            check_ifname(&name)?;
            let mut attrs = parse_settings(&settings)?;
            let genl = Genl::connect()?;
            attrs.insert(0, ifindex_attr(nl::ifindex(&name)?));
            genl.change(cmd::DEV_SET, &attrs)?;
            Ok(String::new())
        }
    }
}

pub fn rule(command: RuleCommand, json_flag: bool) -> Outcome {
    match command {
        RuleCommand::Add { words } => {
            let (name, kind, text) = parse_rule_words(words)?;
            // Only the syntax is checked here: the kernel judges the rule.
            let params = parse_rule_params(&text).map_err(|e| usage(e.to_string()))?;
            let genl = Genl::connect()?;
            let attrs = [
                ifindex_attr(nl::ifindex(&name)?),
                Attr::Value(attr::RULE_KIND, vec![kind]),
                Attr::Nested(attr::RULE, rule_attrs(&params)),
            ];
            genl.change(cmd::RULE_ADD, &attrs)?;
            Ok(String::new())
        }
        RuleCommand::Del { words } => {
            let (name, kind, text) = parse_rule_words(words)?;
            let Some(first) = text.split_ascii_whitespace().next() else {
                return Err(usage("expected the rule's IPv6 prefix"));
            };
            let prefix = Ipv6Prefix::parse(first).map_err(|e| usage(format!("bad IPv6 prefix '{first}': {e}")))?;
            if text.split_ascii_whitespace().nth(1).is_some() {
                parse_rule_params(&text).map_err(|e| usage(e.to_string()))?;
            }
            let genl = Genl::connect()?;
            let attrs = [
                ifindex_attr(nl::ifindex(&name)?),
                Attr::Value(attr::RULE_KIND, vec![kind]),
                Attr::Nested(attr::RULE, vec![(rule_attr::IPV6_PREFIX, genl::encode_ipv6_prefix(prefix).to_vec())]),
            ];
            genl.change(cmd::RULE_DEL, &attrs)?;
            Ok(String::new())
        }
        RuleCommand::Show { words, json } => {
            let (name, filter) = parse_kind_filter(words)?;
            let genl = Genl::connect()?;
            let index = nl::ifindex(&name)?;
            let mut rules = Vec::new();
            for reply in genl.dump(cmd::RULE_GET, &[ifindex_attr(index)])? {
                let kind = match nl::find(&reply, attr::RULE_KIND) {
                    Some(&[k]) => k,
                    _ => return Err(bad_reply("RULE_KIND")),
                };
                let nest = nl::find(&reply, attr::RULE).ok_or_else(|| bad_reply("RULE"))?;
                if filter.is_none_or(|f| f == kind) {
                    rules.push(RuleInfo::from_nest(kind, nest)?);
                }
            }
            Ok(format_rules(&rules, json || json_flag))
        }
        RuleCommand::Flush { words } => {
            let (name, filter) = parse_kind_filter(words)?;
            let genl = Genl::connect()?;
            let mut attrs = vec![ifindex_attr(nl::ifindex(&name)?)];
            if let Some(kind) = filter {
                attrs.push(Attr::Value(attr::RULE_KIND, vec![kind]));
            }
            genl.change(cmd::RULE_FLUSH, &attrs)?;
            Ok(String::new())
        }
    }
}

/// `rule show`: lines of a configuration file, or one JSON array.
pub fn format_rules(rules: &[RuleInfo], json: bool) -> String {
    if json {
        Value::Array(rules.iter().map(RuleInfo::to_json).collect()).to_string() + "\n"
    } else {
        rules.iter().map(|r| format!("{} {}\n", kind_name(r.kind), r.text())).collect()
    }
}

pub fn apply(args: ApplyArgs) -> Outcome {
    let mut words = args.words;
    let name = take_dev(&mut words)?;
    if let Some(extra) = words.first() {
        return Err(usage(format!("unexpected '{extra}' (expected dev NAME)")));
    }
    let file = args.config.display();
    let text = std::fs::read_to_string(&args.config).map_err(|e| Failure::Failed(format!("{file}: {e}")))?;
    let file_config = ConfigFile::parse(&text).map_err(|e| usage(format!("{file}: {e}")))?;
    config_set(&name, &file_config)?;
    let n = file_config.rules().len();
    Ok(format!("{name}: {n} FMR{} loaded\n", if n == 1 { "" } else { "s" }))
}

/// The FMRs' attributes, one nested FMR each, encoded into one buffer: no allocation per rule.
fn fmr_attrs(fmrs: &[Rule]) -> Attr {
    let mut encoded = Vec::with_capacity(fmrs.len() * (genl::NLA_HDRLEN + LARGEST_FMR_INSIDE));
    for fmr in fmrs {
        nl::put_nested(&mut encoded, attr::FMR, |inside| {
            genl::rule_attributes(&fmr.params(), |k, v| nl::put_attr(inside, k, v));
        });
    }
    Attr::Encoded(encoded)
}

/// The bytes inside the largest FMR attribute: every optional field present (a test checks it).
const LARGEST_FMR_INSIDE: usize = 76;

/// FMRs per message: 48-80 bytes each. A refused message comes back whole in the kernel's
/// error (the request is echoed), and neli reads a reply into 32 KB: a chunk of 2,048 came
/// back cut, and its refusal (out of memory, say) as "Deserialization error".
const FMRS_PER_MESSAGE: usize = 384;

/// The requests that give an instance `config` and `fmrs` at once: one CONFIG_SET, or, for
/// more FMRs than a message takes, FMRS_STAGE chunks that the CONFIG_SET then takes (the
/// device builds the table aside and publishes it with the rest).
fn config_set_requests(ifindex: u32, config: &Config, fmrs: &[Rule]) -> Vec<(u8, Vec<Attr>)> {
    let ifindex = ifindex_attr(ifindex);
    let mut requests = Vec::new();
    let mut attrs = vec![ifindex.clone()];
    if fmrs.len() <= FMRS_PER_MESSAGE {
        attrs.extend(config_attrs(config, fmrs));
    } else {
        for (n, chunk) in fmrs.chunks(FMRS_PER_MESSAGE).enumerate() {
            let mut stage = vec![ifindex.clone()];
            if n == 0 {
                stage.push(Attr::Value(attr::FMRS_STAGE_START, Vec::new()));
            }
            stage.push(fmr_attrs(chunk));
            requests.push((cmd::FMRS_STAGE, stage));
        }
        attrs.extend(config_attrs(config, &[]));
        attrs.push(Attr::Value(attr::FMRS_STAGED, Vec::new()));
    }
    requests.push((cmd::CONFIG_SET, attrs));
    requests
}

/// Gives the device `dev` the whole configuration of `file` at once.
pub(crate) fn config_set(dev: &str, file: &ConfigFile) -> Result<(), nl::NlError> {
    let genl = Genl::connect()?;
    for (command, attrs) in config_set_requests(nl::ifindex(dev)?, &file.config, file.rules()) {
        genl.change(command, &attrs)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest FMR attribute: every optional field present.
    fn largest_fmr_bytes() -> usize {
        let v6 = mapcore::Ipv6Prefix { addr: "2001:db8::".parse().unwrap(), len: 128 };
        let v4 = mapcore::Ipv4Prefix { addr: "192.0.2.0".parse().unwrap(), len: 32 };
        let mut params = mapcore::RuleParams::new(v6, v4, 0);
        (params.psid_offset, params.psid_len, params.psid) = (Some(6), Some(8), Some(0xffff));
        (params.forwarding, params.legacy) = (true, true);
        let mut inside = Vec::new();
        genl::rule_attributes(&params, |k, v| nl::put_attr(&mut inside, k, v));
        genl::NLA_HDRLEN + inside.len()
    }

    #[test]
    fn the_largest_fmr_fits_the_capacity_reserved_for_it() {
        assert_eq!(largest_fmr_bytes(), genl::NLA_HDRLEN + LARGEST_FMR_INSIDE);
    }

    /// A legal FMR whose attribute is the largest an FMR's can be.
    fn largest_fmr(n: u16) -> Rule {
        let rule = format!("2001:db8:{n:x}::/48 10.{}.{}.1/32 ea-len 0 psid-offset 6 psid-len 8 psid 1 forwarding legacy", n >> 8, n & 255);
        let rule = Rule::new(parse_rule_params(&rule).unwrap()).unwrap();
        let mut inside = Vec::new();
        genl::rule_attributes(&rule.params(), |k, v| nl::put_attr(&mut inside, k, v));
        assert_eq!(genl::NLA_HDRLEN + inside.len(), largest_fmr_bytes());
        rule
    }

    #[test]
    fn a_refused_request_comes_back_whole() {
        // What neli reads a reply into (its build's NELI_AUTO_BUFFER_LEN, as ours).
        let buffer = option_env!("NELI_AUTO_BUFFER_LEN").and_then(|l| l.parse().ok()).unwrap_or(neli::consts::MAX_NL_LENGTH);
        // Every setting, the largest rules; as many FMRs as one CONFIG_SET takes, then more.
        let rule = |text: &str| Rule::new(parse_rule_params(text).unwrap()).unwrap();
        let config = Config {
            role: Role::Ce,
            mode: Mode::MapT,
            end_user_prefix: Some(Ipv6Prefix::parse("2001:db8:ce:11b::/64").unwrap()),
            ipv4_address: Some(Ipv4Prefix::parse("192.0.2.8/32").unwrap()),
            bmr: Some(rule("2001:db8:ce:11b::/64 192.0.2.8/32 ea-len 0 psid-offset 6 psid-len 5 psid 27 forwarding legacy")),
            dmr: Some(mapcore::Rfc6052Prefix::new(Ipv6Prefix::parse("64:ff9b::/96").unwrap()).unwrap()),
            br_address: Some("2001:db8:6::1".parse().unwrap()),
            mtu: Some(1500),
            port_mapping: PortMapping::Contiguous,
            icmp_source_pool: Some(Ipv4Prefix::parse("192.0.0.0/29").unwrap()),
            translate_on_receive: true,
        };
        for count in [FMRS_PER_MESSAGE, FMRS_PER_MESSAGE + 1, 3 * FMRS_PER_MESSAGE] {
            let fmrs: Vec<Rule> = (0..count as u16).map(largest_fmr).collect();
            let requests = config_set_requests(7, &config, &fmrs);
            assert_eq!(requests.len(), if count == FMRS_PER_MESSAGE { 1 } else { 1 + count.div_ceil(FMRS_PER_MESSAGE) });
            for (command, attrs) in &requests {
                // the error: nlmsghdr, errno, the echoed request (nlmsghdr, genl header, the
                // attributes), the extack message (at most a few hundred bytes)
                let error = 16 + 4 + 16 + 4 + nl::attrs_bytes(attrs) + 512;
                assert!(error <= buffer, "command {command} of {count} FMRs: an error of {error} bytes");
            }
        }
    }

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn dev_keyword_anywhere_and_default() {
        let (name, kind, text) =
            parse_rule_words(words("bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 dev m0 psid-offset 0")).unwrap();
        assert_eq!((name.as_str(), kind), ("m0", genl::RULE_KIND_BMR));
        assert_eq!(text, "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0");
        let (name, kind, _) = parse_rule_words(words("fmr 2001:db8::/40")).unwrap();
        assert_eq!((name.as_str(), kind), (DEFAULT_DEV, genl::RULE_KIND_FMR));
        assert!(matches!(parse_rule_words(words("dev a dev b bmr x")), Err(Failure::Usage(_))));
        assert!(matches!(parse_rule_words(words("bmr x dev")), Err(Failure::Usage(_))));
        assert!(matches!(parse_rule_words(words("dmr x")), Err(Failure::Usage(_))));
        assert!(matches!(parse_rule_words(words("dev a/b bmr x")), Err(Failure::Usage(_))));
        assert!(matches!(parse_rule_words(words("dev 0123456789abcdef bmr x")), Err(Failure::Usage(_))));
        assert_eq!(parse_kind_filter(words("fmr dev m1")).unwrap(), ("m1".into(), Some(genl::RULE_KIND_FMR)));
        assert_eq!(parse_kind_filter(vec![]).unwrap(), (DEFAULT_DEV.into(), None));
        assert!(parse_kind_filter(words("bmr fmr")).is_err());
    }

    #[test]
    fn settings_become_attributes() {
        let attrs = parse_settings(&words(
            "role br mode e br 2001:db8:6::1 mtu 1500 no-dmr no-end-user-prefix ipv4-address 192.0.2.8",
        ))
        .unwrap();
        assert_eq!(attrs[0], Attr::Value(attr::ROLE, vec![1]));
        assert_eq!(attrs[1], Attr::Value(attr::MODE, vec![1]));
        let br: Ipv6Addr = "2001:db8:6::1".parse().unwrap();
        assert_eq!(attrs[2], Attr::Value(attr::BR_ADDRESS, br.octets().to_vec()));
        assert_eq!(attrs[3], Attr::Value(attr::MTU, 1500u32.to_ne_bytes().to_vec()));
        assert_eq!(attrs[4], Attr::Value(attr::IPV4_ADDRESS, vec![192, 0, 2, 8, 32]));
        assert_eq!(attrs[5], Attr::Value(attr::CLEAR, vec![genl::CLEAR_DMR | genl::CLEAR_END_USER_PREFIX]));
        for bad in ["role", "role xx", "mode t mode e", "dmr 64:ff9b::/96 no-dmr", "mtu -1", "mtu 99999999999", "dmr 1.2.3.4/8", "speed 10"] {
            assert!(matches!(parse_settings(&words(bad)), Err(Failure::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn config_file_becomes_config_set() {
        let file = ConfigFile::parse(
            "role ce\nmode t\nend-user-prefix 2001:db8:ce:11b::/64\nbmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0\nfmr 2001:db8:ff::/48 198.51.100.0/24 ea-len 16\ndmr 64:ff9b::/96\nmtu 1400\n",
        )
        .unwrap();
        let attrs = config_attrs(&file.config, file.rules());
        let kinds: Vec<u16> = attrs
            .iter()
            .flat_map(|a| match a {
                Attr::Value(k, _) | Attr::Nested(k, _) => vec![*k],
                Attr::Encoded(encoded) => genl::attributes(encoded).map(|(k, _)| k).collect(),
            })
            .collect();
        assert_eq!(kinds, [attr::ROLE, attr::MODE, attr::END_USER_PREFIX, attr::BMR, attr::FMR, attr::DMR, attr::MTU]);
    }

    fn example_dev() -> DevInfo {
        let bmr = parse_rule_params("2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0").unwrap();
        DevInfo {
            ifindex: 3,
            name: "mapmint".into(),
            role: Role::Ce,
            mode: Mode::MapT,
            end_user_prefix: Some(Ipv6Prefix::parse("2001:db8:ce:11b::/64").unwrap()),
            ipv4_address: None,
            bmr: Some(RuleInfo { kind: genl::RULE_KIND_BMR, params: bmr }),
            fmr_count: 0,
            dmr: Some(Ipv6Prefix::parse("64:ff9b::/96").unwrap()),
            br: None,
            mtu: None,
            port_mapping: PortMapping::Off,
            icmp_source_pool: None,
            translate_on_receive: false,
            ce: Some(CeInfo {
                ipv4: Ipv4Prefix::parse("192.0.2.8/32").unwrap(),
                psid: 27,
                psid_len: 5,
                map_address: "2001:db8:ce:11b:0:c000:208:1b".parse().unwrap(),
            }),
            missing: None,
        }
    }

    #[test]
    fn dev_show_text_and_json() {
        let dev = example_dev();
        assert_eq!(
            dev.to_text(),
            "3: mapmint: role ce mode t complete
    end-user-prefix 2001:db8:ce:11b::/64
    bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
    fmrs 0
    dmr 64:ff9b::/96
    ce ipv4 192.0.2.8 psid 27 psid-len 5 ports 55296-57343
    ce map-address 2001:db8:ce:11b:0:c000:208:1b
"
        );
        let mut mapped = example_dev();
        mapped.port_mapping = PortMapping::Contiguous;
        mapped.bmr = Some(RuleInfo {
            kind: genl::RULE_KIND_BMR,
            params: parse_rule_params("2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 6").unwrap(),
        });
        let text = mapped.to_text();
        assert!(text.contains("\n    port-mapping contiguous\n"), "{text}");
        assert!(text.contains("\n    ce napt-ports 1888-3903\n"), "{text}");
        let json = mapped.to_json().to_string();
        assert!(json.contains(r#""port_mapping":"contiguous""#) && json.contains(r#""napt_ports":[1888,3903]"#), "{json}");
        let json = dev.to_json().to_string();
        for piece in [
            r#""role":"ce""#,
            r#""mode":"t""#,
            r#""complete":true"#,
            r#""missing":null"#,
            r#""dmr":"64:ff9b::/96""#,
            r#""port_ranges":[[55296,57343]]"#,
            r#""rule":"2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0""#,
            r#""ifindex":3,"ifname":"mapmint""#,
        ] {
            assert!(json.contains(piece), "{piece} in {json}");
        }
    }

    #[test]
    fn dev_reply_round_trip() {
        let dev = example_dev();
        let mut attrs: Attrs = vec![
            (attr::IFINDEX, 3u32.to_ne_bytes().to_vec()),
            (attr::IFNAME, b"mapmint\0".to_vec()),
            (attr::ROLE, vec![0]),
            (attr::MODE, vec![0]),
            (attr::END_USER_PREFIX, genl::encode_ipv6_prefix(dev.end_user_prefix.unwrap()).to_vec()),
            (attr::FMR_COUNT, 0u32.to_ne_bytes().to_vec()),
            (attr::DMR, genl::encode_ipv6_prefix(dev.dmr.unwrap()).to_vec()),
            (attr::CE_IPV4, vec![192, 0, 2, 8, 32]),
            (attr::CE_PSID, 27u16.to_ne_bytes().to_vec()),
            (attr::CE_PSID_LEN, vec![5]),
            (attr::CE_MAP_ADDRESS, dev.ce.as_ref().unwrap().map_address.octets().to_vec()),
        ];
        let mut nest = Vec::new();
        genl::rule_attributes(&dev.bmr.as_ref().unwrap().params, |k, v| {
            nest.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            nest.extend_from_slice(&k.to_ne_bytes());
            nest.extend_from_slice(v);
            while nest.len() % 4 != 0 {
                nest.push(0);
            }
        });
        attrs.push((attr::BMR, nest));
        assert_eq!(DevInfo::from_attrs(&attrs).unwrap(), dev);
        attrs.retain(|(k, _)| *k != attr::ROLE);
        assert!(DevInfo::from_attrs(&attrs).is_err());
    }

    #[test]
    fn rules_show_as_config_lines() {
        let rules = [
            RuleInfo {
                kind: genl::RULE_KIND_BMR,
                params: parse_rule_params("2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0").unwrap(),
            },
            RuleInfo {
                kind: genl::RULE_KIND_FMR,
                params: parse_rule_params("2001:db8:12:3400::/56 192.0.2.18/32 ea-len 0 psid-len 8 psid 52 forwarding")
                    .unwrap(),
            },
        ];
        assert_eq!(
            format_rules(&rules, false),
            "bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0\n\
             fmr 2001:db8:12:3400::/56 192.0.2.18/32 ea-len 0 psid-offset 6 psid-len 8 psid 52 forwarding\n"
        );
        let json = format_rules(&rules, true);
        assert!(json.starts_with(r#"[{"ea_len":13,"forwarding":false,"ipv4_prefix":"192.0.2.0/24","ipv6_prefix":"2001:db8:ce::/51","kind":"bmr","legacy":false,"psid":null,"psid_len":null,"psid_offset":0,"#), "{json}");
        assert!(json.contains(r#""psid":52,"psid_len":8,"psid_offset":null"#), "{json}");
    }
}
