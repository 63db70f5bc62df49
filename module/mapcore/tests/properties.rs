//! Property tests over random legal (and illegal) rules.

use core::net::{Ipv4Addr, Ipv6Addr};

use mapcore::portset::{is_excluded, psid_of};
use mapcore::{
    Ipv4Prefix, Ipv6Prefix, MapError, Mode, Rfc6052Prefix, Rule, RuleError, RuleParams,
};
use proptest::prelude::*;

fn mask32(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) }
}
fn mask128(len: u8) -> u128 {
    if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) }
}

fn ipv6_prefix(bits: u128, len: u8) -> Ipv6Prefix {
    Ipv6Prefix { addr: Ipv6Addr::from(bits & mask128(len)), len }
}
fn ipv4_prefix(bits: u32, len: u8) -> Ipv4Prefix {
    Ipv4Prefix { addr: Ipv4Addr::from(bits & mask32(len)), len }
}

/// A random legal rule: shared address (o > p), full address (o = p, optionally with an
/// explicit PSID) or IPv4 prefix (o < p).
fn legal_params() -> impl Strategy<Value = RuleParams> {
    (0u8..=15, 0u8..=32, 0u8..3, any::<u128>(), any::<u32>(), any::<bool>(), any::<u64>(), any::<u64>())
        .prop_map(|(a, r, shape, v6bits, v4bits, explicit, x, y)| {
            let p = 32 - r;
            let max_k = 16 - a;
            let (o, psid_len, psid) = match shape {
                0 if max_k > 0 => (p + 1 + (x % u64::from(max_k)) as u8, None, None),
                1 | 0 => {
                    if explicit {
                        let k = (x % u64::from(max_k + 1)) as u8;
                        let psid = (y % (1u64 << k)) as u16;
                        (p, Some(k), Some(psid))
                    } else {
                        (p, None, None)
                    }
                }
                _ => {
                    if p == 0 { (0, None, None) } else { ((x % u64::from(p)) as u8, None, None) }
                }
            };
            // Any End-user prefix length up to 128 (RFC 7597 §6), but one that would overwrite
            // the IPv4 host bits of a CE given an IPv4 prefix (bit 80 on, 72 in the legacy
            // format).
            let legacy = x % 3 == 0;
            let iid_ipv4_start = if legacy { 72 } else { 80 };
            let max_n = if o < p { (128 - o).min(iid_ipv4_start + r) } else { 128 - o };
            let n = (y % u64::from(max_n + 1)) as u8;
            RuleParams {
                ipv6: ipv6_prefix(v6bits, n),
                ipv4: ipv4_prefix(v4bits, r),
                ea_len: o,
                psid_offset: if a == if legacy { 4 } else { 6 } && x % 2 == 0 { None } else { Some(a) },
                psid_len,
                psid,
                forwarding: y % 2 == 0,
                legacy,
            }
        })
}

fn legal_rule() -> impl Strategy<Value = Rule> {
    legal_params().prop_map(|p| Rule::new(p).expect("generated rule is legal"))
}

/// A random IPv4 address inside the rule and a random PSID legal for the rule.
fn member(rule: &Rule, v4bits: u32, psid_bits: u16) -> (Ipv4Addr, u16) {
    let prefix = rule.ipv4_prefix();
    let addr = Ipv4Addr::from(u32::from(prefix.addr) | (v4bits & !mask32(prefix.len)));
    let psid = match rule.explicit_psid() {
        Some(psid) => psid,
        None => (u32::from(psid_bits) & ((1u32 << rule.psid_len()) - 1)) as u16,
    };
    (addr, psid)
}

/// An independent statement of RFC 7597 §5 / RFC 7598 legality.
fn oracle_legal(p: &RuleParams) -> bool {
    let n = u32::from(p.ipv6.len);
    let r = u32::from(p.ipv4.len);
    let o = u32::from(p.ea_len);
    let a = u32::from(p.psid_offset.unwrap_or(if p.legacy { 4 } else { 6 }));
    if n > 128 || r > 32 {
        return false;
    }
    if u128::from(p.ipv6.addr) & !mask128(p.ipv6.len) != 0 || u32::from(p.ipv4.addr) & !mask32(p.ipv4.len) != 0 {
        return false;
    }
    if o > 48 || n + o > 128 || a > 15 {
        return false;
    }
    let suffix = 32 - r;
    // A CE given an IPv4 prefix: the interface identifier's IPv4 field (bits 80-111, 72-103
    // in the legacy format) keeps its host bits clear of the End-user prefix.
    let iid_ipv4_start = if p.legacy { 72 } else { 80 };
    if o < suffix && n + o > iid_ipv4_start + r + o {
        return false;
    }
    if o > suffix {
        p.psid_len.is_none() && p.psid.is_none() && a + (o - suffix) <= 16
    } else {
        match (p.psid_len, p.psid) {
            (None, None) => true,
            (Some(k), Some(psid)) => {
                let k = u32::from(k);
                (o == suffix || k == 0) && a + k <= 16 && u32::from(psid) < (1u32 << k.min(16))
            }
            _ => false,
        }
    }
}

fn any_params() -> impl Strategy<Value = RuleParams> {
    (
        any::<u128>(),
        prop_oneof![0u8..=128, any::<u8>()],
        any::<u32>(),
        prop_oneof![0u8..=32, any::<u8>()],
        prop_oneof![0u8..=48, any::<u8>()],
        proptest::option::of(prop_oneof![0u8..=16, any::<u8>()]),
        proptest::option::of(prop_oneof![0u8..=16, any::<u8>()]),
        proptest::option::of(prop_oneof![0u16..=255, any::<u16>()]),
        any::<bool>(),
        any::<(bool, bool)>(),
    )
        .prop_map(|(v6, n, v4, r, o, a, k, psid, clean, (forwarding, legacy))| {
            let n = n.min(129);
            let r = r.min(33);
            let (v6, v4) = if clean && n <= 128 && r <= 32 { (v6 & mask128(n), v4 & mask32(r)) } else { (v6, v4) };
            RuleParams {
                ipv6: Ipv6Prefix { addr: Ipv6Addr::from(v6), len: n },
                ipv4: Ipv4Prefix { addr: Ipv4Addr::from(v4), len: r },
                ea_len: o,
                psid_offset: a,
                psid_len: k,
                psid,
                forwarding,
                legacy,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_port_of_a_port_set_maps_back_to_its_psid(rule in legal_rule(), v4bits: u32, psid_bits: u16) {
        let (addr, psid) = member(&rule, v4bits, psid_bits);
        let set = rule.port_set(psid).unwrap();
        let mut count = 0u32;
        let mut previous: Option<u16> = None;
        for range in set.ranges() {
            prop_assert!(range.first <= range.last);
            if let Some(prev) = previous {
                prop_assert!(range.first > prev, "ranges are increasing and disjoint");
            }
            previous = Some(range.last);
            for port in range.first..=range.last {
                prop_assert!(set.contains(port));
                prop_assert_eq!(rule.psid_for_port(port), Ok(psid));
                let (p, a6) = rule.map_address_for_port(addr, port, Mode::MapE).unwrap();
                prop_assert_eq!(p, psid);
                prop_assert!(rule.owns(a6, addr, port, Mode::MapE));
                count += 1;
            }
        }
        prop_assert_eq!(count, set.port_count());
    }

    #[test]
    fn port_sets_are_disjoint_and_cover_every_non_excluded_port(
        a in 0u8..=15, k_seed: u8,
    ) {
        let k = k_seed % (16 - a + 1);
        let mut owner = vec![0u32; 65536];
        for psid in 0..(1u32 << k) {
            let set = mapcore::PortSet::new(a, k, psid as u16).unwrap();
            for range in set.ranges() {
                for port in range.first..=range.last {
                    owner[usize::from(port)] += 1;
                }
            }
        }
        for port in 0..=u16::MAX {
            let expected = if k > 0 && is_excluded(a, port) { 0 } else { 1 };
            prop_assert_eq!(owner[usize::from(port)], expected, "port {} a {} k {}", port, a, k);
            if expected == 1 {
                let psid = psid_of(a, k, port);
                prop_assert!(mapcore::PortSet::new(a, k, psid).unwrap().contains(port));
            }
        }
    }

    #[test]
    fn map_address_round_trips(rule in legal_rule(), v4bits: u32, psid_bits: u16) {
        let (addr, psid) = member(&rule, v4bits, psid_bits);
        for mode in [Mode::MapE, Mode::MapT] {
            let a6 = rule.map_address(addr, psid, mode).unwrap();
            let d = rule.decode(a6, mode).unwrap();
            prop_assert_eq!(d.psid, psid);
            prop_assert_eq!(d.psid_len, rule.psid_len());
            prop_assert!(d.ce_ipv4.contains(addr));
            let expected_iid_v4 = match mode {
                Mode::MapT => addr,
                Mode::MapE => Ipv4Addr::from(u32::from(addr) & mask32(rule.ce_ipv4_len())),
            };
            prop_assert_eq!(d.ipv4, expected_iid_v4);
            prop_assert_eq!(rule.map_address(d.ipv4, d.psid, mode).unwrap(), a6);
            // The CE whose End-user prefix the address starts with derives the same mapping.
            let eu = Ipv6Prefix { addr: a6, len: rule.end_user_prefix_len() };
            let ce = rule.ce_mapping(eu).unwrap();
            prop_assert!(ce.ipv4.contains(addr));
            prop_assert_eq!(ce.psid(), psid);
            prop_assert_eq!(ce.ipv4.len, rule.ce_ipv4_len());
            prop_assert_eq!(ce.map_address, rule.map_address(addr, psid, Mode::MapE).unwrap());
            prop_assert!(ce.end_user_prefix.contains(a6));
        }
    }

    #[test]
    fn ce_mapping_of_any_end_user_prefix_round_trips(rule in legal_rule(), bits: u128, extra: u8) {
        let len = rule.end_user_prefix_len() + extra % (129 - rule.end_user_prefix_len());
        let rp = rule.ipv6_prefix();
        let addr = u128::from(rp.addr) | (bits & !mask128(rp.len));
        let eu = ipv6_prefix(addr, len);
        let ce = rule.ce_mapping(eu).unwrap();
        let d = rule.decode(ce.map_address, Mode::MapE).unwrap();
        prop_assert_eq!(d.ce_ipv4, ce.ipv4);
        prop_assert_eq!(d.psid, ce.psid());
        prop_assert!(ce.end_user_prefix.contains(eu.addr));
        // Too short a prefix, or one outside the rule, is refused.
        if rule.end_user_prefix_len() > rp.len {
            let short = ipv6_prefix(addr, rule.end_user_prefix_len() - 1);
            let refused = matches!(rule.ce_mapping(short), Err(MapError::EndUserPrefixTooShort { .. }));
            prop_assert!(refused);
        }
    }

    #[test]
    fn decode_refuses_foreign_addresses(rule in legal_rule(), bits: u128) {
        // Any address either decodes to something that maps back to itself, or is refused.
        let a6 = Ipv6Addr::from(bits);
        for mode in [Mode::MapE, Mode::MapT] {
            if let Ok(d) = rule.decode(a6, mode) {
                prop_assert_eq!(rule.map_address(d.ipv4, d.psid, mode), Ok(a6));
            }
        }
    }

    #[test]
    fn illegal_rules_are_rejected_and_legal_ones_accepted(params in any_params()) {
        let result = Rule::new(params);
        prop_assert_eq!(result.is_ok(), oracle_legal(&params), "{:?} -> {:?}", params, result);
        if let Ok(rule) = result {
            prop_assert_eq!(Rule::new(rule.params()), Ok(rule));
            let text = rule.to_string();
            prop_assert_eq!(mapcore::parse_rule(&text), Ok(rule));
        }
    }

    #[test]
    fn generated_legal_rules_are_legal(params in legal_params()) {
        prop_assert!(oracle_legal(&params));
        prop_assert!(Rule::new(params).is_ok());
    }

    #[test]
    fn rfc6052_round_trips(len_index in 0usize..6, bits: u128, v4: u32, suffix: u128) {
        let len = [32u8, 40, 48, 56, 64, 96][len_index];
        let prefix_bits = bits & mask128(len) & !(0xffu128 << 56);
        let p = Rfc6052Prefix::new(ipv6_prefix(prefix_bits, len)).unwrap();
        let embedded = p.embed(Ipv4Addr::from(v4));
        prop_assert!(p.prefix().contains(embedded));
        prop_assert_eq!(embedded.octets()[8], 0);
        prop_assert_eq!(p.extract(embedded), Ok(Ipv4Addr::from(v4)));
        // Suffix bits (after the IPv4 address) do not change what is extracted.
        let v4_end = if len == 96 { 128 } else { 32 + u32::from(len) + 8 };
        let suffix_mask = if v4_end >= 128 { 0 } else { u128::MAX >> v4_end };
        let with_suffix = Ipv6Addr::from(u128::from(embedded) | (suffix & suffix_mask));
        prop_assert_eq!(p.extract(with_suffix), Ok(Ipv4Addr::from(v4)));
    }
}

/// One hand-written rejection per [`RuleError`] variant, so each reason stays reachable.
#[test]
fn every_rule_error_is_reachable() {
    let v6 = |s| Ipv6Prefix::parse(s).unwrap();
    let v4 = |s| Ipv4Prefix::parse(s).unwrap();
    let base = RuleParams::new(v6("2001:db8::/40"), v4("192.0.2.0/24"), 16);
    let cases: Vec<(RuleParams, RuleError)> = vec![
        (RuleParams { ipv6: v6("2001:db8::1/40"), ..base }, RuleError::Ipv6PrefixHostBits { prefix: v6("2001:db8::1/40") }),
        (RuleParams { ipv4: v4("192.0.2.1/24"), ..base }, RuleError::Ipv4PrefixHostBits { prefix: v4("192.0.2.1/24") }),
        (RuleParams { ea_len: 49, ipv6: v6("::/0"), ..base }, RuleError::EaLenTooLong { ea_len: 49 }),
        (RuleParams { ipv6: v6("2001:db8::/113"), ..base }, RuleError::EndUserPrefixTooLong { ipv6_len: 113, ea_len: 16 }),
        (RuleParams { ipv6: v6("2001:db8::/105"), ea_len: 4, ..base }, RuleError::EndUserPrefixOverIpv4Host { ipv6_len: 105, max_ipv6_len: 104, ce_ipv4_len: 28 }),
        (RuleParams { psid_offset: Some(16), ..base }, RuleError::PsidOffsetTooLarge { offset: 16 }),
        (RuleParams { psid_offset: Some(9), ..base }, RuleError::OffsetPlusPsidLenTooLong { offset: 9, psid_len: 8 }),
        (RuleParams { ipv4: v4("192.0.2.18/32"), ea_len: 0, psid_len: Some(8), psid: Some(256), ..base }, RuleError::PsidTooWide { psid: 256, psid_len: 8 }),
        (RuleParams { ipv4: v4("192.0.2.18/32"), ea_len: 0, psid: Some(1), ..base }, RuleError::PsidWithoutPsidLen { psid: 1 }),
        (RuleParams { ipv4: v4("192.0.2.18/32"), ea_len: 0, psid_len: Some(8), ..base }, RuleError::PsidLenWithoutPsid { psid_len: 8 }),
        (RuleParams { psid_len: Some(8), psid: Some(0x34), ..base }, RuleError::PsidLenWithEaPsid { psid_len: 8, ea_psid_len: 8 }),
        (RuleParams { psid: Some(0x34), ..base }, RuleError::PsidWithEaPsid { psid: 0x34, ea_psid_len: 8 }),
        (RuleParams { ea_len: 4, psid_len: Some(2), psid: Some(1), ..base }, RuleError::PsidOnIpv4Prefix { psid_len: 2, ce_ipv4_len: 28 }),
        (RuleParams { ipv4: v4("192.0.2.18/32"), ea_len: 0, psid_offset: Some(6), psid_len: Some(11), psid: Some(0), ..base }, RuleError::OffsetPlusPsidLenTooLong { offset: 6, psid_len: 11 }),
    ];
    for (params, error) in cases {
        assert_eq!(Rule::new(params), Err(error), "{params:?}");
        assert!(!oracle_legal(&params));
        assert!(!error.to_string().is_empty());
    }
}
