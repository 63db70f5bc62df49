//! A prototype for issue 13, not used by the core: what a lookup costs when each rule's
//! fields are copied, once per key, into a table where the lookup finds them without a second
//! read. Each key (the Rule IPv4 prefix; the Rule IPv6 prefix) has a 2-choice bucketized
//! cuckoo table: buckets of four 16-byte entries (one 64-byte line), a key's two candidate
//! buckets read together (two independent reads: one memory latency) and their eight entries
//! compared without branches. An entry holds the key and what translation needs of the rule:
//! the other prefix (its upper 64 bits for IPv6), both lengths, the EA-bits length and PSID
//! offset. So it takes only rules whose IPv6 prefix is /64 or shorter and one rule per IPv4
//! prefix (no explicit PSIDs), and keeps no file order: an index built this way would need
//! the rest of the rule table elsewhere. Measured against `RuleIndex` with the same probes as
//! `benches/lookup.rs` (BR tables of /24s with /48s, a random rule per lookup), both answers
//! checked against each other first.
//!
//! `cargo bench -p mapcore --bench lookup_cuckoo` (CUCKOO_LOAD: how full the tables are
//! built, 0.95 by default) prints ns per lookup, independent and serial, with the ratio to a
//! 1-rule table, and the two cuckoo tables' bytes per rule.

#[path = "../tests/br_table/mod.rs"]
mod br_table;
mod lookup_timing;

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use br_table::br_table;
use lookup_timing::{ns_per_lookup, probes, Probes};
use mapcore::index::{slots_needed, RuleIndex};
use mapcore::Rule;

/// In the key's own length field: the entry is free.
const EMPTY: u8 = 0xff;

/// An IPv4-keyed copy of a rule: its IPv4 prefix (the key), its IPv6 prefix's upper half.
#[derive(Clone, Copy)]
#[repr(C)]
struct V4Entry {
    key: u32,
    v4len: u8,
    ea: u8,
    off: u8,
    v6len: u8,
    v6: u64,
}
/// An IPv6-keyed copy: its IPv6 prefix's upper half (the key), its IPv4 prefix.
#[derive(Clone, Copy)]
#[repr(C)]
struct V6Entry {
    key: u64,
    v4: u32,
    v6len: u8,
    ea: u8,
    off: u8,
    v4len: u8,
}
/// Four entries, one cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket<E>([E; 4]);

/// What the build needs of an entry: whether its slot is free, and its key's hash.
trait Entry: Copy {
    fn is_free(&self) -> bool;
    fn hash(&self, seed: u64) -> u64;
}

impl Entry for V4Entry {
    fn is_free(&self) -> bool {
        self.v4len == EMPTY
    }
    fn hash(&self, seed: u64) -> u64 {
        v4_hash(self.key, self.v4len, seed)
    }
}

impl Entry for V6Entry {
    fn is_free(&self) -> bool {
        self.v6len == EMPTY
    }
    fn hash(&self, seed: u64) -> u64 {
        v6_hash(self.key, self.v6len, seed)
    }
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
/// The index's mix (`index::hash64`), all 64 bits kept: each half picks one bucket.
#[inline(always)]
fn hash64(x: u64, seed: u64) -> u64 {
    let x = (x ^ seed).wrapping_mul(GOLDEN);
    (x ^ (x >> 29)).wrapping_mul(GOLDEN)
}
#[inline(always)]
fn v4_hash(key: u32, len: u8, seed: u64) -> u64 {
    hash64(u64::from(key) | u64::from(len) << 32, seed)
}
#[inline(always)]
fn v6_hash(key: u64, len: u8, seed: u64) -> u64 {
    hash64(key ^ u64::from(len).wrapping_mul(GOLDEN), seed)
}
#[inline(always)]
fn two(h: u64, n: usize) -> (usize, usize) {
    (
        (((h >> 32) * n as u64) >> 32) as usize,
        (((h & 0xffff_ffff) * n as u64) >> 32) as usize,
    )
}

struct Cuckoo {
    t4: Vec<Bucket<V4Entry>>,
    t6: Vec<Bucket<V6Entry>>,
    seed: u64,
    v4lens: u64,
    v6lens: u64,
}

fn mask4(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}
fn mask64(len: u8) -> u64 {
    if len == 0 {
        0
    } else {
        u64::MAX << (64 - len)
    }
}

/// Puts `entry` in one of its two buckets, moving others to their other bucket as needed
/// (a random walk of at most 500 moves); false if it found no room.
fn insert<E: Entry>(table: &mut [Bucket<E>], mut entry: E, seed: u64, rand: &mut impl FnMut() -> u64) -> bool {
    for _ in 0..500 {
        let (b1, b2) = two(entry.hash(seed), table.len());
        let free = [b1, b2]
            .into_iter()
            .flat_map(|b| (0..4).map(move |i| (b, i)))
            .find(|&(b, i)| table[b].0[i].is_free());
        if let Some((b, i)) = free {
            table[b].0[i] = entry;
            return true;
        }
        let b = if rand() & 1 == 0 { b1 } else { b2 };
        core::mem::swap(&mut table[b].0[(rand() % 4) as usize], &mut entry);
    }
    false
}

impl Cuckoo {
    fn build(rules: &[Rule], load: f64) -> Cuckoo {
        let n = ((rules.len() as f64 / (4.0 * load)).ceil() as usize).max(1);
        let mut seed = 0x5eed;
        'retry: loop {
            let e4 = V4Entry {
                key: 0,
                v4len: EMPTY,
                ea: 0,
                off: 0,
                v6len: 0,
                v6: 0,
            };
            let e6 = V6Entry {
                key: 0,
                v4: 0,
                v6len: EMPTY,
                ea: 0,
                off: 0,
                v4len: 0,
            };
            let mut t4 = vec![Bucket([e4; 4]); n];
            let mut t6 = vec![Bucket([e6; 4]); n];
            let (mut v4lens, mut v6lens) = (0u64, 0u64);
            let mut rng = seed | 1;
            let mut rand = || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            for r in rules {
                let (p4, p6) = (r.ipv4_prefix(), r.ipv6_prefix());
                assert!(p6.len <= 64);
                v4lens |= 1 << p4.len;
                v6lens |= 1 << p6.len;
                let v4_entry = V4Entry {
                    key: u32::from(p4.addr),
                    v4len: p4.len,
                    ea: r.ea_len(),
                    off: r.psid_offset(),
                    v6len: p6.len,
                    v6: (u128::from(p6.addr) >> 64) as u64,
                };
                let v6_entry = V6Entry {
                    key: (u128::from(p6.addr) >> 64) as u64,
                    v4: u32::from(p4.addr),
                    v6len: p6.len,
                    ea: r.ea_len(),
                    off: r.psid_offset(),
                    v4len: p4.len,
                };
                if !insert(&mut t4, v4_entry, seed, &mut rand) || !insert(&mut t6, v6_entry, seed, &mut rand) {
                    seed = seed.wrapping_add(1);
                    continue 'retry;
                }
            }
            return Cuckoo {
                t4,
                t6,
                seed,
                v4lens,
                v6lens,
            };
        }
    }

    #[inline(never)]
    fn lookup4(&self, addr: u32) -> Option<&V4Entry> {
        let n = self.t4.len();
        let mut lens = self.v4lens;
        while lens != 0 {
            let len = 63 - lens.leading_zeros() as u8;
            lens &= !(1 << len);
            let key = addr & mask4(len);
            let h = v4_hash(key, len, self.seed);
            let (b1, b2) = two(h, n);
            let (a, b) = (&self.t4[b1], &self.t4[b2]);
            let mut mask = 0u32;
            for i in 0..4 {
                mask |= u32::from(a.0[i].key == key && a.0[i].v4len == len) << i;
                mask |= u32::from(b.0[i].key == key && b.0[i].v4len == len) << (i + 4);
            }
            if mask != 0 {
                let i = mask.trailing_zeros() as usize;
                return Some(&[a, b][i >> 2].0[i & 3]);
            }
        }
        None
    }

    #[inline(never)]
    fn lookup6(&self, addr: Ipv6Addr) -> Option<&V6Entry> {
        let n = self.t6.len();
        let hi = (u128::from(addr) >> 64) as u64;
        let mut lens = self.v6lens;
        while lens != 0 {
            let len = 63 - lens.leading_zeros() as u8;
            lens &= !(1 << len);
            let key = hi & mask64(len);
            let h = v6_hash(key, len, self.seed);
            let (b1, b2) = two(h, n);
            let (a, b) = (&self.t6[b1], &self.t6[b2]);
            let mut mask = 0u32;
            for i in 0..4 {
                mask |= u32::from(a.0[i].key == key && a.0[i].v6len == len) << i;
                mask |= u32::from(b.0[i].key == key && b.0[i].v6len == len) << (i + 4);
            }
            if mask != 0 {
                let i = mask.trailing_zeros() as usize;
                return Some(&[a, b][i >> 2].0[i & 3]);
            }
        }
        None
    }
}

fn main() {
    let load: f64 = std::env::var("CUCKOO_LOAD")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.95);
    let zero = black_box(0u32);
    let mut one = [0.0f64; 8];
    println!("load {load}");
    println!(
        "{:>6} | {:>22} {:>22} {:>22} {:>22} | {:>22} {:>22} {:>22} {:>22} | bytes/rule",
        "rules", "idx4", "idx6", "idx4 ser", "idx6 ser", "ck4", "ck6", "ck4 ser", "ck6 ser"
    );
    for size in [1u32, 32, 1024, 65_536] {
        let rules = br_table(size);
        let mut slots = vec![0u32; slots_needed(rules.len())];
        let shape = RuleIndex::build(&rules, &mut slots, 0x5eed)
            .unwrap()
            .shape();
        let idx = RuleIndex::from_parts(&rules, &slots, shape);
        let ck = Cuckoo::build(&rules, load);
        let Probes { v4: p4, v6: p6, .. } = probes(&rules);
        // both structures find the same rule for every probe
        for (&(a, _), &b) in p4.iter().zip(p6.iter()) {
            let r = idx.lookup_ipv4(a, None).unwrap();
            let e = ck.lookup4(u32::from(a)).unwrap();
            assert_eq!(e.key, u32::from(r.ipv4_prefix().addr));
            let r6 = idx.lookup_ipv6(b).unwrap();
            let e6 = ck.lookup6(b).unwrap();
            assert_eq!(e6.key, (u128::from(r6.ipv6_prefix().addr) >> 64) as u64);
        }
        let ns = [
            ns_per_lookup(|| {
                for &(a, p) in &p4 {
                    black_box(idx.lookup_ipv4(black_box(a), Some(p)));
                }
            }),
            ns_per_lookup(|| {
                for &a in &p6 {
                    black_box(idx.lookup_ipv6(black_box(a)));
                }
            }),
            ns_per_lookup(|| {
                let mut dep = 0u32;
                for &(a, p) in &p4 {
                    let f = idx
                        .lookup_ipv4(Ipv4Addr::from(u32::from(a) | ((dep & zero) << 24)), Some(p));
                    dep = f.map_or(1, |r| u32::from(r.ea_len()));
                }
                black_box(dep);
            }),
            ns_per_lookup(|| {
                let mut dep = 0u32;
                for &a in &p6 {
                    let f = idx.lookup_ipv6(Ipv6Addr::from(
                        u128::from(a) | (u128::from(dep & zero) << 100),
                    ));
                    dep = f.map_or(1, |r| u32::from(r.ea_len()));
                }
                black_box(dep);
            }),
            ns_per_lookup(|| {
                for &(a, _) in &p4 {
                    black_box(ck.lookup4(black_box(u32::from(a))));
                }
            }),
            ns_per_lookup(|| {
                for &a in &p6 {
                    black_box(ck.lookup6(black_box(a)));
                }
            }),
            ns_per_lookup(|| {
                let mut dep = 0u32;
                for &(a, _) in &p4 {
                    let f = ck.lookup4(u32::from(a) | ((dep & zero) << 24));
                    dep = f.map_or(1, |e| u32::from(e.ea));
                }
                black_box(dep);
            }),
            ns_per_lookup(|| {
                let mut dep = 0u32;
                for &a in &p6 {
                    let f = ck.lookup6(Ipv6Addr::from(
                        u128::from(a) | (u128::from(dep & zero) << 100),
                    ));
                    dep = f.map_or(1, |e| u32::from(e.ea));
                }
                black_box(dep);
            }),
        ];
        if size == 1 {
            one = ns;
        }
        let c = |i: usize| format!("{:.1} ({:.2}x)", ns[i], ns[i] / one[i]);
        let bytes = (64 * (ck.t4.len() + ck.t6.len())) as f64 / f64::from(size);
        println!(
            "{:>6} | {:>22} {:>22} {:>22} {:>22} | {:>22} {:>22} {:>22} {:>22} | {:.1}",
            size,
            c(0),
            c(1),
            c(2),
            c(3),
            c(4),
            c(5),
            c(6),
            c(7),
            bytes
        );
    }
}
