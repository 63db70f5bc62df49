//! IPv4 prefixes as written on the command line and in module parameters.

use core::fmt;
use core::net::Ipv4Addr;

/// An IPv4 prefix such as `192.0.2.0/24`; host bits may be set (`192.0.2.8/24` names an
/// address inside its prefix, as `ip addr` does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Prefix {
    pub addr: Ipv4Addr,
    pub len: u8,
}

/// Why an IPv4 prefix did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixError {
    /// The part before `/` is not a dotted-quad IPv4 address.
    BadAddress,
    /// The part after `/` is not a number from 0 to the address width.
    BadLength,
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrefixError::BadAddress => "not an IPv4 address",
            PrefixError::BadLength => "prefix length is not a number from 0 to 32",
        })
    }
}

impl Ipv4Prefix {
    /// Parses `a.b.c.d/len`; a bare address means `/32`.
    pub fn parse(text: &str) -> Result<Self, PrefixError> {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, parse_len(len, 32)?),
            None => (text, 32),
        };
        let addr = addr.parse::<Ipv4Addr>().map_err(|_| PrefixError::BadAddress)?;
        Ok(Ipv4Prefix { addr, len })
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
}
