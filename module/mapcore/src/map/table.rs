//! A bounded table of mapping rules with longest-prefix match, by IPv4 destination (and port,
//! for per-CE rules with an explicit PSID) and by IPv6 source or destination. Fixed capacity,
//! no allocation; lookups scan the table (the tables are small: a domain has a handful of
//! rules), so a lookup costs O(N) comparisons and never allocates.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::rule::Rule;

/// Why a rule could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// The table already holds its capacity of rules.
    Full { capacity: usize },
    /// A rule with the same Rule IPv6 prefix is already in the table.
    SameIpv6Prefix,
    /// A rule with the same Rule IPv4 prefix and an overlapping port set is already in the table.
    SameIpv4Prefix,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::Full { capacity } => write!(f, "the rule table is full ({capacity} rules)"),
            TableError::SameIpv6Prefix => f.write_str("a rule with the same IPv6 prefix exists"),
            TableError::SameIpv4Prefix => {
                f.write_str("a rule with the same IPv4 prefix and overlapping ports exists")
            }
        }
    }
}

/// Up to `N` rules.
#[derive(Clone, Debug)]
pub struct RuleTable<const N: usize> {
    rules: [Option<Rule>; N],
    len: usize,
}

impl<const N: usize> Default for RuleTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether two rules could claim the same IPv4 address and port.
fn ipv4_overlap(a: &Rule, b: &Rule) -> bool {
    if a.ipv4_prefix() != b.ipv4_prefix() {
        return false;
    }
    match (a.explicit_psid(), b.explicit_psid()) {
        // Two per-CE rules on one address are disjoint when their port sets are.
        (Some(pa), Some(pb)) => {
            !(a.psid_offset() == b.psid_offset()
                && a.psid_len() == b.psid_len()
                && a.psid_len() > 0
                && pa != pb)
        }
        _ => true,
    }
}

impl<const N: usize> RuleTable<N> {
    /// An empty table.
    pub const fn new() -> Self {
        RuleTable { rules: [None; N], len: 0 }
    }

    /// The capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no rule.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The rules, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> + '_ {
        self.rules.iter().take(self.len).flatten()
    }

    /// Adds `rule`, refusing rules that would make a lookup ambiguous.
    pub fn insert(&mut self, rule: Rule) -> Result<(), TableError> {
        for other in self.iter() {
            if other.ipv6_prefix() == rule.ipv6_prefix() {
                return Err(TableError::SameIpv6Prefix);
            }
            if ipv4_overlap(other, &rule) {
                return Err(TableError::SameIpv4Prefix);
            }
        }
        match self.rules.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(rule);
                self.len += 1;
                Ok(())
            }
            None => Err(TableError::Full { capacity: N }),
        }
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules = [None; N];
        self.len = 0;
    }

    /// The rule with the longest IPv4 prefix containing `addr` among those `keep` accepts; a
    /// rule with an explicit PSID matches only a `port` in its port set.
    pub fn lookup_ipv4_where(
        &self,
        addr: Ipv4Addr,
        port: Option<u16>,
        keep: impl Fn(&Rule) -> bool,
    ) -> Option<&Rule> {
        let mut best: Option<&Rule> = None;
        for rule in self.iter() {
            if !rule.ipv4_prefix().contains(addr) || !keep(rule) {
                continue;
            }
            if let Some(psid) = rule.explicit_psid() {
                if rule.psid_len() > 0 {
                    let Some(port) = port else { continue };
                    if rule.psid_for_port(port) != Ok(psid) {
                        continue;
                    }
                }
            }
            if best.is_none_or(|b| rule.ipv4_prefix().len > b.ipv4_prefix().len) {
                best = Some(rule);
            }
        }
        best
    }

    /// [`RuleTable::lookup_ipv4_where`] over every rule.
    pub fn lookup_ipv4(&self, addr: Ipv4Addr, port: Option<u16>) -> Option<&Rule> {
        self.lookup_ipv4_where(addr, port, |_| true)
    }

    /// The rule with the longest IPv6 prefix containing `addr` among those `keep` accepts.
    pub fn lookup_ipv6_where(&self, addr: Ipv6Addr, keep: impl Fn(&Rule) -> bool) -> Option<&Rule> {
        let mut best: Option<&Rule> = None;
        for rule in self.iter() {
            if !rule.ipv6_prefix().contains(addr) || !keep(rule) {
                continue;
            }
            if best.is_none_or(|b| rule.ipv6_prefix().len > b.ipv6_prefix().len) {
                best = Some(rule);
            }
        }
        best
    }

    /// [`RuleTable::lookup_ipv6_where`] over every rule.
    pub fn lookup_ipv6(&self, addr: Ipv6Addr) -> Option<&Rule> {
        self.lookup_ipv6_where(addr, |_| true)
    }
}
