//! End-user IPv6 prefixes longer than 64 (RFC 7597 §6: "If the End-user IPv6 prefix length is
//! larger than 64, the most significant parts of the interface identifier are overwritten by
//! the prefix"), at n + o = 64, 65, 72, 96, 127 and 128, for rules with PSID offset 6 and 0,
//! shared and full IPv4 addresses and IPv4 prefixes: the CE's address (BMR), the forward
//! mapping of a BR or an FMR (a CE meshing with another), the BR's reverse mapping and the
//! RFC 7597 §8.1 source check; in RFC 7597's interface identifier format and in the legacy
//! one of the drafts before it (its IPv4 field 8 bits earlier). Every expected address is
//! computed here from the layout in 128-bit arithmetic, not with the core's code.

use core::net::{Ipv4Addr, Ipv6Addr};

use mapcore::{Ipv4Prefix, Ipv6Prefix, Mode, PortSet, Rule, RuleError, RuleParams};

/// The RFC 7597 §6 address: the End-user prefix (`n + o` bits: the Rule IPv6 prefix, the EA
/// bits), zeros to bit 64, and the interface identifier (16 zero bits, the IPv4 field, the
/// PSID right-aligned; legacy: 8 zero bits, the IPv4 field, the PSID, 8 zero bits), whose
/// leading bits an End-user prefix past 64 replaces.
fn map_address(rule: u128, n: u32, ea: u128, o: u32, iid_ipv4: u32, psid: u16, legacy: bool) -> u128 {
    let end_user_len = n + o;
    let end_user = rule | if o == 0 { 0 } else { ea << (128 - end_user_len) };
    let end_user_mask = if end_user_len == 0 { 0 } else { u128::MAX << (128 - end_user_len) };
    let iid = if legacy {
        (u128::from(iid_ipv4) << 24) | (u128::from(psid) << 8)
    } else {
        (u128::from(iid_ipv4) << 16) | u128::from(psid)
    };
    (end_user & end_user_mask) | (iid & !end_user_mask)
}

fn rfc7597_address(rule: u128, n: u32, ea: u128, o: u32, iid_ipv4: u32, psid: u16) -> u128 {
    map_address(rule, n, ea, o, iid_ipv4, psid, false)
}

/// One rule shape: IPv4 prefix length `r`, EA-bits length `o`, PSID offset `a`.
struct Shape {
    name: &'static str,
    r: u32,
    o: u32,
    a: u8,
}

const SHAPES: [Shape; 4] = [
    // 192.0.2.0/24, 8 suffix bits + 8 PSID bits: 256 CEs per address.
    Shape { name: "shared, a = 6", r: 24, o: 16, a: 6 },
    Shape { name: "shared, a = 0", r: 24, o: 12, a: 0 },
    Shape { name: "full address", r: 24, o: 8, a: 6 },
    // 192.0.0.0/16 with 12 EA bits: each CE a /28.
    Shape { name: "IPv4 prefix /28", r: 16, o: 12, a: 6 },
];

const END_USER_LENS: [u32; 6] = [64, 65, 72, 96, 127, 128];

/// The rule for one shape and End-user prefix length: the first n bits of a fixed pattern.
fn rule_for(shape: &Shape, end_user_len: u32, legacy: bool) -> (u128, u32, RuleParams) {
    let n = end_user_len - shape.o;
    let pattern: u128 = 0x2001_0db8_ab00_5a5a_c3c3_9696_f0f0_0f0f;
    let rule6 = if n == 0 { 0 } else { pattern & (u128::MAX << (128 - n)) };
    let rule4 = if shape.r == 24 { 0xc000_0200u32 } else { 0xc000_0000 };
    let params = RuleParams {
        psid_offset: Some(shape.a),
        legacy,
        ..RuleParams::new(
            Ipv6Prefix { addr: Ipv6Addr::from(rule6), len: n as u8 },
            Ipv4Prefix { addr: Ipv4Addr::from(rule4), len: shape.r as u8 },
            shape.o as u8,
        )
    };
    (rule6, n, params)
}

#[test]
fn long_end_user_prefixes_every_direction() {
    for (shape, legacy) in SHAPES.iter().flat_map(|s| [(s, false), (s, true)]) {
        let p = 32 - shape.r;
        let k = shape.o.saturating_sub(p);
        // Where the interface identifier's IPv4 field starts.
        let v4_start = if legacy { 72 } else { 80 };
        for end_user_len in END_USER_LENS {
            let (rule6, n, params) = rule_for(shape, end_user_len, legacy);
            let what = format!("{}{} at n + o = {end_user_len}", shape.name, if legacy { ", legacy" } else { "" });
            if shape.o < p && n > v4_start + shape.r {
                // The End-user prefix would overwrite host bits of the IPv4 field.
                let refused = Rule::new(params);
                assert!(matches!(refused, Err(RuleError::EndUserPrefixOverIpv4Host { .. })), "{what}: {refused:?}");
                continue;
            }
            let rule = Rule::new(params).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(u32::from(rule.end_user_prefix_len()), end_user_len);
            for ea in [0u128, 1, (1 << shape.o) - 1, 0x9a5 & ((1 << shape.o) - 1)] {
                let suffix = if shape.o >= p { (ea >> k) as u32 } else { (ea as u32) << (p - shape.o) };
                let psid = if k == 0 { 0 } else { (ea & ((1 << k) - 1)) as u16 };
                let ce_ipv4 = u32::from(params.ipv4.addr) | suffix;
                let ce_ipv4_len = (shape.r + shape.o).min(32);
                let expected = map_address(rule6, n, ea, shape.o, ce_ipv4, psid, legacy);
                let what = format!("{what}, EA bits {ea:#x}");

                // The CE: its End-user prefix gives its address, IPv4 and port set.
                let end_user = Ipv6Prefix { addr: Ipv6Addr::from(expected), len: end_user_len as u8 };
                let ce = rule.ce_mapping(end_user).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(u128::from(ce.map_address), expected, "{what}: CE address");
                assert_eq!(ce.ipv4, Ipv4Prefix { addr: Ipv4Addr::from(ce_ipv4), len: ce_ipv4_len as u8 }, "{what}");
                assert_eq!((ce.psid(), u32::from(ce.psid_len())), (psid, k), "{what}");

                // Forward mapping (a BR towards the CE, or another CE through an FMR), from
                // a port of the CE's set and, in MAP-T, from any host of a CE's IPv4 prefix.
                let set = PortSet::new(shape.a, k as u8, psid).unwrap();
                let port = set.ranges().last().unwrap().first + 1;
                let host = ce_ipv4 | if ce_ipv4_len < 32 { 0x5 } else { 0 };
                let host_t = map_address(rule6, n, ea, shape.o, host, psid, legacy);
                let (found_psid, to_e) = rule.map_address_for_port(Ipv4Addr::from(host), port, Mode::MapE).unwrap();
                assert_eq!((found_psid, u128::from(to_e)), (psid, expected), "{what}: MAP-E forward");
                let (_, to_t) = rule.map_address_for_port(Ipv4Addr::from(host), port, Mode::MapT).unwrap();
                assert_eq!(u128::from(to_t), host_t, "{what}: MAP-T forward");

                // Reverse mapping and the §8.1 source check.
                let back = rule.decode(Ipv6Addr::from(host_t), Mode::MapT).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!((u32::from(back.ipv4), back.psid, u32::from(back.ce_ipv4.addr)), (host, psid, ce_ipv4), "{what}");
                let back = rule.decode(Ipv6Addr::from(expected), Mode::MapE).unwrap();
                assert_eq!((u32::from(back.ipv4), back.psid), (ce_ipv4, psid), "{what}");
                assert!(rule.owns(Ipv6Addr::from(host_t), Ipv4Addr::from(host), port, Mode::MapT), "{what}");
                assert!(rule.owns(Ipv6Addr::from(expected), Ipv4Addr::from(host), port, Mode::MapE), "{what}");
                if k > 0 {
                    let foreign = PortSet::new(shape.a, k as u8, psid ^ 1).unwrap().ranges().next().unwrap();
                    assert!(!rule.owns(Ipv6Addr::from(expected), Ipv4Addr::from(host), foreign.first, Mode::MapE), "{what}: a port of another set");
                }
                // Another CE's IPv4 address from this CE's address is refused (spoofing).
                let other_ipv4 = Ipv4Addr::from(ce_ipv4 ^ (1 << (32 - ce_ipv4_len)));
                if p > 0 && shape.o > 0 {
                    assert!(!rule.owns(Ipv6Addr::from(expected), other_ipv4, port, Mode::MapE), "{what}: another CE's IPv4");
                }
                // Every bit of the interface identifier the End-user prefix left is checked:
                // flipping one gives an address no CE has.
                for bit in end_user_len..128 {
                    let tampered = Ipv6Addr::from(host_t ^ (1u128 << (127 - bit)));
                    let t_ok = rule.decode(tampered, Mode::MapT).is_ok_and(|d| {
                        // In MAP-T a host bit of a CE's IPv4 prefix names another host of it.
                        let host_bit = (v4_start + shape.r + shape.o..v4_start + 32).contains(&bit);
                        host_bit && d.ce_ipv4 == ce.ipv4
                    });
                    let tampered_ok = rule.decode(tampered, Mode::MapT).is_err() || t_ok;
                    assert!(tampered_ok, "{what}: bit {bit} flipped still decodes");
                    assert!(rule.decode(Ipv6Addr::from(expected ^ (1u128 << (127 - bit))), Mode::MapE).is_err(), "{what}: bit {bit}");
                }
            }
        }
    }
}

#[test]
fn the_limits_that_remain() {
    let v6 = |s: &str| Ipv6Prefix::parse(s).unwrap();
    let v4 = |s: &str| Ipv4Prefix::parse(s).unwrap();
    // n + o = 129.
    let too_long = RuleParams::new(v6("2001:db8::/113"), v4("192.0.2.0/24"), 16);
    assert_eq!(Rule::new(too_long), Err(RuleError::EndUserPrefixTooLong { ipv6_len: 113, ea_len: 16 }));
    assert_eq!(
        Rule::new(too_long).unwrap_err().to_string(),
        "IPv6 prefix length 113 + EA-bits length 16 = 129 is longer than 128"
    );
    // o > 48; a + k > 16; an EA length longer than the IPv4 suffix plus a PSID can be.
    assert_eq!(Rule::new(RuleParams::new(v6("2001:db8::/64"), v4("0.0.0.0/0"), 49)), Err(RuleError::EaLenTooLong { ea_len: 49 }));
    let wide = RuleParams { psid_offset: Some(4), ..RuleParams::new(v6("2001:db8::/64"), v4("192.0.2.0/24"), 21) };
    assert_eq!(Rule::new(wide), Err(RuleError::OffsetPlusPsidLenTooLong { offset: 4, psid_len: 13 }));
    // A CE given a /28 keeps its four host bits in the interface identifier: bits 108-111,
    // so the IPv6 prefix may be at most 80 + 24 long.
    assert!(Rule::new(RuleParams::new(v6("2001:db8::/104"), v4("192.0.2.0/24"), 4)).is_ok());
    let over = Rule::new(RuleParams::new(v6("2001:db8::/105"), v4("192.0.2.0/24"), 4)).unwrap_err();
    assert_eq!(over, RuleError::EndUserPrefixOverIpv4Host { ipv6_len: 105, max_ipv6_len: 104, ce_ipv4_len: 28 });
    assert_eq!(over.to_string(), "IPv6 prefix /105 too long for IPv4 /28 CEs (at most /104)");
}

/// A domain carved out of one /64, each CE a /72 (the guest scenario's numbers):
/// 2001:db8:ce:100::/64, 192.0.2.16/28, 8 EA bits (4 suffix bits, a 4-bit PSID), offset 6.
#[test]
fn a_domain_of_72s_in_one_64() {
    let rule = mapcore::parse_rule("2001:db8:ce:100::/64 192.0.2.16/28 ea-len 8 psid-offset 6").unwrap();
    // EA bits 0x8b: IPv4 suffix 8 (192.0.2.24), PSID 11; the IID's first byte carries them.
    let ce = rule.ce_mapping(Ipv6Prefix::parse("2001:db8:ce:100:8b00::/72").unwrap()).unwrap();
    assert_eq!(ce.map_address, "2001:db8:ce:100:8b00:c000:218:b".parse::<Ipv6Addr>().unwrap());
    assert_eq!(ce.ipv4.addr, Ipv4Addr::new(192, 0, 2, 24));
    assert_eq!(ce.psid(), 11);
    let first = ce.port_set.ranges().next().unwrap();
    assert_eq!((first.first, first.last), (1728, 1791));
    assert_eq!(
        u128::from(ce.map_address),
        rfc7597_address(0x2001_0db8_00ce_0100u128 << 64, 64, 0x8b, 8, 0xc000_0218, 11)
    );
}
