//! Port sets (RFC 7597 §5.1): the PSID of a port, the ports of a PSID as contiguous ranges.
//!
//! A port is split, from its most significant bit, into `a` offset bits (A), `k` PSID bits and
//! `m = 16 - a - k` contiguous bits (j). The set of PSID P is every port A·2^(16-a) + P·2^m + j;
//! when a > 0, the ports with A = 0 (0 to 2^(16-a) - 1, the system ports with the default a = 6)
//! belong to no set, leaving 2^a - 1 ranges of 2^m ports. With k = 0 there is no sharing and
//! the one set is every port.

use core::fmt;

use super::rule::RuleError;

/// The largest PSID offset (RFC 7598 §4.5: 0 to 15).
pub const MAX_PSID_OFFSET: u8 = 15;

/// One port set: offset `a`, PSID length `k` and the PSID; always valid once built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortSet {
    offset: u8,
    psid_len: u8,
    psid: u16,
}

/// A contiguous range of ports, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl PortSet {
    /// The set of `psid` for offset `offset` and PSID length `psid_len`.
    pub fn new(offset: u8, psid_len: u8, psid: u16) -> Result<Self, RuleError> {
        if offset > MAX_PSID_OFFSET {
            return Err(RuleError::PsidOffsetTooLarge { offset });
        }
        if u32::from(offset) + u32::from(psid_len) > 16 {
            return Err(RuleError::OffsetPlusPsidLenTooLong { offset, psid_len });
        }
        if u32::from(psid) >= 1u32 << psid_len {
            return Err(RuleError::PsidTooWide { psid, psid_len });
        }
        Ok(PortSet { offset, psid_len, psid })
    }

    /// A set from parameters the caller has already validated; out-of-range values are clamped
    /// (offset to 15, length to what the offset leaves, PSID to its length) instead of failing.
    pub(super) fn from_valid(offset: u8, psid_len: u8, psid: u16) -> Self {
        let offset = offset.min(MAX_PSID_OFFSET);
        let psid_len = psid_len.min(16 - offset);
        let psid = (u32::from(psid) & ((1u32 << psid_len) - 1)) as u16;
        PortSet { offset, psid_len, psid }
    }

    /// The PSID offset `a`.
    pub fn offset(&self) -> u8 {
        self.offset
    }

    /// The PSID length `k`.
    pub fn psid_len(&self) -> u8 {
        self.psid_len
    }

    /// The PSID.
    pub fn psid(&self) -> u16 {
        self.psid
    }

    /// The number of contiguous bits `m = 16 - a - k`.
    pub fn contiguous_bits(&self) -> u8 {
        16 - self.offset - self.psid_len
    }

    /// Whether the set is the whole port space (no sharing, `k = 0`).
    pub fn is_whole(&self) -> bool {
        self.psid_len == 0
    }

    /// The number of contiguous ranges: 1 without sharing or with `a = 0`, else `2^a - 1`.
    pub fn range_count(&self) -> u32 {
        if self.psid_len == 0 || self.offset == 0 {
            1
        } else {
            (1u32 << self.offset) - 1
        }
    }

    /// The number of ports in each range, `2^m` (65536 without sharing).
    pub fn range_size(&self) -> u32 {
        if self.psid_len == 0 {
            1 << 16
        } else {
            1u32 << self.contiguous_bits()
        }
    }

    /// The number of ports in the set.
    pub fn port_count(&self) -> u32 {
        self.range_count() * self.range_size()
    }

    /// The `index`-th range, in increasing port order.
    pub fn range(&self, index: u32) -> Option<PortRange> {
        if index >= self.range_count() {
            return None;
        }
        if self.psid_len == 0 {
            return Some(PortRange { first: 0, last: u16::MAX });
        }
        let m = u32::from(self.contiguous_bits());
        // The first range has A = 1 when a > 0 (A = 0 is excluded), A = 0 when a = 0.
        let high = if self.offset == 0 { 0 } else { (index + 1) << (16 - u32::from(self.offset)) };
        let first = high | (u32::from(self.psid) << m);
        let last = first | ((1u32 << m) - 1);
        Some(PortRange { first: first as u16, last: last as u16 })
    }

    /// The ranges in increasing port order.
    pub fn ranges(&self) -> PortRanges {
        PortRanges { set: *self, next: 0 }
    }

    /// Whether `port` belongs to this set.
    pub fn contains(&self, port: u16) -> bool {
        if self.psid_len == 0 {
            return true;
        }
        !is_excluded(self.offset, port) && psid_of(self.offset, self.psid_len, port) == self.psid
    }
}

impl PortSet {
    /// The position of `port` among the set's ports in increasing order, if it is one.
    pub fn index_of(&self, port: u16) -> Option<u32> {
        if !self.contains(port) {
            return None;
        }
        if self.psid_len == 0 {
            return Some(u32::from(port));
        }
        let m = u32::from(self.contiguous_bits());
        let within = u32::from(port) & ((1u32 << m) - 1);
        // Ranges are numbered by A, from 1 when a > 0 (A = 0 is excluded).
        let a = u32::from(port).checked_shr(16 - u32::from(self.offset)).unwrap_or(0);
        let range = if self.offset == 0 { 0 } else { a.checked_sub(1)? };
        Some(range << m | within)
    }

    /// The `index`-th port of the set in increasing order.
    pub fn port_at(&self, index: u32) -> Option<u16> {
        if index >= self.port_count() {
            return None;
        }
        if self.psid_len == 0 {
            return u16::try_from(index).ok();
        }
        let m = u32::from(self.contiguous_bits());
        let range = self.range(index >> m)?;
        u16::try_from(u32::from(range.first) | (index & ((1u32 << m) - 1))).ok()
    }

    /// The contiguous range a NAPT fills when the CE maps ports (`port-mapping contiguous`):
    /// as many ports as the set holds, from the set's first port, so that the first range
    /// keeps its numbers and a set that is one range already (a = 0, or no sharing) maps to
    /// itself. It always ends below 65536.
    pub fn contiguous_range(&self) -> PortRange {
        let first = self.range(0).map_or(0, |r| r.first);
        let last = (u32::from(first) + self.port_count() - 1).min(u32::from(u16::MAX));
        PortRange { first, last: last as u16 }
    }

    /// The port of the set that the contiguous range's port `napt` stands for (the k-th port
    /// of the range is the k-th port of the set); `None` outside the range.
    pub fn to_real(&self, napt: u16) -> Option<u16> {
        let range = self.contiguous_range();
        if napt > range.last {
            return None;
        }
        self.port_at(u32::from(napt.checked_sub(range.first)?))
    }

    /// The contiguous range's port that stands for the set's port `real`; `None` if `real`
    /// is not in the set. The inverse of [`to_real`](Self::to_real).
    pub fn to_contiguous(&self, real: u16) -> Option<u16> {
        let index = self.index_of(real)?;
        u16::try_from(u32::from(self.contiguous_range().first) + index).ok()
    }
}

/// Whether `port` lies in the block that offset `offset` keeps out of every shared port set
/// (0 to 2^(16-a) - 1; nothing when a = 0).
pub fn is_excluded(offset: u8, port: u16) -> bool {
    // (a shift of at most 16 bits of a 32-bit number needs no range check)
    offset != 0 && u32::from(port) >> 16u32.saturating_sub(u32::from(offset)) == 0
}

/// The PSID bits of `port` for offset `offset` and PSID length `psid_len` (0 when `psid_len`
/// is 0; a nonsensical `offset + psid_len > 16` reads as many bits as fit).
pub fn psid_of(offset: u8, psid_len: u8, port: u16) -> u16 {
    let k = u32::from(psid_len).min(16);
    let m = 16u32.saturating_sub(u32::from(offset)).saturating_sub(k);
    // (shifts of at most 16 bits of 32-bit numbers need no range check)
    ((u32::from(port) >> m) & ((1u32 << k) - 1)) as u16
}

/// The PSID carried left-aligned in a 16-bit field, as in the DHCPv6 S46_PORTPARAMS option
/// (RFC 7598 §4.5: the PSID takes the `psid_len` high bits and the rest must be zero), turned
/// into the right-aligned value the rest of the core uses. `None` if `psid_len` exceeds 16 or
/// a bit past the PSID is set.
pub fn psid_from_left_aligned(field: u16, psid_len: u8) -> Option<u16> {
    if psid_len > 16 {
        return None;
    }
    let k = u32::from(psid_len);
    let low_mask = u16::MAX.checked_shr(k).unwrap_or(0);
    if field & low_mask != 0 {
        return None;
    }
    Some(u32::from(field).checked_shr(16 - k).unwrap_or(0) as u16)
}

/// The inverse of [`psid_from_left_aligned`]; `None` if `psid` does not fit in `psid_len` bits.
pub fn psid_to_left_aligned(psid: u16, psid_len: u8) -> Option<u16> {
    if psid_len > 16 || u32::from(psid) >= 1u32 << psid_len {
        return None;
    }
    Some(u32::from(psid).checked_shl(16 - u32::from(psid_len)).unwrap_or(0) as u16)
}

/// Iterator over the ranges of a [`PortSet`].
#[derive(Clone, Debug)]
pub struct PortRanges {
    set: PortSet,
    next: u32,
}

impl Iterator for PortRanges {
    type Item = PortRange;

    fn next(&mut self) -> Option<PortRange> {
        let range = self.set.range(self.next)?;
        self.next += 1;
        Some(range)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.set.range_count().saturating_sub(self.next) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for PortRanges {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_set_without_sharing() {
        let set = PortSet::new(6, 0, 0).unwrap();
        assert!(set.is_whole());
        assert_eq!(set.range_count(), 1);
        assert_eq!(set.range(0), Some(PortRange { first: 0, last: 65535 }));
        assert_eq!(set.port_count(), 65536);
        assert!(set.contains(0) && set.contains(80) && set.contains(65535));
    }

    #[test]
    fn offset_zero_gives_one_range() {
        let set = PortSet::new(0, 5, 27).unwrap();
        let mut ranges = set.ranges();
        assert_eq!(ranges.len(), 1);
        assert_eq!(ranges.next(), Some(PortRange { first: 55296, last: 57343 }));
        assert_eq!(ranges.next(), None);
        assert!(set.contains(55296) && set.contains(57343) && !set.contains(57344));
    }

    #[test]
    fn offset_plus_length_sixteen_gives_single_ports() {
        let set = PortSet::new(6, 10, 5).unwrap();
        assert_eq!(set.range_size(), 1);
        assert_eq!(set.range(0), Some(PortRange { first: 1029, last: 1029 }));
        assert_eq!(set.range(62), Some(PortRange { first: 63 * 1024 + 5, last: 63 * 1024 + 5 }));
        assert_eq!(set.range(63), None);
    }

    #[test]
    fn rejects_bad_sets() {
        assert_eq!(PortSet::new(16, 0, 0), Err(RuleError::PsidOffsetTooLarge { offset: 16 }));
        assert_eq!(
            PortSet::new(6, 11, 0),
            Err(RuleError::OffsetPlusPsidLenTooLong { offset: 6, psid_len: 11 })
        );
        assert_eq!(PortSet::new(6, 8, 256), Err(RuleError::PsidTooWide { psid: 256, psid_len: 8 }));
        assert_eq!(PortSet::new(0, 0, 1), Err(RuleError::PsidTooWide { psid: 1, psid_len: 0 }));
    }

    #[test]
    fn left_aligned_psid_of_rfc7598() {
        // PSID 0x34 with length 8 travels as 0x3400 in S46_PORTPARAMS.
        assert_eq!(psid_from_left_aligned(0x3400, 8), Some(0x34));
        assert_eq!(psid_to_left_aligned(0x34, 8), Some(0x3400));
        assert_eq!(psid_from_left_aligned(0x3401, 8), None);
        assert_eq!(psid_from_left_aligned(0, 0), Some(0));
        assert_eq!(psid_from_left_aligned(1, 0), None);
        assert_eq!(psid_from_left_aligned(0xffff, 16), Some(0xffff));
        assert_eq!(psid_from_left_aligned(0, 17), None);
        assert_eq!(psid_to_left_aligned(256, 8), None);
        assert_eq!(psid_to_left_aligned(1, 1), Some(0x8000));
        for k in 0..=16u8 {
            for psid in [0u16, 1, 0x34, 0xffff] {
                if let Some(field) = psid_to_left_aligned(psid, k) {
                    assert_eq!(psid_from_left_aligned(field, k), Some(psid));
                }
            }
        }
    }

    #[test]
    fn excluded_block() {
        assert!(is_excluded(6, 1023));
        assert!(!is_excluded(6, 1024));
        assert!(!is_excluded(0, 0));
        assert!(is_excluded(15, 1));
        assert!(!is_excluded(15, 2));
    }

    #[test]
    fn contiguous_mapping_is_a_bijection() {
        for (a, k) in [(6u8, 5u8), (6, 8), (4, 4), (0, 5), (1, 1), (6, 10), (15, 1), (6, 0), (2, 14)] {
            for psid in [0u16, 1, (1u16 << k).saturating_sub(1) >> 1, (1u16 << k).saturating_sub(1)] {
                let Ok(set) = PortSet::new(a, k, psid) else { continue };
                let range = set.contiguous_range();
                assert_eq!(u32::from(range.last) - u32::from(range.first) + 1, set.port_count(), "{set:?}");
                let mut seen = 0u32;
                for napt in 0..=u16::MAX {
                    match set.to_real(napt) {
                        Some(real) => {
                            assert!(napt >= range.first && napt <= range.last);
                            assert!(set.contains(real), "{set:?} {napt} -> {real}");
                            assert_eq!(set.to_contiguous(real), Some(napt));
                            seen += 1;
                        }
                        None => assert!(napt < range.first || napt > range.last),
                    }
                }
                assert_eq!(seen, set.port_count());
                if a == 0 || k == 0 {
                    assert!((0..=u16::MAX).all(|p| set.to_real(p).is_none_or(|r| r == p)), "identity: {set:?}");
                }
            }
        }
    }

    #[test]
    fn contiguous_mapping_of_the_offset_tutorial() {
        // psid-offset 6, PSID length 5, PSID 27: 63 ranges of 32, 1888-1919, 2912-2943, ...
        let set = PortSet::new(6, 5, 27).unwrap();
        assert_eq!(set.contiguous_range(), PortRange { first: 1888, last: 1888 + 2016 - 1 });
        assert_eq!(set.to_real(1888), Some(1888));
        assert_eq!(set.to_real(1919), Some(1919));
        assert_eq!(set.to_real(1920), Some(2912));
        assert_eq!(set.to_real(3903), Some(65407));
        assert_eq!(set.to_real(3904), None);
        assert_eq!(set.to_real(1887), None);
        assert_eq!(set.to_contiguous(65376), Some(3872));
        assert_eq!(set.to_contiguous(1024), None);
    }

}
