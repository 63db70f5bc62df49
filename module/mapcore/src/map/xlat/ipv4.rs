//! IPv4 header parsing.

use core::net::Ipv4Addr;

use super::wire::{self, u16_at, u8_at, v4_at};
use super::{proto, DropReason};

/// A parsed IPv4 header.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ip4 {
    /// Header length in bytes (20..=60).
    pub ihl: usize,
    /// Total length field.
    pub total: usize,
    pub tos: u8,
    pub id: u16,
    pub df: bool,
    pub mf: bool,
    /// Fragment offset in 8-byte units.
    pub offset: u16,
    pub ttl: u8,
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
}

impl Ip4 {
    pub(super) fn is_fragment(&self) -> bool {
        self.mf || self.offset != 0
    }
    /// Where the transport header and payload lie in the buffer, for a header at `start`.
    pub(super) fn l4_span(&self, start: usize) -> Result<(usize, usize), DropReason> {
        let l4 = start.checked_add(self.ihl).ok_or(DropReason::BadBuffer)?;
        let end = start.checked_add(self.total).ok_or(DropReason::BadBuffer)?;
        Ok((l4, end))
    }

    /// The fragment identity, for a fragment.
    pub(super) fn fragment(&self) -> Option<super::Fragment4> {
        self.is_fragment().then_some(super::Fragment4 { id: self.id, first: self.is_first() })
    }
    pub(super) fn is_first(&self) -> bool {
        self.offset == 0
    }
}

/// Parses the header fields. `outer`: the packet itself, whose total length must fit in `b`
/// and whose header checksum must be right; otherwise the packet embedded in an ICMP error,
/// which may be cut short after its header.
pub(super) fn parse(b: &[u8], outer: bool) -> Result<Ip4, DropReason> {
    parse_in(b, outer, b.len())
}

/// [`parse`] for a packet of `len` bytes of which `b` holds the first (at least the header).
pub(super) fn parse_in(b: &[u8], outer: bool, len: usize) -> Result<Ip4, DropReason> {
    let bad = |r: DropReason, outer_r: DropReason| if outer { outer_r } else { r };
    let vihl = u8_at(b, 0).map_err(|_| bad(DropReason::BadEmbeddedPacket, DropReason::Truncated))?;
    if vihl >> 4 != 4 {
        return Err(bad(DropReason::BadEmbeddedPacket, DropReason::BadVersion));
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < 20 || ihl > len {
        return Err(bad(DropReason::BadEmbeddedPacket, DropReason::BadHeaderLength));
    }
    // The header goes on past the bytes at hand (a packet only partly in the buffer).
    if ihl > b.len() {
        return Err(bad(DropReason::BadEmbeddedPacket, DropReason::Truncated));
    }
    let total = usize::from(u16_at(b, 2)?);
    if outer {
        if total < ihl {
            return Err(DropReason::BadLength);
        }
        if total > len {
            return Err(DropReason::Truncated);
        }
        if wire::fold(wire::sum(wire::slice(b, 0, ihl)?)) != 0xffff {
            return Err(DropReason::BadHeaderChecksum);
        }
    }
    let frag = u16_at(b, 6)?;
    Ok(Ip4 {
        ihl,
        total,
        tos: u8_at(b, 1)?,
        id: u16_at(b, 4)?,
        df: frag & 0x4000 != 0,
        mf: frag & 0x2000 != 0,
        offset: frag & 0x1fff,
        ttl: u8_at(b, 8)?,
        proto: u8_at(b, 9)?,
        src: v4_at(b, 12)?,
        dst: v4_at(b, 16)?,
    })
}

/// True if the options (`b[20..ihl]`) hold a loose or strict source route that is not yet
/// used up (pointer not past the option): RFC 7915 §4.1 then asks for Source Route Failed.
/// Malformed options stop the walk (the forwarding stack has already accepted them).
pub(super) fn unexpired_source_route(options: &[u8]) -> bool {
    let mut i: usize = 0;
    // Each step advances by at least one byte: at most 40 steps.
    while let Some(&kind) = options.get(i) {
        match kind {
            0 => return false,
            1 => i = i.saturating_add(1),
            _ => {
                let Some(&len) = options.get(i.saturating_add(1)) else { return false };
                if len < 2 {
                    return false;
                }
                if kind == 131 || kind == 137 {
                    let Some(&ptr) = options.get(i.saturating_add(2)) else { return false };
                    if ptr <= len {
                        return true;
                    }
                }
                i = i.saturating_add(usize::from(len));
            }
        }
    }
    false
}

/// The ports (or ICMP echo identifier) of a transport header, if `l4` shows them.
/// For ICMP only echo request/reply have one.
#[inline(always)]
pub(super) fn ports(proto_: u8, l4: &[u8]) -> (Option<u16>, Option<u16>) {
    match proto_ {
        proto::TCP | proto::UDP => (u16_at(l4, 0).ok(), u16_at(l4, 2).ok()),
        proto::ICMP | proto::ICMPV6 => match l4.first() {
            Some(0 | 8 | 128 | 129) => {
                let id = u16_at(l4, 4).ok();
                (id, id)
            }
            _ => (None, None),
        },
        _ => (None, None),
    }
}

/// [`ports`] of a transport header `len` bytes long of which `l4` is in view:
/// [`DropReason::Truncated`] when the view stops before ports (or an ICMP type and echo
/// identifier) that the packet has, so that a view of the headers alone is never judged
/// without what the whole packet shows (the caller then asks for more of it). Inlined
/// (forced): every packet's, and small.
#[inline(always)]
pub(super) fn ports_in_view(proto_: u8, l4: &[u8], len: usize) -> Result<(Option<u16>, Option<u16>), DropReason> {
    let needed = match proto_ {
        proto::TCP | proto::UDP => 4,
        proto::ICMP | proto::ICMPV6 => match l4.first() {
            Some(0 | 8 | 128 | 129) => 6,
            _ => 1,
        },
        _ => 0,
    };
    if l4.len() < needed.min(len) {
        return Err(DropReason::Truncated);
    }
    Ok(ports(proto_, l4))
}

/// A 20-byte IPv4 header (no options) with its checksum.
#[allow(clippy::too_many_arguments)]
pub(super) fn header(
    tos: u8,
    total: u16,
    id: u16,
    flags_offset: u16,
    ttl: u8,
    proto_: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> [u8; 20] {
    let [t0, t1] = total.to_be_bytes();
    let [i0, i1] = id.to_be_bytes();
    let [f0, f1] = flags_offset.to_be_bytes();
    let [s0, s1, s2, s3] = src.octets();
    let [d0, d1, d2, d3] = dst.octets();
    let mut h = [
        0x45, tos, t0, t1, i0, i1, f0, f1, ttl, proto_, 0, 0, s0, s1, s2, s3, d0, d1, d2, d3,
    ];
    // (from the fields, not read back from the bytes just written)
    let words = [u16::from_be_bytes([0x45, tos]), total, id, flags_offset, u16::from_be_bytes([ttl, proto_])];
    let sum = words.iter().fold(wire::sum_v4(src, dst), |acc, &w| acc.wrapping_add(u64::from(w)));
    let [c0, c1] = wire::finish(sum).to_be_bytes();
    h[10] = c0;
    h[11] = c1;
    h
}
