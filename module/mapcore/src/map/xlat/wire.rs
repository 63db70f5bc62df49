//! Bounds-checked byte access and the Internet checksum (RFC 1071, RFC 1624).
//!
//! Every read and write goes through `get`/`get_mut`, so no input can index out of bounds;
//! a failed access is an `Err(DropReason::Truncated)` (or whatever the caller maps it to).

use core::net::{Ipv4Addr, Ipv6Addr};

use super::DropReason;

/// `N` bytes of `b` at `off`, or `None` past the end.
#[inline]
pub(super) fn arr<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..)?.first_chunk::<N>().copied()
}

#[inline]
pub(super) fn u8_at(b: &[u8], off: usize) -> Result<u8, DropReason> {
    b.get(off).copied().ok_or(DropReason::Truncated)
}

#[inline]
pub(super) fn u16_at(b: &[u8], off: usize) -> Result<u16, DropReason> {
    arr::<2>(b, off).map(u16::from_be_bytes).ok_or(DropReason::Truncated)
}

#[inline]
pub(super) fn u32_at(b: &[u8], off: usize) -> Result<u32, DropReason> {
    arr::<4>(b, off).map(u32::from_be_bytes).ok_or(DropReason::Truncated)
}

#[inline]
pub(super) fn v4_at(b: &[u8], off: usize) -> Result<Ipv4Addr, DropReason> {
    arr::<4>(b, off).map(Ipv4Addr::from).ok_or(DropReason::Truncated)
}

#[inline]
pub(super) fn v6_at(b: &[u8], off: usize) -> Result<Ipv6Addr, DropReason> {
    arr::<16>(b, off).map(Ipv6Addr::from).ok_or(DropReason::Truncated)
}

/// Writes `v` at `off`.
#[inline]
pub(super) fn put(b: &mut [u8], off: usize, v: &[u8]) -> Result<(), DropReason> {
    let end = off.checked_add(v.len()).ok_or(DropReason::Truncated)?;
    b.get_mut(off..end).ok_or(DropReason::Truncated)?.copy_from_slice(v);
    Ok(())
}

#[inline]
pub(super) fn put16(b: &mut [u8], off: usize, v: u16) -> Result<(), DropReason> {
    put(b, off, &v.to_be_bytes())
}

/// `b[from..to]`, or `Truncated`.
#[inline]
pub(super) fn slice(b: &[u8], from: usize, to: usize) -> Result<&[u8], DropReason> {
    b.get(from..to).ok_or(DropReason::Truncated)
}

/// A small fixed buffer in which the new headers are assembled before they are written in
/// front of the untouched rest of the packet.
pub(super) struct Front {
    bytes: [u8; FRONT_MAX],
    len: usize,
}

/// The longest header block ever built: IPv6 (40) + Fragment (8) + ICMPv6 (8) + embedded IPv6
/// (40) + embedded Fragment (8).
pub(super) const FRONT_MAX: usize = 104;

impl Front {
    pub(super) fn new() -> Self {
        Front { bytes: [0; FRONT_MAX], len: 0 }
    }

    pub(super) fn push(&mut self, v: &[u8]) -> Result<(), DropReason> {
        let end = self.len.checked_add(v.len()).ok_or(DropReason::Internal)?;
        self.bytes.get_mut(self.len..end).ok_or(DropReason::Internal)?.copy_from_slice(v);
        self.len = end;
        Ok(())
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// Writes the block so that it ends at `rest` (an index into `buf`) and returns where it
    /// starts. The caller has checked the headroom with [`Front::start_before`].
    pub(super) fn place(&self, buf: &mut [u8], rest: usize) -> Result<usize, DropReason> {
        let start = self.start_before(rest)?;
        put(buf, start, self.as_slice())?;
        Ok(start)
    }

    /// Where the block starts when it ends at `rest`, or `NoHeadroom`.
    pub(super) fn start_before(&self, rest: usize) -> Result<usize, DropReason> {
        rest.checked_sub(self.len).ok_or(DropReason::NoHeadroom)
    }
}

/// The one's-complement sum of `data` as 16-bit big-endian words (an odd last byte is padded
/// with zero), not yet folded. A `u64` accumulator of 32-bit words cannot overflow for any
/// slice shorter than 2^34 bytes, far beyond any packet.
#[inline]
pub(super) fn sum(data: &[u8]) -> u64 {
    // An IPv4 header without options, checked for every IPv4 packet: no loop.
    if let (header, []) = data.as_chunks::<4>() {
        if let Ok(header) = <&[[u8; 4]; 5]>::try_from(header) {
            return header.iter().fold(0, |acc, w| acc.wrapping_add(u64::from(u32::from_be_bytes(*w))));
        }
    }
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        if let Some(w) = w.first_chunk::<4>() {
            acc = acc.wrapping_add(u64::from(u32::from_be_bytes(*w)));
        }
    }
    let rem = words.remainder();
    let mut pairs = rem.chunks_exact(2);
    for p in &mut pairs {
        if let Some(p) = p.first_chunk::<2>() {
            acc = acc.wrapping_add(u64::from(u16::from_be_bytes(*p)));
        }
    }
    if let Some(&last) = pairs.remainder().first() {
        acc = acc.wrapping_add(u64::from(last) << 8);
    }
    acc
}

/// Folds a sum to 16 bits (end-around carry).
#[inline]
pub(super) fn fold(mut s: u64) -> u16 {
    // Each round at least halves the magnitude above 16 bits: at most four rounds.
    while s > 0xffff {
        s = (s & 0xffff).wrapping_add(s >> 16);
    }
    u16::try_from(s).unwrap_or(0xffff)
}

/// The checksum field value for data (and pseudo-header) summing to `s`.
#[inline]
pub(super) fn finish(s: u64) -> u16 {
    !fold(s)
}

/// RFC 1624 eq. 3: the checksum `old` after words summing to `removed` were replaced by words
/// summing to `added`. `HC' = ~(~HC + ~m + m')`.
#[inline]
pub(super) fn adjust(old: u16, removed: u64, added: u64) -> u16 {
    let s = u64::from(!old)
        .wrapping_add(u64::from(!fold(removed)))
        .wrapping_add(added);
    !fold(s)
}

/// Sum of the two IPv4 addresses (the part of the pseudo-header that changes).
#[inline]
pub(super) fn sum_v4(a: Ipv4Addr, b: Ipv4Addr) -> u64 {
    u64::from(a.to_bits()).wrapping_add(u64::from(b.to_bits()))
}

/// Sum of the two IPv6 addresses.
#[inline]
pub(super) fn sum_v6(a: Ipv6Addr, b: Ipv6Addr) -> u64 {
    sum(&a.octets()).wrapping_add(sum(&b.octets()))
}

/// Sum of a pseudo-header's length and next-header fields (the same words for IPv4 and IPv6).
#[inline]
pub(super) fn sum_len_proto(len: usize, proto: u8) -> u64 {
    (len as u64 & 0xffff_ffff).wrapping_add(u64::from(proto))
}
