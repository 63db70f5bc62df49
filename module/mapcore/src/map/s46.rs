//! DHCPv6 options for MAP (RFC 7598; RFC 8026 for the priority option), parsed from their
//! wire form without allocating: [`S46Options::parse`] checks every length of a sequence of
//! options (a Reply's options, or the payload a DHCPv6 client hands its hook), then iterators
//! read the containers, rules, BRs and DMRs it holds.
//!
//! ```text
//! option:        code (2) length (2) data (length)          RFC 8415 §21.1
//! 94/95/96       S46_CONT_MAPE / _MAPT / _LW: sub-options only (RFC 7598 §4.6-4.8)
//! 89 S46_RULE    flags (1, F = 0x01) ea-len (1) prefix4-len (1) ipv4-prefix (4)
//!                prefix6-len (1) ipv6-prefix (ceil(prefix6-len / 8)) sub-options   (§4.1)
//! 90 S46_BR      an IPv6 address (16)                                                  (§4.2)
//! 91 S46_DMR     prefix6-len (1) ipv6-prefix (ceil(prefix6-len / 8))                    (§4.3)
//! 92 S46_V4V6BIND ipv4-address (4) prefix6-len (1) ipv6-prefix (ceil) sub-options      (§4.4)
//! 93 S46_PORTPARAMS offset (1) psid-len (1) psid (2, left-aligned)                      (§4.5)
//! 111 S46_PRIORITY  option codes (2 each), most preferred first                   (RFC 8026 §4)
//! ```
//! Bits past a prefix length are reserved: ignored (cleared) as RFC 7598 asks of a receiver.
//! Unknown options and sub-options are skipped. Every error names the byte offset, from the
//! start of the bytes given, of the field at fault.

// Bytes from the network (a DHCPv6 server, a capture): nothing may panic.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::portset::psid_from_left_aligned;
use super::prefix::{Ipv4Prefix, Ipv6Prefix};
use super::rule::RuleParams;

/// Option codes (RFC 7598 §4, RFC 8026 §4).
pub mod code {
    pub const S46_RULE: u16 = 89;
    pub const S46_BR: u16 = 90;
    pub const S46_DMR: u16 = 91;
    pub const S46_V4V6BIND: u16 = 92;
    pub const S46_PORTPARAMS: u16 = 93;
    pub const S46_CONT_MAPE: u16 = 94;
    pub const S46_CONT_MAPT: u16 = 95;
    pub const S46_CONT_LW: u16 = 96;
    pub const S46_PRIORITY: u16 = 111;
}

/// Which softwire a container configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    MapE,
    MapT,
    Lw4o6,
}

impl ContainerKind {
    pub fn code(self) -> u16 {
        match self {
            ContainerKind::MapE => code::S46_CONT_MAPE,
            ContainerKind::MapT => code::S46_CONT_MAPT,
            ContainerKind::Lw4o6 => code::S46_CONT_LW,
        }
    }

    fn of(code_: u16) -> Option<Self> {
        match code_ {
            code::S46_CONT_MAPE => Some(ContainerKind::MapE),
            code::S46_CONT_MAPT => Some(ContainerKind::MapT),
            code::S46_CONT_LW => Some(ContainerKind::Lw4o6),
            _ => None,
        }
    }

    /// The option's name in RFC 7598.
    pub fn name(self) -> &'static str {
        match self {
            ContainerKind::MapE => "OPTION_S46_CONT_MAPE",
            ContainerKind::MapT => "OPTION_S46_CONT_MAPT",
            ContainerKind::Lw4o6 => "OPTION_S46_CONT_LW",
        }
    }
}

/// Why the options were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S46ErrorKind {
    /// An option header (4 bytes) does not fit in what is left.
    TruncatedHeader,
    /// An option's length runs past the end of what holds it.
    LengthPastEnd { code: u16, length: usize, left: usize },
    /// An option shorter or longer than its fixed fields: (code, length, expected).
    BadLength { code: u16, length: usize, expected: &'static str },
    /// prefix4-len above 32.
    Ipv4PrefixTooLong(u8),
    /// prefix6-len above 128.
    Ipv6PrefixTooLong(u8),
    /// ea-len above 48.
    EaLenTooLong(u8),
    /// S46_PORTPARAMS: offset above 15, or offset + psid-len above 16.
    BadPortParams { offset: u8, psid_len: u8 },
    /// S46_PORTPARAMS: bits set past the PSID length in the left-aligned PSID field.
    PsidPastLength { psid: u16, psid_len: u8 },
    /// A container without a sub-option it must hold, or with one too many.
    Container { kind: ContainerKind, problem: &'static str },
    /// S46_PRIORITY with an odd length or empty.
    BadPriority,
}

/// An error and where: the offset of the field at fault from the start of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S46Error {
    pub offset: usize,
    pub kind: S46ErrorKind,
}

impl fmt::Display for S46Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: ", self.offset)?;
        match self.kind {
            S46ErrorKind::TruncatedHeader => write!(f, "an option header needs 4 bytes, fewer are left"),
            S46ErrorKind::LengthPastEnd { code, length, left } => {
                write!(f, "option {code} says {length} bytes, only {left} are left")
            }
            S46ErrorKind::BadLength { code, length, expected } => {
                write!(f, "option {code} of {length} bytes: expected {expected}")
            }
            S46ErrorKind::Ipv4PrefixTooLong(len) => write!(f, "prefix4-len {len} is above 32"),
            S46ErrorKind::Ipv6PrefixTooLong(len) => write!(f, "prefix6-len {len} is above 128"),
            S46ErrorKind::EaLenTooLong(len) => write!(f, "ea-len {len} is above 48"),
            S46ErrorKind::BadPortParams { offset, psid_len } => {
                write!(f, "S46_PORTPARAMS offset {offset} with psid-len {psid_len}: offset must be at most 15 and offset + psid-len at most 16")
            }
            S46ErrorKind::PsidPastLength { psid, psid_len } => write!(
                f,
                "S46_PORTPARAMS PSID field 0x{psid:04x} has bits set past its {psid_len} bits (it is left-aligned)"
            ),
            S46ErrorKind::Container { kind, problem } => write!(f, "{}: {problem}", kind.name()),
            S46ErrorKind::BadPriority => write!(f, "S46_PRIORITY must list 16-bit option codes"),
        }
    }
}

/// One option: its code, its data and where the data starts in the input.
#[derive(Clone, Copy, Debug)]
struct Tlv<'a> {
    code: u16,
    data: &'a [u8],
    /// Offset of the option's header in the input.
    at: usize,
    /// Offset of its data in the input.
    data_offset: usize,
}

impl Tlv<'_> {
    /// Offset of byte `i` of the data in the input.
    fn data_at(&self, i: usize) -> usize {
        self.data_offset.saturating_add(i)
    }
}

/// Options one after the other in `bytes`, which start at offset `base` of the input. Only
/// used on bytes [`walk`] accepted, so it ends where they end.
#[derive(Clone, Debug)]
struct Tlvs<'a> {
    bytes: &'a [u8],
    base: usize,
}

/// Checks that `bytes` (at `base` in the input) is a whole sequence of options.
fn walk(bytes: &[u8], base: usize, mut each: impl FnMut(Tlv<'_>) -> Result<(), S46Error>) -> Result<(), S46Error> {
    let mut at = 0usize;
    while at < bytes.len() {
        let header = bytes.get(at..at.saturating_add(4)).ok_or(S46Error { offset: base.saturating_add(at), kind: S46ErrorKind::TruncatedHeader })?;
        let code_ = u16::from_be_bytes([header.first().copied().unwrap_or(0), header.get(1).copied().unwrap_or(0)]);
        let length = usize::from(u16::from_be_bytes([header.get(2).copied().unwrap_or(0), header.get(3).copied().unwrap_or(0)]));
        let start = at.saturating_add(4);
        let left = bytes.len().saturating_sub(start);
        let data = bytes.get(start..start.saturating_add(length)).ok_or(S46Error {
            offset: base.saturating_add(at).saturating_add(2),
            kind: S46ErrorKind::LengthPastEnd { code: code_, length, left },
        })?;
        let header_at = base.saturating_add(at);
        each(Tlv { code: code_, data, at: header_at, data_offset: header_at.saturating_add(4) })?;
        at = start.saturating_add(length);
    }
    Ok(())
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        let header = self.bytes.get(..4)?;
        let code_ = u16::from_be_bytes([*header.first()?, *header.get(1)?]);
        let length = usize::from(u16::from_be_bytes([*header.get(2)?, *header.get(3)?]));
        let data = self.bytes.get(4..4usize.saturating_add(length))?;
        let tlv = Tlv { code: code_, data, at: self.base, data_offset: self.base.saturating_add(4) };
        let used = 4usize.saturating_add(length);
        self.bytes = self.bytes.get(used..).unwrap_or(&[]);
        self.base = self.base.saturating_add(used);
        Some(tlv)
    }
}

/// An IPv6 prefix of `len` bits carried in ceil(len / 8) bytes, bits past `len` cleared.
fn prefix6(len: u8, bytes: &[u8]) -> Option<Ipv6Prefix> {
    if len > 128 {
        return None;
    }
    let mut octets = [0u8; 16];
    let n = usize::from(len).div_ceil(8);
    octets.get_mut(..n)?.copy_from_slice(bytes.get(..n)?);
    let bits = u128::from_be_bytes(octets);
    let mask = u128::MAX.checked_shl(128u32.saturating_sub(u32::from(len))).unwrap_or(0);
    Ipv6Prefix::new(Ipv6Addr::from(bits & mask), len)
}

fn prefix4(len: u8, octets: [u8; 4]) -> Option<Ipv4Prefix> {
    if len > 32 {
        return None;
    }
    let mask = u32::MAX.checked_shl(32u32.saturating_sub(u32::from(len))).unwrap_or(0);
    Ipv4Prefix::new(Ipv4Addr::from(u32::from_be_bytes(octets) & mask), len)
}

/// S46_PORTPARAMS (RFC 7598 §4.5), the PSID right-aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortParams {
    /// The PSID offset `a`.
    pub offset: u8,
    /// The PSID length `k`.
    pub psid_len: u8,
    /// The PSID, right-aligned (the option carries it left-aligned).
    pub psid: u16,
}

fn port_params(tlv: &Tlv<'_>) -> Result<PortParams, S46Error> {
    let [offset, psid_len, hi, lo] = <[u8; 4]>::try_from(tlv.data).map_err(|_| S46Error {
        offset: tlv.at.saturating_add(2),
        kind: S46ErrorKind::BadLength { code: code::S46_PORTPARAMS, length: tlv.data.len(), expected: "exactly 4" },
    })?;
    if offset > 15 || u16::from(offset).saturating_add(u16::from(psid_len)) > 16 {
        return Err(S46Error { offset: tlv.data_at(0), kind: S46ErrorKind::BadPortParams { offset, psid_len } });
    }
    let field = u16::from_be_bytes([hi, lo]);
    let psid = psid_from_left_aligned(field, psid_len)
        .ok_or(S46Error { offset: tlv.data_at(2), kind: S46ErrorKind::PsidPastLength { psid: field, psid_len } })?;
    Ok(PortParams { offset, psid_len, psid })
}

/// An S46_RULE (RFC 7598 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S46Rule {
    /// The F flag: also a Forwarding Mapping Rule.
    pub forwarding: bool,
    pub ea_len: u8,
    pub ipv4_prefix: Ipv4Prefix,
    pub ipv6_prefix: Ipv6Prefix,
    /// Its S46_PORTPARAMS, if any.
    pub port_params: Option<PortParams>,
    /// Where the option starts in the input.
    pub offset: usize,
}

impl S46Rule {
    /// The rule's parameters for [`super::rule::Rule::new`]: the PSID offset of its
    /// S46_PORTPARAMS, or RFC 7597's default 6 (`None`); an explicit PSID and length only
    /// when its EA bits carry none (the core derives the PSID from the EA bits otherwise).
    pub fn params(&self) -> RuleParams {
        let mut params = RuleParams::new(self.ipv6_prefix, self.ipv4_prefix, self.ea_len);
        params.forwarding = self.forwarding;
        if let Some(pp) = self.port_params {
            params.psid_offset = Some(pp.offset);
            let suffix_bits = 32u8.saturating_sub(self.ipv4_prefix.len);
            if self.ea_len <= suffix_bits && pp.psid_len > 0 {
                params.psid_len = Some(pp.psid_len);
                params.psid = Some(pp.psid);
            }
        }
        params
    }
}

fn rule(tlv: &Tlv<'_>) -> Result<S46Rule, S46Error> {
    let d = tlv.data;
    let bad_length = |expected| S46Error {
        offset: tlv.at.saturating_add(2),
        kind: S46ErrorKind::BadLength { code: code::S46_RULE, length: d.len(), expected },
    };
    let [flags, ea_len, len4, a, b, c, e, len6] = <[u8; 8]>::try_from(d.get(..8).ok_or(bad_length("at least 8"))?)
        .map_err(|_| bad_length("at least 8"))?;
    if ea_len > 48 {
        return Err(S46Error { offset: tlv.data_at(1), kind: S46ErrorKind::EaLenTooLong(ea_len) });
    }
    let ipv4_prefix =
        prefix4(len4, [a, b, c, e]).ok_or(S46Error { offset: tlv.data_at(2), kind: S46ErrorKind::Ipv4PrefixTooLong(len4) })?;
    if len6 > 128 {
        return Err(S46Error { offset: tlv.data_at(7), kind: S46ErrorKind::Ipv6PrefixTooLong(len6) });
    }
    let (ipv6_prefix, port_params_) =
        prefix_then_port_params(tlv, 8, len6).map_err(|()| bad_length("8 + ceil(prefix6-len / 8) at least"))??;
    Ok(S46Rule { forwarding: flags & 0x01 != 0, ea_len, ipv4_prefix, ipv6_prefix, port_params: port_params_, offset: tlv.at })
}

/// The IPv6 prefix of `len6` bits at byte `at` of the option's data, then the sub-options after
/// it and their S46_PORTPARAMS: `Err(())` when the prefix's bytes are missing.
#[allow(clippy::type_complexity)]
fn prefix_then_port_params(
    tlv: &Tlv<'_>,
    at: usize,
    len6: u8,
) -> Result<Result<(Ipv6Prefix, Option<PortParams>), S46Error>, ()> {
    let end6 = at.saturating_add(usize::from(len6).div_ceil(8));
    let prefix = tlv.data.get(at..end6).and_then(|bytes| prefix6(len6, bytes)).ok_or(())?;
    let mut found = None;
    let subs = walk(tlv.data.get(end6..).unwrap_or(&[]), tlv.data_at(end6), |sub| {
        if sub.code == code::S46_PORTPARAMS {
            found = Some(port_params(&sub)?);
        }
        Ok(())
    });
    Ok(subs.map(|()| (prefix, found)))
}

fn br(tlv: &Tlv<'_>) -> Result<Ipv6Addr, S46Error> {
    <[u8; 16]>::try_from(tlv.data).map(Ipv6Addr::from).map_err(|_| S46Error {
        offset: tlv.at.saturating_add(2),
        kind: S46ErrorKind::BadLength { code: code::S46_BR, length: tlv.data.len(), expected: "exactly 16" },
    })
}

fn dmr(tlv: &Tlv<'_>) -> Result<Ipv6Prefix, S46Error> {
    let len = *tlv.data.first().ok_or(S46Error {
        offset: tlv.at.saturating_add(2),
        kind: S46ErrorKind::BadLength { code: code::S46_DMR, length: 0, expected: "1 + ceil(prefix6-len / 8)" },
    })?;
    if len > 128 {
        return Err(S46Error { offset: tlv.data_at(0), kind: S46ErrorKind::Ipv6PrefixTooLong(len) });
    }
    if tlv.data.len() != usize::from(len).div_ceil(8).saturating_add(1) {
        return Err(S46Error {
            offset: tlv.at.saturating_add(2),
            kind: S46ErrorKind::BadLength { code: code::S46_DMR, length: tlv.data.len(), expected: "1 + ceil(prefix6-len / 8)" },
        });
    }
    prefix6(len, tlv.data.get(1..).unwrap_or(&[]))
        .ok_or(S46Error { offset: tlv.data_at(0), kind: S46ErrorKind::Ipv6PrefixTooLong(len) })
}

/// An S46_V4V6BIND (RFC 7598 §4.4): a lightweight 4over6 binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V4V6Bind {
    pub ipv4: Ipv4Addr,
    pub bind_prefix: Ipv6Prefix,
    pub port_params: Option<PortParams>,
}

fn v4v6bind(tlv: &Tlv<'_>) -> Result<V4V6Bind, S46Error> {
    let d = tlv.data;
    let bad_length = |expected| S46Error {
        offset: tlv.at.saturating_add(2),
        kind: S46ErrorKind::BadLength { code: code::S46_V4V6BIND, length: d.len(), expected },
    };
    let [a, b, c, e, len6] = <[u8; 5]>::try_from(d.get(..5).ok_or(bad_length("at least 5"))?).map_err(|_| bad_length("at least 5"))?;
    if len6 > 128 {
        return Err(S46Error { offset: tlv.data_at(4), kind: S46ErrorKind::Ipv6PrefixTooLong(len6) });
    }
    let (bind_prefix, port_params_) =
        prefix_then_port_params(tlv, 5, len6).map_err(|()| bad_length("5 + ceil(prefix6-len / 8) at least"))??;
    Ok(V4V6Bind { ipv4: Ipv4Addr::new(a, b, c, e), bind_prefix, port_params: port_params_ })
}

/// A softwire container, its sub-options checked.
#[derive(Clone, Debug)]
pub struct Container<'a> {
    pub kind: ContainerKind,
    /// Where the option starts in the input.
    pub offset: usize,
    subs: Tlvs<'a>,
}

impl<'a> Container<'a> {
    fn parse(kind: ContainerKind, tlv: &Tlv<'a>) -> Result<Self, S46Error> {
        let (mut rules, mut brs, mut dmrs, mut binds) = (0u32, 0u32, 0u32, 0u32);
        walk(tlv.data, tlv.data_at(0), |sub| {
            match sub.code {
                code::S46_RULE => {
                    rule(&sub)?;
                    rules = rules.saturating_add(1);
                }
                code::S46_BR => {
                    br(&sub)?;
                    brs = brs.saturating_add(1);
                }
                code::S46_DMR => {
                    dmr(&sub)?;
                    dmrs = dmrs.saturating_add(1);
                }
                code::S46_V4V6BIND => {
                    v4v6bind(&sub)?;
                    binds = binds.saturating_add(1);
                }
                _ => {}
            }
            Ok(())
        })?;
        let problem = match kind {
            ContainerKind::MapE if rules == 0 => Some("no S46_RULE (MAP-E needs at least one)"),
            ContainerKind::MapE if brs == 0 => Some("no S46_BR (MAP-E needs at least one)"),
            ContainerKind::MapT if rules == 0 => Some("no S46_RULE (MAP-T needs at least one)"),
            ContainerKind::MapT if dmrs != 1 => {
                Some(if dmrs == 0 { "no S46_DMR (MAP-T needs exactly one)" } else { "more than one S46_DMR (MAP-T takes exactly one)" })
            }
            ContainerKind::Lw4o6 if brs == 0 => Some("no S46_BR (lightweight 4over6 needs at least one)"),
            ContainerKind::Lw4o6 if binds > 1 => Some("more than one S46_V4V6BIND"),
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(S46Error { offset: tlv.at, kind: S46ErrorKind::Container { kind, problem } });
        }
        Ok(Container { kind, offset: tlv.at, subs: Tlvs { bytes: tlv.data, base: tlv.data_at(0) } })
    }

    /// Its S46_RULEs, in order.
    pub fn rules(&self) -> impl Iterator<Item = S46Rule> + 'a {
        self.subs.clone().filter(|t| t.code == code::S46_RULE).filter_map(|t| rule(&t).ok())
    }

    /// Its S46_BRs, in order.
    pub fn brs(&self) -> impl Iterator<Item = Ipv6Addr> + 'a {
        self.subs.clone().filter(|t| t.code == code::S46_BR).filter_map(|t| br(&t).ok())
    }

    /// Its S46_DMR (MAP-T has exactly one).
    pub fn dmr(&self) -> Option<Ipv6Prefix> {
        self.subs.clone().filter(|t| t.code == code::S46_DMR).find_map(|t| dmr(&t).ok())
    }

    /// Its S46_V4V6BIND (lightweight 4over6).
    pub fn v4v6bind(&self) -> Option<V4V6Bind> {
        self.subs.clone().filter(|t| t.code == code::S46_V4V6BIND).find_map(|t| v4v6bind(&t).ok())
    }
}

/// A sequence of DHCPv6 options whose S46 parts are all well formed.
#[derive(Clone, Debug)]
pub struct S46Options<'a> {
    all: Tlvs<'a>,
}

impl<'a> S46Options<'a> {
    /// Checks `bytes`, a sequence of whole options (other options are skipped, unchecked but
    /// for their length).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, S46Error> {
        walk(bytes, 0, |tlv| {
            if let Some(kind) = ContainerKind::of(tlv.code) {
                Container::parse(kind, &tlv)?;
            } else if tlv.code == code::S46_PRIORITY && (tlv.data.is_empty() || tlv.data.len() % 2 != 0) {
                return Err(S46Error { offset: tlv.at.saturating_add(2), kind: S46ErrorKind::BadPriority });
            }
            Ok(())
        })?;
        Ok(S46Options { all: Tlvs { bytes, base: 0 } })
    }

    /// Parses the data of one container option as a client hook sees it (the option's
    /// payload, without its 4-byte header), e.g. isc-dhcp-client's `new_dhcp6_s46_cont_mapt`.
    /// Offsets in errors count from the start of `payload`.
    pub fn container_payload(kind: ContainerKind, payload: &'a [u8]) -> Result<Container<'a>, S46Error> {
        let tlv = Tlv { code: kind.code(), data: payload, at: 0, data_offset: 0 };
        Container::parse(kind, &tlv)
    }

    /// The containers, in order.
    pub fn containers(&self) -> impl Iterator<Item = Container<'a>> + 'a {
        self.all
            .clone()
            .filter_map(|tlv| ContainerKind::of(tlv.code).and_then(|kind| Container::parse(kind, &tlv).ok()))
    }

    /// The data of every option with `code`, S46 or not (e.g. a Reply's IA_PD, 25).
    pub fn options(&self, code_: u16) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.all.clone().filter(move |t| t.code == code_).map(|t| t.data)
    }

    /// The S46_PRIORITY list (RFC 8026), most preferred first; empty without the option.
    pub fn priority(&self) -> impl Iterator<Item = u16> + 'a {
        let data = self.all.clone().find(|t| t.code == code::S46_PRIORITY).map_or(&[][..], |t| t.data);
        data.chunks_exact(2).map(|c| u16::from_be_bytes([c.first().copied().unwrap_or(0), c.get(1).copied().unwrap_or(0)]))
    }
}
