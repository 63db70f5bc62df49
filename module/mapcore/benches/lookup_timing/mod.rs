//! What the lookup benchmarks share: their probes and their timing.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use mapcore::Rule;

/// Lookups per pass: one per probe address.
pub const PROBES: usize = 4096;

/// ns per lookup of `f`, a pass over the probes: the median of 7 runs of 50 passes.
pub fn ns_per_lookup(mut f: impl FnMut()) -> f64 {
    f();
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..50 {
                f();
            }
            t.elapsed().as_nanos() as f64 / (50 * PROBES) as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[3]
}

/// The lookups' addresses: each in a rule picked at random (every packet from another
/// subscriber), the same ones on every run.
pub struct Probes {
    /// IPv4 address and port in the rule's IPv4 prefix.
    pub v4: Vec<(Ipv4Addr, u16)>,
    /// An address in the rule's IPv6 prefix.
    pub v6: Vec<Ipv6Addr>,
    /// Each probe's rule's position.
    pub positions: Vec<u32>,
}

/// [`PROBES`] probes into `rules` (BR rules of /24s and IPv6 prefixes of /64 or shorter).
pub fn probes(rules: &[Rule]) -> Probes {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut probes = Probes { v4: Vec::new(), v6: Vec::new(), positions: Vec::new() };
    for _ in 0..PROBES {
        let position = (next() % rules.len() as u64) as u32;
        let rule = rules[position as usize];
        let host = next();
        probes.positions.push(position);
        probes.v4.push((Ipv4Addr::from(u32::from(rule.ipv4_prefix().addr) | (host as u32 & 0xff)), (host >> 16) as u16));
        probes.v6.push(Ipv6Addr::from(u128::from(rule.ipv6_prefix().addr) | u128::from(host >> 8)));
    }
    probes
}
