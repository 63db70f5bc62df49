//! The configuration of one mapmint instance, and its text form: the one syntax shared by
//! `mapminctl apply`, `mapminctl translate` and provisioning.
//!
//! ```text
//! # one instance
//! role ce                                   # ce | br
//! mode t                                    # t (MAP-T) | e (MAP-E)
//! end-user-prefix 2001:db8:ce:11b::/64      # CE only
//! ipv4-address 192.0.2.8/32                 # CE only, optional: must match the BMR's
//! bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
//! fmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0   # zero or more
//! dmr 64:ff9b::/96                          # MAP-T
//! br 2001:db8:6::1                          # MAP-E: the BR's IPv6 address
//! mtu 1500                                  # optional
//! icmp-source-pool 198.51.100.0/28          # optional: RFC 6791 sources (default 192.0.0.8)
//! port-mapping contiguous                   # CE only, optional: off (default) | contiguous
//! translate-on-receive on                   # optional: off (default) | on
//! ```
//! Comments start with `#`; each keyword but `fmr` appears at most once. A `bmr` line is
//! also a `rule add bmr ...` command, so the rule syntax is the one of [`super::text`]; the
//! comma form `IPV6,IPV4,EA-LEN[,OFFSET]` is accepted too.
//!
//! [`Config`] holds every setting but the FMRs, which may be many (a BR's whole domain): they
//! live in storage their owner provides ([`super::index::Fmrs`]), and [`Config::parse_with`]
//! hands each `fmr` line's rule to the caller. [`Config`] is built field by field (by netlink
//! commands, one at a time) and may be incomplete meanwhile; [`Config::check`] refuses what is
//! inconsistent at any time, and [`Config::missing`] tells what a complete configuration still
//! lacks.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::prefix::{Ipv4Prefix, Ipv6Prefix, PrefixError};
use super::rfc6052::{Rfc6052Error, Rfc6052Prefix};
use super::rule::{CeMapping, MapError, Mode, Rule};
use super::text::{parse_rule, parse_rule_csv, TextError};
/// The smallest MTU an IPv6 link may have (RFC 8200 §5).
pub const MIN_MTU: u16 = 1280;

/// Which end of the MAP domain an instance is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Customer edge: owns one IPv4 address (or prefix) and port set.
    Ce,
    /// Border relay: serves the whole domain towards the IPv4 Internet.
    Br,
}

impl Role {
    /// The keyword of the text form.
    pub fn keyword(self) -> &'static str {
        match self {
            Role::Ce => "ce",
            Role::Br => "br",
        }
    }
}

/// The keyword of a [`Mode`] in the text form.
pub fn mode_keyword(mode: Mode) -> &'static str {
    match mode {
        Mode::MapT => "t",
        Mode::MapE => "e",
    }
}

/// One instance's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub role: Role,
    pub mode: Mode,
    /// The CE's End-user IPv6 prefix (the delegated prefix its BMR maps).
    pub end_user_prefix: Option<Ipv6Prefix>,
    /// The CE's IPv4 address as the operator states it (`insmod ipv4_address=`): checked
    /// against what the BMR maps the End-user prefix to.
    pub ipv4_address: Option<Ipv4Prefix>,
    /// The CE's Basic Mapping Rule.
    pub bmr: Option<Rule>,
    /// MAP-T Default Mapping Rule (RFC 6052 prefix of the BR).
    pub dmr: Option<Rfc6052Prefix>,
    /// MAP-E: the BR's IPv6 address (a CE's tunnel peer, a BR's own tunnel address).
    pub br_address: Option<Ipv6Addr>,
    /// The device MTU to set, if given.
    pub mtu: Option<u16>,
    /// How a CE's NAPT reaches its port set.
    pub port_mapping: PortMapping,
    /// The IPv4 prefix whose addresses are the sources of ICMPv4 errors translated from
    /// IPv6 hops without an IPv4 form (RFC 6791, RFC 7915 §5.1); without one, the dummy
    /// address 192.0.0.8 (RFC 7600).
    pub icmp_source_pool: Option<Ipv4Prefix>,
    /// Translate the packets addressed to the instance where they enter the box (netfilter
    /// PREROUTING) instead of after the stack routed them into the device: one pass through
    /// the stack instead of two. A CE takes its inbound IPv6 packets there (its outbound
    /// ones need the NAPT first), a BR both directions.
    pub translate_on_receive: bool,
}

/// How a CE's NAPT reaches its port set (see [`super::xlat::map_ports`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PortMapping {
    /// The NAPT uses the set's own ports: one rule per range of the set.
    #[default]
    Off,
    /// The NAPT fills one contiguous range as large as the set (`PortSet::contiguous_range`),
    /// which the device maps to and from the set's ports.
    Contiguous,
}

impl PortMapping {
    /// The keyword of the text form.
    pub fn keyword(self) -> &'static str {
        match self {
            PortMapping::Off => "off",
            PortMapping::Contiguous => "contiguous",
        }
    }

    /// The setting of a keyword of the text form.
    pub fn from_keyword(word: &str) -> Option<Self> {
        match word {
            "off" => Some(PortMapping::Off),
            "contiguous" => Some(PortMapping::Contiguous),
            _ => None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new(Role::Ce, Mode::MapT)
    }
}

/// Why a configuration is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The BMR does not map the End-user IPv6 prefix.
    BmrDoesNotMapEndUserPrefix(MapError),
    /// The stated IPv4 address is not the one the BMR gives the CE.
    Ipv4AddressMismatch { stated: Ipv4Prefix, mapped: Ipv4Prefix },
    /// A CE-only setting on a BR.
    CeOnlyOnBr(&'static str),
    /// A MAP-T-only setting in MAP-E mode, or the other way round.
    WrongMode(&'static str, Mode),
    /// The MTU is below IPv6's minimum.
    MtuTooSmall(u16),
    /// The ICMP source pool has bits set past its length.
    IcmpSourcePoolHostBits(Ipv4Prefix),
    /// The ICMP source pool holds addresses no packet may come from (0/8, 127/8, 224/3).
    IcmpSourcePoolNotUnicast(Ipv4Prefix),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::BmrDoesNotMapEndUserPrefix(e) => {
                write!(f, "the BMR does not map the end-user prefix: {e}")
            }
            ConfigError::Ipv4AddressMismatch { stated, mapped } => write!(
                f,
                "ipv4-address {stated} is not the CE's address {mapped} that the BMR maps the end-user prefix to"
            ),
            ConfigError::CeOnlyOnBr(what) => write!(f, "{what} is for a CE, and this is a BR"),
            ConfigError::WrongMode(what, mode) => {
                let name = match mode {
                    Mode::MapT => "MAP-T",
                    Mode::MapE => "MAP-E",
                };
                write!(f, "{what} does not apply to {name}")
            }
            ConfigError::MtuTooSmall(mtu) => {
                write!(f, "mtu {mtu} is below IPv6's minimum of {MIN_MTU}")
            }
            // (short: the kernel's extended ack holds 79 characters)
            ConfigError::IcmpSourcePoolHostBits(pool) => {
                write!(f, "icmp-source-pool {pool} has host bits set: use {}", pool.truncated())
            }
            ConfigError::IcmpSourcePoolNotUnicast(pool) => {
                write!(f, "icmp-source-pool {pool} holds addresses no packet may come from")
            }
        }
    }
}

impl Config {
    /// An empty configuration of the given role and mode.
    pub const fn new(role: Role, mode: Mode) -> Self {
        Config {
            role,
            mode,
            end_user_prefix: None,
            ipv4_address: None,
            bmr: None,
            dmr: None,
            br_address: None,
            mtu: None,
            port_mapping: PortMapping::Off,
            icmp_source_pool: None,
            translate_on_receive: false,
        }
    }

    /// Refuses settings that contradict each other; an incomplete configuration passes.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.role == Role::Br {
            if self.end_user_prefix.is_some() {
                return Err(ConfigError::CeOnlyOnBr("end-user-prefix"));
            }
            if self.bmr.is_some() {
                return Err(ConfigError::CeOnlyOnBr("bmr"));
            }
            if self.ipv4_address.is_some() {
                return Err(ConfigError::CeOnlyOnBr("ipv4-address"));
            }
            if self.port_mapping != PortMapping::Off {
                return Err(ConfigError::CeOnlyOnBr("port-mapping"));
            }
        }
        match self.mode {
            Mode::MapT if self.br_address.is_some() => return Err(ConfigError::WrongMode("br", Mode::MapT)),
            Mode::MapE if self.dmr.is_some() => return Err(ConfigError::WrongMode("dmr", Mode::MapE)),
            _ => {}
        }
        if let Some(mtu) = self.mtu {
            if mtu < MIN_MTU {
                return Err(ConfigError::MtuTooSmall(mtu));
            }
        }
        if let Some(pool) = self.icmp_source_pool {
            if pool.has_host_bits() {
                return Err(ConfigError::IcmpSourcePoolHostBits(pool));
            }
            if NOT_SOURCES.iter().any(|range| overlap(*range, pool)) {
                return Err(ConfigError::IcmpSourcePoolNotUnicast(pool));
            }
        }
        if let Some(mapping) = self.ce_mapping().transpose()? {
            if let Some(stated) = self.ipv4_address {
                if stated != mapping.ipv4 {
                    return Err(ConfigError::Ipv4AddressMismatch { stated, mapped: mapping.ipv4 });
                }
            }
        }
        Ok(())
    }

    /// The CE's own mapping, when both its BMR and End-user prefix are known.
    pub fn ce_mapping(&self) -> Option<Result<CeMapping, ConfigError>> {
        match (self.bmr, self.end_user_prefix) {
            (Some(bmr), Some(prefix)) => {
                Some(bmr.ce_mapping(prefix).map_err(ConfigError::BmrDoesNotMapEndUserPrefix))
            }
            _ => None,
        }
    }

    /// The first setting a complete configuration with `fmrs` FMRs still lacks, if any.
    pub fn missing(&self, fmrs: usize) -> Option<&'static str> {
        if self.role == Role::Ce {
            if self.end_user_prefix.is_none() {
                return Some("end-user-prefix");
            }
            if self.bmr.is_none() {
                return Some("bmr");
            }
        } else if fmrs == 0 {
            return Some("fmr");
        }
        match self.mode {
            Mode::MapT if self.dmr.is_none() => Some("dmr"),
            Mode::MapE if self.br_address.is_none() => Some("br"),
            _ => None,
        }
    }

    /// Applies one setting of the text form (`keyword value`), as a file line does; an `fmr`
    /// line's rule is returned, for the caller's FMR table. Does not check the result against
    /// the other settings ([`Config::check`]).
    pub fn set<'a>(&mut self, keyword: &'a str, value: &'a str) -> Result<Option<Rule>, FileErrorKind<'a>> {
        match keyword {
            "role" => {
                self.role = match value {
                    "ce" => Role::Ce,
                    "br" => Role::Br,
                    _ => return Err(FileErrorKind::BadValue("role", value, "ce or br")),
                }
            }
            "mode" => {
                self.mode = match value {
                    "t" => Mode::MapT,
                    "e" => Mode::MapE,
                    _ => return Err(FileErrorKind::BadValue("mode", value, "t or e")),
                }
            }
            "end-user-prefix" => {
                let prefix = Ipv6Prefix::parse(value).map_err(|e| FileErrorKind::BadPrefix("end-user-prefix", value, e))?;
                self.end_user_prefix = Some(prefix);
            }
            "ipv4-address" => {
                let prefix = Ipv4Prefix::parse(value).map_err(|e| FileErrorKind::BadPrefix("ipv4-address", value, e))?;
                self.ipv4_address = Some(prefix);
            }
            "bmr" => self.bmr = Some(rule_of(value).map_err(|e| FileErrorKind::Rule("bmr", e))?),
            "fmr" => return Ok(Some(rule_of(value).map_err(|e| FileErrorKind::Rule("fmr", e))?)),
            "dmr" => {
                let prefix = Ipv6Prefix::parse(value).map_err(|e| FileErrorKind::BadPrefix("dmr", value, e))?;
                self.dmr = Some(Rfc6052Prefix::new(prefix).map_err(|e| FileErrorKind::BadDmr(value, e))?);
            }
            "br" => {
                let addr = value.parse::<Ipv6Addr>().map_err(|_| FileErrorKind::BadValue("br", value, "an IPv6 address"))?;
                self.br_address = Some(addr);
            }
            "port-mapping" => {
                self.port_mapping = PortMapping::from_keyword(value)
                    .ok_or(FileErrorKind::BadValue("port-mapping", value, "off or contiguous"))?;
            }
            "icmp-source-pool" => {
                let pool =
                    Ipv4Prefix::parse(value).map_err(|e| FileErrorKind::BadPrefix("icmp-source-pool", value, e))?;
                self.icmp_source_pool = Some(pool);
            }
            "translate-on-receive" => {
                self.translate_on_receive = match value {
                    "on" => true,
                    "off" => false,
                    _ => return Err(FileErrorKind::BadValue("translate-on-receive", value, "on or off")),
                };
            }
            "mtu" => {
                let mtu =
                    parse_decimal_u16(value).ok_or(FileErrorKind::BadValue("mtu", value, "a number from 1280 to 65535"))?;
                self.mtu = Some(mtu);
            }
            _ => return Err(FileErrorKind::UnknownKeyword(keyword)),
        }
        Ok(None)
    }

    /// Parses the text form, handing each `fmr` line's rule and line number (1-based) to
    /// `fmr`, which may refuse it (a table full). The result is consistent ([`Config::check`])
    /// and complete ([`Config::missing`]): a file describes a whole working instance. Whether
    /// the FMRs make a legal table together is for their index to tell
    /// ([`super::index::RuleIndex::build`]).
    pub fn parse_with<'t>(
        text: &'t str,
        mut fmr: impl FnMut(Rule, usize) -> Result<(), FileErrorKind<'t>>,
    ) -> Result<Config, ConfigFileError<'t>> {
        let mut config = Config::default();
        let mut fmrs = 0;
        let mut seen = Seen::default();
        let mut last_line = 0;
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            last_line = number;
            let line = raw.split('#').next().unwrap_or("").trim();
            let Some((keyword, rest)) = split_keyword(line) else {
                continue;
            };
            let at = |kind| ConfigFileError { line: number, kind };
            if keyword != "fmr" && !seen.mark(keyword) {
                return Err(at(FileErrorKind::Duplicate(keyword_name(keyword))));
            }
            if let Some(rule) = config.set(keyword, rest).map_err(at)? {
                fmr(rule, number).map_err(at)?;
                fmrs += 1;
            }
            config.check().map_err(|e| at(FileErrorKind::Invalid(e)))?;
        }
        match config.missing(fmrs) {
            Some(what) => Err(ConfigFileError { line: last_line, kind: FileErrorKind::Missing(what) }),
            None => Ok(config),
        }
    }
}

impl Config {
    /// The text form with these FMRs, which [`Config::parse_with`] reads back.
    pub fn text<'a>(&'a self, fmrs: &'a [Rule]) -> ConfigText<'a> {
        ConfigText { config: self, fmrs }
    }
}

/// A configuration and its FMRs in the text form ([`Config::text`]).
pub struct ConfigText<'a> {
    config: &'a Config,
    fmrs: &'a [Rule],
}

impl fmt::Display for ConfigText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ConfigText { config: this, fmrs } = self;
        writeln!(f, "role {}", this.role.keyword())?;
        writeln!(f, "mode {}", mode_keyword(this.mode))?;
        if let Some(prefix) = this.end_user_prefix {
            writeln!(f, "end-user-prefix {prefix}")?;
        }
        if let Some(prefix) = this.ipv4_address {
            writeln!(f, "ipv4-address {prefix}")?;
        }
        if let Some(bmr) = this.bmr {
            writeln!(f, "bmr {bmr}")?;
        }
        for fmr in fmrs.iter() {
            writeln!(f, "fmr {fmr}")?;
        }
        if let Some(dmr) = this.dmr {
            writeln!(f, "dmr {}", dmr.prefix())?;
        }
        if let Some(br) = this.br_address {
            writeln!(f, "br {br}")?;
        }
        if let Some(mtu) = this.mtu {
            writeln!(f, "mtu {mtu}")?;
        }
        if this.port_mapping != PortMapping::Off {
            writeln!(f, "port-mapping {}", this.port_mapping.keyword())?;
        }
        if let Some(pool) = this.icmp_source_pool {
            writeln!(f, "icmp-source-pool {pool}")?;
        }
        if this.translate_on_receive {
            writeln!(f, "translate-on-receive on")?;
        }
        Ok(())
    }
}

/// A config file error and the line it is on (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigFileError<'a> {
    pub line: usize,
    pub kind: FileErrorKind<'a>,
}

/// What is wrong with a config file line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileErrorKind<'a> {
    /// A word that is not a keyword of the syntax.
    UnknownKeyword(&'a str),
    /// A keyword other than `fmr` given twice.
    Duplicate(&'static str),
    /// A keyword's value: (keyword, value, what was expected).
    BadValue(&'static str, &'a str, &'static str),
    /// A prefix that does not parse: (keyword, value, why).
    BadPrefix(&'static str, &'a str, PrefixError),
    /// A DMR that is not an RFC 6052 prefix.
    BadDmr(&'a str, Rfc6052Error),
    /// A `bmr`/`fmr` rule that does not parse or is illegal.
    Rule(&'static str, TextError<'a>),
    /// An `fmr` line past the most rules the caller's table takes.
    TooManyFmrs(usize),
    /// The settings so far contradict each other.
    Invalid(ConfigError),
    /// The file ends without a setting its role and mode need.
    Missing(&'static str),
}

impl fmt::Display for ConfigFileError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl fmt::Display for FileErrorKind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FileErrorKind::UnknownKeyword(word) => write!(
                f,
                "unknown keyword '{word}' (expected role, mode, end-user-prefix, ipv4-address, bmr, fmr, dmr, br, mtu, port-mapping, icmp-source-pool or translate-on-receive)"
            ),
            FileErrorKind::Duplicate(keyword) => write!(f, "'{keyword}' is given twice"),
            FileErrorKind::BadValue(keyword, value, expected) => {
                write!(f, "bad {keyword} '{value}': expected {expected}")
            }
            FileErrorKind::BadPrefix(keyword, value, e) => write!(f, "bad {keyword} '{value}': {e}"),
            FileErrorKind::BadDmr(value, e) => write!(f, "bad dmr '{value}': {e}"),
            FileErrorKind::Rule(keyword, e) => write!(f, "{keyword}: {e}"),
            FileErrorKind::Invalid(e) => write!(f, "{e}"),
            FileErrorKind::TooManyFmrs(max) => write!(f, "more than {max} fmr lines"),
            FileErrorKind::Missing(what) => write!(f, "the configuration has no '{what}', which its role and mode need"),
        }
    }
}

/// A rule in the text syntax, or in the comma form `IPV6,IPV4,EA-LEN[,OFFSET]` that needs no
/// quoting on a command line (`insmod mapmint.ko bmr=2001:db8::/40,192.0.2.0/24,16`).
fn rule_of(value: &str) -> Result<Rule, TextError<'_>> {
    if value.contains(',') {
        parse_rule_csv(value)
    } else {
        parse_rule(value)
    }
}

/// IPv4 addresses no packet may come from (RFC 1122 §3.2.1.3, RFC 6890): "this network",
/// loopback, multicast and the reserved block with the limited broadcast.
const NOT_SOURCES: [Ipv4Prefix; 3] = [
    Ipv4Prefix { addr: Ipv4Addr::new(0, 0, 0, 0), len: 8 },
    Ipv4Prefix { addr: Ipv4Addr::new(127, 0, 0, 0), len: 8 },
    Ipv4Prefix { addr: Ipv4Addr::new(224, 0, 0, 0), len: 3 },
];

/// Whether two prefixes without host bits share an address: one holds the other's start.
fn overlap(a: Ipv4Prefix, b: Ipv4Prefix) -> bool {
    a.contains(b.addr) || b.contains(a.addr)
}

/// The keyword and the rest of a non-empty line.
fn split_keyword(line: &str) -> Option<(&str, &str)> {
    if line.is_empty() {
        return None;
    }
    Some(match line.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((keyword, rest)) => (keyword, rest.trim()),
        None => (line, ""),
    })
}

fn parse_decimal_u16(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

const SINGLE_KEYWORDS: [&str; 11] = [
    "role",
    "mode",
    "end-user-prefix",
    "ipv4-address",
    "bmr",
    "dmr",
    "br",
    "mtu",
    "port-mapping",
    "icmp-source-pool",
    "translate-on-receive",
];

fn keyword_name(keyword: &str) -> &'static str {
    SINGLE_KEYWORDS.iter().find(|k| **k == keyword).copied().unwrap_or("keyword")
}

/// Which single-use keywords a file has given.
#[derive(Default)]
struct Seen([bool; SINGLE_KEYWORDS.len()]);

impl Seen {
    /// Records `keyword`; false if it was seen before. Unknown keywords pass (reported later).
    fn mark(&mut self, keyword: &str) -> bool {
        match SINGLE_KEYWORDS.iter().position(|k| *k == keyword).and_then(|i| self.0.get_mut(i)) {
            Some(seen) => !core::mem::replace(seen, true),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::map::index::{slots_needed, IndexError, RuleIndex};
    use std::string::ToString;
    use std::vec::Vec;

    /// Parses `text`, keeping the FMRs in a Vec.
    fn parse(text: &str) -> Result<(Config, Vec<Rule>), ConfigFileError<'_>> {
        let mut fmrs = Vec::new();
        let config = Config::parse_with(text, |rule, _| {
            fmrs.push(rule);
            Ok(())
        })?;
        Ok((config, fmrs))
    }

    /// The seed's Jool tutorial CE "11b" (MAP-T), as DESIGN.md writes it.
    const TUTORIAL_CE: &str = "\
# one instance
role ce
mode t
end-user-prefix 2001:db8:ce:11b::/64
ipv4-address 192.0.2.8/32
bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
fmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0   # mesh
dmr 64:ff9b::/96
mtu 1500
translate-on-receive on
";

    #[test]
    fn parses_the_tutorial_ce_and_maps_it() {
        let (config, fmrs) = parse(TUTORIAL_CE).unwrap();
        assert_eq!(config.role, Role::Ce);
        assert_eq!(config.mode, Mode::MapT);
        assert_eq!(fmrs.len(), 1);
        assert_eq!(config.mtu, Some(1500));
        assert!(config.translate_on_receive);
        let mapping = config.ce_mapping().unwrap().unwrap();
        assert_eq!(mapping.ipv4.to_string(), "192.0.2.8/32");
        assert_eq!(mapping.psid(), 0x1b);
        assert_eq!(config.missing(fmrs.len()), None);
    }

    #[test]
    fn text_form_round_trips() {
        let (config, fmrs) = parse(TUTORIAL_CE).unwrap();
        let text = config.text(&fmrs).to_string();
        let (again, again_fmrs) = parse(&text).unwrap();
        assert_eq!(again.text(&again_fmrs).to_string(), text);
        assert_eq!(again_fmrs, fmrs);
        assert_eq!(again.bmr, config.bmr);
        assert_eq!(again.dmr, config.dmr);
        assert!(text.contains("translate-on-receive on\n") && again.translate_on_receive);
        let off = TUTORIAL_CE.replace("translate-on-receive on", "translate-on-receive off");
        let (off, _) = parse(&off).unwrap();
        assert!(!off.translate_on_receive && !off.text(&[]).to_string().contains("translate-on-receive"));
    }

    #[test]
    fn rules_also_in_the_comma_form() {
        let mut config = Config::default();
        config.set("bmr", "2001:db8:ce::/51,192.0.2.0/24,13,0").unwrap();
        let mut spaced = Config::default();
        spaced.set("bmr", "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0").unwrap();
        assert_eq!(config.bmr, spaced.bmr);
        assert!(config.set("fmr", "2001:db8:ce::/51,192.0.2.0/24").is_err());
    }

    #[test]
    fn a_map_e_br() {
        let (config, _) = parse(
            "role br\nmode e\nfmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0\nbr 2001:db8:6::1\n",
        )
        .unwrap();
        assert_eq!(config.role, Role::Br);
        assert_eq!(config.br_address, Some("2001:db8:6::1".parse().unwrap()));
    }

    fn error_of(text: &str) -> (usize, std::string::String) {
        let e = parse(text).unwrap_err();
        (e.line, e.to_string())
    }

    #[test]
    fn errors_name_the_line_and_the_value() {
        let (line, msg) = error_of("role ce\nmode x\n");
        assert_eq!(line, 2);
        assert!(msg.contains("bad mode 'x'"), "{msg}");
        let (line, msg) = error_of("role ce\n\n# c\nbmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 99\n");
        assert_eq!(line, 4);
        assert!(msg.starts_with("line 4: bmr: bad ea-len") || msg.contains("ea-len"), "{msg}");
        let (_, msg) = error_of("dmr 64:ff9b::/95\n");
        assert!(msg.contains("bad dmr '64:ff9b::/95'"), "{msg}");
        let (_, msg) = error_of("colour blue\n");
        assert!(msg.contains("unknown keyword 'colour'"), "{msg}");
        let (line, msg) = error_of("role ce\nrole br\n");
        assert_eq!((line, msg.contains("'role' is given twice")), (2, true));
        let (_, msg) = error_of("mtu 1000\n");
        assert!(msg.contains("below IPv6's minimum"), "{msg}");
        let (line, msg) = error_of("end-user-prefix 2001:db8:ce:774::/64\nipv4-address 192.0.2.8\nbmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0\n");
        assert_eq!(line, 3);
        assert!(msg.contains("ipv4-address 192.0.2.8/32 is not the CE's address 192.0.2.59/32"), "{msg}");
        let (_, msg) = error_of("ipv4-address 192.0.2.300\n");
        assert!(msg.contains("bad ipv4-address '192.0.2.300'"), "{msg}");
    }

    #[test]
    fn refuses_contradictions() {
        let (line, msg) = error_of("role br\nend-user-prefix 2001:db8:ce:11b::/64\n");
        assert_eq!(line, 2);
        assert!(msg.contains("end-user-prefix is for a CE"), "{msg}");
        let (_, msg) = error_of("mode e\ndmr 64:ff9b::/96\n");
        assert!(msg.contains("dmr does not apply to MAP-E"), "{msg}");
        let (_, msg) = error_of("end-user-prefix 2001:db8:cf::/64\nbmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13\n");
        assert!(msg.contains("the BMR does not map the end-user prefix"), "{msg}");
        // Two FMRs with one IPv6 prefix: each line is fine, their index refuses the pair.
        let fmr = "fmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0\n";
        let (_, fmrs) = parse(&["role br\nmode t\ndmr 64:ff9b::/96\n", fmr, fmr].concat()).unwrap();
        let mut slots = std::vec![0; slots_needed(fmrs.len())];
        let e = RuleIndex::build(&fmrs, &mut slots, 0).unwrap_err();
        assert_eq!(e, IndexError::SameIpv6Prefix { rule: 1, other: 0 });
        // A caller's limit on FMRs.
        let two = [fmr, fmr].concat();
        let e = Config::parse_with(&two, |_, line| match line {
            1 => Ok(()),
            _ => Err(FileErrorKind::TooManyFmrs(1)),
        })
        .unwrap_err();
        assert_eq!((e.line, e.to_string().contains("more than 1 fmr lines")), (2, true));
    }

    #[test]
    fn an_incomplete_file_says_what_is_missing() {
        let (_, msg) = error_of("role ce\nmode t\nend-user-prefix 2001:db8:ce:11b::/64\n");
        assert!(msg.contains("no 'bmr'"), "{msg}");
        let (_, msg) = error_of(
            "role ce\nmode e\nend-user-prefix 2001:db8:ce:11b::/64\nbmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0\n",
        );
        assert!(msg.contains("no 'br'"), "{msg}");
        let (_, msg) = error_of("role br\nmode t\ndmr 64:ff9b::/96\n");
        assert!(msg.contains("no 'fmr'"), "{msg}");
    }
}
