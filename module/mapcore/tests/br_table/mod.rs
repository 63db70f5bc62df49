//! A generated BR rule table, for the index's tests and its benchmark.

use core::net::{Ipv4Addr, Ipv6Addr};

use mapcore::{Ipv4Prefix, Ipv6Prefix, Rule, RuleParams};

/// The BR table: `count` rules (up to 65,536), each an IPv4 /24 of its own (from
/// 10.0.0.0 up) with an IPv6 /48 of its own (from 2001:db8::/48 up), 8 EA bits (no sharing),
/// in a shuffled order.
pub fn br_table(count: u32) -> Vec<Rule> {
    let mut rules: Vec<Rule> = (0..count)
        .map(|i| {
            let v4 = Ipv4Addr::from(0x0a00_0000 | (i << 8));
            let v6 = Ipv6Addr::from((0x2001_0db8u128 << 96) | (u128::from(i) << 80));
            Rule::new(RuleParams::new(Ipv6Prefix { addr: v6, len: 48 }, Ipv4Prefix { addr: v4, len: 24 }, 8)).unwrap()
        })
        .collect();
    // A fixed shuffle (xorshift), so the table's order is not the sorted one.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..rules.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rules.swap(i, (x % (i as u64 + 1)) as usize);
    }
    rules
}
