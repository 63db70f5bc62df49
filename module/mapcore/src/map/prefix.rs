//! IPv4 and IPv6 prefixes as written on the command line, in module parameters and in rules.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::bits::{ipv6_from_halves, ipv6_halves, mask32, mask64};

/// An IPv4 prefix such as `192.0.2.0/24`; host bits may be set (`192.0.2.8/24` names an
/// address inside its prefix, as `ip addr` does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Prefix {
    pub addr: Ipv4Addr,
    pub len: u8,
}

/// An IPv6 prefix such as `2001:db8::/40`; host bits may be set (the rule constructors reject
/// them where they matter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Prefix {
    pub addr: Ipv6Addr,
    pub len: u8,
}

/// Why an IPv4 or IPv6 prefix did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixError {
    /// The part before `/` is not a dotted-quad IPv4 address.
    BadAddress,
    /// The part after `/` is not a number from 0 to 32.
    BadLength,
    /// The part before `/` is not an IPv6 address.
    BadIpv6Address,
    /// The part after `/` is not a number from 0 to 128.
    BadIpv6Length,
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrefixError::BadAddress => "not an IPv4 address",
            PrefixError::BadLength => "prefix length is not a number from 0 to 32",
            PrefixError::BadIpv6Address => "not an IPv6 address",
            PrefixError::BadIpv6Length => "prefix length is not a number from 0 to 128",
        })
    }
}

impl Ipv4Prefix {
    /// Parses `a.b.c.d/len`; a bare address means `/32`.
    pub fn parse(text: &str) -> Result<Self, PrefixError> {
        let (addr, len) = text.split_once('/').unwrap_or((text, "32"));
        let addr = addr.parse::<Ipv4Addr>().map_err(|_| PrefixError::BadAddress)?;
        Ok(Ipv4Prefix { addr, len: parse_len(len, 32)? })
    }

    /// A prefix from an address and a length; `None` if the length exceeds 32.
    pub const fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        if len > 32 {
            None
        } else {
            Some(Ipv4Prefix { addr, len })
        }
    }

    /// The netmask as a number (`/24` is `0xffff_ff00`).
    pub fn mask(&self) -> u32 {
        mask32(u32::from(self.len))
    }

    /// The address with its host bits cleared.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The same prefix with its host bits cleared.
    pub fn truncated(&self) -> Self {
        Ipv4Prefix { addr: self.network(), len: self.len }
    }

    /// Whether bits beyond the prefix length are set.
    pub fn has_host_bits(&self) -> bool {
        u32::from(self.addr) & !self.mask() != 0
    }

    /// Whether `addr` lies inside this prefix.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        (u32::from(addr) ^ u32::from(self.addr)) & self.mask() == 0
    }
}

impl Ipv6Prefix {
    /// Parses `addr/len`; a bare address means `/128`.
    pub fn parse(text: &str) -> Result<Self, PrefixError> {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (
                addr,
                parse_len(len, 128).map_err(|_| PrefixError::BadIpv6Length)?,
            ),
            None => (text, 128),
        };
        let addr = addr.parse::<Ipv6Addr>().map_err(|_| PrefixError::BadIpv6Address)?;
        Ok(Ipv6Prefix { addr, len })
    }

    /// A prefix from an address and a length; `None` if the length exceeds 128.
    pub const fn new(addr: Ipv6Addr, len: u8) -> Option<Self> {
        if len > 128 {
            None
        } else {
            Some(Ipv6Prefix { addr, len })
        }
    }

    /// The netmask as two 64-bit halves (high, low).
    fn mask_halves(&self) -> (u64, u64) {
        let len = u32::from(self.len);
        (mask64(len.min(64)), mask64(len.saturating_sub(64)))
    }

    /// The address with its host bits cleared.
    pub fn network(&self) -> Ipv6Addr {
        let (hi, lo) = ipv6_halves(self.addr);
        let (mhi, mlo) = self.mask_halves();
        ipv6_from_halves(hi & mhi, lo & mlo)
    }

    /// The same prefix with its host bits cleared.
    pub fn truncated(&self) -> Self {
        Ipv6Prefix { addr: self.network(), len: self.len }
    }

    /// Whether bits beyond the prefix length are set.
    pub fn has_host_bits(&self) -> bool {
        let (hi, lo) = ipv6_halves(self.addr);
        let (mhi, mlo) = self.mask_halves();
        hi & !mhi != 0 || lo & !mlo != 0
    }

    /// Whether `addr` lies inside this prefix.
    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        let (hi, lo) = ipv6_halves(addr);
        let (phi, plo) = ipv6_halves(self.addr);
        let (mhi, mlo) = self.mask_halves();
        (hi ^ phi) & mhi == 0 && (lo ^ plo) & mlo == 0
    }

    /// Whether `other` lies entirely inside this prefix.
    pub fn covers(&self, other: &Ipv6Prefix) -> bool {
        other.len >= self.len && self.contains(other.addr)
    }
}

fn parse_len(text: &str, max: u8) -> Result<u8, PrefixError> {
    // u8::from_str accepts a leading '+'; a prefix length never has one.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PrefixError::BadLength);
    }
    match text.parse::<u8>() {
        Ok(len) if len <= max => Ok(len),
        _ => Err(PrefixError::BadLength),
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_address_with_length_and_bare_address() {
        let p = Ipv4Prefix::parse("192.0.2.8/32").unwrap();
        assert_eq!(p, Ipv4Prefix { addr: Ipv4Addr::new(192, 0, 2, 8), len: 32 });
        assert_eq!(Ipv4Prefix::parse("192.0.2.0/24").unwrap().len, 24);
        assert_eq!(Ipv4Prefix::parse("10.1.2.3").unwrap().len, 32);
    }

    #[test]
    fn rejects_garbage_and_out_of_range() {
        assert_eq!(Ipv4Prefix::parse("garbage"), Err(PrefixError::BadAddress));
        assert_eq!(Ipv4Prefix::parse("300.1.1.1/32"), Err(PrefixError::BadAddress));
        assert_eq!(Ipv4Prefix::parse("1.1.1.1/33"), Err(PrefixError::BadLength));
        assert_eq!(Ipv4Prefix::parse("1.1.1.1/"), Err(PrefixError::BadLength));
        assert_eq!(Ipv4Prefix::parse("1.1.1.1/+8"), Err(PrefixError::BadLength));
        assert_eq!(Ipv4Prefix::parse("1.1.1.1/24/"), Err(PrefixError::BadLength));
        assert_eq!(Ipv4Prefix::parse(""), Err(PrefixError::BadAddress));
    }

    #[test]
    fn ipv4_prefix_helpers() {
        let p = Ipv4Prefix::parse("192.0.2.8/24").unwrap();
        assert!(p.has_host_bits());
        assert_eq!(p.network(), Ipv4Addr::new(192, 0, 2, 0));
        assert!(p.contains(Ipv4Addr::new(192, 0, 2, 255)));
        assert!(!p.contains(Ipv4Addr::new(192, 0, 3, 0)));
        let all = Ipv4Prefix::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(Ipv4Addr::new(255, 255, 255, 255)));
        assert!(!all.has_host_bits());
        assert_eq!(Ipv4Prefix::new(Ipv4Addr::UNSPECIFIED, 33), None);
    }

    #[test]
    fn parses_ipv6_prefixes() {
        let p = Ipv6Prefix::parse("2001:db8::/40").unwrap();
        assert_eq!(p.len, 40);
        assert_eq!(p.addr, "2001:db8::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(Ipv6Prefix::parse("::1").unwrap().len, 128);
        assert_eq!(Ipv6Prefix::parse("2001:db8::/129"), Err(PrefixError::BadIpv6Length));
        assert_eq!(Ipv6Prefix::parse("2001:db8::/"), Err(PrefixError::BadIpv6Length));
        assert_eq!(Ipv6Prefix::parse("192.0.2.1/24"), Err(PrefixError::BadIpv6Address));
        assert_eq!(Ipv6Prefix::parse("2001:zz::/40"), Err(PrefixError::BadIpv6Address));
    }

    #[test]
    fn ipv6_prefix_helpers() {
        let p = Ipv6Prefix::parse("2001:db8:12:3400::/56").unwrap();
        assert!(!p.has_host_bits());
        assert!(p.contains("2001:db8:12:34ff::1".parse().unwrap()));
        assert!(!p.contains("2001:db8:12:3500::".parse().unwrap()));
        let q = Ipv6Prefix::parse("2001:db8::1:0:0:0:1/72").unwrap();
        assert!(q.has_host_bits());
        assert_eq!(q.network(), "2001:db8:0:1::".parse::<Ipv6Addr>().unwrap());
        let all = Ipv6Prefix::parse("::/0").unwrap();
        assert!(all.contains("ffff::ffff".parse().unwrap()));
        let host = Ipv6Prefix::parse("2001:db8::1/128").unwrap();
        assert!(host.contains("2001:db8::1".parse().unwrap()));
        assert!(!host.contains("2001:db8::2".parse().unwrap()));
        assert!(all.covers(&host));
        assert!(!host.covers(&all));
    }
}
