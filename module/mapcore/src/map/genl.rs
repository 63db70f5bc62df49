//! The generic netlink protocol between the module and `mapminctl`, written once for both
//! sides: family name and version, command and attribute numbers, and the byte forms of
//! prefixes and rules inside attributes.
//!
//! Every request names its instance by `IFINDEX` (an interface index in the caller's network
//! namespace). Changes need CAP_NET_ADMIN; refusals carry an extack message.
//!
//! | command | request attributes | reply |
//! |---|---|---|
//! | `DEV_GET` (do/dump) | `IFINDEX` (do) | one `DEV_*` message per instance |
//! | `DEV_SET` | `IFINDEX`, any of `ROLE MODE END_USER_PREFIX IPV4_ADDRESS DMR BR_ADDRESS MTU PORT_MAPPING ICMP_SOURCE_POOL`, `CLEAR` | |
//! | `RULE_ADD` | `IFINDEX`, `RULE_KIND`, `RULE` | |
//! | `RULE_DEL` | `IFINDEX`, `RULE_KIND`, `RULE` (its IPv6 prefix is enough) | |
//! | `RULE_GET` (dump) | `IFINDEX` | one message per rule: `RULE_KIND`, `RULE` |
//! | `RULE_FLUSH` | `IFINDEX`, optional `RULE_KIND` | |
//! | `CONFIG_SET` | `IFINDEX`, `ROLE MODE`, `END_USER_PREFIX IPV4_ADDRESS BMR FMR* DMR BR_ADDRESS MTU PORT_MAPPING ICMP_SOURCE_POOL FMRS_STAGED` | |
//! | `STATS_GET` | `IFINDEX` | `IFINDEX`, `STATS` |
//! | `FMRS_STAGE` | `IFINDEX`, `FMRS_STAGE_START`, `FMR*` | |
//!
//! `CONFIG_SET` replaces the whole configuration at once, so it must be complete; the other
//! changes may leave it incomplete (the device then drops everything, counted). A table of
//! FMRs too big for one message travels in `FMRS_STAGE` chunks from one socket (the first with
//! `FMRS_STAGE_START`), then a `CONFIG_SET` with `FMRS_STAGED` takes them: the device builds the
//! new table aside and publishes it with the rest at once. Errors about an FMR name it by its
//! position in the table (1-based: staged ones first).

use core::net::{Ipv4Addr, Ipv6Addr};

use super::config::{PortMapping, Role};
use super::prefix::{Ipv4Prefix, Ipv6Prefix};
use super::rule::{Mode, RuleParams};

/// The generic netlink family name.
pub const FAMILY_NAME: &str = "mapmint";
/// The same, NUL-terminated, for the kernel's `genl_family.name`.
pub const FAMILY_NAME_NUL: &[u8] = b"mapmint\0";
/// The protocol version.
pub const FAMILY_VERSION: u8 = 1;

/// The most FMRs an instance takes: four times a BR domain of 65,536 rules, about 13 MB of
/// rules and index.
pub const MAX_FMRS: usize = 1 << 18;

/// Commands (`genlmsghdr.cmd`).
pub mod cmd {
    pub const DEV_GET: u8 = 1;
    pub const DEV_SET: u8 = 2;
    pub const RULE_ADD: u8 = 3;
    pub const RULE_DEL: u8 = 4;
    pub const RULE_GET: u8 = 5;
    pub const RULE_FLUSH: u8 = 6;
    pub const CONFIG_SET: u8 = 7;
    pub const STATS_GET: u8 = 8;
    /// FMRs for the next CONFIG_SET, in chunks: a table too big for one message
    /// ([`super::attr::FMRS_STAGE_START`] begins, repeated [`super::attr::FMR`]s follow).
    pub const FMRS_STAGE: u8 = 9;
    /// The highest command number.
    pub const MAX: u8 = FMRS_STAGE;
}

/// Top-level attributes.
pub mod attr {
    /// u32: the instance's interface index.
    pub const IFINDEX: u16 = 1;
    /// NUL-terminated string: the instance's name (replies only).
    pub const IFNAME: u16 = 2;
    /// u8: [`super::role_to_u8`].
    pub const ROLE: u16 = 3;
    /// u8: [`super::mode_to_u8`].
    pub const MODE: u16 = 4;
    /// [`super::IPV6_PREFIX_LEN`] bytes: [`super::encode_ipv6_prefix`].
    pub const END_USER_PREFIX: u16 = 5;
    /// [`super::IPV6_PREFIX_LEN`] bytes: the MAP-T DMR.
    pub const DMR: u16 = 6;
    /// 16 bytes: the MAP-E BR address.
    pub const BR_ADDRESS: u16 = 7;
    /// u32: the device MTU.
    pub const MTU: u16 = 8;
    /// Nested [`super::rule_attr`]: the BMR (`CONFIG_SET`, `DEV_GET`).
    pub const BMR: u16 = 9;
    /// Nested [`super::rule_attr`]: one FMR; repeated (`CONFIG_SET`).
    pub const FMR: u16 = 10;
    /// u8: [`super::RULE_KIND_BMR`] or [`super::RULE_KIND_FMR`].
    pub const RULE_KIND: u16 = 11;
    /// Nested [`super::rule_attr`]: the rule of `RULE_ADD`, `RULE_DEL`, `RULE_GET`.
    pub const RULE: u16 = 12;
    /// Nested [`super::stats_attr`] (replies only).
    pub const STATS: u16 = 13;
    /// NUL-terminated string: what a complete configuration still lacks (replies only).
    pub const MISSING: u16 = 14;
    /// [`super::IPV4_PREFIX_LEN`] bytes: the CE's IPv4 address or prefix (replies only).
    pub const CE_IPV4: u16 = 15;
    /// u16: the CE's PSID (replies only).
    pub const CE_PSID: u16 = 16;
    /// u8: the CE's PSID length (replies only).
    pub const CE_PSID_LEN: u16 = 17;
    /// 16 bytes: the CE's MAP IPv6 address (replies only).
    pub const CE_MAP_ADDRESS: u16 = 18;
    /// u32: the number of FMRs (`DEV_GET` replies).
    pub const FMR_COUNT: u16 = 19;
    /// u8: [`super::CLEAR_END_USER_PREFIX`] etc. bits: settings `DEV_SET` removes.
    pub const CLEAR: u16 = 20;
    /// [`super::IPV4_PREFIX_LEN`] bytes: the CE's IPv4 address as configured (checked
    /// against the BMR).
    pub const IPV4_ADDRESS: u16 = 21;
    /// u8: how a CE's NAPT reaches its port set ([`super::port_mapping_to_u8`]).
    pub const PORT_MAPPING: u16 = 22;
    /// flag: FMRS_STAGE drops what was staged before and starts anew.
    pub const FMRS_STAGE_START: u16 = 23;
    /// flag: CONFIG_SET takes the FMRs this socket staged, before the FMR attributes it carries.
    pub const FMRS_STAGED: u16 = 24;
    /// [`super::IPV4_PREFIX_LEN`] bytes: the RFC 6791 pool of ICMP error sources.
    pub const ICMP_SOURCE_POOL: u16 = 25;
    /// u8, 0 or 1: translate-on-receive.
    pub const TRANSLATE_ON_RECEIVE: u16 = 26;
    /// The highest attribute number.
    pub const MAX: u16 = TRANSLATE_ON_RECEIVE;
}

/// Attributes inside `BMR`, `FMR` and `RULE`.
pub mod rule_attr {
    /// [`super::IPV6_PREFIX_LEN`] bytes: the Rule IPv6 prefix.
    pub const IPV6_PREFIX: u16 = 1;
    /// [`super::IPV4_PREFIX_LEN`] bytes: the Rule IPv4 prefix.
    pub const IPV4_PREFIX: u16 = 2;
    /// u8: the EA-bits length.
    pub const EA_LEN: u16 = 3;
    /// u8: the PSID offset (absent: the default, 6; 4 for a legacy rule).
    pub const PSID_OFFSET: u16 = 4;
    /// u8: an explicit PSID length.
    pub const PSID_LEN: u16 = 5;
    /// u16: an explicit PSID.
    pub const PSID: u16 = 6;
    /// flag: the rule is also an FMR.
    pub const FORWARDING: u16 = 7;
    /// flag: the legacy (pre-RFC 7597) interface identifier format.
    pub const LEGACY: u16 = 8;
    /// The highest attribute number.
    pub const MAX: u16 = LEGACY;
}

/// Attributes inside `STATS`: u64 counters.
pub mod stats_attr {
    /// IPv4 packets translated or encapsulated into IPv6.
    pub const V4_TO_V6_PACKETS: u16 = 1;
    pub const V4_TO_V6_BYTES: u16 = 2;
    /// IPv6 packets translated or decapsulated into IPv4.
    pub const V6_TO_V4_PACKETS: u16 = 3;
    pub const V6_TO_V4_BYTES: u16 = 4;
    /// Nested: one u64 attribute per drop reason, numbered by the reason's code + 1.
    pub const DROPS: u16 = 5;
    /// ICMP errors sent back instead of a translation.
    pub const ICMP_ERRORS: u16 = 6;
    /// Of the translated packets, those taken where they entered the box
    /// (translate-on-receive).
    pub const ON_RECEIVE_PACKETS: u16 = 7;
    /// The highest attribute number.
    pub const MAX: u16 = ON_RECEIVE_PACKETS;
}

pub const RULE_KIND_BMR: u8 = 0;
pub const RULE_KIND_FMR: u8 = 1;

/// `CLEAR` bits.
pub const CLEAR_END_USER_PREFIX: u8 = 1 << 0;
pub const CLEAR_DMR: u8 = 1 << 1;
pub const CLEAR_BR_ADDRESS: u8 = 1 << 2;
pub const CLEAR_MTU: u8 = 1 << 3;
pub const CLEAR_IPV4_ADDRESS: u8 = 1 << 4;
pub const CLEAR_ICMP_SOURCE_POOL: u8 = 1 << 5;
pub const CLEAR_ALL: u8 =
    CLEAR_END_USER_PREFIX | CLEAR_DMR | CLEAR_BR_ADDRESS | CLEAR_MTU | CLEAR_IPV4_ADDRESS | CLEAR_ICMP_SOURCE_POOL;

/// An IPv6 prefix in an attribute: 16 address bytes, then the length.
pub const IPV6_PREFIX_LEN: usize = 17;
/// An IPv4 prefix in an attribute: 4 address bytes (network order), then the length.
pub const IPV4_PREFIX_LEN: usize = 5;

pub fn encode_ipv6_prefix(prefix: Ipv6Prefix) -> [u8; IPV6_PREFIX_LEN] {
    let mut out = [0; IPV6_PREFIX_LEN];
    out[..16].copy_from_slice(&prefix.addr.octets());
    out[16] = prefix.len;
    out
}

/// `None` for a wrong size or a length above 128.
pub fn decode_ipv6_prefix(bytes: &[u8]) -> Option<Ipv6Prefix> {
    let bytes: &[u8; IPV6_PREFIX_LEN] = bytes.try_into().ok()?;
    let (addr, len) = bytes.split_at(16);
    let addr: [u8; 16] = addr.try_into().ok()?;
    Ipv6Prefix::new(Ipv6Addr::from(addr), *len.first()?)
}

pub fn encode_ipv4_prefix(prefix: Ipv4Prefix) -> [u8; IPV4_PREFIX_LEN] {
    let o = prefix.addr.octets();
    [o[0], o[1], o[2], o[3], prefix.len]
}

/// `None` for a wrong size or a length above 32.
pub fn decode_ipv4_prefix(bytes: &[u8]) -> Option<Ipv4Prefix> {
    let [a, b, c, d, len]: [u8; IPV4_PREFIX_LEN] = bytes.try_into().ok()?;
    Ipv4Prefix::new(Ipv4Addr::new(a, b, c, d), len)
}

pub fn decode_ipv6_addr(bytes: &[u8]) -> Option<Ipv6Addr> {
    let bytes: [u8; 16] = bytes.try_into().ok()?;
    Some(Ipv6Addr::from(bytes))
}

pub fn role_to_u8(role: Role) -> u8 {
    match role {
        Role::Ce => 0,
        Role::Br => 1,
    }
}

pub fn role_from_u8(value: u8) -> Option<Role> {
    match value {
        0 => Some(Role::Ce),
        1 => Some(Role::Br),
        _ => None,
    }
}

pub fn port_mapping_to_u8(mapping: PortMapping) -> u8 {
    match mapping {
        PortMapping::Off => 0,
        PortMapping::Contiguous => 1,
    }
}

pub fn port_mapping_from_u8(value: u8) -> Option<PortMapping> {
    match value {
        0 => Some(PortMapping::Off),
        1 => Some(PortMapping::Contiguous),
        _ => None,
    }
}

pub fn mode_to_u8(mode: Mode) -> u8 {
    match mode {
        Mode::MapT => 0,
        Mode::MapE => 1,
    }
}

pub fn mode_from_u8(value: u8) -> Option<Mode> {
    match value {
        0 => Some(Mode::MapT),
        1 => Some(Mode::MapE),
        _ => None,
    }
}

/// The attributes of a rule, in the order both sides write them: (attribute, value bytes).
/// Optional fields that are absent are left out.
pub fn rule_attributes(params: &RuleParams, mut emit: impl FnMut(u16, &[u8])) {
    emit(rule_attr::IPV6_PREFIX, &encode_ipv6_prefix(params.ipv6));
    emit(rule_attr::IPV4_PREFIX, &encode_ipv4_prefix(params.ipv4));
    emit(rule_attr::EA_LEN, &[params.ea_len]);
    if let Some(offset) = params.psid_offset {
        emit(rule_attr::PSID_OFFSET, &[offset]);
    }
    if let Some(len) = params.psid_len {
        emit(rule_attr::PSID_LEN, &[len]);
    }
    if let Some(psid) = params.psid {
        emit(rule_attr::PSID, &psid.to_ne_bytes());
    }
    if params.forwarding {
        emit(rule_attr::FORWARDING, &[]);
    }
    if params.legacy {
        emit(rule_attr::LEGACY, &[]);
    }
}

/// Why rule attributes could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAttrError {
    /// A required attribute is absent.
    Missing(&'static str),
    /// An attribute has the wrong size or an out-of-range value.
    Bad(&'static str),
}

impl core::fmt::Display for RuleAttrError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RuleAttrError::Missing(what) => write!(f, "the rule has no {what}"),
            RuleAttrError::Bad(what) => write!(f, "the rule's {what} is malformed"),
        }
    }
}

/// A rule's attributes by number (the first of each), from one walk over the value of its
/// nested attribute: a lookup in [`rule_params_from`] then reads no other attribute, where
/// walking the value for each of the 8 numbers read each attribute up to 8 times.
pub fn rule_attr_table(nested: &[u8]) -> [Option<&[u8]>; rule_attr::MAX as usize + 1] {
    let mut table = [None; rule_attr::MAX as usize + 1];
    for (kind, value) in attributes(nested) {
        if let Some(slot @ None) = table.get_mut(usize::from(kind)) {
            *slot = Some(value);
        }
    }
    table
}

/// Reads rule parameters from its attributes, given as a lookup by attribute number (the
/// caller's parser has already checked types and sizes against its policy; this checks again,
/// so a bad value is an error, never a panic).
pub fn rule_params_from<'a>(get: impl Fn(u16) -> Option<&'a [u8]>) -> Result<RuleParams, RuleAttrError> {
    let ipv6 = get(rule_attr::IPV6_PREFIX).ok_or(RuleAttrError::Missing("IPv6 prefix"))?;
    let ipv6 = decode_ipv6_prefix(ipv6).ok_or(RuleAttrError::Bad("IPv6 prefix"))?;
    let ipv4 = get(rule_attr::IPV4_PREFIX).ok_or(RuleAttrError::Missing("IPv4 prefix"))?;
    let ipv4 = decode_ipv4_prefix(ipv4).ok_or(RuleAttrError::Bad("IPv4 prefix"))?;
    let u8_of = |attr, what| -> Result<Option<u8>, RuleAttrError> {
        match get(attr) {
            None => Ok(None),
            Some(&[value]) => Ok(Some(value)),
            Some(_) => Err(RuleAttrError::Bad(what)),
        }
    };
    let ea_len = u8_of(rule_attr::EA_LEN, "EA-bits length")?.ok_or(RuleAttrError::Missing("EA-bits length"))?;
    let psid_offset = u8_of(rule_attr::PSID_OFFSET, "PSID offset")?;
    let psid_len = u8_of(rule_attr::PSID_LEN, "PSID length")?;
    let psid = match get(rule_attr::PSID) {
        None => None,
        Some(&[a, b]) => Some(u16::from_ne_bytes([a, b])),
        Some(_) => return Err(RuleAttrError::Bad("PSID")),
    };
    let forwarding = get(rule_attr::FORWARDING).is_some();
    let legacy = get(rule_attr::LEGACY).is_some();
    Ok(RuleParams { ipv6, ipv4, ea_len, psid_offset, psid_len, psid, forwarding, legacy })
}

/// The size of a netlink attribute header (`struct nlattr`).
pub const NLA_HDRLEN: usize = 4;
/// Attribute type bits, without NLA_F_NESTED and NLA_F_NET_BYTEORDER.
pub const NLA_TYPE_MASK: u16 = 0x3fff;

/// Walks the netlink attributes packed in `payload` (the inside of a nested attribute, or a
/// message's attributes), yielding (type without flag bits, value). It stops at the first
/// attribute whose header or length does not fit, so it never reads out of bounds.
pub fn attributes(payload: &[u8]) -> Attributes<'_> {
    Attributes { rest: payload }
}

/// The iterator of [`attributes`].
pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let header = self.rest.get(..NLA_HDRLEN)?;
        let len = usize::from(u16::from_ne_bytes([header[0], header[1]]));
        let kind = u16::from_ne_bytes([header[2], header[3]]) & NLA_TYPE_MASK;
        let Some(value) = self.rest.get(NLA_HDRLEN..len.max(NLA_HDRLEN)).filter(|_| len >= NLA_HDRLEN) else {
            self.rest = &[];
            return None;
        };
        // Attributes are 4-byte aligned; the last one may lack its padding.
        let aligned = (len + 3) & !3;
        self.rest = self.rest.get(aligned..).unwrap_or(&[]);
        Some((kind, value))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use super::super::text::parse_rule_params;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn rule_attributes_round_trip() {
        for text in [
            "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0",
            "2001:db8:12:3400::/56 192.0.2.18/32 ea-len 0 psid-len 8 psid 52 forwarding",
            "2001:db8::/40 192.0.2.0/24 ea-len 16",
        ] {
            let params = parse_rule_params(text).unwrap();
            let mut attrs: Vec<(u16, Vec<u8>)> = Vec::new();
            rule_attributes(&params, |a, v| attrs.push((a, v.to_vec())));
            let back = rule_params_from(|a| attrs.iter().find(|(k, _)| *k == a).map(|(_, v)| v.as_slice()));
            assert_eq!(back, Ok(params), "{text}");
        }
    }

    fn pack(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, value) in attrs {
            out.extend_from_slice(&((NLA_HDRLEN + value.len()) as u16).to_ne_bytes());
            out.extend_from_slice(&kind.to_ne_bytes());
            out.extend_from_slice(value);
            while out.len() % 4 != 0 {
                out.push(0);
            }
        }
        out
    }

    #[test]
    fn the_attribute_table_keeps_the_first_of_each_number_and_skips_unknown_ones() {
        let packed = pack(&[
            (rule_attr::EA_LEN, &[8]),
            (rule_attr::MAX + 1, &[1]),
            (0, &[2]),
            (0x8000 | rule_attr::PSID, &[1, 2]),
            (rule_attr::EA_LEN, &[9]),
        ]);
        let table = rule_attr_table(&packed);
        assert_eq!(table[usize::from(rule_attr::EA_LEN)], Some(&[8][..]));
        assert_eq!(table[usize::from(rule_attr::PSID)], Some(&[1, 2][..]));
        assert_eq!(table[0], Some(&[2][..]));
        assert_eq!(table.iter().filter(|a| a.is_some()).count(), 3);
        for text in ["2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0", "2001:db8:12:3400::/56 192.0.2.18/32 ea-len 0 psid-len 8 psid 52 forwarding legacy"] {
            let params = parse_rule_params(text).unwrap();
            let mut attrs: Vec<(u16, Vec<u8>)> = Vec::new();
            rule_attributes(&params, |a, v| attrs.push((a, v.to_vec())));
            let packed = pack(&attrs.iter().map(|(k, v)| (*k, v.as_slice())).collect::<Vec<_>>());
            let table = rule_attr_table(&packed);
            assert_eq!(rule_params_from(|k| table[usize::from(k)]), Ok(params), "{text}");
        }
    }

    #[test]
    fn walks_packed_attributes_and_stops_at_malformed_ones() {
        let packed = pack(&[(1, &[7]), (2, &[1, 2, 3, 4, 5]), (0x8000 | 3, &[])]);
        let seen: Vec<(u16, Vec<u8>)> = attributes(&packed).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(seen, [(1, vec![7]), (2, vec![1, 2, 3, 4, 5]), (3, vec![])]);
        // A length past the end, a length below the header, a truncated header.
        let mut overlong = pack(&[(1, &[7])]);
        overlong[0] = 200;
        assert_eq!(attributes(&overlong).count(), 0);
        let mut short = pack(&[(1, &[7]), (2, &[8])]);
        short[8] = 2;
        assert_eq!(attributes(&short).count(), 1);
        assert_eq!(attributes(&[5, 0, 1]).count(), 0);
        for cut in 0..packed.len() {
            assert!(attributes(&packed[..cut]).count() <= 3);
        }
    }

    #[test]
    fn malformed_rule_attributes_are_errors() {
        let none = |_| None;
        assert_eq!(rule_params_from(none), Err(RuleAttrError::Missing("IPv6 prefix")));
        let short = [0u8; 3];
        let v6 = encode_ipv6_prefix(Ipv6Prefix::parse("2001:db8::/32").unwrap());
        let get = |a| match a {
            rule_attr::IPV6_PREFIX => Some(&v6[..]),
            rule_attr::IPV4_PREFIX => Some(&short[..]),
            _ => None,
        };
        assert_eq!(rule_params_from(get), Err(RuleAttrError::Bad("IPv4 prefix")));
        let mut bad_len = v6;
        bad_len[16] = 129;
        assert_eq!(decode_ipv6_prefix(&bad_len), None);
        assert_eq!(decode_ipv4_prefix(&[192, 0, 2, 1, 33]), None);
        assert_eq!(decode_ipv6_prefix(&v6[..16]), None);
    }
}
