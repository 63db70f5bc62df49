//! The rule text syntax, shared by the config file, `mapminctl rule add` and `mapminctl calc`:
//!
//! ```text
//! <ipv6-prefix> <ipv4-prefix> ea-len N [psid-offset A] [psid-len K psid P] [forwarding]
//! ```
//! and the mapcalc-like comma form of `mapminctl calc --rule`:
//! ```text
//! <ipv6-prefix>,<ipv4-prefix>,<ea-len>[,<psid-offset>]
//! ```
//! Numbers are decimal, or hexadecimal with `0x`. Errors carry the offending piece of the
//! input (no allocation), so the caller can name it.

use core::fmt;

use super::prefix::{Ipv4Prefix, Ipv6Prefix, PrefixError};
use super::rule::{Rule, RuleError, RuleParams};

/// What is wrong with a rule text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextErrorKind {
    /// A required field is missing (`"IPv6 prefix"`, `"IPv4 prefix"`, `"ea-len"`).
    Missing(&'static str),
    /// The IPv6 prefix does not parse.
    BadIpv6Prefix(PrefixError),
    /// The IPv4 prefix does not parse.
    BadIpv4Prefix(PrefixError),
    /// A word that is not a keyword of the syntax.
    UnknownKeyword,
    /// A keyword at the end of the text, without its value.
    MissingValue(&'static str),
    /// The value of a keyword is not a number from 0 to the given maximum.
    BadNumber(&'static str, u32),
    /// A keyword given twice.
    Duplicate(&'static str),
    /// The comma form has too few or too many fields.
    BadFieldCount,
    /// The text parses but the rule is illegal.
    Invalid(RuleError),
}

/// A rule text error and the piece of text it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextError<'a> {
    pub kind: TextErrorKind,
    pub value: &'a str,
}

impl fmt::Display for TextError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.value;
        match self.kind {
            TextErrorKind::Missing(what) => write!(f, "missing {what} in '{value}'"),
            TextErrorKind::BadIpv6Prefix(e) => write!(f, "bad IPv6 prefix '{value}': {e}"),
            TextErrorKind::BadIpv4Prefix(e) => write!(f, "bad IPv4 prefix '{value}': {e}"),
            TextErrorKind::UnknownKeyword => write!(
                f,
                "unknown keyword '{value}' (expected ea-len, psid-offset, psid-len, psid, legacy or forwarding)"
            ),
            TextErrorKind::MissingValue(keyword) => write!(f, "'{keyword}' needs a value"),
            TextErrorKind::BadNumber(keyword, max) => {
                write!(f, "bad {keyword} '{value}': not a number from 0 to {max}")
            }
            TextErrorKind::Duplicate(keyword) => write!(f, "'{keyword}' is given twice"),
            TextErrorKind::BadFieldCount => write!(
                f,
                "bad rule '{value}': expected <ipv6-prefix>,<ipv4-prefix>,<ea-len>[,<psid-offset>]"
            ),
            TextErrorKind::Invalid(e) => write!(f, "invalid rule '{value}': {e}"),
        }
    }
}

/// Parses a decimal or `0x` hexadecimal number no larger than `max`.
fn parse_number(text: &str, max: u32) -> Option<u32> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    // from_str_radix accepts a sign; a rule number never has one.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok().filter(|n| *n <= max)
}

fn number_u8<'a>(keyword: &'static str, text: &'a str) -> Result<u8, TextError<'a>> {
    parse_number(text, u32::from(u8::MAX))
        .map(|n| n as u8)
        .ok_or(TextError { kind: TextErrorKind::BadNumber(keyword, u32::from(u8::MAX)), value: text })
}

fn number_u16<'a>(keyword: &'static str, text: &'a str) -> Result<u16, TextError<'a>> {
    parse_number(text, u32::from(u16::MAX))
        .map(|n| n as u16)
        .ok_or(TextError { kind: TextErrorKind::BadNumber(keyword, u32::from(u16::MAX)), value: text })
}

fn ipv6_prefix(text: &str) -> Result<Ipv6Prefix, TextError<'_>> {
    Ipv6Prefix::parse(text).map_err(|e| TextError { kind: TextErrorKind::BadIpv6Prefix(e), value: text })
}

fn ipv4_prefix(text: &str) -> Result<Ipv4Prefix, TextError<'_>> {
    Ipv4Prefix::parse(text).map_err(|e| TextError { kind: TextErrorKind::BadIpv4Prefix(e), value: text })
}

fn set_once<'a, T>(slot: &mut Option<T>, keyword: &'static str, value: T, word: &'a str) -> Result<(), TextError<'a>> {
    if slot.is_some() {
        return Err(TextError { kind: TextErrorKind::Duplicate(keyword), value: word });
    }
    *slot = Some(value);
    Ok(())
}

/// Parses `<ipv6-prefix> <ipv4-prefix> ea-len N [psid-offset A] [psid-len K psid P] [legacy]
/// [forwarding]` (keywords in any order, each at most once) into parameters, without
/// validating the rule.
pub fn parse_rule_params(text: &str) -> Result<RuleParams, TextError<'_>> {
    let mut words = text.split_ascii_whitespace();
    let ipv6 = ipv6_prefix(
        words.next().ok_or(TextError { kind: TextErrorKind::Missing("IPv6 prefix"), value: text })?,
    )?;
    let ipv4 = ipv4_prefix(
        words.next().ok_or(TextError { kind: TextErrorKind::Missing("IPv4 prefix"), value: text })?,
    )?;
    let (mut ea_len, mut psid_offset, mut psid_len, mut psid) = (None, None, None, None);
    let (mut forwarding, mut legacy) = (None, None);
    while let Some(word) = words.next() {
        let keyword: &'static str = match word {
            "ea-len" => "ea-len",
            "psid-offset" => "psid-offset",
            "psid-len" => "psid-len",
            "psid" => "psid",
            "forwarding" => {
                set_once(&mut forwarding, "forwarding", true, word)?;
                continue;
            }
            "legacy" => {
                set_once(&mut legacy, "legacy", true, word)?;
                continue;
            }
            _ => return Err(TextError { kind: TextErrorKind::UnknownKeyword, value: word }),
        };
        let value = words.next().ok_or(TextError { kind: TextErrorKind::MissingValue(keyword), value: word })?;
        match keyword {
            "ea-len" => set_once(&mut ea_len, keyword, number_u8(keyword, value)?, word)?,
            "psid-offset" => set_once(&mut psid_offset, keyword, number_u8(keyword, value)?, word)?,
            "psid-len" => set_once(&mut psid_len, keyword, number_u8(keyword, value)?, word)?,
            _ => set_once(&mut psid, keyword, number_u16(keyword, value)?, word)?,
        }
    }
    let ea_len = ea_len.ok_or(TextError { kind: TextErrorKind::Missing("ea-len"), value: text })?;
    Ok(RuleParams {
        ipv6,
        ipv4,
        ea_len,
        psid_offset,
        psid_len,
        psid,
        forwarding: forwarding.unwrap_or(false),
        legacy: legacy.unwrap_or(false),
    })
}

/// Parses and validates a rule in the text syntax (see [`parse_rule_params`]).
pub fn parse_rule(text: &str) -> Result<Rule, TextError<'_>> {
    let params = parse_rule_params(text)?;
    Rule::new(params).map_err(|e| TextError { kind: TextErrorKind::Invalid(e), value: text.trim() })
}

/// Parses `<ipv6-prefix>,<ipv4-prefix>,<ea-len>[,<psid-offset>]` into parameters.
pub fn parse_rule_csv_params(text: &str) -> Result<RuleParams, TextError<'_>> {
    let bad_count = TextError { kind: TextErrorKind::BadFieldCount, value: text };
    let mut fields = text.split(',');
    let (Some(v6), Some(v4), Some(ea)) = (fields.next(), fields.next(), fields.next()) else {
        return Err(bad_count);
    };
    let offset = fields.next();
    if fields.next().is_some() {
        return Err(bad_count);
    }
    let mut params = RuleParams::new(ipv6_prefix(v6)?, ipv4_prefix(v4)?, number_u8("ea-len", ea)?);
    if let Some(offset) = offset {
        params.psid_offset = Some(number_u8("psid-offset", offset)?);
    }
    Ok(params)
}

/// Parses and validates a rule in the comma form (see [`parse_rule_csv_params`]).
pub fn parse_rule_csv(text: &str) -> Result<Rule, TextError<'_>> {
    let params = parse_rule_csv_params(text)?;
    Rule::new(params).map_err(|e| TextError { kind: TextErrorKind::Invalid(e), value: text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_design_example() {
        let rule = parse_rule("2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0").unwrap();
        assert_eq!(rule.ea_len(), 13);
        assert_eq!(rule.psid_offset(), 0);
        assert_eq!(rule.psid_len(), 5);
        assert!(!rule.forwarding());
    }

    #[test]
    fn parses_explicit_psid_and_forwarding_in_any_order() {
        let rule = parse_rule("2001:db8:12:3400::/56  192.0.2.18/32 psid 0x34 forwarding ea-len 0 psid-len 8").unwrap();
        assert_eq!(rule.explicit_psid(), Some(0x34));
        assert_eq!(rule.psid_len(), 8);
        assert_eq!(rule.psid_offset(), 6);
        assert!(rule.forwarding());
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "2001:db8::/40 192.0.2.0/24 ea-len 16 psid-offset 6",
            "2001:db8:12:3400::/56 192.0.2.18/32 ea-len 0 psid-offset 6 psid-len 8 psid 52 forwarding",
        ] {
            let rule = parse_rule(text).unwrap();
            let mut buf = [0u8; 128];
            let mut w = Buf { buf: &mut buf, len: 0 };
            core::fmt::write(&mut w, format_args!("{rule}")).unwrap();
            let len = w.len;
            let printed = core::str::from_utf8(&buf[..len]).unwrap();
            assert_eq!(printed, text);
            assert_eq!(parse_rule(printed).unwrap(), rule);
        }
    }

    struct Buf<'a> {
        buf: &'a mut [u8],
        len: usize,
    }
    impl core::fmt::Write for Buf<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self.len + s.len();
            self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    #[test]
    fn names_the_bad_piece() {
        let e = parse_rule("2001:db8::/40 192.0.2.0/24 ea-len x").unwrap_err();
        assert_eq!(e, TextError { kind: TextErrorKind::BadNumber("ea-len", 255), value: "x" });
        let e = parse_rule("2001:db8::/40 192.0.2.0/24 ea-len 16 bogus 1").unwrap_err();
        assert_eq!(e, TextError { kind: TextErrorKind::UnknownKeyword, value: "bogus" });
        let e = parse_rule("2001:db8::/40 192.0.2.0/24 ea-len").unwrap_err();
        assert_eq!(e.kind, TextErrorKind::MissingValue("ea-len"));
        let e = parse_rule("2001:db8::/40 192.0.2.0/24 ea-len 1 ea-len 2").unwrap_err();
        assert_eq!(e.kind, TextErrorKind::Duplicate("ea-len"));
        let e = parse_rule("2001:db8::/40 192.0.2.0/24").unwrap_err();
        assert_eq!(e.kind, TextErrorKind::Missing("ea-len"));
        let e = parse_rule("").unwrap_err();
        assert_eq!(e.kind, TextErrorKind::Missing("IPv6 prefix"));
        let e = parse_rule("2001:db8::/40").unwrap_err();
        assert_eq!(e.kind, TextErrorKind::Missing("IPv4 prefix"));
        let e = parse_rule("2001:db8::/40 192.0.2.0/33 ea-len 1").unwrap_err();
        assert_eq!(e, TextError { kind: TextErrorKind::BadIpv4Prefix(PrefixError::BadLength), value: "192.0.2.0/33" });
        let e = parse_rule("2001:db8::/40 192.0.2.0/24 ea-len 49").unwrap_err();
        assert_eq!(e.kind, TextErrorKind::Invalid(RuleError::EaLenTooLong { ea_len: 49 }));
        let e = parse_rule("2001:db8::/40 192.0.2.0/24 ea-len +1").unwrap_err();
        assert_eq!(e.kind, TextErrorKind::BadNumber("ea-len", 255));
        let e = parse_rule("2001:db8::/40 192.0.2.0/24 ea-len 0 psid-len 8 psid 65536").unwrap_err();
        assert_eq!(e.kind, TextErrorKind::BadNumber("psid", 65535));
    }

    #[test]
    fn comma_form() {
        let rule = parse_rule_csv("2001:db8::/40,192.0.2.0/24,16").unwrap();
        assert_eq!((rule.ea_len(), rule.psid_offset()), (16, 6));
        let rule = parse_rule_csv("2001:db8:ce::/51,192.0.2.0/24,13,0").unwrap();
        assert_eq!(rule.psid_offset(), 0);
        assert_eq!(parse_rule_csv("2001:db8::/40,192.0.2.0/24").unwrap_err().kind, TextErrorKind::BadFieldCount);
        assert_eq!(parse_rule_csv("a,b,c,d,e").unwrap_err().kind, TextErrorKind::BadFieldCount);
        assert_eq!(
            parse_rule_csv("2001:db8::/40,192.0.2.0/24,16,16").unwrap_err().kind,
            TextErrorKind::Invalid(RuleError::PsidOffsetTooLarge { offset: 16 })
        );
    }
}
