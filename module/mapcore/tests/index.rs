//! The rule index (`RuleIndex`): property tests against a naive scan written here, on random
//! tables with nested and equal prefixes, PSID offsets above 0 and per-CE rules sharing an
//! IPv4 prefix; a 65,536-rule BR table; errors that name the rule at fault.

use core::net::{Ipv4Addr, Ipv6Addr};

use mapcore::index::{slots_needed, IndexError, RuleIndex};
use mapcore::{Ipv4Prefix, Ipv6Prefix, Rule, RuleParams};
use proptest::prelude::*;

#[path = "br_table/mod.rs"]
mod br_table;
use br_table::br_table;

fn mask32(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) }
}
fn mask128(len: u8) -> u128 {
    if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) }
}

/// A legal rule from a small space of prefixes, so that tables have nested, equal and
/// disjoint prefixes: IPv4 /16 to /32 under 10.0.0.0/14, IPv6 /32 to /56, /72 and /96 under
/// 2001:db8::/32; shared-address rules (PSID in the EA bits, offset 0, 4 or 6) and per-CE
/// rules with an explicit PSID.
fn rule() -> impl Strategy<Value = Rule> {
    (0usize..5, any::<u32>(), 0usize..3, 0u8..=6, any::<bool>(), any::<u16>(), 0usize..6, any::<u32>(), any::<bool>())
        .prop_filter_map("illegal", |(r_pick, v4bits, a_pick, k, explicit, psid, n_pick, v6bits, forwarding)| {
            let r = [16u8, 20, 24, 28, 32][r_pick];
            let a = [0u8, 4, 6][a_pick];
            let suffix = 32 - r;
            let (o, psid_len, psid) = if explicit && k > 0 {
                (suffix, Some(k.min(2)), Some(psid & ((1 << k.min(2)) - 1)))
            } else {
                (suffix + k.min(16 - a), None, None)
            };
            let n = match [32u8, 40, 48, 56, 72, 96][n_pick] {
                n if n <= 64 => n.min(64 - o),
                n => n.min(128 - o),
            };
            // (few distinct addresses: equal prefixes are common)
            let v4 = 0x0a00_0000 | (v4bits & 0x0003_0300);
            // (bits 64-71 too: only prefixes past /64 keep them)
            let v6 = (0x2001_0db8u128 << 96) | (u128::from(v6bits & 0x00ff_ff00) << 72) | (u128::from(v6bits & 0xff) << 56);
            Rule::new(RuleParams {
                ipv6: Ipv6Prefix { addr: Ipv6Addr::from(v6 & mask128(n)), len: n },
                ipv4: Ipv4Prefix { addr: Ipv4Addr::from(v4 & mask32(r)), len: r },
                ea_len: o,
                psid_offset: Some(a),
                psid_len,
                psid,
                forwarding,
                legacy: false,
            })
            .ok()
        })
}

/// Whether two rules could claim the same IPv4 address and port (RFC 7597: a lookup by
/// address and port must find one rule).
fn naive_conflict_ipv4(a: &Rule, b: &Rule) -> bool {
    if a.ipv4_prefix() != b.ipv4_prefix() {
        return false;
    }
    match (a.explicit_psid(), b.explicit_psid()) {
        (Some(pa), Some(pb)) => {
            let same_shape = a.psid_offset() == b.psid_offset() && a.psid_len() == b.psid_len();
            !(same_shape && a.psid_len() > 0 && pa != pb)
        }
        _ => true,
    }
}

/// RFC 7597 §5.1 for a rule with an explicit PSID: the port's PSID bits (after the offset's
/// a bits, which must not be all zero when a > 0) are the rule's.
fn naive_port_ok(rule: &Rule, port: Option<u16>) -> bool {
    match rule.explicit_psid() {
        Some(psid) if rule.psid_len() > 0 => port.is_some_and(|p| {
            let (a, k) = (u32::from(rule.psid_offset()), u32::from(rule.psid_len()));
            let p = u32::from(p);
            (a == 0 || p >> (16 - a) != 0) && (p >> (16 - a - k)) & ((1 << k) - 1) == u32::from(psid)
        }),
        _ => true,
    }
}

fn naive_ipv4(rules: &[Rule], addr: Ipv4Addr, port: Option<u16>) -> Option<Rule> {
    let a = u32::from(addr);
    rules
        .iter()
        .filter(|r| {
            let p = r.ipv4_prefix();
            (a ^ u32::from(p.addr)) & mask32(p.len) == 0 && naive_port_ok(r, port)
        })
        .max_by_key(|r| r.ipv4_prefix().len)
        .copied()
}

fn naive_ipv6(rules: &[Rule], addr: Ipv6Addr) -> Option<Rule> {
    let a = u128::from(addr);
    rules
        .iter()
        .filter(|r| {
            let p = r.ipv6_prefix();
            (a ^ u128::from(p.addr)) & mask128(p.len) == 0
        })
        .max_by_key(|r| r.ipv6_prefix().len)
        .copied()
}

/// The first conflicting pair (later, earlier) in the caller's order, if any.
fn naive_conflicts(rules: &[Rule]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for i in 0..rules.len() {
        for j in 0..i {
            if rules[i].ipv6_prefix() == rules[j].ipv6_prefix() || naive_conflict_ipv4(&rules[i], &rules[j]) {
                found.push((i, j));
            }
        }
    }
    found
}

fn build(rules: &[Rule], seed: u64) -> (Vec<u32>, Result<mapcore::IndexShape, IndexError>) {
    let mut slots = vec![0u32; slots_needed(rules.len())];
    let shape = RuleIndex::build(rules, &mut slots, seed).map(|i| i.shape());
    (slots, shape)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every legal table is indexed, and the index answers as a scan of all rules does, for
    /// random addresses and addresses inside each rule, with and without a port.
    #[test]
    fn lookups_match_a_naive_scan(
        candidates in proptest::collection::vec(rule(), 0..40),
        seed: u64, probe6: u128, probe4: u32, port: u16,
    ) {
        // Keep the legal subset (each rule against those kept before it).
        let mut rules: Vec<Rule> = Vec::new();
        for r in candidates {
            if rules.iter().all(|k| k.ipv6_prefix() != r.ipv6_prefix() && !naive_conflict_ipv4(k, &r)) {
                rules.push(r);
            }
        }
        let (slots, shape) = build(&rules, seed);
        let shape = shape.map_err(|e| TestCaseError::fail(format!("legal table refused: {e}")))?;
        let index = RuleIndex::from_parts(&rules, &slots, shape);
        let mut probes6 = vec![Ipv6Addr::from(probe6)];
        let mut probes4 = vec![Ipv4Addr::from(probe4)];
        for r in &rules {
            let p6 = r.ipv6_prefix();
            probes6.push(Ipv6Addr::from(u128::from(p6.addr) | (probe6 & !mask128(p6.len))));
            let p4 = r.ipv4_prefix();
            probes4.push(Ipv4Addr::from(u32::from(p4.addr) | (probe4 & !mask32(p4.len))));
        }
        for a6 in probes6 {
            prop_assert_eq!(index.lookup_ipv6(a6).copied(), naive_ipv6(&rules, a6), "{}", a6);
        }
        // Ports: the random one, and one of each per-CE rule's set.
        let mut ports = vec![None, Some(port)];
        for r in &rules {
            if let (Some(psid), true) = (r.explicit_psid(), r.psid_len() > 0) {
                if let Ok(set) = r.port_set(psid) {
                    ports.extend(set.ranges().next().map(|range| Some(range.first)));
                }
            }
        }
        for a4 in probes4 {
            for &p in &ports {
                prop_assert_eq!(index.lookup_ipv4(a4, p).copied(), naive_ipv4(&rules, a4, p), "{} {:?}", a4, p);
            }
        }
        // The filtered lookups keep to what the filter accepts.
        for r in &rules {
            let a4 = r.ipv4_prefix().addr;
            let expect = rules.iter().filter(|x| x.forwarding()).copied().collect::<Vec<_>>();
            prop_assert_eq!(index.lookup_ipv4_where(a4, None, Rule::forwarding).copied(), naive_ipv4(&expect, a4, None));
            let a6 = r.ipv6_prefix().addr;
            prop_assert_eq!(index.lookup_ipv6_where(a6, Rule::forwarding).copied(), naive_ipv6(&expect, a6));
            prop_assert_eq!(index.find_ipv6_prefix(r.ipv6_prefix()).map(|(_, x)| *x), Some(*r));
        }
    }

    /// A table with a conflict is refused, and the error names a conflicting pair, the later
    /// rule first.
    #[test]
    fn conflicts_are_refused_with_their_rules(candidates in proptest::collection::vec(rule(), 2..40), seed: u64) {
        let conflicts = naive_conflicts(&candidates);
        let (_, shape) = build(&candidates, seed);
        match shape {
            Ok(_) => prop_assert!(conflicts.is_empty(), "accepted with conflicts {:?}", conflicts),
            Err(IndexError::SameIpv6Prefix { rule, other }) => {
                prop_assert!(rule > other);
                prop_assert_eq!(candidates[rule].ipv6_prefix(), candidates[other].ipv6_prefix());
            }
            Err(IndexError::SameIpv4Prefix { rule, other }) => {
                prop_assert!(rule > other);
                prop_assert!(naive_conflict_ipv4(&candidates[rule], &candidates[other]));
            }
            Err(e) => prop_assert!(false, "unexpected {}", e),
        }
    }
}

#[test]
fn a_65536_rule_br_table() {
    let rules = br_table(65_536);
    let mut slots = vec![0u32; slots_needed(rules.len())];
    let index = RuleIndex::build(&rules, &mut slots, 7).unwrap();
    for (i, r) in rules.iter().enumerate().step_by(997).chain([(65_535, &rules[65_535])]) {
        let inside4 = Ipv4Addr::from(u32::from(r.ipv4_prefix().addr) | 0x8f);
        assert_eq!(index.lookup_ipv4(inside4, Some(4242)), Some(r), "rule {i}");
        let inside6 = Ipv6Addr::from(u128::from(r.ipv6_prefix().addr) | 0x1234_5678);
        assert_eq!(index.lookup_ipv6(inside6), Some(r), "rule {i}");
    }
    assert_eq!(index.lookup_ipv4(Ipv4Addr::new(11, 0, 0, 1), None), None);
    assert_eq!(index.lookup_ipv6("2001:db9::1".parse().unwrap()), None);
    // Memory: the rules themselves and the index's slots, per rule.
    let per_rule = (size_of::<Rule>() * rules.len() + 4 * slots.len()) / rules.len();
    assert!(per_rule < 64, "{per_rule} bytes per rule");
}

#[test]
fn errors_name_positions_in_the_callers_order() {
    let mut rules = br_table(1000);
    // Rule 900 gets rule 10's IPv6 prefix.
    let p = rules[900].params();
    rules[900] = Rule::new(RuleParams { ipv6: rules[10].ipv6_prefix(), ..p }).unwrap();
    let mut slots = vec![0u32; slots_needed(rules.len())];
    let err = RuleIndex::build(&rules, &mut slots, 1).unwrap_err();
    assert_eq!(err, IndexError::SameIpv6Prefix { rule: 900, other: 10 });
    assert_eq!(err.to_string(), "rule 901 has the IPv6 prefix of rule 11");
    // Rule 500 gets rule 20's IPv4 prefix (with its own IPv6 prefix).
    let mut rules = br_table(1000);
    let p = rules[500].params();
    rules[500] = Rule::new(RuleParams { ipv4: rules[20].ipv4_prefix(), ..p }).unwrap();
    let err = RuleIndex::build(&rules, &mut slots, 1).unwrap_err();
    assert_eq!(err, IndexError::SameIpv4Prefix { rule: 500, other: 20 });
    // Too few slots.
    let mut few = vec![0u32; 10];
    assert_eq!(
        RuleIndex::build(&rules, &mut few, 1).unwrap_err(),
        IndexError::SlotsTooFew { needed: slots_needed(1000), given: 10 }
    );
}

#[test]
fn an_empty_table_finds_nothing() {
    let mut slots = vec![0u32; slots_needed(0)];
    let index = RuleIndex::build(&[], &mut slots, 0).unwrap();
    assert!(index.is_empty());
    assert_eq!(index.lookup_ipv4(Ipv4Addr::new(10, 0, 0, 1), Some(1)), None);
    assert_eq!(index.lookup_ipv6(Ipv6Addr::LOCALHOST), None);
}
