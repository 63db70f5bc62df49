//! IPv6 header and extension header parsing.

use core::net::Ipv6Addr;

use super::wire::{u16_at, u32_at, u8_at, v6_at};
use super::{proto, DropReason, IcmpReply, Verdict, MAX_EXTENSION_HEADERS};

/// An IPv6 Fragment header.
#[derive(Clone, Copy, Debug)]
pub(super) struct Frag6 {
    pub id: u32,
    /// Offset in 8-byte units.
    pub offset: u16,
    pub more: bool,
}

/// A parsed IPv6 header with its extension header chain skipped (RFC 7915 §5.1: Hop-by-Hop,
/// Destination Options, a Routing header with Segments Left zero, Fragment).
#[derive(Clone, Copy, Debug)]
pub(super) struct Ip6 {
    pub tc: u8,
    pub payload_len: usize,
    pub hop: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The upper-layer protocol (the last Next Header).
    pub proto: u8,
    /// Offset of the upper-layer header (or of the fragment data) from the IPv6 header.
    pub l4_off: usize,
    pub frag: Option<Frag6>,
}

impl Ip6 {
    /// Where the upper-layer header and payload lie in the buffer, for a header at `start`.
    pub(super) fn l4_span(&self, start: usize) -> Result<(usize, usize), DropReason> {
        let l4 = start.checked_add(self.l4_off).ok_or(DropReason::BadBuffer)?;
        let end = start
            .checked_add(40)
            .and_then(|x| x.checked_add(self.payload_len))
            .ok_or(DropReason::BadBuffer)?;
        Ok((l4, end))
    }

    pub(super) fn is_first(&self) -> bool {
        self.frag.is_none_or(|f| f.offset == 0)
    }
}

/// Parses the header and walks the extension headers. `outer`: the packet itself (its payload
/// must fit in `b`, a Routing header with Segments Left gives a Parameter Problem); otherwise
/// the packet embedded in an ICMPv6 error, possibly cut short after its headers.
pub(super) fn parse(b: &[u8], outer: bool) -> Result<Ip6, Verdict> {
    parse_in(b, outer, b.len())
}

/// [`parse`] for a packet of `len` bytes of which `b` holds the first (at least the headers).
/// Inlined (forced): a call returned the header through memory, every IPv6 packet's.
#[inline(always)]
pub(super) fn parse_in(b: &[u8], outer: bool, len: usize) -> Result<Ip6, Verdict> {
    let embedded = |r: DropReason| if outer { r } else { DropReason::BadEmbeddedPacket };
    if b.len() < 40 {
        return Err(embedded(DropReason::Truncated).into());
    }
    let w0 = u32_at(b, 0)?;
    if w0 >> 28 != 6 {
        return Err(embedded(DropReason::BadVersion).into());
    }
    let payload_len = usize::from(u16_at(b, 4)?);
    if outer {
        if payload_len == 0 {
            // A jumbogram (RFC 2675) or garbage: neither translates to IPv4.
            return Err(DropReason::BadLength.into());
        }
        if payload_len > len.saturating_sub(40) {
            return Err(DropReason::Truncated.into());
        }
    }
    let mut nh = u8_at(b, 6)?;
    let mut off: usize = 40;
    let mut frag = None;
    let mut count: usize = 0;
    loop {
        match nh {
            proto::HOPOPT | proto::DSTOPTS | proto::ROUTING => {
                if frag.is_some() {
                    return Err(DropReason::ExtensionHeaderAfterFragment.into());
                }
                count = count.saturating_add(1);
                if count > MAX_EXTENSION_HEADERS {
                    return Err(DropReason::TooManyExtensionHeaders.into());
                }
                let next = u8_at(b, off).map_err(|_| embedded(DropReason::Truncated))?;
                let len = u8_at(b, off.saturating_add(1)).map_err(|_| embedded(DropReason::Truncated))?;
                if nh == proto::ROUTING && outer {
                    let segments_left =
                        u8_at(b, off.saturating_add(3)).map_err(|_| DropReason::Truncated)?;
                    if segments_left != 0 {
                        let pointer = u32::try_from(off.saturating_add(3)).unwrap_or(u32::MAX);
                        return Err(Verdict::Reply(IcmpReply::ParameterProblem { pointer }));
                    }
                }
                nh = next;
                off = off.saturating_add(usize::from(len).saturating_add(1).saturating_mul(8));
            }
            proto::FRAGMENT => {
                if frag.is_some() {
                    return Err(DropReason::ExtensionHeaderAfterFragment.into());
                }
                count = count.saturating_add(1);
                if count > MAX_EXTENSION_HEADERS {
                    return Err(DropReason::TooManyExtensionHeaders.into());
                }
                let next = u8_at(b, off).map_err(|_| embedded(DropReason::Truncated))?;
                let fo = u16_at(b, off.saturating_add(2)).map_err(|_| embedded(DropReason::Truncated))?;
                let id = u32_at(b, off.saturating_add(4)).map_err(|_| embedded(DropReason::Truncated))?;
                let f = Frag6 { id, offset: fo >> 3, more: fo & 1 != 0 };
                frag = Some(f);
                nh = next;
                off = off.saturating_add(8);
                if f.offset != 0 {
                    // The rest is fragment data, not headers.
                    break;
                }
            }
            _ => break,
        }
    }
    let end = if outer { payload_len.saturating_add(40) } else { b.len() };
    if off > end {
        return Err(embedded(DropReason::Truncated).into());
    }
    Ok(Ip6 {
        tc: ((w0 >> 20) & 0xff) as u8,
        payload_len,
        hop: u8_at(b, 7)?,
        src: v6_at(b, 8)?,
        dst: v6_at(b, 24)?,
        proto: nh,
        l4_off: off,
        frag,
    })
}

/// A 40-byte IPv6 header (flow label zero).
pub(super) fn header(tc: u8, payload_len: u16, next: u8, hop: u8, src: Ipv6Addr, dst: Ipv6Addr) -> [u8; 40] {
    let mut h = [0u8; 40];
    let [p0, p1] = payload_len.to_be_bytes();
    let head = [0x60 | (tc >> 4), tc << 4, 0, 0, p0, p1, next, hop];
    h[..8].copy_from_slice(&head);
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
    h
}

/// An 8-byte Fragment header.
pub(super) fn fragment_header(next: u8, offset: u16, more: bool, id: u32) -> [u8; 8] {
    let [o0, o1] = ((offset << 3) | u16::from(more)).to_be_bytes();
    let [i0, i1, i2, i3] = id.to_be_bytes();
    [next, 0, o0, o1, i0, i1, i2, i3]
}
