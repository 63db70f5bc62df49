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

use super::bits::low_ones64;
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
    /// The prefix as an integer, kept aligned: every translated packet embeds or extracts
    /// through it, and the address's bytes, unaligned in a configuration, would be read one
    /// by one.
    bits: u128,
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
        Ok(Rfc6052Prefix { prefix, bits: u128::from(prefix.addr) })
    }

    /// The prefix.
    pub fn prefix(&self) -> Ipv6Prefix {
        self.prefix
    }

    /// The IPv6 address that embeds `ipv4` (zero u octet and suffix).
    pub fn embed(&self, ipv4: Ipv4Addr) -> Ipv6Addr {
        let v4 = u128::from(u32::from(ipv4));
        let placed = match self.prefix.len {
            96 => v4,
            // (the u octet, bits 64-71, lies before the address)
            64 => v4 << 24,
            // Split by the u octet: the address's first 64 - len bits end at bit 64, the
            // rest (len - 32 bits) follow the u octet.
            len => {
                let after = u32::from(len).saturating_sub(32);
                let before = v4.checked_shr(after).unwrap_or(0) << 64;
                before | (v4 & u128::from(low_ones64(after))).checked_shl(88u32.saturating_sub(u32::from(len))).unwrap_or(0)
            }
        };
        Ipv6Addr::from(self.bits | placed)
    }

    /// The IPv4 address embedded in `addr`, which must be inside the prefix with a zero u
    /// octet; the suffix bits are ignored (RFC 6052 §2.2 lets later uses set them).
    pub fn extract(&self, addr: Ipv6Addr) -> Result<Ipv4Addr, Rfc6052Error> {
        let bits = u128::from(addr);
        let len = u32::from(self.prefix.len);
        if (bits ^ self.bits).checked_shr(128 - len).unwrap_or(0) != 0 {
            return Err(Rfc6052Error::NotInPrefix { addr, prefix: self.prefix });
        }
        // the u octet (RFC 6052's bits 64-71, counted from the left: the ninth octet)
        if (bits >> 56) as u8 != 0 {
            return Err(Rfc6052Error::UOctetNotZero);
        }
        let v4 = match len {
            96 => bits as u32,
            64 => (bits >> 24) as u32,
            // (see `embed`)
            _ => {
                let after = len.saturating_sub(32);
                let before = ((bits >> 64) & u128::from(low_ones64(64u32.saturating_sub(len)))) as u32;
                let rest = (bits.checked_shr(88u32.saturating_sub(len)).unwrap_or(0) & u128::from(low_ones64(after))) as u32;
                before.checked_shl(after).unwrap_or(0) | rest
            }
        };
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

    /// The integer arithmetic of `embed` and `extract` against the byte positions of RFC
    /// 6052 §2.2's figure, for every legal length.
    #[test]
    fn arithmetic_matches_byte_positions() {
        let samples = [0u32, 0xffff_ffff, 0xc000_0221, 0x0102_0304, 0x8000_0001];
        for len in [32u8, 40, 48, 56, 64, 96] {
            let bits = 0x2001_0db8_1234_5678_00aa_bbcc_ddee_ff00u128 & !(u128::MAX >> len);
            let prefix = Ipv6Prefix { addr: Ipv6Addr::from(bits), len };
            let dmr = Rfc6052Prefix::new(prefix).unwrap();
            let pos = positions(len).unwrap();
            for v4 in samples {
                let mut octets = prefix.addr.octets();
                for (p, byte) in pos.iter().zip(v4.to_be_bytes()) {
                    octets[*p] = byte;
                }
                let expected = Ipv6Addr::from(octets);
                assert_eq!(dmr.embed(Ipv4Addr::from(v4)), expected, "/{len} {v4:#x}");
                assert_eq!(dmr.extract(expected), Ok(Ipv4Addr::from(v4)), "/{len} {v4:#x}");
            }
        }
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
