//! `mapminctl calc` end to end: the RFC examples in text and JSON, and illegal input.

use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mapminctl")).args(args).output().expect("run mapminctl")
}

fn json(args: &[&str]) -> Value {
    let mut all = vec!["calc", "--json"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON object on one line");
    serde_json::from_str(&text).unwrap()
}

fn text(args: &[&str]) -> String {
    let mut all = vec!["calc"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The value of `key` in the text output.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(key).filter(|rest| rest.starts_with(' ')).map(|rest| rest.trim().to_string()))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

/// Exit code 2 and exactly one line on stderr that contains `needle`.
fn rejected(args: &[&str], needle: &str) {
    let mut all = vec!["calc"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{err:?} should name {needle:?}");
    assert!(out.stdout.is_empty());
}

const EXAMPLE_RULE: &str = "2001:db8::/40,192.0.2.0/24,16";

fn check_example_port_ranges(ranges: &Value) {
    let ranges = ranges.as_array().unwrap();
    assert_eq!(ranges.len(), 63);
    assert_eq!(ranges[0], serde_json::json!([1232, 1235]));
    assert_eq!(ranges[1], serde_json::json!([2256, 2259]));
    assert_eq!(ranges[61], serde_json::json!([63696, 63699]));
    assert_eq!(ranges[62], serde_json::json!([64720, 64723]));
}

#[test]
fn rfc7597_appendix_a_example_1_json() {
    let v = json(&["--rule", EXAMPLE_RULE, "--prefix", "2001:db8:0012:3400::/56"]);
    assert_eq!(v["ipv4"], "192.0.2.18");
    assert_eq!(v["psid"], 0x34);
    assert_eq!(v["psid_len"], 8);
    assert_eq!(v["psid_offset"], 6);
    check_example_port_ranges(&v["port_ranges"]);
    assert_eq!(v["map_address"], "2001:db8:12:3400:0:c000:212:34");
}

#[test]
fn rfc7597_appendix_a_example_1_text() {
    let t = text(&["--rule", EXAMPLE_RULE, "--prefix", "2001:db8:0012:3400::/56"]);
    assert_eq!(field(&t, "ipv4"), "192.0.2.18");
    assert_eq!(field(&t, "psid"), "52 (0x34)");
    assert_eq!(field(&t, "psid_len"), "8");
    assert_eq!(field(&t, "psid_offset"), "6");
    let ranges = field(&t, "port_ranges");
    assert!(ranges.starts_with("1232-1235 2256-2259 "), "{ranges}");
    assert!(ranges.ends_with(" 63696-63699 64720-64723"), "{ranges}");
    assert_eq!(ranges.split(' ').count(), 63);
    assert_eq!(field(&t, "map_address"), "2001:db8:12:3400:0:c000:212:34");
}

#[test]
fn rfc7597_appendix_a_example_2_br_text_and_json() {
    let args = ["--rule", EXAMPLE_RULE, "--ipv4", "192.0.2.18", "--port", "1232"];
    let v = json(&args);
    assert_eq!(v["psid"], 0x34);
    assert_eq!(v["map_address"], "2001:db8:12:3400:0:c000:212:34");
    let t = text(&args);
    assert_eq!(field(&t, "psid"), "52 (0x34)");
    assert_eq!(field(&t, "map_address"), "2001:db8:12:3400:0:c000:212:34");
}

/// End-user prefixes longer than 64 overwrite the interface identifier's leading bits
/// (RFC 7597 §6); the addresses are worked out by hand from the RFC's layout.
#[test]
fn end_user_prefixes_longer_than_64() {
    // /72s carved from one /64: EA bits 0x8b (192.0.2.24, PSID 11) take the IID's first byte.
    let rule72 = "2001:db8:ce:100::/64,192.0.2.16/28,8,6";
    let v = json(&["--rule", rule72, "--prefix", "2001:db8:ce:100:8b00::/72"]);
    assert_eq!((v["ipv4"].as_str(), v["psid"].as_u64()), (Some("192.0.2.24"), Some(11)));
    assert_eq!(v["map_address"], "2001:db8:ce:100:8b00:c000:218:b");
    assert_eq!(v["end_user_prefix"], "2001:db8:ce:100:8b00::/72");
    let v = json(&["--rule", rule72, "--ipv6", "2001:db8:ce:100:8b00:c000:218:b"]);
    assert_eq!((v["ipv4"].as_str(), v["psid"].as_u64()), (Some("192.0.2.24"), Some(11)));
    // /96: the EA bits 0x1234 replace the IID's zero bits and the IPv4 address's first half.
    let v = json(&["--rule", "2001:db8:ce:100::/80,192.0.2.0/24,16", "--ipv4", "192.0.2.18", "--port", "1232"]);
    assert_eq!(v["map_address"], "2001:db8:ce:100:0:1234:212:34");
    let v = json(&["--rule", "2001:db8:ce:100::/80,192.0.2.0/24,16", "--ipv6", "2001:db8:ce:100:0:1234:212:34"]);
    assert_eq!((v["ipv4"].as_str(), v["psid"].as_u64()), (Some("192.0.2.18"), Some(0x34)));
    // /128: a CE is one address, the rule's /112 and its 16 EA bits.
    let v = json(&["--rule", "2001:db8:ce:100::/112,192.0.2.0/24,16", "--prefix", "2001:db8:ce:100::1234/128"]);
    assert_eq!((v["ipv4"].as_str(), v["psid"].as_u64()), (Some("192.0.2.18"), Some(0x34)));
    assert_eq!(v["map_address"], "2001:db8:ce:100::1234");
    let v = json(&["--rule", "2001:db8:ce:100::/112,192.0.2.0/24,16", "--ipv6", "2001:db8:ce:100::1234"]);
    assert_eq!(v["ipv4"], "192.0.2.18");
    // An address whose remaining IID bits disagree with its EA bits is no MAP address.
    rejected(&["--rule", "2001:db8:ce:100::/80,192.0.2.0/24,16", "--ipv6", "2001:db8:ce:100:0:1234:212:35"], "2001:db8:ce:100:0:1234:212:35");
}

/// The legacy interface identifier (OpenWrt's `legacymap`): the IPv4 address at byte 9, the
/// PSID offset 4 by default; worked out by hand (EA bits 0x123456 of 2001:db8::/40
/// 198.18.0.0/16: 198.18.18.52, PSID 0x56).
#[test]
fn legacy_and_rfc7597_formats() {
    let rule = "2001:db8::/40,198.18.0.0/16,24";
    let v = json(&["--rule", rule, "--prefix", "2001:db8:12:3456::/64", "--legacy"]);
    assert_eq!(v["map_address"], "2001:db8:12:3456:c6:1212:3400:5600");
    assert_eq!((v["ipv4"].as_str(), v["psid"].as_u64(), v["psid_offset"].as_u64()), (Some("198.18.18.52"), Some(0x56), Some(4)));
    assert_eq!(v["rule"], "2001:db8::/40 198.18.0.0/16 ea-len 24 psid-offset 4 legacy");
    assert_eq!(v["port_ranges"].as_array().unwrap().len(), 15, "a = 4: 15 ranges");
    // The rule keyword says the same; the reverse mapping reads the legacy address.
    let keyword = json(&["--rule", "2001:db8::/40 198.18.0.0/16 ea-len 24 legacy", "--prefix", "2001:db8:12:3456::/64"]);
    assert_eq!(keyword["map_address"], v["map_address"]);
    let back = json(&["--rule", rule, "--legacy", "--ipv6", "2001:db8:12:3456:c6:1212:3400:5600"]);
    assert_eq!((back["ipv4"].as_str(), back["psid"].as_u64()), (Some("198.18.18.52"), Some(0x56)));
    // RFC 7597's format of the same CE (with its offset 6 default), and each format refuses
    // the other's address.
    let v = json(&["--rule", rule, "--prefix", "2001:db8:12:3456::/64"]);
    assert_eq!(v["map_address"], "2001:db8:12:3456:0:c612:1234:56");
    rejected(&["--rule", rule, "--ipv6", "2001:db8:12:3456:c6:1212:3400:5600"], "2001:db8:12:3456:c6:1212:3400:5600");
    rejected(&["--rule", rule, "--legacy", "--ipv6", "2001:db8:12:3456:0:c612:1234:56"], "2001:db8:12:3456:0:c612:1234:56");
}

#[test]
fn reverse_mapping_of_the_example_map_address() {
    let v = json(&["--rule", EXAMPLE_RULE, "--ipv6", "2001:db8:12:3400:0:c000:212:34"]);
    assert_eq!(v["ipv4"], "192.0.2.18");
    assert_eq!(v["psid"], 0x34);
    check_example_port_ranges(&v["port_ranges"]);
}

#[test]
fn rfc7597_appendix_a_example_4_json() {
    let v = json(&["--rule", "2001:db8:0012:3400::/56 192.0.2.1/32 ea-len 0", "--prefix", "2001:db8:0012:3400::/56"]);
    assert_eq!(v["ipv4"], "192.0.2.1");
    assert_eq!(v["psid_len"], 0);
    assert_eq!(v["port_ranges"], serde_json::json!([[0, 65535]]));
    assert_eq!(v["map_address"], "2001:db8:12:3400:0:c000:201:0");
}

#[test]
fn rfc7599_appendix_a_example_5_erratum_5324_json_and_text() {
    // PSID 0x34 as corrected by erratum 5324; both the flag form and the rule syntax.
    let a = json(&[
        "--rule", "2001:db8:0012:3400::/56,192.0.2.18/32,0", "--psid-len", "8", "--psid", "0x34",
        "--prefix", "2001:db8:0012:3400::/56",
    ]);
    let b = json(&[
        "--rule", "2001:db8:0012:3400::/56 192.0.2.18/32 ea-len 0 psid-len 8 psid 52",
        "--prefix", "2001:db8:0012:3400::/56",
    ]);
    assert_eq!(a, b);
    assert_eq!(a["ipv4"], "192.0.2.18");
    assert_eq!(a["psid"], 0x34);
    check_example_port_ranges(&a["port_ranges"]);
    assert_eq!(a["map_address"], "2001:db8:12:3400:0:c000:212:34");
    let t = text(&["--rule", "2001:db8:0012:3400::/56 192.0.2.18/32 ea-len 0 psid-len 8 psid 52", "--prefix", "2001:db8:0012:3400::/56"]);
    assert_eq!(field(&t, "map_address"), "2001:db8:12:3400:0:c000:212:34");
}

#[test]
fn rfc7599_appendix_a_example_2_dmr_json_and_text() {
    let v = json(&["--dmr", "2001:db8:ffff::/64", "--ipv4", "10.2.3.4"]);
    assert_eq!(v["ipv6"], "2001:db8:ffff:0:a:203:400:0");
    let t = text(&["--dmr", "2001:db8:ffff::/64", "--ipv4", "10.2.3.4"]);
    assert_eq!(field(&t, "ipv6"), "2001:db8:ffff:0:a:203:400:0");
    let back = json(&["--dmr", "2001:db8:ffff::/64", "--ipv6", "2001:db8:ffff:0:a:203:400:0"]);
    assert_eq!(back["ipv4"], "10.2.3.4");
}

#[test]
fn rfc6052_section_2_4_table_through_calc() {
    for (dmr, out) in [
        ("2001:db8::/32", "2001:db8:c000:221::"),
        ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
        ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
        ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
        ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100::"),
        ("2001:db8:122:344::/96", "2001:db8:122:344::c000:221"),
        ("64:ff9b::/96", "64:ff9b::c000:221"),
    ] {
        let got: std::net::Ipv6Addr = json(&["--dmr", dmr, "--ipv4", "192.0.2.33"])["ipv6"].as_str().unwrap().parse().unwrap();
        assert_eq!(got, out.parse::<std::net::Ipv6Addr>().unwrap(), "{dmr}");
    }
}

#[test]
fn jool_tutorial_second_ce() {
    let v = json(&["--rule", "2001:db8:ce::/51,192.0.2.0/24,13,0", "--prefix", "2001:db8:ce:774::/64"]);
    assert_eq!(v["ipv4"], "192.0.2.59");
    assert_eq!(v["port_ranges"], serde_json::json!([[40960, 43007]]));
}

#[test]
fn ce_given_an_ipv4_prefix() {
    let v = json(&["--rule", "2001:db8::/40,192.0.2.0/24,4", "--prefix", "2001:db8:20::/44"]);
    assert_eq!(v["ipv4"], "192.0.2.32/28");
    let t = json(&["--rule", "2001:db8::/40,192.0.2.0/24,4", "--ipv4", "192.0.2.37", "--mode", "t"]);
    assert_eq!(t["map_address"], "2001:db8:20::c000:225:0");
}

#[test]
fn illegal_input_names_the_bad_value_and_exits_2() {
    rejected(&["--rule", "2001:db8::/40,192.0.2.0/24,49", "--prefix", "2001:db8::/56"], "EA-bits length 49");
    rejected(&["--rule", "2001:db8::/120,192.0.2.0/24,16", "--prefix", "2001:db8::/56"], "120 + EA-bits length 16 = 136 is longer than 128");
    rejected(&["--rule", "2001:db8::/106,192.0.2.0/24,4", "--prefix", "2001:db8::/110"], "IPv6 prefix /106 too long for IPv4 /28 CEs (at most /104)");
    rejected(&["--rule", "2001:db8::/40,192.0.2.0/24,16,11", "--prefix", "2001:db8::/56"], "PSID offset 11");
    rejected(&["--rule", "2001:db8::/40,192.0.2.0/24", "--prefix", "2001:db8::/56"], "2001:db8::/40,192.0.2.0/24");
    rejected(&["--rule", "2001:db8::1/40,192.0.2.0/24,16", "--prefix", "2001:db8::/56"], "2001:db8::1/40");
    rejected(&["--rule", "2001:zz::/40,192.0.2.0/24,16", "--prefix", "2001:db8::/56"], "2001:zz::/40");
    rejected(&["--rule", EXAMPLE_RULE, "--prefix", "2001:db9:12:3400::/56"], "2001:db9:12:3400::/56");
    rejected(&["--rule", EXAMPLE_RULE, "--prefix", "2001:db8:12::/48"], "2001:db8:12::/48");
    rejected(&["--rule", EXAMPLE_RULE, "--ipv4", "192.0.3.1", "--port", "1232"], "192.0.3.1");
    rejected(&["--rule", EXAMPLE_RULE, "--ipv4", "192.0.2.18", "--port", "80"], "'80'");
    rejected(&["--rule", EXAMPLE_RULE, "--ipv4", "192.0.2.18", "--port", "65536"], "65536");
    rejected(&["--rule", EXAMPLE_RULE, "--ipv4", "192.0.2.18"], "--port");
    rejected(&["--rule", EXAMPLE_RULE, "--ipv6", "2001:db8:12:3400:0:c000:212:35"], "2001:db8:12:3400:0:c000:212:35");
    rejected(&["--rule", "2001:db8:12:3400::/56,192.0.2.18/32,0", "--psid-len", "8", "--psid", "256", "--prefix", "2001:db8:12:3400::/56"], "PSID 256");
    rejected(&["--dmr", "2001:db8::/33", "--ipv4", "10.2.3.4"], "2001:db8::/33");
    rejected(&["--dmr", "2001:db8:ffff::/64", "--ipv4", "10.2.3"], "10.2.3");
    rejected(&[], "--rule");
}

#[test]
fn no_arguments_prints_help_and_version_still_works() {
    let out = run(&[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("calc"));
    let out = run(&["version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("mapminctl "));
}

#[test]
fn contiguous_port_mapping_of_rfc7597_appendix_a_example_1() {
    // The example's CE (PSID 0x34, 63 ranges of 4 ports from 1232-1235): 252 ports, so the
    // NAPT fills 1232-1483 and its k-th port is the set's k-th port.
    let ce = ["--rule", EXAMPLE_RULE, "--prefix", "2001:db8:12:3400::/56"];
    let j = json(&ce);
    assert_eq!(j["napt_ports"], serde_json::json!([1232, 1483]));
    assert_eq!(
        j["nft_rule"],
        "oifname \"mapmint\" meta l4proto { tcp, udp, icmp } snat ip to 192.0.2.18:1232-1483"
    );
    assert_eq!(
        j["iptables_rules"][2],
        "iptables -t nat -A POSTROUTING -o mapmint -p icmp -j SNAT --to-source 192.0.2.18:1232-1483"
    );
    let mut both = ce.to_vec();
    both.extend(["--napt-port", "1236"]);
    assert_eq!(json(&both)["port"], 2256, "the fifth NAPT port is the first of the second range");
    let mut back = ce.to_vec();
    back.extend(["--port", "64723"]);
    assert_eq!(json(&back)["napt_port"], 1483);
    let mut named = ce.to_vec();
    named.extend(["--dev", "wan0"]);
    assert_eq!(field(&text(&named), "napt_ports"), "1232-1483");
    assert!(text(&named).contains("-o wan0 -p udp -j SNAT --to-source 192.0.2.18:1232-1483\n"));

    let mut outside = ce.to_vec();
    outside.extend(["--napt-port", "1484"]);
    rejected(&outside, "not in the NAPT range 1232-1483");
    let mut foreign = ce.to_vec();
    foreign.extend(["--port", "1236"]);
    rejected(&foreign, "not in the CE's port set");
    rejected(&["--rule", EXAMPLE_RULE, "--ipv4", "192.0.2.18", "--napt-port", "1232"], "--napt-port goes with --prefix");
}
