//! IPv4-embedded IPv6 addresses (RFC 6052 §2.2), which a MAP-T Default Mapping Rule uses for
//! IPv4 destinations outside the MAP domain (RFC 7599 §5.1).
//!
//! ```text
//! PL | 0-------------32--40--48--56--64--72--80--88--96--104---------|
//! 32 |     prefix    |v4(32)         | u | suffix                    |
//! 40 |     prefix        |v4(24)     | u |(8)| suffix                |
//! 48 |     prefix            |v4(16) | u | (16)  | suffix            |
//! 56 |     prefix                |(8)| u |  v4(24)   | suffix        |
//! 64 |     prefix                    | u |   v4(32)      | suffix    |
//! 96 |     prefix                                        |    v4(32) |
//! ```
//! Bits 64-71 (the "u" octet) are always zero and skipped by the embedded IPv4 address.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::prefix::Ipv6Prefix;

/// Why an RFC 6052 prefix or address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rfc6052Error {
    /// The prefix length is not 32, 40, 48, 56, 64 or 96.
    BadLength { len: u8 },
    /// The prefix has bits set past its length.
    HostBits { prefix: Ipv6Prefix },
    /// The u octet (bits 64-71) of the prefix or address is not zero.
    UOctetNotZero,
    /// The address is not inside the prefix.
    NotInPrefix { addr: Ipv6Addr, prefix: Ipv6Prefix },
}

impl fmt::Display for Rfc6052Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rfc6052Error::BadLength { len } => {
                write!(f, "prefix length {len} is not one of 32, 40, 48, 56, 64, 96 (RFC 6052)")
            }
            Rfc6052Error::HostBits { prefix } => write!(
                f,
                "IPv6 prefix {prefix} has bits set past its length (the prefix is {})",
                prefix.truncated()
            ),
            Rfc6052Error::UOctetNotZero => f.write_str("bits 64 to 71 (the u octet) are not zero"),
            Rfc6052Error::NotInPrefix { addr, prefix } => write!(f, "{addr} is not inside {prefix}"),
        }
    }
}

/// A validated RFC 6052 prefix (a MAP-T DMR, or a NAT64 prefix such as 64:ff9b::/96).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rfc6052Prefix {
    prefix: Ipv6Prefix,
}

/// The byte positions of the four IPv4 octets for a prefix length.
fn positions(len: u8) -> Option<[usize; 4]> {
    Some(match len {
        32 => [4, 5, 6, 7],
        40 => [5, 6, 7, 9],
        48 => [6, 7, 9, 10],
        56 => [7, 9, 10, 11],
        64 => [9, 10, 11, 12],
        96 => [12, 13, 14, 15],
        _ => return None,
    })
}

impl Rfc6052Prefix {
    /// Validates `prefix`: a legal length, no host bits, a zero u octet.
    pub fn new(prefix: Ipv6Prefix) -> Result<Self, Rfc6052Error> {
        if positions(prefix.len).is_none() {
            return Err(Rfc6052Error::BadLength { len: prefix.len });
        }
        if prefix.has_host_bits() {
            return Err(Rfc6052Error::HostBits { prefix });
        }
        if prefix.addr.octets()[8] != 0 {
            return Err(Rfc6052Error::UOctetNotZero);
        }
        Ok(Rfc6052Prefix { prefix })
    }

    /// The prefix.
    pub fn prefix(&self) -> Ipv6Prefix {
        self.prefix
    }

    /// The IPv6 address that embeds `ipv4` (zero u octet and suffix).
    pub fn embed(&self, ipv4: Ipv4Addr) -> Ipv6Addr {
        // The usual DMR, a /96: the address is the prefix's low word (as integers: byte-wise
        // copies cost a memory access each under emulation, and stall store forwarding).
        if self.prefix.len == 96 {
            return Ipv6Addr::from((u128::from(self.prefix.addr) & !u128::from(u32::MAX)) | u128::from(u32::from(ipv4)));
        }
        let mut out = self.prefix.addr.octets();
        if let Some(pos) = positions(self.prefix.len) {
            for (p, byte) in pos.iter().zip(ipv4.octets()) {
                if let Some(slot) = out.get_mut(*p) {
                    *slot = byte;
                }
            }
        }
        Ipv6Addr::from(out)
    }

    /// The IPv4 address embedded in `addr`, which must be inside the prefix with a zero u
    /// octet; the suffix bits are ignored (RFC 6052 §2.2 lets later uses set them).
    pub fn extract(&self, addr: Ipv6Addr) -> Result<Ipv4Addr, Rfc6052Error> {
        if !self.prefix.contains(addr) {
            return Err(Rfc6052Error::NotInPrefix { addr, prefix: self.prefix });
        }
        let bits = u128::from(addr);
        // the u octet (RFC 6052's bits 64-71, counted from the left: the ninth octet)
        if (bits >> 56) as u8 != 0 {
            return Err(Rfc6052Error::UOctetNotZero);
        }
        if self.prefix.len == 96 {
            return Ok(Ipv4Addr::from(bits as u32));
        }
        let octets = addr.octets();
        let mut v4 = [0u8; 4];
        if let Some(pos) = positions(self.prefix.len) {
            for (slot, p) in v4.iter_mut().zip(pos) {
                *slot = octets.get(p).copied().unwrap_or(0);
            }
        }
        Ok(Ipv4Addr::from(v4))
    }
}

impl fmt::Display for Rfc6052Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.prefix.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_illegal_prefixes() {
        let p = |s| Ipv6Prefix::parse(s).unwrap();
        assert_eq!(Rfc6052Prefix::new(p("2001:db8::/33")), Err(Rfc6052Error::BadLength { len: 33 }));
        assert_eq!(Rfc6052Prefix::new(p("2001:db8::/128")), Err(Rfc6052Error::BadLength { len: 128 }));
        assert!(matches!(Rfc6052Prefix::new(p("2001:db8::1/64")), Err(Rfc6052Error::HostBits { .. })));
        assert_eq!(Rfc6052Prefix::new(p("2001:db8:0:0:100::/96")), Err(Rfc6052Error::UOctetNotZero));
    }

    #[test]
    fn extraction_checks_prefix_and_u_octet() {
        let dmr = Rfc6052Prefix::new(Ipv6Prefix::parse("2001:db8:ffff::/64").unwrap()).unwrap();
        let bad_u: Ipv6Addr = "2001:db8:ffff:0:10a:203:400::".parse().unwrap();
        assert_eq!(dmr.extract(bad_u), Err(Rfc6052Error::UOctetNotZero));
        let outside: Ipv6Addr = "2001:db8:fffe:0:a:203:400::".parse().unwrap();
        assert!(matches!(dmr.extract(outside), Err(Rfc6052Error::NotInPrefix { .. })));
        // Suffix bits are ignored.
        let suffixed: Ipv6Addr = "2001:db8:ffff:0:a:203:4ff:ffff".parse().unwrap();
        assert_eq!(dmr.extract(suffixed), Ok(Ipv4Addr::new(10, 2, 3, 4)));
    }
}
