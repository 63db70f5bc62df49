//! ICMPv4 <-> ICMPv6 type, code and parameter mapping (RFC 7915 §4.2 and §5.2).

use super::DropReason;

/// How an ICMP message translates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Echo request/reply: type changes, the rest is kept.
    Echo { ty: u8 },
    /// An error: new type and code and "rest of header" word; the embedded packet follows.
    Error { ty: u8, code: u8, rest: u32 },
}

/// RFC 1191 §7 plateau table, for a Fragmentation Needed without a next-hop MTU.
const PLATEAUS: [u16; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/// The largest plateau below `total` (the length of the packet that was too big).
fn plateau(total: u16) -> u16 {
    PLATEAUS.iter().copied().find(|&p| p < total).unwrap_or(68)
}

/// Context for the MTU fields.
#[derive(Clone, Copy, Debug)]
pub(super) struct MtuCtx {
    /// Options::mtu4 / mtu6 (0: unknown).
    pub mtu4: u32,
    pub mtu6: u32,
    /// Total length of the embedded packet (for the RFC 1191 plateau).
    pub embedded_total: u16,
}

/// ICMPv4 type/code/rest-of-header to ICMPv6 (RFC 7915 §4.2). `rest` is bytes 4..8.
pub(super) fn v4_to_v6(ty: u8, code: u8, rest: [u8; 4], mtu: MtuCtx) -> Result<Kind, DropReason> {
    let err = |ty, code, rest| Ok(Kind::Error { ty, code, rest });
    match ty {
        8 => Ok(Kind::Echo { ty: 128 }),
        0 => Ok(Kind::Echo { ty: 129 }),
        3 => match code {
            0 | 1 | 5 | 6 | 7 | 8 | 11 | 12 => err(1, 0, 0),
            9 | 10 | 13 | 15 => err(1, 1, 0),
            3 => err(1, 4, 0),
            // Protocol unreachable -> Parameter Problem, unrecognized Next Header, pointing
            // at the Next Header field.
            2 => err(4, 1, 6),
            4 => {
                // minimum(advertised MTU + 20, MTU of the IPv6 next hop, MTU of the IPv4 next
                // hop + 20); a zero advertised MTU is estimated from the plateau table.
                let [_, _, m0, m1] = rest;
                let mut adv = u16::from_be_bytes([m0, m1]);
                if adv == 0 {
                    adv = plateau(mtu.embedded_total);
                }
                let mut m = u32::from(adv).saturating_add(20);
                if mtu.mtu6 != 0 {
                    m = m.min(mtu.mtu6);
                }
                if mtu.mtu4 != 0 {
                    m = m.min(mtu.mtu4.saturating_add(20));
                }
                // An IPv6 host ignores a PTB below the IPv6 minimum MTU (RFC 8201 §4);
                // packets of 1280 bytes become IPv4 packets of at most 1260 with DF clear,
                // which IPv4 routers may fragment.
                err(2, 0, m.max(1280))
            }
            // 14 (host precedence violation) and unknown codes: silently dropped.
            _ => Err(DropReason::UntranslatableIcmp),
        },
        11 => match code {
            0 | 1 => err(3, code, 0),
            _ => Err(DropReason::UntranslatableIcmp),
        },
        12 => match code {
            0 | 2 => {
                let pointer = match rest[0] {
                    0 => 0,
                    1 => 1,
                    2 | 3 => 4,
                    8 => 7,
                    9 => 6,
                    12..=15 => 8,
                    16..=19 => 24,
                    _ => return Err(DropReason::UntranslatableIcmp),
                };
                err(4, 0, pointer)
            }
            _ => Err(DropReason::UntranslatableIcmp),
        },
        // Information request/reply, timestamp, address mask, router advertisement and
        // solicitation, source quench, redirect, alternate host address, unknown: dropped.
        _ => Err(DropReason::UntranslatableIcmp),
    }
}

/// ICMPv6 type/code/rest-of-header to ICMPv4 (RFC 7915 §5.2).
pub(super) fn v6_to_v4(ty: u8, code: u8, rest: [u8; 4], mtu: MtuCtx) -> Result<Kind, DropReason> {
    let err = |ty, code, rest| Ok(Kind::Error { ty, code, rest });
    match ty {
        128 => Ok(Kind::Echo { ty: 8 }),
        129 => Ok(Kind::Echo { ty: 0 }),
        1 => match code {
            0 | 2 | 3 => err(3, 1, 0),
            1 => err(3, 10, 0),
            4 => err(3, 3, 0),
            _ => Err(DropReason::UntranslatableIcmp),
        },
        2 => {
            // minimum(advertised MTU - 20, MTU of the IPv4 next hop, MTU of the IPv6 next
            // hop - 20), within the 16-bit field and at least the IPv4 minimum of 68.
            let mut m = u32::from_be_bytes(rest).saturating_sub(20);
            if mtu.mtu4 != 0 {
                m = m.min(mtu.mtu4);
            }
            if mtu.mtu6 != 0 {
                m = m.min(mtu.mtu6.saturating_sub(20));
            }
            err(3, 4, m.clamp(68, 0xffff))
        }
        3 => match code {
            0 | 1 => err(11, code, 0),
            _ => Err(DropReason::UntranslatableIcmp),
        },
        4 => match code {
            0 => {
                let p = u32::from_be_bytes(rest);
                let pointer = match p {
                    0 => 0,
                    1 => 1,
                    4 | 5 => 2,
                    6 => 9,
                    7 => 8,
                    8..=23 => 12,
                    24..=39 => 16,
                    _ => return Err(DropReason::UntranslatableIcmp),
                };
                // The pointer is the first byte of the rest-of-header word.
                err(12, 0, pointer << 24)
            }
            // Unrecognized Next Header -> Protocol Unreachable.
            1 => err(3, 2, 0),
            _ => Err(DropReason::UntranslatableIcmp),
        },
        // MLD, ND, unknown informational or error types: dropped.
        _ => Err(DropReason::UntranslatableIcmp),
    }
}

/// Whether an ICMPv4 type is an error that embeds a packet.
pub(super) fn is_error4(ty: u8) -> bool {
    matches!(ty, 3 | 4 | 5 | 11 | 12)
}

/// Whether an ICMPv6 type is an error (types below 128).
pub(super) fn is_error6(ty: u8) -> bool {
    ty < 128
}
