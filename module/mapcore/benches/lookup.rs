//! Rule lookup cost against table size: the index (`RuleIndex`) at 1, 32, 1,024 and 65,536
//! rules, by IPv4 address and port (a BR's IPv4 -> IPv6 direction, MAP-E decapsulation's source
//! check) and by IPv6 address (a BR's IPv6 -> IPv4 direction), each lookup for an address in
//! a rule picked at random, as packets of many subscribers come.
//!
//! Two ways: independent lookups (the processor overlaps consecutive ones, which a predictable
//! 1-rule table lets it do best: throughput), and serial ones, where each lookup's address
//! waits for the rule the one before found (latency: what one packet pays in the data path,
//! where lookups are hundreds of nanoseconds apart).
//!
//! `cargo bench -p mapcore --bench lookup` runs criterion on each, then prints a table: ns per
//! lookup both ways, the ratio to the 1-rule index, and the memory per rule (rules and index).

#[path = "../tests/br_table/mod.rs"]
mod br_table;
mod lookup_timing;

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use br_table::br_table;
use lookup_timing::{ns_per_lookup, probes, Probes};
use criterion::Criterion;
use mapcore::index::{slots_needed, RuleIndex};
use mapcore::Rule;

const SIZES: [u32; 4] = [1, 32, 1024, 65_536];

struct Table {
    rules: Vec<Rule>,
    slots: Vec<u32>,
    shape: mapcore::IndexShape,
    probes4: Vec<(Ipv4Addr, u16)>,
    probes6: Vec<Ipv6Addr>,
    /// The position of each probe's rule.
    positions: Vec<u32>,
}

fn table(size: u32) -> Table {
    let rules = br_table(size);
    let mut slots = vec![0u32; slots_needed(rules.len())];
    let shape = RuleIndex::build(&rules, &mut slots, 0x5eed).expect("legal").shape();
    let Probes { v4: probes4, v6: probes6, positions } = probes(&rules);
    Table { rules, slots, shape, probes4, probes6, positions }
}

fn index(t: &Table) -> RuleIndex<'_> {
    RuleIndex::from_parts(&t.rules, &t.slots, t.shape)
}

fn lookups4(index: &RuleIndex<'_>, probes: &[(Ipv4Addr, u16)]) {
    for &(addr, port) in probes {
        black_box(index.lookup_ipv4(black_box(addr), Some(port)));
    }
}

fn lookups6(index: &RuleIndex<'_>, probes: &[Ipv6Addr]) {
    for &addr in probes {
        black_box(index.lookup_ipv6(black_box(addr)));
    }
}

/// Serial lookups: the next address depends on the rule found (through a mask of zero the
/// compiler cannot see, so the processor must wait for it). The dependency enters the
/// address's prefix bits: host bits would be cleared by the prefix's mask, which the compiler
/// can see is all zeros for a length under 64 and drop the dependency with it.
fn serial4(index: &RuleIndex<'_>, probes: &[(Ipv4Addr, u16)], zero: u32) {
    let mut dep = 0u32;
    for &(addr, port) in probes {
        let found = index.lookup_ipv4(Ipv4Addr::from(u32::from(addr) | ((dep & zero) << 24)), Some(port));
        dep = found.map_or(1, |r| u32::from(r.ea_len()));
    }
    black_box(dep);
}

fn serial6(index: &RuleIndex<'_>, probes: &[Ipv6Addr], zero: u32) {
    let mut dep = 0u32;
    for &addr in probes {
        let found = index.lookup_ipv6(Ipv6Addr::from(u128::from(addr) | (u128::from(dep & zero) << 100)));
        dep = found.map_or(1, |r| u32::from(r.ea_len()));
    }
    black_box(dep);
}

/// The floor under any index: each probe's rule read where it lies, its position known
/// (what an index that cost nothing would leave), independent reads and serial ones.
fn rules_alone(rules: &[Rule], positions: &[u32]) {
    for &pos in positions {
        black_box(rules[black_box(pos) as usize].ea_len());
    }
}

fn rules_alone_serial(rules: &[Rule], positions: &[u32], zero: u32) {
    let mut dep = 0u32;
    for &pos in positions {
        dep = u32::from(rules[(pos | (dep & zero)) as usize].ea_len());
    }
    black_box(dep);
}

fn bench(c: &mut Criterion) {
    for size in SIZES {
        let t = table(size);
        let idx = index(&t);
        let mut g = c.benchmark_group(format!("{size} rules"));
        g.bench_function("index ipv4", |b| b.iter(|| lookups4(&idx, &t.probes4)));
        g.bench_function("index ipv6", |b| b.iter(|| lookups6(&idx, &t.probes6)));
        let zero = black_box(0);
        g.bench_function("index ipv4 serial", |b| b.iter(|| serial4(&idx, &t.probes4, zero)));
        g.bench_function("index ipv6 serial", |b| b.iter(|| serial6(&idx, &t.probes6, zero)));
        g.bench_function("rule alone", |b| b.iter(|| rules_alone(&t.rules, &t.positions)));
        g.bench_function("rule alone serial", |b| b.iter(|| rules_alone_serial(&t.rules, &t.positions, zero)));
        g.finish();
    }
}

fn table_report() {
    println!();
    println!(
        "{:>7} | {:>14} {:>14} | {:>14} {:>14} | {:>14} {:>14} | {:>14}",
        "rules",
        "ipv4 ns indep",
        "ipv6 ns indep",
        "ipv4 ns serial",
        "ipv6 ns serial",
        "rule alone",
        "alone serial",
        "bytes per rule"
    );
    let zero = black_box(0);
    let mut one = [0.0; 6];
    let mut floors = Vec::new();
    for size in SIZES {
        let t = table(size);
        let idx = index(&t);
        let ns = [
            ns_per_lookup(|| lookups4(&idx, &t.probes4)),
            ns_per_lookup(|| lookups6(&idx, &t.probes6)),
            ns_per_lookup(|| serial4(&idx, &t.probes4, zero)),
            ns_per_lookup(|| serial6(&idx, &t.probes6, zero)),
            ns_per_lookup(|| rules_alone(&t.rules, &t.positions)),
            ns_per_lookup(|| rules_alone_serial(&t.rules, &t.positions, zero)),
        ];
        if size == 1 {
            one = ns;
        }
        let cell = |i: usize| format!("{:.1} ({:.2}x)", ns[i], ns[i] / one[i]);
        let bytes = (size_of::<Rule>() * t.rules.len() + 4 * t.slots.len()) as f64 / f64::from(size);
        println!(
            "{:>7} | {:>14} {:>14} | {:>14} {:>14} | {:>14} {:>14} | {:>14.1}",
            size,
            cell(0),
            cell(1),
            cell(2),
            cell(3),
            cell(4),
            cell(5),
            bytes
        );
        // What reading the rule alone costs more than in a 1-rule table: an index that found
        // the rule for nothing would still pay it, on top of its 1-rule lookup.
        let floor = |lookup: usize, alone: usize| (one[lookup] + (ns[alone] - one[alone]).max(0.0)) / one[lookup];
        floors.push((size, [floor(0, 4), floor(1, 4), floor(2, 5), floor(3, 5)]));
    }
    println!();
    println!("the least ratio any index could reach (its 1-rule lookup, plus the rule's own read's extra cost):");
    for (size, f) in floors {
        println!("{:>7} | {:>14.2} {:>14.2} | {:>14.2} {:>14.2}", size, f[0], f[1], f[2], f[3]);
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    table_report();
}
