//! The legacy MAP interface identifier (the drafts before RFC 7597, still used by the largest
//! MAP-E deployments, the Japanese IPoE providers): 8 zero bits, the IPv4 address (32), the
//! PSID (16, right-aligned), 8 zero bits. MAP addresses of several rules (PSID offset 4 and 6,
//! PSID lengths 6 and 8, PSIDs from the EA bits and explicit ones) are computed here from
//! that layout in 128-bit arithmetic, not with the core's code, and two are written out by
//! hand. OpenWrt's mapcalc builds the same: the IPv4 address at byte 9, the PSID after it.

use core::net::{Ipv4Addr, Ipv6Addr};

use mapcore::{parse_rule, Ipv6Prefix, Mode, Rule};

/// The legacy MAP address: the End-user prefix, then the legacy interface identifier.
fn legacy_address(end_user: u128, end_user_len: u32, ipv4: u32, psid: u16) -> u128 {
    let mask = if end_user_len == 0 { 0 } else { u128::MAX << (128 - end_user_len) };
    let iid = (u128::from(ipv4) << 24) | (u128::from(psid) << 8);
    (end_user & mask) | (iid & !mask)
}

/// (rule, End-user prefix, the CE's IPv4 address, PSID, offset, PSID length)
const CASES: [(&str, &str, &str, u16, u8, u8); 5] = [
    // The providers' common shape: a /16 per rule, 24 EA bits, k = 8, a = 4 (the legacy
    // default): 15 ranges of 16 ports.
    ("2001:db8::/40 198.18.0.0/16 ea-len 24 legacy", "2001:db8:12:3456::/64", "198.18.18.52", 0x56, 4, 8),
    // k = 6, a = 4 given.
    ("2001:db8:100::/40 192.0.2.0/24 ea-len 14 psid-offset 4 legacy", "2001:db8:1ab:fc00::/54", "192.0.2.171", 0x3f, 4, 6),
    // k = 6, a = 6.
    ("2001:db8:200::/48 192.0.2.0/24 ea-len 14 psid-offset 6 legacy", "2001:db8:200:122c::/62", "192.0.2.18", 0x0b, 6, 6),
    // k = 8, a = 6.
    ("2001:db8:300::/40 203.0.113.0/24 ea-len 16 psid-offset 6 legacy", "2001:db8:307:f100::/56", "203.0.113.7", 0xf1, 6, 8),
    // An explicit PSID (a /32 rule, no EA bits), a = 4.
    ("2001:db8:400:5600::/56 192.0.2.99/32 ea-len 0 psid-len 8 psid 0x5a legacy", "2001:db8:400:5600::/56", "192.0.2.99", 0x5a, 4, 8),
];

#[test]
fn legacy_map_addresses_byte_for_byte() {
    for (text, prefix, ipv4, psid, offset, psid_len) in CASES {
        let rule = parse_rule(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(rule.legacy());
        let end_user = Ipv6Prefix::parse(prefix).unwrap();
        let ce = rule.ce_mapping(end_user).unwrap_or_else(|e| panic!("{text}: {e}"));
        let ipv4: Ipv4Addr = ipv4.parse().unwrap();
        assert_eq!((ce.ipv4.addr, ce.psid(), ce.psid_offset(), ce.psid_len()), (ipv4, psid, offset, psid_len), "{text}");
        let expected = legacy_address(u128::from(end_user.addr), u32::from(end_user.len), u32::from(ipv4), psid);
        assert_eq!(u128::from(ce.map_address), expected, "{text}: CE address");
        // The BR's forward mapping and its reverse mapping agree, in MAP-E and MAP-T.
        let port = ce.port_set.ranges().last().unwrap().first;
        for mode in [Mode::MapE, Mode::MapT] {
            let (_, addr) = rule.map_address_for_port(ipv4, port, mode).unwrap();
            assert_eq!(u128::from(addr), expected, "{text}");
            let back = rule.decode(addr, mode).unwrap();
            assert_eq!((back.ipv4, back.psid), (ipv4, psid), "{text}");
            assert!(rule.owns(addr, ipv4, port, mode), "{text}");
        }
        // The same rule without `legacy` reads none of these addresses as its own, and the
        // legacy rule none of RFC 7597's: a mismatch is a refusal, never a wrong mapping.
        let rfc = Rule::new(mapcore::RuleParams { legacy: false, ..rule.params() }).unwrap();
        let rfc_address = rfc.ce_mapping(end_user).unwrap().map_address;
        assert_ne!(rfc_address, ce.map_address, "{text}");
        assert!(rfc.decode(ce.map_address, Mode::MapE).is_err(), "{text}");
        assert!(rule.decode(rfc_address, Mode::MapE).is_err(), "{text}");
    }
}

#[test]
fn legacy_addresses_written_out() {
    // 2001:db8:12:3456 | 00 | c6 12 12 34 (198.18.18.52) | 00 56 (PSID) | 00
    let rule = parse_rule("2001:db8::/40 198.18.0.0/16 ea-len 24 legacy").unwrap();
    let ce = rule.ce_mapping(Ipv6Prefix::parse("2001:db8:12:3456::/64").unwrap()).unwrap();
    assert_eq!(ce.map_address, "2001:db8:12:3456:c6:1212:3400:5600".parse::<Ipv6Addr>().unwrap());
    // The RFC 7597 form of the same CE, for contrast: 0000 | c612:1234 | 0056.
    let rfc = parse_rule("2001:db8::/40 198.18.0.0/16 ea-len 24 psid-offset 4").unwrap();
    let ce = rfc.ce_mapping(Ipv6Prefix::parse("2001:db8:12:3456::/64").unwrap()).unwrap();
    assert_eq!(ce.map_address, "2001:db8:12:3456:0:c612:1234:56".parse::<Ipv6Addr>().unwrap());
    // An explicit PSID: 00 | c0 00 02 63 | 00 5a | 00.
    let rule = parse_rule("2001:db8:400:5600::/56 192.0.2.99/32 ea-len 0 psid-len 8 psid 0x5a legacy").unwrap();
    let ce = rule.ce_mapping(Ipv6Prefix::parse("2001:db8:400:5600::/56").unwrap()).unwrap();
    assert_eq!(ce.map_address, "2001:db8:400:5600:c0:2:6300:5a00".parse::<Ipv6Addr>().unwrap());
    // The 15 ranges of 16 ports of a = 4, k = 8 (PSID 0x56): 0x1560-0x156f, 0x2560-..., ...
    let ce = parse_rule("2001:db8::/40 198.18.0.0/16 ea-len 24 legacy")
        .unwrap()
        .ce_mapping(Ipv6Prefix::parse("2001:db8:12:3456::/64").unwrap())
        .unwrap();
    let ranges: Vec<(u16, u16)> = ce.port_set.ranges().map(|r| (r.first, r.last)).collect();
    assert_eq!(ranges.len(), 15);
    assert_eq!(ranges[0], (0x1560, 0x156f));
    assert_eq!(ranges[14], (0xf560, 0xf56f));
}
