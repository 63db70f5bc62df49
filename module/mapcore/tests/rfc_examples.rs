//! The worked examples of RFC 7597 Appendix A, RFC 7599 Appendix A (with errata 5324 and
//! 5225) and the RFC 6052 §2.4 table, each test naming its example. Expected values are the
//! RFCs' own; inputs go through the same public API the kernel module and mapminctl use.

use core::net::{Ipv4Addr, Ipv6Addr};
use mapcore::index::slots_needed;

use mapcore::{
    parse_rule, parse_rule_csv, Ipv6Prefix, MapError, Mode, PortRange, Rfc6052Prefix, Rule, RuleIndex,
};

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn prefix6(s: &str) -> Ipv6Prefix {
    Ipv6Prefix::parse(s).unwrap()
}

/// The BMR shared by RFC 7597 and RFC 7599 Appendix A, Examples 1 to 3:
/// {2001:db8::/40, 192.0.2.0/24, EA-bits length 16}, PSID offset 6 (default).
fn example1_rule() -> Rule {
    parse_rule("2001:db8:0000::/40 192.0.2.0/24 ea-len 16").unwrap()
}

/// "Available ports (63 ranges): 1232-1235, 2256-2259, ...... , 63696-63699, 64720-64723".
fn assert_example_port_set(ranges: &[PortRange]) {
    assert_eq!(ranges.len(), 63);
    assert_eq!(ranges[0], PortRange { first: 1232, last: 1235 });
    assert_eq!(ranges[1], PortRange { first: 2256, last: 2259 });
    assert_eq!(ranges[61], PortRange { first: 63696, last: 63699 });
    assert_eq!(ranges[62], PortRange { first: 64720, last: 64723 });
}

fn check_example1(mode: Mode) {
    let rule = example1_rule();
    // "PSID length: (16 - (32 - 24)) = 8 (sharing ratio of 256)"
    assert_eq!(rule.psid_len(), 8);
    assert_eq!(rule.sharing_ratio(), 256);
    assert_eq!(rule.psid_offset(), 6);
    // "EA bits offset: 40", "IPv4 suffix bits (p): 8", "PSID start: 48"
    assert_eq!(rule.ipv6_prefix().len, 40);
    assert_eq!(rule.ipv4_suffix_len(), 8);
    assert_eq!(rule.ipv6_prefix().len + rule.ipv4_suffix_len(), 48);

    let ce = rule.ce_mapping(prefix6("2001:db8:0012:3400::/56")).unwrap();
    assert_eq!(ce.ipv4.addr, v4("192.0.2.18"));
    assert_eq!(u32::from(ce.ipv4.addr), 0xc000_0212);
    assert_eq!(ce.ipv4.len, 32);
    assert_eq!(ce.psid(), 0x34);
    assert_eq!(ce.psid_len(), 8);
    let ranges: Vec<PortRange> = ce.port_set.ranges().collect();
    assert_example_port_set(&ranges);
    // "IPv6 address of MAP CE: 2001:db8:0012:3400:0000:c000:0212:0034"
    assert_eq!(ce.map_address, v6("2001:db8:0012:3400:0000:c000:0212:0034"));
    assert_eq!(rule.map_address(ce.ipv4.addr, ce.psid(), mode).unwrap(), ce.map_address);
}

#[test]
fn rfc7597_appendix_a_example_1_basic_mapping_rule() {
    check_example1(Mode::MapE);
}

#[test]
fn rfc7597_appendix_a_example_2_br() {
    // FMR {2001:db8::/40, 192.0.2.0/24, 16}; IPv4 destination 192.0.2.18, TCP port 1232.
    let rule = example1_rule().with_forwarding(true);
    let (psid, dst) = rule.map_address_for_port(v4("192.0.2.18"), 1232, Mode::MapE).unwrap();
    // "PSID: 0x34 (1232)"
    assert_eq!(psid, 0x34);
    // "IPv6 destination address: 2001:db8:0012:3400:0000:c000:0212:0034"
    assert_eq!(dst, v6("2001:db8:0012:3400:0000:c000:0212:0034"));
    // The BR's decapsulation check (RFC 7597 §8.1) accepts that CE as the source of
    // 192.0.2.18:1232 and nothing else.
    assert!(rule.owns(dst, v4("192.0.2.18"), 1232, Mode::MapE));
    assert!(!rule.owns(dst, v4("192.0.2.18"), 1236, Mode::MapE));
    assert!(!rule.owns(dst, v4("192.0.2.19"), 1232, Mode::MapE));
}

#[test]
fn rfc7597_appendix_a_example_3_fmr() {
    // Example 3 (Forwarding Mapping Rule): IPv4 destination 192.0.2.18, port 1232, FMR
    // {2001:db8:0000::/40, 192.0.2.0/24, 16} give PSID 0x34 and the MAP IPv6 address
    // 2001:db8:0012:3400:0000:c000:0212:0034; the CE finds the rule by longest match.
    let rules = [example1_rule().with_forwarding(true)];
    let mut slots = [0; slots_needed(1)];
    let fmrs = RuleIndex::build(&rules, &mut slots, 0).unwrap();
    let rule = fmrs.lookup_ipv4_where(v4("192.0.2.18"), Some(1232), Rule::forwarding).unwrap();
    let (psid, dst) = rule.map_address_for_port(v4("192.0.2.18"), 1232, Mode::MapE).unwrap();
    assert_eq!(psid, 0x34);
    assert_eq!(dst, v6("2001:db8:0012:3400:0000:c000:0212:0034"));
    // Off-domain destinations match no FMR (they go to the BR).
    assert!(fmrs.lookup_ipv4(v4("10.2.3.4"), Some(80)).is_none());
}

/// Example 4 - Rule with no embedded address bits and no address sharing:
/// BMR {2001:db8:0012:3400::/56, 192.0.2.1/32, 0}.
fn check_example4(mode: Mode) {
    let rule = parse_rule("2001:db8:0012:3400::/56 192.0.2.1/32 ea-len 0").unwrap();
    // "PSID length: 0 (sharing ratio is 1)"
    assert_eq!(rule.psid_len(), 0);
    assert_eq!(rule.sharing_ratio(), 1);
    let ce = rule.ce_mapping(prefix6("2001:db8:0012:3400::/56")).unwrap();
    // The RFC 7599 text prints "IPv4 address: 192.0.2.18 (0xc0000212)" here, which its own
    // rule (192.0.2.1/32) and CE address (...:c000:0201:0000) contradict; 192.0.2.1 is right.
    assert_eq!(ce.ipv4.addr, v4("192.0.2.1"));
    assert_eq!(ce.ipv4.len, 32);
    assert_eq!(ce.psid_len(), 0);
    assert_eq!(ce.port_set.ranges().collect::<Vec<_>>(), vec![PortRange { first: 0, last: 65535 }]);
    // "IPv6 address of MAP CE: 2001:db8:0012:3400:0000:c000:0201:0000"
    assert_eq!(ce.map_address, v6("2001:db8:0012:3400:0000:c000:0201:0000"));
    let d = rule.decode(ce.map_address, mode).unwrap();
    assert_eq!((d.ipv4, d.psid, d.psid_len), (v4("192.0.2.1"), 0, 0));
}

#[test]
fn rfc7597_appendix_a_example_4_no_ea_bits_no_sharing() {
    check_example4(Mode::MapE);
}

/// Example 5 - Rule with no embedded address bits and address sharing (ratio 256):
/// BMR {2001:db8:0012:3400::/56, 192.0.2.18/32, 0}, PSID length 8 and PSID 0x34 provisioned
/// separately (the PSID as corrected by RFC 7599 erratum 5324; the original printed 0x20).
fn check_example5(mode: Mode) {
    let rule = parse_rule("2001:db8:0012:3400::/56 192.0.2.18/32 ea-len 0 psid-len 8 psid 0x34").unwrap();
    assert_eq!(rule.psid_offset(), 6);
    assert_eq!(rule.sharing_ratio(), 256);
    let ce = rule.ce_mapping(prefix6("2001:db8:0012:3400::/56")).unwrap();
    assert_eq!(ce.ipv4.addr, v4("192.0.2.18"));
    assert_eq!(ce.psid(), 0x34);
    assert_eq!(ce.psid_len(), 8);
    let ranges: Vec<PortRange> = ce.port_set.ranges().collect();
    assert_example_port_set(&ranges);
    // "IPv6 address of MAP CE: 2001:db8:0012:3400:0000:c000:0212:0034"
    assert_eq!(ce.map_address, v6("2001:db8:0012:3400:0000:c000:0212:0034"));
    let d = rule.decode(ce.map_address, mode).unwrap();
    assert_eq!((d.ipv4, d.psid), (v4("192.0.2.18"), 0x34));
    // Ports of other PSIDs do not belong to this per-CE rule.
    assert_eq!(
        rule.map_address_for_port(v4("192.0.2.18"), 1236, mode),
        Err(MapError::PortNotInSet { port: 1236, psid: 0x34 })
    );
}

#[test]
fn rfc7597_appendix_a_example_5_no_ea_bits_with_sharing() {
    check_example5(Mode::MapE);
}

#[test]
fn rfc7599_appendix_a_example_1_basic_mapping_rule() {
    check_example1(Mode::MapT);
}

/// MAP-T BR Prefix (DMR) of RFC 7599 Appendix A, Examples 2 and 3.
fn example_dmr() -> Rfc6052Prefix {
    Rfc6052Prefix::new(prefix6("2001:db8:ffff::/64")).unwrap()
}

#[test]
fn rfc7599_appendix_a_example_2_br() {
    // IPv4 source 10.2.3.4:80 -> IPv4 destination 192.0.2.18:1232, FMR {2001:db8::/40,
    // 192.0.2.0/24, 16}, DMR 2001:db8:ffff::/64.
    let fmr = parse_rule_csv("2001:db8::/40,192.0.2.0/24,16").unwrap();
    let (psid, dst) = fmr.map_address_for_port(v4("192.0.2.18"), 1232, Mode::MapT).unwrap();
    assert_eq!(psid, 0x34);
    // "IPv6 source address: 2001:db8:ffff:0:000a:0203:0400::"
    assert_eq!(example_dmr().embed(v4("10.2.3.4")), v6("2001:db8:ffff:0:000a:0203:0400::"));
    // "IPv6 destination address: 2001:db8:0012:3400:0000:c000:0212:0034"
    assert_eq!(dst, v6("2001:db8:0012:3400:0000:c000:0212:0034"));
}

#[test]
fn rfc7599_appendix_a_example_3_fmr() {
    // The CE of the previous examples (192.0.2.18:1232) talks to 10.2.3.4:80 through the DMR
    // {2001:db8:ffff::/64, 0.0.0.0/0}.
    let bmr = example1_rule();
    // "MAP-T CE IPv6 source address: 2001:db8:0012:3400:0000:c000:0212:0034"
    let src = bmr.map_address(v4("192.0.2.18"), bmr.psid_for_port(1232).unwrap(), Mode::MapT).unwrap();
    assert_eq!(src, v6("2001:db8:0012:3400:0000:c000:0212:0034"));
    // "IPv6 destination address: 2001:db8:ffff:0:000a:0203:0400::"
    let dst = example_dmr().embed(v4("10.2.3.4"));
    assert_eq!(dst, v6("2001:db8:ffff:0:000a:0203:0400::"));
    // And the BR translating it back: the source decodes to the CE's address and PSID, the
    // destination extracts to the off-domain server.
    let d = bmr.decode(src, Mode::MapT).unwrap();
    assert_eq!((d.ipv4, d.psid), (v4("192.0.2.18"), 0x34));
    assert!(bmr.owns(src, v4("192.0.2.18"), 1232, Mode::MapT));
    assert_eq!(example_dmr().extract(dst), Ok(v4("10.2.3.4")));
}

#[test]
fn rfc7599_appendix_a_example_4_no_ea_bits_no_sharing() {
    check_example4(Mode::MapT);
}

#[test]
fn rfc7599_appendix_a_example_5_erratum_5324_psid_0x34() {
    check_example5(Mode::MapT);
}

#[test]
fn rfc7599_section_6_erratum_5225_map_t_iid_carries_the_full_ipv4_address() {
    // Erratum 5225: for a CE given an IPv4 prefix, MAP-T embeds the complete IPv4 address in
    // the interface identifier (MAP-E, RFC 7597 §6, embeds the zero-padded prefix). Rule
    // {2001:db8::/40, 192.0.2.0/24, 4}: each CE gets a /28.
    let rule = parse_rule("2001:db8::/40 192.0.2.0/24 ea-len 4").unwrap();
    let ce = rule.ce_mapping(prefix6("2001:db8:20::/44")).unwrap();
    assert_eq!(ce.ipv4.to_string(), "192.0.2.32/28");
    let host = v4("192.0.2.37");
    let t = rule.map_address(host, 0, Mode::MapT).unwrap();
    let e = rule.map_address(host, 0, Mode::MapE).unwrap();
    assert_eq!(t, v6("2001:db8:20::c000:225:0"));
    assert_eq!(e, v6("2001:db8:20::c000:220:0"));
    assert_eq!(e, ce.map_address);
    assert_eq!(rule.decode(t, Mode::MapT).unwrap().ipv4, host);
    assert_eq!(rule.decode(e, Mode::MapE).unwrap().ipv4, v4("192.0.2.32"));
}

#[test]
fn rfc6052_section_2_4_table() {
    // RFC 6052 §2.4, Table 1: 192.0.2.33 under each Network-Specific Prefix.
    let table = [
        ("2001:db8::/32", "2001:db8:c000:221::"),
        ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
        ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
        ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
        ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100::"),
        ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
        ("64:ff9b::/96", "64:ff9b::192.0.2.33"),
    ];
    for (prefix, embedded) in table {
        let p = Rfc6052Prefix::new(prefix6(prefix)).unwrap();
        assert_eq!(p.embed(v4("192.0.2.33")), v6(embedded), "{prefix}");
        assert_eq!(p.extract(v6(embedded)), Ok(v4("192.0.2.33")), "{prefix}");
    }
}

#[test]
fn jool_tutorial_bmr_offset_zero() {
    // The Jool MAP-T tutorial's BMR {2001:db8:ce::/51, 192.0.2.0/24, 13}, PSID offset 0:
    // k = 13 - 8 = 5, m = 11, one range of 2048 ports per CE.
    let rule = parse_rule("2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0").unwrap();
    let ce = rule.ce_mapping(prefix6("2001:db8:ce:11b::/64")).unwrap();
    assert_eq!(ce.ipv4.addr, v4("192.0.2.8"));
    assert_eq!(ce.port_set.ranges().collect::<Vec<_>>(), vec![PortRange { first: 55296, last: 57343 }]);
    // The tutorial's second CE: per the BMR its range is 40960-43007 (the known trap).
    let ce = rule.ce_mapping(prefix6("2001:db8:ce:774::/64")).unwrap();
    assert_eq!(ce.ipv4.addr, v4("192.0.2.59"));
    assert_eq!(ce.port_set.ranges().collect::<Vec<_>>(), vec![PortRange { first: 40960, last: 43007 }]);
    // With a = 0 nothing is excluded: port 0 belongs to PSID 0.
    assert_eq!(rule.psid_for_port(0), Ok(0));
}
