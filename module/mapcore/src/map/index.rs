//! Longest-prefix match over rule tables of any size (a BR serves a whole domain: 65,536
//! rules and more), built in memory the caller provides: the kernel allocates it (vmalloc for
//! big tables), userspace uses a `Vec`. The core itself never allocates.
//!
//! Two open-addressing hash tables (linear probing, at most two fifths full, each slot tagged with
//! bits of its key's hash) hold every distinct Rule IPv4 prefix and every Rule IPv6 prefix. A
//! lookup probes one of them once per prefix length present in the table, longest first, so
//! its cost follows the number of distinct lengths (a domain has a few), not the number of
//! rules. Rules sharing one IPv4 prefix
//! (per-CE rules with explicit, disjoint PSIDs) lie next to each other in an order by IPv4
//! prefix and PSID that the index keeps beside the rules: the rules themselves stay in the
//! caller's order, which is the order `rule show` lists and errors count in.
//!
//! Building sorts that order and hashes every prefix once: O(n log n), and the legality checks
//! (no two rules with the same IPv6 prefix, none that could claim the same IPv4 address and
//! port) come out of the same passes.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::ops::{Deref, DerefMut};

use super::bits::{ipv6_halves, GOLDEN};
use super::prefix::{Ipv4Prefix, Ipv6Prefix};
use super::rule::Rule;

/// The largest table an index takes (slot values and positions are `u32`; the kernel module
/// sets its own, lower limit).
pub const MAX_INDEXED_RULES: usize = (1 << 24) - 1;

/// The number of `u32` slots an index of `rules` rules needs beside them: the IPv4 order
/// (one per rule) and the two hash tables.
pub const fn slots_needed(rules: usize) -> usize {
    rules + 2 * hash_size(rules)
}

/// Each hash table's size: two and a half times the keys it may hold. At most two fifths
/// full, a key lies in its home slot or the next one nearly always, so that a lookup in a
/// table of 1,000 rules takes the branches it takes in a table of one (a key further on costs
/// a mispredicted branch; at two thirds full, half the keys were). Not rounded to a power of
/// two: 65,536 rules take 6 slots each, 24 bytes.
const fn hash_size(rules: usize) -> usize {
    if rules == 0 {
        1
    } else {
        2 * rules + rules.div_ceil(2)
    }
}

/// The slot a hash starts at, in a table of `size` (the hash's high bits, scaled).
fn bucket(hash: u32, size: usize) -> usize {
    ((u64::from(hash) * size as u64) >> 32) as usize
}

/// The slot after `s`, wrapping.
fn next(s: usize, size: usize) -> usize {
    if s + 1 >= size {
        0
    } else {
        s + 1
    }
}

/// A slot's value: 0 is empty, else a position plus one (the low 24 bits), the key's tag,
/// and in the IPv4 table the group bit.
const EMPTY: u32 = 0;
const POSITION: u32 = (1 << 24) - 1;
/// Seven bits of the key's hash: a probe passes other keys' slots without reading their
/// rules (a mismatch costs no cache miss but in one case of 128).
const TAG: u32 = 0x7f << 24;
/// In an IPv4 slot: the prefix has several rules, and the position is the first one's in the
/// IPv4 order (without it, the position is the one rule's own: a cache miss less).
const GROUP: u32 = 1 << 31;
fn tag(hash: u32) -> u32 {
    (hash << 24) & TAG
}

/// Why a set of rules cannot be indexed. Positions are the caller's (the order of the rules
/// as given), so that an error can name the line or index of the rule at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexError {
    /// More rules than [`MAX_INDEXED_RULES`].
    TooMany { rules: usize },
    /// The slots are fewer than [`slots_needed`].
    SlotsTooFew { needed: usize, given: usize },
    /// Rules `rule` and `other` have the same Rule IPv6 prefix.
    SameIpv6Prefix { rule: usize, other: usize },
    /// Rules `rule` and `other` have the same Rule IPv4 prefix and port sets that overlap
    /// (or, without explicit PSIDs, are the same).
    SameIpv4Prefix { rule: usize, other: usize },
}

impl IndexError {
    /// The position of the rule at fault, if one is.
    pub fn rule(&self) -> Option<usize> {
        match *self {
            IndexError::SameIpv6Prefix { rule, .. } | IndexError::SameIpv4Prefix { rule, .. } => Some(rule),
            _ => None,
        }
    }
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IndexError::TooMany { rules } => write!(f, "{rules} rules are more than {MAX_INDEXED_RULES}"),
            IndexError::SlotsTooFew { needed, given } => write!(f, "the index needs {needed} slots, {given} given"),
            IndexError::SameIpv6Prefix { rule, other } => {
                write!(f, "rule {} has the IPv6 prefix of rule {}", rule + 1, other + 1)
            }
            IndexError::SameIpv4Prefix { rule, other } => write!(
                f,
                "rule {} has the IPv4 prefix of rule {} and ports that overlap with its",
                rule + 1,
                other + 1
            ),
        }
    }
}

/// What an index knows beside its slots: sizes, and which prefix lengths occur. `Copy`, so
/// that the kernel keeps it with the memory and makes the [`RuleIndex`] view per packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexShape {
    rules: u32,
    /// Each hash table's size.
    hash_size: u32,
    /// Bit L: some Rule IPv4 prefix has length L.
    ipv4_lengths: u64,
    /// Bit L (of 129): some Rule IPv6 prefix has length L.
    ipv6_lengths: [u64; 3],
    /// The hash key's seed (the caller's random number: no table can be built to make
    /// lookups probe long).
    seed: u64,
}

impl IndexShape {
    /// The shape of an index without rules (no prefix length present: lookups end at once).
    pub const EMPTY: IndexShape =
        IndexShape { rules: 0, hash_size: 0, ipv4_lengths: 0, ipv6_lengths: [0; 3], seed: 0 };
}

/// A built index over rules: lookups by IPv4 address (and port) and by IPv6 address.
#[derive(Clone, Copy, Debug)]
pub struct RuleIndex<'a> {
    rules: &'a [Rule],
    /// [IPv4 order: rules][IPv4 hash: hash_size][IPv6 hash: hash_size]
    slots: &'a [u32],
    shape: IndexShape,
}


fn ipv4_key(prefix: Ipv4Prefix) -> u64 {
    (u64::from(u32::from(prefix.addr)) << 8) | u64::from(prefix.len)
}

fn ipv6_key(prefix: Ipv6Prefix) -> (u64, u64) {
    ipv6_halves(prefix.addr)
}

/// Mixes a key with the seed; the high half is well spread (multiplicative hashing).
fn hash64(x: u64, seed: u64) -> u32 {
    let x = (x ^ seed).wrapping_mul(GOLDEN);
    ((x ^ (x >> 29)).wrapping_mul(GOLDEN) >> 32) as u32
}

fn ipv6_hash(prefix: Ipv6Prefix, seed: u64) -> u32 {
    let (hi, lo) = ipv6_key(prefix);
    hash64(hi ^ lo.rotate_left(27).wrapping_mul(GOLDEN) ^ u64::from(prefix.len), seed)
}

/// The IPv4 order's sort key: prefix address, length, then PSID.
fn ipv4_order_key(rule: &Rule) -> (u64, u16) {
    (ipv4_key(rule.ipv4_prefix()), rule.explicit_psid().unwrap_or(0))
}

/// Whether `rule` can stand beside `first`, the first rule of its IPv4 prefix, and the rule
/// before it in PSID order: only per-CE rules with explicit PSIDs of one shape, all distinct.
fn shares_ipv4_prefix(first: &Rule, previous: &Rule, rule: &Rule) -> bool {
    match (first.explicit_psid(), previous.explicit_psid(), rule.explicit_psid()) {
        (Some(_), Some(before), Some(psid)) => {
            rule.psid_len() > 0
                && rule.psid_offset() == first.psid_offset()
                && rule.psid_len() == first.psid_len()
                && psid != before
        }
        _ => false,
    }
}

impl<'a> RuleIndex<'a> {
    /// Indexes `rules` in `slots` (at least [`slots_needed`] of them; the rest is unused),
    /// with the caller's random `seed`. Refuses rules that would make a lookup ambiguous.
    pub fn build(rules: &'a [Rule], slots: &'a mut [u32], seed: u64) -> Result<RuleIndex<'a>, IndexError> {
        let n = rules.len();
        if n > MAX_INDEXED_RULES {
            return Err(IndexError::TooMany { rules: n });
        }
        let needed = slots_needed(n);
        if slots.len() < needed {
            return Err(IndexError::SlotsTooFew { needed, given: slots.len() });
        }
        let size = hash_size(n);
        let (order, rest) = slots.split_at_mut(n);
        let (v4_hash, rest) = rest.split_at_mut(size);
        let v6_hash = &mut rest[..size];
        let mut shape = IndexShape { rules: n as u32, hash_size: size as u32, seed, ..IndexShape::default() };

        v6_hash.fill(EMPTY);
        for (pos, rule) in rules.iter().enumerate() {
            let prefix = rule.ipv6_prefix();
            shape.ipv6_lengths[usize::from(prefix.len / 64)] |= 1 << (prefix.len % 64);
            let hash = ipv6_hash(prefix, seed);
            let mut s = bucket(hash, size);
            loop {
                match v6_hash[s] {
                    EMPTY => break,
                    // Only a slot with this key's tag can hold the same prefix.
                    taken if taken & TAG == tag(hash) => {
                        let other = (taken & POSITION) as usize - 1;
                        if rules[other].ipv6_prefix() == prefix {
                            return Err(IndexError::SameIpv6Prefix { rule: pos, other });
                        }
                    }
                    _ => {}
                }
                s = next(s, size);
            }
            v6_hash[s] = tag(hash) | (pos as u32 + 1);
        }
        for (pos, slot) in order.iter_mut().enumerate() {
            *slot = pos as u32;
        }
        order.sort_unstable_by_key(|&pos| (ipv4_order_key(&rules[pos as usize]), pos));

        v4_hash.fill(EMPTY);
        let mut start = 0;
        while start < n {
            // The rules of one IPv4 prefix, start..end in the IPv4 order.
            let first = &rules[order[start] as usize];
            let prefix = first.ipv4_prefix();
            let mut end = start + 1;
            while end < n && rules[order[end] as usize].ipv4_prefix() == prefix {
                let (previous, rule) = (&rules[order[end - 1] as usize], &rules[order[end] as usize]);
                if !shares_ipv4_prefix(first, previous, rule) {
                    let (a, b) = (order[end] as usize, order[end - 1] as usize);
                    return Err(IndexError::SameIpv4Prefix { rule: a.max(b), other: a.min(b) });
                }
                end += 1;
            }
            shape.ipv4_lengths |= 1 << prefix.len;
            let hash = hash64(ipv4_key(prefix), seed);
            let mut s = bucket(hash, size);
            while v4_hash[s] != EMPTY {
                s = next(s, size);
            }
            let value = if end - start > 1 { GROUP | (start as u32 + 1) } else { order[start] + 1 };
            v4_hash[s] = tag(hash) | value;
            start = end;
        }
        Ok(RuleIndex { rules, slots, shape })
    }

    /// The index that [`RuleIndex::build`] made from these rules and slots, again (the kernel
    /// keeps the rules, the slots and the shape, and makes the view where it looks up).
    /// Slots that did not come from `build` with these rules give wrong answers, but never a
    /// panic or an endless probe.
    pub fn from_parts(rules: &'a [Rule], slots: &'a [u32], shape: IndexShape) -> RuleIndex<'a> {
        RuleIndex { rules, slots, shape }
    }

    /// The shape to keep for [`RuleIndex::from_parts`].
    pub fn shape(&self) -> IndexShape {
        self.shape
    }

    /// The rules, in the caller's order.
    pub fn rules(&self) -> &'a [Rule] {
        self.rules
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn rules_len(&self) -> usize {
        (self.shape.rules as usize).min(self.rules.len())
    }

    fn ordered(&self, at: usize) -> Option<&'a Rule> {
        let pos = *self.slots.get(at)? as usize;
        self.rules.get(pos)
    }

    /// The rule an IPv4 slot's value names: the one rule of its prefix, or the first of them.
    fn ipv4_head(&self, slot: u32) -> Option<&'a Rule> {
        let position = ((slot & POSITION) as usize).checked_sub(1)?;
        if slot & GROUP != 0 {
            self.ordered(position)
        } else {
            self.rules.get(position)
        }
    }

    /// The first slot from `hash`'s home in `table` whose tag is `hash`'s and that `found`
    /// accepts (it reads the slot's rule), before an empty slot.
    ///
    /// With `pair_first`, the home slot and the next are read together first and one of them
    /// chosen without a branch: in a table two fifths full one key in eight lies one slot on
    /// (one in fourteen further), and each of them cost a mispredicted branch. IPv4 lookups
    /// took 7-12 % less over 32 to 65,536 rules with it (serial ones 2-5 %), a 1-rule table's
    /// no more; IPv6 lookups took up to 30 % more over few rules, so they keep the plain probe.
    fn probe<T>(&self, table: usize, hash: u32, pair_first: bool, found: impl Fn(u32) -> Option<T>) -> Option<T> {
        let size = self.shape.hash_size as usize;
        let start = self.rules_len() + table * size;
        let slots = self.slots.get(start..start + size)?;
        let want = tag(hash);
        let mut s = bucket(hash, size);
        if pair_first {
            let home = *slots.get(s)?;
            if home == EMPTY {
                return None;
            }
            let after = *slots.get(next(s, size))?;
            let candidate = if home & TAG == want { home } else { after };
            // Else (neither tag matches, or the rule refuses) the plain probe decides.
            if candidate & TAG == want {
                if let Some(t) = found(candidate) {
                    return Some(t);
                }
            }
        }
        // At most two fifths of the slots are taken: every probe sequence meets an empty one.
        for _ in 0..size {
            let slot = *slots.get(s)?;
            if slot == EMPTY {
                return None;
            }
            if slot & TAG == want {
                if let Some(t) = found(slot) {
                    return Some(t);
                }
            }
            s = next(s, size);
        }
        None
    }

    /// The IPv4 slot's value for the rules whose IPv4 prefix is `prefix`.
    fn ipv4_slot(&self, prefix: Ipv4Prefix) -> Option<u32> {
        let hash = hash64(ipv4_key(prefix), self.shape.seed);
        self.probe(0, hash, true, |slot| (self.ipv4_head(slot)?.ipv4_prefix() == prefix).then_some(slot))
    }

    /// The rule whose IPv6 prefix is exactly `prefix`, and its position.
    pub fn find_ipv6_prefix(&self, prefix: Ipv6Prefix) -> Option<(usize, &'a Rule)> {
        self.probe(1, ipv6_hash(prefix, self.shape.seed), false, |slot| {
            let pos = ((slot & POSITION) as usize).checked_sub(1)?;
            let rule = self.rules.get(pos)?;
            (rule.ipv6_prefix() == prefix).then_some((pos, rule))
        })
    }

    /// The rule with the longest IPv4 prefix containing `addr` among those `keep` accepts; a
    /// rule with an explicit PSID matches only a `port` in its port set.
    pub fn lookup_ipv4_where(&self, addr: Ipv4Addr, port: Option<u16>, keep: impl Fn(&Rule) -> bool) -> Option<&'a Rule> {
        let mut lengths = self.shape.ipv4_lengths;
        while lengths != 0 {
            let len = 63 - lengths.leading_zeros() as u8;
            lengths &= !(1 << len);
            let Some(prefix) = Ipv4Prefix::new(addr, len).map(|p| p.truncated()) else { continue };
            let Some(slot) = self.ipv4_slot(prefix) else { continue };
            if slot & GROUP == 0 {
                match self.ipv4_head(slot) {
                    Some(rule) if keep(rule) && port_matches(rule, port) => return Some(rule),
                    _ => continue,
                }
            }
            let mut at = (slot & POSITION) as usize - 1;
            while let Some(rule) = self.ordered(at).filter(|r| r.ipv4_prefix() == prefix) {
                if keep(rule) && port_matches(rule, port) {
                    return Some(rule);
                }
                at += 1;
            }
        }
        None
    }

    /// [`RuleIndex::lookup_ipv4_where`] over every rule.
    pub fn lookup_ipv4(&self, addr: Ipv4Addr, port: Option<u16>) -> Option<&'a Rule> {
        self.lookup_ipv4_where(addr, port, |_| true)
    }

    /// The rule with the longest IPv6 prefix containing `addr` among those `keep` accepts.
    pub fn lookup_ipv6_where(&self, addr: Ipv6Addr, keep: impl Fn(&Rule) -> bool) -> Option<&'a Rule> {
        for word in (0..3).rev() {
            let mut lengths = self.shape.ipv6_lengths[word];
            while lengths != 0 {
                let bit = 63 - lengths.leading_zeros() as u8;
                lengths &= !(1 << bit);
                let Some(prefix) = Ipv6Prefix::new(addr, word as u8 * 64 + bit).map(|p| p.truncated()) else {
                    continue;
                };
                if let Some((_, rule)) = self.find_ipv6_prefix(prefix).filter(|(_, r)| keep(r)) {
                    return Some(rule);
                }
            }
        }
        None
    }

    /// [`RuleIndex::lookup_ipv6_where`] over every rule.
    pub fn lookup_ipv6(&self, addr: Ipv6Addr) -> Option<&'a Rule> {
        self.lookup_ipv6_where(addr, |_| true)
    }
}

/// Whether a rule with an explicit PSID has `port` in its set (rules without one match any).
fn port_matches(rule: &Rule, port: Option<u16>) -> bool {
    match rule.explicit_psid() {
        Some(psid) if rule.psid_len() > 0 => port.is_some_and(|p| rule.psid_for_port(p) == Ok(psid)),
        _ => true,
    }
}

/// A table of rules and its index, in storage the caller owns and sized by it: `Vec`s in
/// userspace, the kernel's own vectors (vmalloc'ed when big). The rules keep the caller's order.
#[derive(Clone, Debug)]
pub struct Fmrs<R, S> {
    rules: R,
    slots: S,
    shape: IndexShape,
}

impl<R: Deref<Target = [Rule]>, S: DerefMut<Target = [u32]>> Fmrs<R, S> {
    /// Indexes `rules` in `slots` (at least [`slots_needed`] of them) with the caller's random
    /// `seed`; see [`RuleIndex::build`].
    pub fn build(rules: R, mut slots: S, seed: u64) -> Result<Self, IndexError> {
        let shape = RuleIndex::build(&rules, &mut slots, seed)?.shape();
        Ok(Fmrs { rules, slots, shape })
    }
}

impl<R: Deref<Target = [Rule]>, S: Deref<Target = [u32]>> Fmrs<R, S> {
    /// The index over the rules.
    pub fn index(&self) -> RuleIndex<'_> {
        RuleIndex::from_parts(&self.rules, &self.slots, self.shape)
    }

    /// The rules, in the caller's order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The storage back, to change the rules and build again.
    pub fn into_parts(self) -> (R, S) {
        (self.rules, self.slots)
    }
}
