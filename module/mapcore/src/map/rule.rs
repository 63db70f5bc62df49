//! Mapping rules and the address arithmetic of RFC 7597 §5 (MAP-E) and RFC 7599 §5 (MAP-T).
//!
//! Notation (RFC 7597 §5.2):
//! - `n`: length of the Rule IPv6 prefix; `r`: length of the Rule IPv4 prefix;
//! - `o`: EA-bits length; the End-user IPv6 prefix is the Rule IPv6 prefix followed by the `o`
//!   EA bits, `n + o <= 128` bits long;
//! - `p = 32 - r`: IPv4 suffix bits. The EA bits are the IPv4 suffix followed by the PSID
//!   (`o > p`: shared address, PSID length `k = q = o - p`), exactly the suffix (`o = p`: full
//!   address) or the first `o` bits of the suffix (`o < p`: the CE gets an IPv4 prefix of
//!   length `r + o`);
//! - `a`: PSID offset (default 6), `m = 16 - a - k` contiguous port bits (see `portset`).
//!
//! The MAP IPv6 address (RFC 7597 §6) is the End-user IPv6 prefix, a zero subnet ID up to
//! bit 64, then the interface identifier: 16 zero bits, 32 bits of IPv4 and the PSID
//! right-aligned in 16 bits. An End-user prefix longer than 64 overwrites the leading bits of
//! the interface identifier (a domain carved out of one /64, or a /128 per CE). A rule marked
//! `legacy` uses the format of the drafts before RFC 7597, which the largest MAP-E networks
//! in service (the Japanese IPoE providers) still use: 8 zero bits, the IPv4 address, the PSID
//! (16 bits, right-aligned), 8 zero bits; the IPv4 address starts at byte 9, not 10. In MAP-E
//! the IPv4 field of a CE given an IPv4 prefix is that prefix padded with zeros; in MAP-T it is
//! the full IPv4 address of the packet (RFC 7599 §5.2 as corrected by erratum 5225).

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::bits::{get128, get64, ipv6_from_halves, ipv6_halves, low_ones_under64, mask32, mask64, put128};
use super::portset::{is_excluded, psid_of, PortSet, MAX_PSID_OFFSET};
use super::prefix::{Ipv4Prefix, Ipv6Prefix};

/// The PSID offset when a rule gives none (RFC 7597 §5.1).
pub const DEFAULT_PSID_OFFSET: u8 = 6;
/// The PSID offset when a legacy rule gives none (what OpenWrt's mapcalc and the providers
/// that use the legacy format assume).
pub const LEGACY_PSID_OFFSET: u8 = 4;
/// The longest EA-bits length (RFC 7597 §5.2, RFC 7598 §4.1).
pub const MAX_EA_LEN: u8 = 48;
/// The longest End-user IPv6 prefix (`n + o`): past 64, it overwrites the interface
/// identifier's leading bits (RFC 7597 §6).
pub const MAX_END_USER_PREFIX_LEN: u8 = 128;
/// Where the interface identifier's IPv4 field starts in a MAP address: bit 80, bit 72 in the
/// legacy format.
const fn iid_ipv4_start(legacy: bool) -> u32 {
    if legacy {
        72
    } else {
        80
    }
}

/// Which form of the MAP IPv6 address to build or accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// MAP-E (RFC 7597 §6): the IPv4 field of a CE given an IPv4 prefix is that prefix,
    /// zero-padded.
    MapE,
    /// MAP-T (RFC 7599 §5.2, erratum 5225): the IPv4 field is the full IPv4 address.
    MapT,
}

/// The parameters of a rule as written; [`Rule::new`] validates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleParams {
    /// The Rule IPv6 prefix.
    pub ipv6: Ipv6Prefix,
    /// The Rule IPv4 prefix.
    pub ipv4: Ipv4Prefix,
    /// The EA-bits length `o`.
    pub ea_len: u8,
    /// The PSID offset `a`; `None` means [`DEFAULT_PSID_OFFSET`].
    pub psid_offset: Option<u8>,
    /// An explicit PSID length, for rules whose EA bits carry no PSID (EA length 0, /32 rules).
    pub psid_len: Option<u8>,
    /// The explicit PSID that goes with `psid_len`.
    pub psid: Option<u16>,
    /// Whether the rule is also a Forwarding Mapping Rule (RFC 7598 F flag).
    pub forwarding: bool,
    /// The legacy (pre-RFC 7597) interface identifier format.
    pub legacy: bool,
}

impl RuleParams {
    /// Parameters with the default offset, no explicit PSID and no forwarding flag.
    pub const fn new(ipv6: Ipv6Prefix, ipv4: Ipv4Prefix, ea_len: u8) -> Self {
        RuleParams { ipv6, ipv4, ea_len, psid_offset: None, psid_len: None, psid: None, forwarding: false, legacy: false }
    }
}

/// A validated mapping rule (BMR, FMR, or a BR's rule). Aligned to 32 bytes (30 of fields):
/// in a BR's table of rules, no rule then straddles two cache lines.
#[repr(align(32))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    ipv6: Ipv6Prefix,
    ipv4: Ipv4Prefix,
    ea_len: u8,
    psid_offset: u8,
    psid_len: u8,
    psid: Option<u16>,
    /// [`Rule::FORWARDING`], [`Rule::LEGACY`] (one byte: a BR holds many rules).
    flags: u8,
}

/// Why a rule (or a port set) is illegal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    /// The Rule IPv6 prefix has bits set past its length.
    Ipv6PrefixHostBits { prefix: Ipv6Prefix },
    /// The Rule IPv4 prefix has bits set past its length.
    Ipv4PrefixHostBits { prefix: Ipv4Prefix },
    /// EA-bits length above 48.
    EaLenTooLong { ea_len: u8 },
    /// Rule IPv6 prefix length plus EA-bits length above 128.
    EndUserPrefixTooLong { ipv6_len: u8, ea_len: u8 },
    /// CEs get IPv4 prefixes (`o < p`), and the End-user prefix reaches into the host bits of
    /// the interface identifier's IPv4 field (`n > 80 + r`; `72 + r` in the legacy format): a
    /// MAP-T address could not carry the host.
    EndUserPrefixOverIpv4Host { ipv6_len: u8, max_ipv6_len: u8, ce_ipv4_len: u8 },
    /// PSID offset above 15.
    PsidOffsetTooLarge { offset: u8 },
    /// PSID offset plus PSID length above 16 (`psid_len` is explicit or `o - p`).
    OffsetPlusPsidLenTooLong { offset: u8, psid_len: u8 },
    /// A PSID that needs more bits than the PSID length.
    PsidTooWide { psid: u16, psid_len: u8 },
    /// An explicit PSID without a PSID length.
    PsidWithoutPsidLen { psid: u16 },
    /// An explicit PSID length without a PSID.
    PsidLenWithoutPsid { psid_len: u8 },
    /// An explicit PSID while the EA bits already carry `ea_psid_len` PSID bits.
    PsidLenWithEaPsid { psid_len: u8, ea_psid_len: u8 },
    /// An explicit PSID (without a PSID length) while the EA bits already carry `ea_psid_len`
    /// PSID bits.
    PsidWithEaPsid { psid: u16, ea_psid_len: u8 },
    /// An explicit nonzero PSID length while the rule gives each CE an IPv4 prefix (`o + r < 32`).
    PsidOnIpv4Prefix { psid_len: u8, ce_ipv4_len: u8 },
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RuleError::Ipv6PrefixHostBits { prefix } => write!(
                f,
                "IPv6 prefix {prefix} has bits set past its length (the prefix is {})",
                prefix.truncated()
            ),
            RuleError::Ipv4PrefixHostBits { prefix } => write!(
                f,
                "IPv4 prefix {prefix} has bits set past its length (the prefix is {})",
                prefix.truncated()
            ),
            RuleError::EaLenTooLong { ea_len } => {
                write!(f, "EA-bits length {ea_len} is longer than {MAX_EA_LEN}")
            }
            RuleError::EndUserPrefixTooLong { ipv6_len, ea_len } => write!(
                f,
                "IPv6 prefix length {ipv6_len} + EA-bits length {ea_len} = {} is longer than {MAX_END_USER_PREFIX_LEN}",
                u32::from(ipv6_len) + u32::from(ea_len)
            ),
            // (short: the kernel's extended ack holds 79 characters)
            RuleError::EndUserPrefixOverIpv4Host { ipv6_len, max_ipv6_len, ce_ipv4_len } => write!(
                f,
                "IPv6 prefix /{ipv6_len} too long for IPv4 /{ce_ipv4_len} CEs (at most /{max_ipv6_len})"
            ),
            RuleError::PsidOffsetTooLarge { offset } => {
                write!(f, "PSID offset {offset} is larger than {MAX_PSID_OFFSET}")
            }
            RuleError::OffsetPlusPsidLenTooLong { offset, psid_len } => write!(
                f,
                "PSID offset {offset} + PSID length {psid_len} = {} is longer than 16",
                u32::from(offset) + u32::from(psid_len)
            ),
            RuleError::PsidTooWide { psid, psid_len } => {
                write!(f, "PSID {psid} does not fit in a PSID length of {psid_len} bits")
            }
            RuleError::PsidWithoutPsidLen { psid } => {
                write!(f, "PSID {psid} is given without a PSID length (psid-len)")
            }
            RuleError::PsidLenWithoutPsid { psid_len } => {
                write!(f, "PSID length {psid_len} is given without a PSID (psid)")
            }
            RuleError::PsidLenWithEaPsid { psid_len, ea_psid_len } => write!(
                f,
                "explicit PSID length {psid_len}: the EA bits already carry a {ea_psid_len}-bit PSID"
            ),
            RuleError::PsidWithEaPsid { psid, ea_psid_len } => write!(
                f,
                "explicit PSID {psid}: the EA bits already carry a {ea_psid_len}-bit PSID"
            ),
            RuleError::PsidOnIpv4Prefix { psid_len, ce_ipv4_len } => write!(
                f,
                "explicit PSID length {psid_len}: the rule gives each CE an IPv4 prefix (/{ce_ipv4_len}), whose ports are not shared"
            ),
        }
    }
}

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The IPv6 address or prefix is outside the Rule IPv6 prefix.
    Ipv6NotInRule { addr: Ipv6Addr, rule: Ipv6Prefix },
    /// The End-user IPv6 prefix is shorter than `n + o`.
    EndUserPrefixTooShort { len: u8, needed: u8 },
    /// The IPv4 address is outside the Rule IPv4 prefix.
    Ipv4NotInRule { addr: Ipv4Addr, rule: Ipv4Prefix },
    /// The port lies in the block that the PSID offset keeps out of every port set.
    ExcludedPort { port: u16, offset: u8 },
    /// The port is outside the port set of the rule's explicit PSID.
    PortNotInSet { port: u16, psid: u16 },
    /// The PSID needs more bits than the rule's PSID length.
    PsidTooWide { psid: u16, psid_len: u8 },
    /// The PSID differs from the rule's explicit PSID.
    PsidNotInRule { psid: u16, expected: u16 },
    /// The MAP address has nonzero subnet ID bits between its End-user prefix and bit 64.
    SubnetIdNotZero { addr: Ipv6Addr },
    /// The interface identifier does not carry the IPv4 address and PSID of the EA bits.
    IidMismatch { addr: Ipv6Addr },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MapError::Ipv6NotInRule { addr, rule } => {
                write!(f, "{addr} is not inside the rule's IPv6 prefix {rule}")
            }
            MapError::EndUserPrefixTooShort { len, needed } => write!(
                f,
                "end-user prefix length {len} is shorter than the rule's IPv6 prefix length + EA-bits length ({needed})"
            ),
            MapError::Ipv4NotInRule { addr, rule } => {
                write!(f, "{addr} is not inside the rule's IPv4 prefix {rule}")
            }
            MapError::ExcludedPort { port, offset } => write!(
                f,
                "port {port} is in 0-{}, which PSID offset {offset} keeps out of every port set",
                (1u32 << (16 - u32::from(offset.min(MAX_PSID_OFFSET)))) - 1
            ),
            MapError::PortNotInSet { port, psid } => {
                write!(f, "port {port} is not in the port set of the rule's PSID {psid}")
            }
            MapError::PsidTooWide { psid, psid_len } => {
                write!(f, "PSID {psid} does not fit in the rule's PSID length of {psid_len} bits")
            }
            MapError::PsidNotInRule { psid, expected } => {
                write!(f, "PSID {psid} is not the rule's PSID {expected}")
            }
            MapError::SubnetIdNotZero { addr } => {
                write!(f, "{addr} has a nonzero subnet ID, so it is not a MAP address")
            }
            MapError::IidMismatch { addr } => write!(
                f,
                "the interface identifier of {addr} does not carry the IPv4 address and PSID of its EA bits"
            ),
        }
    }
}

/// What a CE derives from its BMR and End-user IPv6 prefix (RFC 7597 §5.2, §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CeMapping {
    /// The Rule IPv6 prefix followed by the EA bits (`n + o` long).
    pub end_user_prefix: Ipv6Prefix,
    /// The CE's IPv4 address (`/32`), or its IPv4 prefix when `o + r < 32`.
    pub ipv4: Ipv4Prefix,
    /// The CE's ports (the PSID, its length and offset).
    pub port_set: PortSet,
    /// The CE's MAP IPv6 address (RFC 7597 §6 form: a CE given an IPv4 prefix embeds it
    /// zero-padded; see [`Rule::map_address`] with [`Mode::MapT`] for per-host MAP-T addresses).
    pub map_address: Ipv6Addr,
}

impl CeMapping {
    /// The CE's PSID (0 without sharing).
    pub fn psid(&self) -> u16 {
        self.port_set.psid()
    }

    /// The PSID length `k`.
    pub fn psid_len(&self) -> u8 {
        self.port_set.psid_len()
    }

    /// The PSID offset `a`.
    pub fn psid_offset(&self) -> u8 {
        self.port_set.offset()
    }
}

/// What a MAP IPv6 address says (the reverse mapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodedAddress {
    /// The IPv4 address or prefix of the CE that owns the address (from the EA bits).
    pub ce_ipv4: Ipv4Prefix,
    /// The IPv4 address in the interface identifier: the host in MAP-T, the CE's address or
    /// zero-padded prefix in MAP-E.
    pub ipv4: Ipv4Addr,
    /// The PSID (0 without sharing).
    pub psid: u16,
    /// The PSID length `k`.
    pub psid_len: u8,
}

impl Rule {
    /// Validates `params` (RFC 7597 §5, RFC 7598 §4): every illegal combination gets its own
    /// [`RuleError`].
    pub fn new(params: RuleParams) -> Result<Rule, RuleError> {
        let RuleParams { ipv6, ipv4, ea_len, psid_offset, psid_len, psid, forwarding, legacy } = params;
        if ipv6.len > 128 || ipv6.has_host_bits() {
            return Err(RuleError::Ipv6PrefixHostBits { prefix: ipv6 });
        }
        if ipv4.len > 32 || ipv4.has_host_bits() {
            return Err(RuleError::Ipv4PrefixHostBits { prefix: ipv4 });
        }
        if ea_len > MAX_EA_LEN {
            return Err(RuleError::EaLenTooLong { ea_len });
        }
        if u32::from(ipv6.len) + u32::from(ea_len) > u32::from(MAX_END_USER_PREFIX_LEN) {
            return Err(RuleError::EndUserPrefixTooLong { ipv6_len: ipv6.len, ea_len });
        }
        let max_ipv6_len = iid_ipv4_start(legacy) + u32::from(ipv4.len);
        if ea_len < 32 - ipv4.len && u32::from(ipv6.len) > max_ipv6_len {
            return Err(RuleError::EndUserPrefixOverIpv4Host {
                ipv6_len: ipv6.len,
                max_ipv6_len: max_ipv6_len as u8,
                ce_ipv4_len: ipv4.len + ea_len,
            });
        }
        let offset = psid_offset.unwrap_or(if legacy { LEGACY_PSID_OFFSET } else { DEFAULT_PSID_OFFSET });
        if offset > MAX_PSID_OFFSET {
            return Err(RuleError::PsidOffsetTooLarge { offset });
        }
        let suffix_len = 32 - ipv4.len;
        let (k, explicit) = if ea_len > suffix_len {
            let ea_psid_len = ea_len - suffix_len;
            if let Some(psid_len) = psid_len {
                return Err(RuleError::PsidLenWithEaPsid { psid_len, ea_psid_len });
            }
            if let Some(psid) = psid {
                return Err(RuleError::PsidWithEaPsid { psid, ea_psid_len });
            }
            (ea_psid_len, None)
        } else {
            match (psid_len, psid) {
                (None, None) => (0, None),
                (Some(psid_len), None) => return Err(RuleError::PsidLenWithoutPsid { psid_len }),
                (None, Some(psid)) => return Err(RuleError::PsidWithoutPsidLen { psid }),
                (Some(psid_len), Some(psid)) => {
                    if ea_len < suffix_len && psid_len > 0 {
                        return Err(RuleError::PsidOnIpv4Prefix {
                            psid_len,
                            ce_ipv4_len: ipv4.len + ea_len,
                        });
                    }
                    (psid_len, Some(psid))
                }
            }
        };
        if u32::from(offset) + u32::from(k) > 16 {
            return Err(RuleError::OffsetPlusPsidLenTooLong { offset, psid_len: k });
        }
        if let Some(psid) = explicit {
            if u32::from(psid) >= 1u32 << k {
                return Err(RuleError::PsidTooWide { psid, psid_len: k });
            }
        }
        let flags = if forwarding { Rule::FORWARDING } else { 0 } | if legacy { Rule::LEGACY } else { 0 };
        Ok(Rule { ipv6, ipv4, ea_len, psid_offset: offset, psid_len: k, psid: explicit, flags })
    }

    /// The parameters this rule was built from (with the offset filled in).
    pub fn params(&self) -> RuleParams {
        RuleParams {
            ipv6: self.ipv6,
            ipv4: self.ipv4,
            ea_len: self.ea_len,
            psid_offset: Some(self.psid_offset),
            psid_len: self.psid.map(|_| self.psid_len),
            psid: self.psid,
            forwarding: self.forwarding(),
            legacy: self.legacy(),
        }
    }

    /// The Rule IPv6 prefix.
    pub fn ipv6_prefix(&self) -> Ipv6Prefix {
        self.ipv6
    }

    /// The Rule IPv4 prefix.
    pub fn ipv4_prefix(&self) -> Ipv4Prefix {
        self.ipv4
    }

    /// The EA-bits length `o`.
    pub fn ea_len(&self) -> u8 {
        self.ea_len
    }

    /// The PSID offset `a`.
    pub fn psid_offset(&self) -> u8 {
        self.psid_offset
    }

    /// The PSID length `k` (from the EA bits, or explicit).
    pub fn psid_len(&self) -> u8 {
        self.psid_len
    }

    /// The explicit PSID, for rules whose EA bits carry none.
    pub fn explicit_psid(&self) -> Option<u16> {
        self.psid
    }

    /// Whether the rule is also a Forwarding Mapping Rule.
    pub fn forwarding(&self) -> bool {
        self.flags & Rule::FORWARDING != 0
    }

    /// Whether the rule builds and reads MAP addresses in the legacy format.
    pub fn legacy(&self) -> bool {
        self.flags & Rule::LEGACY != 0
    }

    const FORWARDING: u8 = 1 << 0;
    const LEGACY: u8 = 1 << 1;


    /// The same rule with the forwarding flag set to `forwarding`.
    pub fn with_forwarding(mut self, forwarding: bool) -> Rule {
        self.flags = (self.flags & !Rule::FORWARDING) | if forwarding { Rule::FORWARDING } else { 0 };
        self
    }

    /// The IPv4 suffix length `p = 32 - r`.
    pub fn ipv4_suffix_len(&self) -> u8 {
        32 - self.ipv4.len
    }

    /// The number of PSID bits the EA bits carry (`o - p` when positive).
    pub fn ea_psid_len(&self) -> u8 {
        self.ea_len.saturating_sub(self.ipv4_suffix_len())
    }

    /// The End-user IPv6 prefix length `n + o`.
    pub fn end_user_prefix_len(&self) -> u8 {
        self.ipv6.len + self.ea_len
    }

    /// The length of what each CE gets: 32 for an address (shared or not), `r + o` for a prefix.
    pub fn ce_ipv4_len(&self) -> u8 {
        (self.ipv4.len + self.ea_len).min(32)
    }

    /// The number of CEs sharing one IPv4 address, `2^k`.
    pub fn sharing_ratio(&self) -> u32 {
        1u32 << self.psid_len
    }

    /// The port set of `psid` under this rule.
    pub fn port_set(&self, psid: u16) -> Result<PortSet, MapError> {
        self.check_psid(psid)?;
        Ok(PortSet::from_valid(self.psid_offset, self.psid_len, psid))
    }

    fn check_psid(&self, psid: u16) -> Result<(), MapError> {
        if u32::from(psid) >= 1u32 << self.psid_len {
            return Err(MapError::PsidTooWide { psid, psid_len: self.psid_len });
        }
        match self.psid {
            Some(expected) if expected != psid => Err(MapError::PsidNotInRule { psid, expected }),
            _ => Ok(()),
        }
    }

    /// The CE's IPv4 address or prefix and PSID that the EA bits `ea` encode. Inlined
    /// (forced): every decoded address's. The shifts rely on what [`Rule::new`] checked (no
    /// host bits in the Rule IPv4 prefix, `o <= 48`), so none needs a range check.
    #[inline(always)]
    fn decode_ea(&self, ea: u64) -> (Ipv4Prefix, u16) {
        let p = u32::from(self.ipv4_suffix_len());
        let o = u32::from(self.ea_len);
        let base = u32::from(self.ipv4.addr);
        let ea = ea & low_ones_under64(o);
        if o >= p {
            let kea = o.wrapping_sub(p);
            // (below 2^p: the EA bits are o bits long)
            let suffix = ea.wrapping_shr(kea) as u32;
            let psid = self.psid.unwrap_or((ea & low_ones_under64(kea)) as u16);
            (Ipv4Prefix { addr: Ipv4Addr::from(base | suffix), len: 32 }, psid)
        } else {
            let suffix = ea.wrapping_shl(p.wrapping_sub(o)) as u32;
            let prefix = Ipv4Prefix { addr: Ipv4Addr::from(base | suffix), len: self.ce_ipv4_len() };
            (prefix, self.psid.unwrap_or(0))
        }
    }

    /// The EA bits of `ipv4` (inside the rule) and `psid` (already checked).
    #[inline(always)]
    fn encode_ea(&self, ipv4: Ipv4Addr, psid: u16) -> u64 {
        let p = u32::from(self.ipv4_suffix_len());
        let o = u32::from(self.ea_len);
        let suffix = u64::from(u32::from(ipv4)) & low_ones_under64(p);
        if o >= p {
            let kea = o.wrapping_sub(p);
            suffix.wrapping_shl(kea) | (u64::from(psid) & low_ones_under64(kea))
        } else {
            suffix.wrapping_shr(p.wrapping_sub(o))
        }
    }

    /// The MAP IPv6 address for EA bits `ea`, IPv4 field `iid_ipv4` and PSID `psid`: the
    /// End-user prefix (Rule IPv6 prefix, EA bits), zeros up to bit 64, the interface
    /// identifier; an End-user prefix longer than 64 overwrites the identifier's leading bits.
    #[inline(always)]
    fn build_address(&self, ea: u64, iid_ipv4: u32, psid: u16) -> Ipv6Addr {
        let n = u32::from(self.ipv6.len);
        let end_user_len = n + u32::from(self.ea_len);
        let psid_field = if self.psid_len == 0 { 0 } else { u64::from(psid) };
        let (rule_hi, rule_lo) = ipv6_halves(self.ipv6.addr);
        if end_user_len <= 64 && !self.legacy() {
            // The usual shape: the End-user prefix fills the upper half (the Rule IPv6 prefix
            // has no host bits, the EA bits are o bits: an End-user prefix of length 0 has
            // none, so the shift by 64, which wraps to 0, shifts a zero), the identifier the
            // lower half whole.
            let hi = rule_hi | (ea & low_ones_under64(u32::from(self.ea_len))).wrapping_shl(64 - end_user_len);
            return ipv6_from_halves(hi, (u64::from(iid_ipv4) << 16) | psid_field);
        }
        self.build_address_any(ea, iid_ipv4, psid_field, (rule_hi, rule_lo))
    }

    /// [`Rule::build_address`] of any rule.
    #[inline(never)]
    fn build_address_any(&self, ea: u64, iid_ipv4: u32, psid_field: u64, (rule_hi, rule_lo): (u64, u64)) -> Ipv6Addr {
        let n = u32::from(self.ipv6.len);
        let end_user_len = n + u32::from(self.ea_len);
        let (hi, lo) = (rule_hi & mask64(n), rule_lo & mask64(n.saturating_sub(64)));
        let (hi, lo) = put128(hi, lo, n, u32::from(self.ea_len), ea);
        let iid = if self.legacy() {
            (u64::from(iid_ipv4) << 24) | (psid_field << 8)
        } else {
            (u64::from(iid_ipv4) << 16) | psid_field
        };
        ipv6_from_halves(hi, lo | (iid & !mask64(end_user_len.saturating_sub(64))))
    }

    /// Applies the rule as a BMR to the CE's End-user IPv6 prefix (RFC 7597 §5.2): the CE's
    /// IPv4 address or prefix, port set and MAP IPv6 address.
    pub fn ce_mapping(&self, end_user: Ipv6Prefix) -> Result<CeMapping, MapError> {
        if end_user.len < self.ipv6.len || !self.ipv6.contains(end_user.addr) {
            return Err(MapError::Ipv6NotInRule { addr: end_user.addr, rule: self.ipv6 });
        }
        let needed = self.end_user_prefix_len();
        if end_user.len < needed {
            return Err(MapError::EndUserPrefixTooShort { len: end_user.len, needed });
        }
        let (hi, lo) = ipv6_halves(end_user.addr);
        let ea = get128(hi, lo, u32::from(self.ipv6.len), u32::from(self.ea_len));
        let (ipv4, psid) = self.decode_ea(ea);
        let map_address = self.build_address(ea, u32::from(ipv4.addr), psid);
        let end_user_prefix = Ipv6Prefix { addr: map_address, len: needed }.truncated();
        Ok(CeMapping {
            end_user_prefix,
            ipv4,
            port_set: PortSet::from_valid(self.psid_offset, self.psid_len, psid),
            map_address,
        })
    }

    /// The PSID that owns `port` under this rule (RFC 7597 §5.1), 0 without sharing.
    pub fn psid_for_port(&self, port: u16) -> Result<u16, MapError> {
        if self.psid_len == 0 {
            return Ok(self.psid.unwrap_or(0));
        }
        if is_excluded(self.psid_offset, port) {
            return Err(MapError::ExcludedPort { port, offset: self.psid_offset });
        }
        let psid = psid_of(self.psid_offset, self.psid_len, port);
        match self.psid {
            Some(own) if own != psid => Err(MapError::PortNotInSet { port, psid: own }),
            _ => Ok(psid),
        }
    }

    /// The MAP IPv6 address of IPv4 address `ipv4` (inside the Rule IPv4 prefix) and `psid`
    /// (RFC 7597 §5.2 and §6; RFC 7599 §5.2 with erratum 5225 for [`Mode::MapT`]).
    pub fn map_address(&self, ipv4: Ipv4Addr, psid: u16, mode: Mode) -> Result<Ipv6Addr, MapError> {
        if !self.ipv4.contains(ipv4) {
            return Err(MapError::Ipv4NotInRule { addr: ipv4, rule: self.ipv4 });
        }
        self.check_psid(psid)?;
        let ea = self.encode_ea(ipv4, psid);
        let iid_ipv4 = match mode {
            Mode::MapE => u32::from(ipv4) & mask32(u32::from(self.ce_ipv4_len())),
            Mode::MapT => u32::from(ipv4),
        };
        Ok(self.build_address(ea, iid_ipv4, psid))
    }

    /// Forward mapping (FMR on a CE, the BR towards a CE): the PSID owning `port` of `ipv4`
    /// and the MAP IPv6 address of that CE.
    pub fn map_address_for_port(
        &self,
        ipv4: Ipv4Addr,
        port: u16,
        mode: Mode,
    ) -> Result<(u16, Ipv6Addr), MapError> {
        if !self.ipv4.contains(ipv4) {
            return Err(MapError::Ipv4NotInRule { addr: ipv4, rule: self.ipv4 });
        }
        let psid = self.psid_for_port(port)?;
        Ok((psid, self.map_address(ipv4, psid, mode)?))
    }

    /// Whether `port` lies in the port set of `psid` (below 2^k) under this rule: what
    /// [`PortSet::contains`] answers, without building the set (which clamps what
    /// [`Rule::new`] checked already).
    #[inline(always)]
    fn port_in_set(&self, psid: u16, port: u16) -> bool {
        self.psid_len == 0
            || (!is_excluded(self.psid_offset, port) && psid_of(self.psid_offset, self.psid_len, port) == psid)
    }

    /// Reverse mapping: the IPv4 address and PSID a MAP IPv6 address carries. The address
    /// must be exactly what [`Rule::map_address`] builds (zero subnet ID, interface identifier
    /// consistent with the EA bits in the given `mode`). Inlined (forced): the usual shape
    /// is every packet's at a BR, and its result went back through memory.
    #[inline(always)]
    pub fn decode(&self, addr: Ipv6Addr, mode: Mode) -> Result<DecodedAddress, MapError> {
        // Every packet a BR takes in is decoded (the RFC 7597 §8.1 check): the usual shape
        // first, the general one (which also says why an address is refused) after it.
        match self.decode_within_64(addr, mode) {
            Some(decoded) => Ok(decoded),
            None => self.decode_any(addr, mode),
        }
    }

    /// [`Rule::decode`] of any rule's addresses.
    #[inline(never)]
    fn decode_any(&self, addr: Ipv6Addr, mode: Mode) -> Result<DecodedAddress, MapError> {
        if !self.ipv6.contains(addr) {
            return Err(MapError::Ipv6NotInRule { addr, rule: self.ipv6 });
        }
        let (hi, lo) = ipv6_halves(addr);
        let n = u32::from(self.ipv6.len);
        let eu = u32::from(self.end_user_prefix_len());
        let ea = get128(hi, lo, n, u32::from(self.ea_len));
        if eu < 64 && get64(hi, eu, 64 - eu) != 0 {
            return Err(MapError::SubnetIdNotZero { addr });
        }
        let (ce_ipv4, psid) = self.decode_ea(ea);
        // The interface identifier's IPv4 field; bits the End-user prefix overwrote are the
        // CE's own (its prefix: `Rule::new` keeps host bits clear of it).
        let v4_start = iid_ipv4_start(self.legacy());
        let overwritten = mask32(eu.saturating_sub(v4_start));
        let field = (lo >> (128 - 32 - v4_start)) as u32;
        let iid_ipv4 = Ipv4Addr::from((u32::from(ce_ipv4.addr) & overwritten) | (field & !overwritten));
        let ipv4_ok = match mode {
            Mode::MapE => iid_ipv4 == ce_ipv4.addr,
            Mode::MapT => ce_ipv4.contains(iid_ipv4),
        };
        // The rest of the identifier (its zero bits, the PSID) must be what the rule builds.
        if !ipv4_ok || self.build_address(ea, u32::from(iid_ipv4), psid) != addr {
            return Err(MapError::IidMismatch { addr });
        }
        Ok(DecodedAddress { ce_ipv4, ipv4: iid_ipv4, psid, psid_len: self.psid_len })
    }

    /// [`Rule::decode`] of an address of an End-user prefix of 64 bits or fewer in the RFC's
    /// interface identifier format, what nearly every domain uses: the prefix, EA bits and
    /// subnet ID lie in the upper half and the interface identifier is the lower half whole.
    /// `None` for any other rule or for an address this rule does not build (the general
    /// decoding then says why).
    #[inline(always)]
    fn decode_within_64(&self, addr: Ipv6Addr, mode: Mode) -> Option<DecodedAddress> {
        let n = u32::from(self.ipv6.len);
        let o = u32::from(self.ea_len);
        let end_user_len = n + o;
        if end_user_len > 64 || self.legacy() {
            return None;
        }
        let (hi, lo) = ipv6_halves(addr);
        let (rule_hi, _) = ipv6_halves(self.ipv6.addr);
        // Past the Rule IPv6 prefix (which has no host bits: `Rule::new` refuses them) only
        // the EA bits may differ from it, and they are the End-user prefix's last o bits. (An
        // End-user prefix of length 0 has no EA bits: the shifts by 64 wrap to 0 and shift
        // zeros.)
        let differing = hi ^ rule_hi;
        let ea_field = low_ones_under64(o).wrapping_shl(64 - end_user_len);
        if differing & !ea_field != 0 {
            return None;
        }
        let ea = differing.wrapping_shr(64 - end_user_len);
        let (ce_ipv4, psid) = self.decode_ea(ea);
        let ipv4 = Ipv4Addr::from((lo >> 16) as u32);
        let psid_field = if self.psid_len == 0 { 0 } else { u64::from(psid) };
        let ipv4_ok = match mode {
            Mode::MapE => ipv4 == ce_ipv4.addr,
            Mode::MapT => ce_ipv4.contains(ipv4),
        };
        // The identifier is 16 zero bits, the IPv4 field and the PSID field (RFC 7597 §6).
        (ipv4_ok && lo == (u64::from(u32::from(ipv4)) << 16) | psid_field)
            .then_some(DecodedAddress { ce_ipv4, ipv4, psid, psid_len: self.psid_len })
    }

    /// Whether `ipv4`:`port` belongs to the CE whose MAP address is `addr` (the RFC 7597 §8.1
    /// source check of a BR, and of a CE receiving from a BR or another CE).
    pub fn owns(&self, addr: Ipv6Addr, ipv4: Ipv4Addr, port: u16, mode: Mode) -> bool {
        self.decode_for_port(addr, Some(port), mode).is_some_and(|d| match mode {
            Mode::MapE => d.ce_ipv4.contains(ipv4),
            Mode::MapT => d.ipv4 == ipv4,
        })
    }

    /// [`Rule::decode`] of `addr` when `port` lies in the port set the address carries (a
    /// packet without a port, a non-first fragment, passes on the address alone).
    #[inline(always)]
    pub fn decode_for_port(&self, addr: Ipv6Addr, port: Option<u16>, mode: Mode) -> Option<DecodedAddress> {
        let d = self.decode(addr, mode).ok()?;
        port.is_none_or(|port| self.port_in_set(d.psid, port)).then_some(d)
    }
}

impl fmt::Display for Rule {
    /// The rule in the text syntax `parse_rule` reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ea-len {} psid-offset {}", self.ipv6, self.ipv4, self.ea_len, self.psid_offset)?;
        if let Some(psid) = self.psid {
            write!(f, " psid-len {} psid {}", self.psid_len, psid)?;
        }
        if self.legacy() {
            f.write_str(" legacy")?;
        }
        if self.forwarding() {
            f.write_str(" forwarding")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> Ipv6Prefix {
        Ipv6Prefix::parse(s).unwrap()
    }
    fn v4(s: &str) -> Ipv4Prefix {
        Ipv4Prefix::parse(s).unwrap()
    }

    #[test]
    fn derived_lengths() {
        let rule = Rule::new(RuleParams::new(v6("2001:db8::/40"), v4("192.0.2.0/24"), 16)).unwrap();
        assert_eq!(rule.ipv4_suffix_len(), 8);
        assert_eq!(rule.psid_len(), 8);
        assert_eq!(rule.ea_psid_len(), 8);
        assert_eq!(rule.end_user_prefix_len(), 56);
        assert_eq!(rule.ce_ipv4_len(), 32);
        assert_eq!(rule.sharing_ratio(), 256);
        assert_eq!(rule.psid_offset(), DEFAULT_PSID_OFFSET);
    }

    #[test]
    fn an_explicit_psid_of_zero_is_not_no_psid() {
        // A /32 rule of a shared address, PSID 0 of 4 bits (offset 6: ports 1024-1087, ...); its
        // parameters say so; the same rule without a PSID would own every port.
        let mut params = RuleParams::new(v6("2001:db8:1::/64"), v4("192.0.2.1/32"), 0);
        let without = Rule::new(params).unwrap();
        params.psid_len = Some(4);
        params.psid = Some(0);
        let with = Rule::new(params).unwrap();
        assert_ne!(with, without);
        assert_eq!((with.explicit_psid(), without.explicit_psid()), (Some(0), None));
        assert_eq!(with.params(), RuleParams { psid_offset: Some(DEFAULT_PSID_OFFSET), ..params });
        assert!(with.psid_for_port(1100).is_err());
        assert_eq!(with.psid_for_port(1024), Ok(0));
        assert_eq!(without.psid_for_port(1100), Ok(0));
    }

    /// A reproducible source of numbers below a bound (xorshift64).
    fn xorshift(mut x: u64) -> impl FnMut(u64) -> u64 {
        move |bound| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % bound
        }
    }

    #[test]
    fn decoding_within_64_bits_agrees_with_the_general_decoding() {
        // Rules of every shape the short path takes (and some it leaves), CE addresses each
        // rule builds, and each with one bit flipped: the short path answers exactly what the
        // general one does wherever it answers, and answers every address it should.
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let (mut checked, mut short_rules) = (0, 0);
        while checked < 400 {
            let ipv6_len = 16 + next(49) as u8;
            let ipv4_len = 8 + next(25) as u8;
            let mut params = RuleParams::new(
                Ipv6Prefix { addr: Ipv6Addr::from(0x2001_0db8_5a5a_c3c3_0000_0000_0000_0000u128), len: ipv6_len }.truncated(),
                Ipv4Prefix { addr: Ipv4Addr::new(198, 51, 100, 77), len: ipv4_len }.truncated(),
                next(33) as u8,
            );
            params.psid_offset = Some(next(9) as u8);
            params.legacy = next(8) == 0;
            if params.ea_len == 0 && next(2) == 0 {
                params.psid_len = Some(1 + next(8) as u8);
                params.psid = Some(next(2) as u16);
            }
            let Ok(rule) = Rule::new(params) else { continue };
            checked += 1;
            let short = rule.end_user_prefix_len() <= 64 && !rule.legacy();
            short_rules += usize::from(short);
            let host = u32::from(rule.ipv4.addr) | (next(1 << 32) as u32 & !mask32(u32::from(rule.ipv4.len)));
            let psid = rule.psid.unwrap_or(next(1 << rule.psid_len) as u16);
            for mode in [Mode::MapE, Mode::MapT] {
                let valid = rule.map_address(Ipv4Addr::from(host), psid, mode).unwrap();
                let valid = u128::from(valid);
                for flip in core::iter::once(0).chain((0..128).map(|bit| 1u128 << bit)) {
                    let addr = Ipv6Addr::from(valid ^ flip);
                    let general = rule.decode_any(addr, mode).ok();
                    let fast = rule.decode_within_64(addr, mode);
                    if short {
                        assert_eq!(fast, general, "{rule} {addr} {mode:?}");
                    } else {
                        assert_eq!(fast, None, "{rule}");
                    }
                    assert_eq!(rule.decode(addr, mode).ok(), general);
                }
            }
        }
        assert!(short_rules > 100, "{short_rules} rules of the short path's shape");
    }

    #[test]
    fn building_within_64_bits_agrees_with_the_general_building_and_the_rfc_layout() {
        // Rules of every shape, CE addresses and PSIDs: the usual shape's short build is what
        // the general one builds, and both are RFC 7597 §5.2/§6's layout computed in u128
        // (End-user prefix = Rule IPv6 prefix + EA bits; EA bits = IPv4 suffix + PSID, or the
        // suffix's first o bits; identifier = 16 zero bits, IPv4 field, PSID). The port check
        // of a decoding is the port set's own.
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut checked, mut short_rules) = (0, 0);
        while checked < 600 {
            let ipv6_len = next(65) as u8;
            let ipv4_len = next(33) as u8;
            let mut params = RuleParams::new(
                Ipv6Prefix { addr: Ipv6Addr::from(0x2001_0db8_5a5a_c3c3_a5a5_0f0f_3c3c_9696u128), len: ipv6_len }.truncated(),
                Ipv4Prefix { addr: Ipv4Addr::new(198, 51, 100, 77), len: ipv4_len }.truncated(),
                next(49) as u8,
            );
            params.psid_offset = Some(next(16) as u8);
            params.legacy = next(8) == 0;
            if next(3) == 0 {
                params.psid_len = Some(next(9) as u8);
                params.psid = Some(next(256) as u16);
            }
            let Ok(rule) = Rule::new(params) else { continue };
            checked += 1;
            let (n, o) = (u32::from(rule.ipv6.len), u32::from(rule.ea_len));
            let short = n + o <= 64 && !rule.legacy();
            short_rules += usize::from(short);
            for _ in 0..8 {
                let host = u32::from(rule.ipv4.addr) | (next(1 << 32) as u32 & !mask32(u32::from(rule.ipv4.len)));
                let psid = rule.psid.unwrap_or(next(1 << rule.psid_len) as u16);
                let ea = rule.encode_ea(Ipv4Addr::from(host), psid);
                let p = 32 - u32::from(rule.ipv4.len);
                let suffix = u128::from(host) & ((1u128 << p) - 1);
                let expected_ea = if o >= p {
                    (suffix << (o - p)) | (u128::from(psid) & ((1u128 << (o - p)) - 1))
                } else {
                    suffix >> (p - o)
                };
                assert_eq!(u128::from(ea), expected_ea & ((1u128 << o) - 1), "{rule} {host:#x} {psid}");
                let (ce, decoded_psid) = rule.decode_ea(ea);
                assert!(ce.contains(Ipv4Addr::from(host)) && ce.len == rule.ce_ipv4_len(), "{rule} {host:#x}");
                assert_eq!(decoded_psid, psid, "{rule}");
                let psid_field = if rule.psid_len == 0 { 0 } else { u64::from(psid) };
                let built = rule.build_address(ea, host, psid);
                let general = rule.build_address_any(ea, host, psid_field, ipv6_halves(rule.ipv6.addr));
                assert_eq!(built, general, "{rule} {host:#x} {psid}");
                if short {
                    let layout = u128::from(rule.ipv6.addr)
                        | (u128::from(ea) << (128 - n - o))
                        | (u128::from(host) << 16)
                        | u128::from(psid_field);
                    assert_eq!(u128::from(built), layout, "{rule} {host:#x} {psid}");
                }
                let set = PortSet::from_valid(rule.psid_offset, rule.psid_len, psid);
                for _ in 0..16 {
                    let port = next(1 << 16) as u16;
                    assert_eq!(rule.port_in_set(psid, port), set.contains(port), "{rule} {psid} {port}");
                }
            }
        }
        assert!(short_rules > 150, "{short_rules} rules of the short path's shape");
    }

    #[test]
    fn prefix_ce_gets_a_prefix() {
        // o + r < 32: 192.0.2.0/24 with 4 EA bits gives each CE a /28.
        let rule = Rule::new(RuleParams::new(v6("2001:db8::/40"), v4("192.0.2.0/24"), 4)).unwrap();
        let ce = rule.ce_mapping(v6("2001:db8:a0::/44")).unwrap();
        assert_eq!(ce.ipv4, v4("192.0.2.160/28"));
        assert_eq!(ce.psid_len(), 0);
        assert_eq!(ce.map_address, "2001:db8:a0:0:0:c000:2a0:0".parse::<Ipv6Addr>().unwrap());
        // MAP-T embeds the host address; MAP-E the padded prefix.
        let host = Ipv4Addr::new(192, 0, 2, 165);
        let t = rule.map_address(host, 0, Mode::MapT).unwrap();
        assert_eq!(t, "2001:db8:a0:0:0:c000:2a5:0".parse::<Ipv6Addr>().unwrap());
        assert_eq!(rule.map_address(host, 0, Mode::MapE).unwrap(), ce.map_address);
        let d = rule.decode(t, Mode::MapT).unwrap();
        assert_eq!((d.ce_ipv4, d.ipv4), (ce.ipv4, host));
        assert!(rule.decode(t, Mode::MapE).is_err());
    }
}
