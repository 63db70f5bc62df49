//! A bounded table of mapping rules with longest-prefix match, by IPv4 destination (and port,
//! for per-CE rules with an explicit PSID) and by IPv6 source or destination. Fixed capacity,
//! no allocation: the rules and their [`RuleIndex`] live in the table itself.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use super::index::{slots_needed, IndexShape, RuleIndex};
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

/// The most rules a fixed-size [`RuleTable`] holds (its index's slots are sized for them).
pub const MAX_TABLE_RULES: usize = 32;
const TABLE_SLOTS: usize = slots_needed(MAX_TABLE_RULES);

/// Up to `N` rules (`N` at most [`MAX_TABLE_RULES`]), in their own storage, looked up through
/// a [`RuleIndex`] kept beside them and rebuilt on every change.
#[derive(Clone, Debug)]
pub struct RuleTable<const N: usize> {
    rules: [Rule; N],
    len: usize,
    slots: [u32; TABLE_SLOTS],
    shape: IndexShape,
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
        const { assert!(N <= MAX_TABLE_RULES) };
        // (an empty index: no prefix length present, so every lookup ends at once)
        RuleTable { rules: [Rule::PLACEHOLDER; N], len: 0, slots: [0; TABLE_SLOTS], shape: IndexShape::EMPTY }
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
    pub fn as_slice(&self) -> &[Rule] {
        &self.rules[..self.len]
    }

    /// The rules, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> + '_ {
        self.as_slice().iter()
    }

    /// The index over the rules.
    pub fn index(&self) -> RuleIndex<'_> {
        RuleIndex::from_parts(self.as_slice(), &self.slots, self.shape)
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
        let slot = self.rules.get_mut(self.len).ok_or(TableError::Full { capacity: N })?;
        *slot = rule;
        self.len += 1;
        self.reindex();
        Ok(())
    }

    /// Keeps the rules `keep` accepts, in their order (in place: no second table).
    pub fn retain(&mut self, keep: impl Fn(&Rule) -> bool) {
        let mut kept = 0;
        for at in 0..self.len {
            let rule = self.rules[at];
            if keep(&rule) {
                self.rules[kept] = rule;
                kept += 1;
            }
        }
        self.len = kept;
        self.reindex();
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.len = 0;
        self.reindex();
    }

    fn reindex(&mut self) {
        // The rules were checked one against the others on insertion, and the slots are
        // sized for MAX_TABLE_RULES: the build cannot fail.
        self.shape = RuleIndex::build(&self.rules[..self.len], &mut self.slots, 0).map_or(IndexShape::EMPTY, |i| i.shape());
    }

    /// The rule with the longest IPv4 prefix containing `addr` among those `keep` accepts; a
    /// rule with an explicit PSID matches only a `port` in its port set.
    pub fn lookup_ipv4_where(&self, addr: Ipv4Addr, port: Option<u16>, keep: impl Fn(&Rule) -> bool) -> Option<&Rule> {
        self.index().lookup_ipv4_where(addr, port, keep)
    }

    /// [`RuleTable::lookup_ipv4_where`] over every rule.
    pub fn lookup_ipv4(&self, addr: Ipv4Addr, port: Option<u16>) -> Option<&Rule> {
        self.index().lookup_ipv4(addr, port)
    }

    /// The rule with the longest IPv6 prefix containing `addr` among those `keep` accepts.
    pub fn lookup_ipv6_where(&self, addr: Ipv6Addr, keep: impl Fn(&Rule) -> bool) -> Option<&Rule> {
        self.index().lookup_ipv6_where(addr, keep)
    }

    /// [`RuleTable::lookup_ipv6_where`] over every rule.
    pub fn lookup_ipv6(&self, addr: Ipv6Addr) -> Option<&Rule> {
        self.index().lookup_ipv6(addr)
    }
}
