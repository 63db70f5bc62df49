//! Bit helpers shared by the core. Every shift is width-checked, so no input can make one
//! overflow (and panic in a debug build). IPv6 addresses are handled as two `u64` halves rather
//! than one `u128`: some kernel architectures lower 128-bit shifts to library calls the kernel
//! does not provide.

use core::net::Ipv6Addr;

/// A 32-bit netmask of `len` leading ones (`len` above 32 counts as 32).
pub(super) fn mask32(len: u32) -> u32 {
    u32::MAX.checked_shl(32u32.saturating_sub(len)).unwrap_or(0)
}

/// A 64-bit netmask of `len` leading ones (`len` above 64 counts as 64).
pub(super) fn mask64(len: u32) -> u64 {
    u64::MAX.checked_shl(64u32.saturating_sub(len)).unwrap_or(0)
}

/// The `len` low bits set (`len` above 64 counts as 64).
pub(super) fn low_ones64(len: u32) -> u64 {
    u64::MAX.checked_shr(64u32.saturating_sub(len)).unwrap_or(0)
}

/// The `len` low bits set, for `len` below 64: one shift where [`low_ones64`] checks the
/// range (64 or more gives a wrong mask, never a panic: for callers whose lengths are bounded).
pub(super) fn low_ones_under64(len: u32) -> u64 {
    1u64.wrapping_shl(len).wrapping_sub(1)
}

/// Bits `start..start + len` of `x`, counted from the most significant bit, right-aligned.
/// Bits past the end of `x` read as zero.
pub(super) fn get64(x: u64, start: u32, len: u32) -> u64 {
    if len == 0 {
        return 0;
    }
    let shifted = x.checked_shl(start).unwrap_or(0);
    shifted.checked_shr(64u32.saturating_sub(len)).unwrap_or(0)
}

/// `x` with bits `start..start + len` (from the most significant bit) replaced by the `len`
/// low bits of `value`. A field that does not fit in 64 bits leaves `x` unchanged.
pub(super) fn put64(x: u64, start: u32, len: u32, value: u64) -> u64 {
    let Some(end) = start.checked_add(len) else {
        return x;
    };
    if len == 0 || end > 64 {
        return x;
    }
    let shift = 64 - end;
    let field = low_ones64(len).checked_shl(shift).unwrap_or(0);
    (x & !field) | (value.checked_shl(shift).unwrap_or(0) & field)
}

/// Bits `start..start + len` (`len` at most 64) of the 128-bit value `hi:lo`, counted from
/// the most significant bit, right-aligned; the field may straddle the halves.
pub(super) fn get128(hi: u64, lo: u64, start: u32, len: u32) -> u64 {
    let end = start.saturating_add(len);
    if end <= 64 {
        get64(hi, start, len)
    } else if start >= 64 {
        get64(lo, start - 64, len)
    } else {
        let lo_len = end - 64;
        (get64(hi, start, 64 - start).checked_shl(lo_len).unwrap_or(0)) | get64(lo, 0, lo_len)
    }
}

/// `hi:lo` with bits `start..start + len` (`len` at most 64, from the most significant bit)
/// replaced by the `len` low bits of `value`; the field may straddle the halves. A field that
/// does not fit in 128 bits leaves the value unchanged.
pub(super) fn put128(hi: u64, lo: u64, start: u32, len: u32, value: u64) -> (u64, u64) {
    let end = start.saturating_add(len);
    if len > 64 || end > 128 {
        (hi, lo)
    } else if end <= 64 {
        (put64(hi, start, len, value), lo)
    } else if start >= 64 {
        (hi, put64(lo, start - 64, len, value))
    } else {
        let lo_len = end - 64;
        (put64(hi, start, 64 - start, value.checked_shr(lo_len).unwrap_or(0)), put64(lo, 0, lo_len, value))
    }
}

/// Multiplicative hashing's constant (2^64 / the golden ratio).
pub(super) const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The high and low 64-bit halves of an IPv6 address.
pub(super) fn ipv6_halves(addr: Ipv6Addr) -> (u64, u64) {
    let [a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7] = addr.octets();
    (
        u64::from_be_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
        u64::from_be_bytes([b0, b1, b2, b3, b4, b5, b6, b7]),
    )
}

/// The IPv6 address made of two 64-bit halves. (Through a `u128` shifted by a constant 64,
/// which every architecture does with register moves: built from 16 bytes, the address was
/// stored one byte at a time.)
pub(super) fn ipv6_from_halves(hi: u64, lo: u64) -> Ipv6Addr {
    Ipv6Addr::from_bits((u128::from(hi) << 64) | u128::from(lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_at_the_edges() {
        assert_eq!(mask32(0), 0);
        assert_eq!(mask32(1), 0x8000_0000);
        assert_eq!(mask32(32), u32::MAX);
        assert_eq!(mask32(200), u32::MAX);
        assert_eq!(mask64(0), 0);
        assert_eq!(mask64(64), u64::MAX);
        assert_eq!(mask64(65), u64::MAX);
        assert_eq!(low_ones64(0), 0);
        assert_eq!(low_ones64(3), 7);
        assert_eq!(low_ones64(64), u64::MAX);
    }

    #[test]
    fn get_and_put_fields() {
        let x = 0x2001_0db8_0012_3400u64;
        assert_eq!(get64(x, 40, 16), 0x1234);
        assert_eq!(get64(x, 0, 64), x);
        assert_eq!(get64(x, 64, 8), 0);
        assert_eq!(get64(x, 60, 8), 0);
        assert_eq!(get64(x, 40, 0), 0);
        assert_eq!(put64(0x2001_0db8_0000_0000, 40, 16, 0x1234), x);
        assert_eq!(put64(0, 0, 64, 5), 5);
        assert_eq!(put64(7, 60, 8, 0xff), 7);
        assert_eq!(put64(7, u32::MAX, 8, 0xff), 7);
    }

    #[test]
    fn fields_across_the_halves() {
        // Against u128 arithmetic (the test may use it; the kernel code may not).
        let x: u128 = 0x2001_0db8_0012_3456_789a_bcde_f012_3456;
        let (hi, lo) = ((x >> 64) as u64, x as u64);
        for (start, len) in [(0, 16), (56, 8), (56, 16), (60, 48), (64, 8), (72, 24), (120, 8), (112, 16), (80, 48), (127, 1)] {
            let expected = ((x << start) >> (128 - len)) as u64;
            assert_eq!(get128(hi, lo, start, len), expected, "get {start}+{len}");
            let value = 0xa5a5_a5a5_a5a5_a5a5u64 & low_ones64(len);
            let field = (u128::MAX >> (128 - len)) << (128 - start - len);
            let put = (x & !field) | ((u128::from(value) << (128 - start - len)) & field);
            assert_eq!(put128(hi, lo, start, len, value), ((put >> 64) as u64, put as u64), "put {start}+{len}");
        }
        assert_eq!(put128(hi, lo, 100, 40, 1), (hi, lo));
        assert_eq!(get128(hi, lo, 120, 16), get64(lo, 56, 16));
    }

    #[test]
    fn halves_round_trip() {
        let a: Ipv6Addr = "2001:db8:12:3400:0:c000:212:34".parse().unwrap();
        let (hi, lo) = ipv6_halves(a);
        assert_eq!(hi, 0x2001_0db8_0012_3400);
        assert_eq!(lo, 0x0000_c000_0212_0034);
        assert_eq!(ipv6_from_halves(hi, lo), a);
    }
}
