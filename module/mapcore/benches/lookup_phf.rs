//! A prototype for issue 13, not used by the core: what a lookup costs when the rules lie in
//! the order of a perfect hash of one key (PTHash-style). Keys fall into buckets of about
//! five; each bucket has a 16-bit pilot, found at build time, that sends its keys to free
//! slots of a table 97 % full. A lookup hashes the key, reads the bucket's pilot (two bytes
//! per five rules: 26 KB at 65,536 rules, within the first-level cache) and then the one rule
//! the pilot points at, where `RuleIndex` reads a slot and then the rule: two dependent reads
//! beyond the first-level cache. The variant `positions` keeps the rules in the caller's order
//! and the table holds their positions (with seven bits of the key's hash), as `RuleIndex`
//! does: pilot, position, rule. The last, `20-byte IPv4 copies`, is the IPv4 side of the
//! layout an index would take (the rules in the IPv6 key's order, beside them a compact copy
//! of each in the IPv4 key's order): the copy holds what translation needs.
//!
//! Each key (the Rule IPv4 prefix, the Rule IPv6 prefix) has a table of its own, each with a
//! copy of every rule, so memory is not what an index built this way would take (one copy in
//! the IPv6 key's order, compact IPv4-keyed copies and the file order beside it: about 54-58
//! bytes a rule). Measured against `RuleIndex` with the same probes as `benches/lookup.rs`
//! (BR tables of /24s with /48s, a random rule per lookup), all answers checked against each
//! other first.
//!
//! `cargo bench -p mapcore --bench lookup_phf` prints ns per lookup, serial and independent,
//! with the ratio to a 1-rule table, and the build time of the two tables.

#[path = "../tests/br_table/mod.rs"]
mod br_table;
mod lookup_timing;

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use br_table::br_table;
use lookup_timing::{ns_per_lookup, probes, Probes};
use mapcore::index::{slots_needed, RuleIndex};
use mapcore::{Ipv4Prefix, Ipv6Prefix, Rule};

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
/// Keys per bucket, on average.
const PER_BUCKET: usize = 5;
/// How full the tables are.
const LOAD: f64 = 0.97;
/// In a position: seven bits of the key's hash (as `RuleIndex`'s tag).
const TAG: u32 = 0x7f << 24;
const POSITION: u32 = (1 << 24) - 1;

fn hash64(key: u64, seed: u64) -> u64 {
    let x = (key ^ seed).wrapping_mul(GOLDEN);
    (x ^ (x >> 29)).wrapping_mul(GOLDEN)
}

fn v4_key(p: Ipv4Prefix) -> u64 {
    u64::from(u32::from(p.addr)) << 8 | u64::from(p.len)
}

fn v6_key(p: Ipv6Prefix) -> u64 {
    let bits = u128::from(p.addr);
    (bits >> 64) as u64 ^ (bits as u64).rotate_left(27).wrapping_mul(GOLDEN) ^ u64::from(p.len)
}

/// `x` scaled into `0..n`.
fn fastrange(x: u32, n: usize) -> usize {
    ((u64::from(x) * n as u64) >> 32) as usize
}

/// A perfect hash of one key of every rule: where each rule goes.
struct Phf {
    pilots: Vec<u16>,
    slots: usize,
    seed: u64,
}

impl Phf {
    fn bucket(&self, hash: u64) -> usize {
        fastrange((hash >> 32) as u32, self.pilots.len())
    }

    fn slot_with(hash: u64, pilot: u16, slots: usize) -> usize {
        fastrange((hash ^ u64::from(pilot).wrapping_mul(GOLDEN)) as u32, slots)
    }

    fn slot(&self, hash: u64) -> usize {
        Self::slot_with(hash, self.pilots[self.bucket(hash)], self.slots)
    }

    /// Buckets placed largest first, each with the first pilot that puts all its keys on free
    /// slots; another seed if some bucket finds none (two keys of one hash).
    fn build(keys: &[u64]) -> Phf {
        let slots = ((keys.len() as f64 / LOAD).ceil() as usize).max(1);
        let buckets = keys.len().div_ceil(PER_BUCKET).max(1);
        'seed: for seed in 0x5eed.. {
            let mut phf = Phf { pilots: vec![0; buckets], slots, seed };
            let mut members: Vec<Vec<u64>> = vec![Vec::new(); buckets];
            for &key in keys {
                let hash = hash64(key, seed);
                members[phf.bucket(hash)].push(hash);
            }
            let mut order: Vec<usize> = (0..buckets).collect();
            order.sort_by_key(|&b| std::cmp::Reverse(members[b].len()));
            let mut taken = vec![false; slots];
            for b in order.into_iter().take_while(|&b| !members[b].is_empty()) {
                let fits = |pilot: u16| {
                    let mut placed: Vec<usize> = Vec::with_capacity(members[b].len());
                    for &hash in &members[b] {
                        let slot = Self::slot_with(hash, pilot, slots);
                        if taken[slot] || placed.contains(&slot) {
                            return None;
                        }
                        placed.push(slot);
                    }
                    Some(placed)
                };
                let Some((pilot, placed)) = (0..=u16::MAX).find_map(|p| fits(p).map(|placed| (p, placed))) else {
                    continue 'seed;
                };
                phf.pilots[b] = pilot;
                for slot in placed {
                    taken[slot] = true;
                }
            }
            return phf;
        }
        unreachable!()
    }
}

/// Which key a table is built on.
trait Key {
    type Prefix: Copy + PartialEq;
    fn prefix(rule: &Rule) -> Self::Prefix;
    fn hash_key(prefix: Self::Prefix) -> u64;
}
struct ByIpv4;
impl Key for ByIpv4 {
    type Prefix = Ipv4Prefix;
    fn prefix(rule: &Rule) -> Ipv4Prefix {
        rule.ipv4_prefix()
    }
    fn hash_key(prefix: Ipv4Prefix) -> u64 {
        v4_key(prefix)
    }
}
struct ByIpv6;
impl Key for ByIpv6 {
    type Prefix = Ipv6Prefix;
    fn prefix(rule: &Rule) -> Ipv6Prefix {
        rule.ipv6_prefix()
    }
    fn hash_key(prefix: Ipv6Prefix) -> u64 {
        v6_key(prefix)
    }
}

/// The rules in the hash's order: pilot, then the rule.
struct InHashOrder {
    phf: Phf,
    rules: Vec<Rule>,
}

impl InHashOrder {
    fn build<K: Key>(rules: &[Rule]) -> Self {
        let keys: Vec<u64> = rules.iter().map(|r| K::hash_key(K::prefix(r))).collect();
        let phf = Phf::build(&keys);
        let mut placed = vec![rules[0]; phf.slots];
        for (rule, &key) in rules.iter().zip(&keys) {
            placed[phf.slot(hash64(key, phf.seed))] = *rule;
        }
        InHashOrder { phf, rules: placed }
    }

    fn find<K: Key>(&self, prefix: K::Prefix) -> Option<&Rule> {
        let rule = &self.rules[self.phf.slot(hash64(K::hash_key(prefix), self.phf.seed))];
        (K::prefix(rule) == prefix).then_some(rule)
    }
}

/// The rules in the caller's order, the hash's table holding positions: pilot, position, rule.
struct Positions<'a> {
    phf: Phf,
    positions: Vec<u32>,
    rules: &'a [Rule],
}

impl<'a> Positions<'a> {
    fn build<K: Key>(rules: &'a [Rule]) -> Self {
        let keys: Vec<u64> = rules.iter().map(|r| K::hash_key(K::prefix(r))).collect();
        let phf = Phf::build(&keys);
        let mut positions = vec![0; phf.slots];
        for (position, &key) in keys.iter().enumerate() {
            let hash = hash64(key, phf.seed);
            positions[phf.slot(hash)] = (position as u32 + 1) | ((hash as u32) << 24 & TAG);
        }
        Positions { phf, positions, rules }
    }

    fn find<K: Key>(&self, prefix: K::Prefix) -> Option<&Rule> {
        let hash = hash64(K::hash_key(prefix), self.phf.seed);
        let entry = self.positions[self.phf.slot(hash)];
        if entry & POSITION == 0 || (entry ^ (hash as u32) << 24) & TAG != 0 {
            return None;
        }
        let rule = &self.rules[(entry & POSITION) as usize - 1];
        (K::prefix(rule) == prefix).then_some(rule)
    }
}

/// An IPv4-keyed copy of what translation needs of a rule whose IPv6 prefix is /64 or
/// shorter (20 bytes), as an index with the rules in the IPv6 key's order would keep beside
/// them: the IPv4 lookup reads the pilot, then the copy, and hands out a rule rebuilt from it.
#[derive(Clone, Copy, Default, PartialEq, Debug)]
#[repr(C, align(4))]
struct Compact {
    v6_high: [u32; 2],
    v4: u32,
    v4_len: u8,
    v6_len: u8,
    ea_len: u8,
    psid_offset: u8,
    psid_len: u8,
    flags: u8,
    psid: u16,
}

struct CompactV4 {
    phf: Phf,
    entries: Vec<Compact>,
}

impl CompactV4 {
    fn build(rules: &[Rule]) -> Self {
        let keys: Vec<u64> = rules.iter().map(|r| v4_key(r.ipv4_prefix())).collect();
        let phf = Phf::build(&keys);
        let mut entries = vec![Compact::default(); phf.slots];
        for (rule, &key) in rules.iter().zip(&keys) {
            let v6 = u128::from(rule.ipv6_prefix().addr);
            entries[phf.slot(hash64(key, phf.seed))] = Compact {
                v6_high: [(v6 >> 96) as u32, (v6 >> 64) as u32],
                v4: u32::from(rule.ipv4_prefix().addr),
                v4_len: rule.ipv4_prefix().len,
                v6_len: rule.ipv6_prefix().len,
                ea_len: rule.ea_len(),
                psid_offset: rule.psid_offset(),
                psid_len: rule.psid_len(),
                flags: u8::from(rule.forwarding()),
                psid: rule.explicit_psid().unwrap_or(0),
            };
        }
        CompactV4 { phf, entries }
    }

    /// The copy of the rule whose IPv4 prefix is `prefix`, if any.
    fn find(&self, prefix: Ipv4Prefix) -> Option<Compact> {
        let entry = self.entries[self.phf.slot(hash64(v4_key(prefix), self.phf.seed))];
        (entry.v4 == u32::from(prefix.addr) && entry.v4_len == prefix.len).then_some(entry)
    }
}

/// Longest prefix first over the lengths present (the tables here have one of each).
fn lookup_ipv4<'r>(lengths: u64, addr: Ipv4Addr, find: impl Fn(Ipv4Prefix) -> Option<&'r Rule>) -> Option<&'r Rule> {
    let mut left = lengths;
    while left != 0 {
        let len = 63 - left.leading_zeros() as u8;
        left &= !(1 << len);
        if let Some(rule) = Ipv4Prefix::new(addr, len).and_then(|p| find(p.truncated())) {
            return Some(rule);
        }
    }
    None
}

fn lookup_ipv6<'r>(lengths: u128, addr: Ipv6Addr, find: impl Fn(Ipv6Prefix) -> Option<&'r Rule>) -> Option<&'r Rule> {
    let mut left = lengths;
    while left != 0 {
        let len = 127 - left.leading_zeros() as u8;
        left &= !(1 << len);
        if let Some(rule) = Ipv6Prefix::new(addr, len).and_then(|p| find(p.truncated())) {
            return Some(rule);
        }
    }
    None
}

/// ns per lookup of one structure: IPv4 serial, IPv6 serial, IPv4 independent, IPv6
/// independent.
fn measure<'r>(
    probes: &Probes,
    v4: impl Fn(Ipv4Addr, u16) -> Option<&'r Rule>,
    v6: impl Fn(Ipv6Addr) -> Option<&'r Rule>,
) -> [f64; 4] {
    // Each serial lookup's address depends on the rule found before (by a mask the compiler
    // cannot see to be zero).
    let zero = black_box(0u32);
    [
        ns_per_lookup(|| {
            let mut dep = 0u32;
            for &(addr, port) in &probes.v4 {
                let found = v4(Ipv4Addr::from(u32::from(addr) | ((dep & zero) << 24)), port);
                dep = found.map_or(1, |r| u32::from(r.ea_len()));
            }
            black_box(dep);
        }),
        ns_per_lookup(|| {
            let mut dep = 0u32;
            for &addr in &probes.v6 {
                let found = v6(Ipv6Addr::from(u128::from(addr) | (u128::from(dep & zero) << 100)));
                dep = found.map_or(1, |r| u32::from(r.ea_len()));
            }
            black_box(dep);
        }),
        ns_per_lookup(|| {
            for &(addr, port) in &probes.v4 {
                black_box(v4(black_box(addr), port));
            }
        }),
        ns_per_lookup(|| {
            for &addr in &probes.v6 {
                black_box(v6(black_box(addr)));
            }
        }),
    ]
}

/// As [`measure`], for the IPv4 copies alone (no IPv6 figures: NaN).
fn measure_compact(probes: &Probes, lengths: u64, table: &CompactV4) -> [f64; 4] {
    let zero = black_box(0u32);
    let find = |addr: Ipv4Addr| -> Option<Compact> {
        let mut left = lengths;
        while left != 0 {
            let len = 63 - left.leading_zeros() as u8;
            left &= !(1 << len);
            if let Some(entry) = Ipv4Prefix::new(addr, len).and_then(|p| table.find(p.truncated())) {
                return Some(entry);
            }
        }
        None
    };
    [
        ns_per_lookup(|| {
            let mut dep = 0u32;
            for &(addr, _) in &probes.v4 {
                let found = find(Ipv4Addr::from(u32::from(addr) | ((dep & zero) << 24)));
                dep = found.map_or(1, |e| u32::from(e.ea_len));
            }
            black_box(dep);
        }),
        f64::NAN,
        ns_per_lookup(|| {
            for &(addr, _) in &probes.v4 {
                black_box(find(black_box(addr)));
            }
        }),
        f64::NAN,
    ]
}

fn main() {
    const NAMES: [&str; 4] =
        ["index", "perfect hash, rules in its order", "perfect hash, positions", "perfect hash, 20-byte IPv4 copies"];
    let mut one_rule = [[0.0; 4]; 4];
    println!("ns per lookup (ratio to 1 rule): IPv4 serial, IPv6 serial, IPv4 independent, IPv6 independent");
    for size in [1u32, 32, 1024, 65_536] {
        let rules = br_table(size);
        let mut slots = vec![0u32; slots_needed(rules.len())];
        let shape = RuleIndex::build(&rules, &mut slots, 0x5eed).expect("a legal table").shape();
        let index = RuleIndex::from_parts(&rules, &slots, shape);
        let v4_lengths = rules.iter().fold(0u64, |l, r| l | 1 << r.ipv4_prefix().len);
        let v6_lengths = rules.iter().fold(0u128, |l, r| l | 1 << r.ipv6_prefix().len);
        let started = Instant::now();
        let (by_v4, by_v6) = (InHashOrder::build::<ByIpv4>(&rules), InHashOrder::build::<ByIpv6>(&rules));
        let built = started.elapsed();
        let (pos_v4, pos_v6) = (Positions::build::<ByIpv4>(&rules), Positions::build::<ByIpv6>(&rules));
        let compact = CompactV4::build(&rules);

        let probes = probes(&rules);
        for (&(addr, port), &addr6) in probes.v4.iter().zip(&probes.v6) {
            let (want4, want6) = (index.lookup_ipv4(addr, Some(port)), index.lookup_ipv6(addr6));
            assert!(want4.is_some() && want6.is_some());
            assert_eq!(lookup_ipv4(v4_lengths, addr, |p| by_v4.find::<ByIpv4>(p)), want4);
            assert_eq!(lookup_ipv6(v6_lengths, addr6, |p| by_v6.find::<ByIpv6>(p)), want6);
            assert_eq!(lookup_ipv4(v4_lengths, addr, |p| pos_v4.find::<ByIpv4>(p)), want4);
            assert_eq!(lookup_ipv6(v6_lengths, addr6, |p| pos_v6.find::<ByIpv6>(p)), want6);
        }
        let results = [
            measure(&probes, |a, port| index.lookup_ipv4(a, Some(port)), |a| index.lookup_ipv6(a)),
            measure(
                &probes,
                |a, _| lookup_ipv4(v4_lengths, a, |p| by_v4.find::<ByIpv4>(p)),
                |a| lookup_ipv6(v6_lengths, a, |p| by_v6.find::<ByIpv6>(p)),
            ),
            measure(
                &probes,
                |a, _| lookup_ipv4(v4_lengths, a, |p| pos_v4.find::<ByIpv4>(p)),
                |a| lookup_ipv6(v6_lengths, a, |p| pos_v6.find::<ByIpv6>(p)),
            ),
            measure_compact(&probes, v4_lengths, &compact),
        ];
        if size == 1 {
            one_rule = results;
        }
        println!("{size} rules (both perfect hashes built in {built:.1?}, {:.1} KB of pilots each):", (2 * by_v4.phf.pilots.len()) as f64 / 1024.0);
        for ((name, ns), one) in NAMES.iter().zip(&results).zip(&one_rule) {
            let cells: Vec<String> = ns
                .iter()
                .zip(one)
                .map(|(t, o)| if t.is_nan() { format!("{:>13}", "-") } else { format!("{t:5.1} ({:.2}x)", t / o) })
                .collect();
            println!("  {name:<34} {}", cells.join("  "));
        }
    }
}
