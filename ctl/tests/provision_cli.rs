//! `mapminctl provision` end to end: every input form (hex options, a DHCPv6 Reply, a pcap of
//! the exchange, a client hook's environment, odhcp6c's strings), the choice between
//! containers, and refusals. The options are encoded here from RFC 7598's figures.

use std::net::Ipv6Addr;
use std::process::{Command, Output};

use etherparse::PacketBuilder;
use mapcore::config::Config;
use mapcore::Rule;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;

fn mapminctl(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mapminctl"));
    command.args(args).env_clear();
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run mapminctl")
}

/// A configuration as printed: the settings and the FMRs.
struct Parsed {
    config: Config,
    fmrs: Vec<Rule>,
}

impl std::ops::Deref for Parsed {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.config
    }
}

impl std::fmt::Display for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.config.text(&self.fmrs))
    }
}

/// The configuration printed (it must parse as a file `apply` takes), and the text.
fn provisioned(args: &[&str], env: &[(&str, &str)]) -> (Parsed, String) {
    let mut all = vec!["provision"];
    all.extend_from_slice(args);
    let out = mapminctl(&all, env);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut fmrs = Vec::new();
    let config = Config::parse_with(&text, |rule, _| {
        fmrs.push(rule);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    (Parsed { config, fmrs }, text)
}

fn refused(args: &[&str], env: &[(&str, &str)], needle: &str) {
    let mut all = vec!["provision"];
    all.extend_from_slice(args);
    let out = mapminctl(&all, env);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(needle), "{err:?} should say {needle:?}");
}

fn opt(code: u16, data: &[u8]) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// S46_RULE (RFC 7598 §4.1).
fn rule(forwarding: bool, ea_len: u8, v4: [u8; 4], len4: u8, v6: &str, len6: u8, subs: &[u8]) -> Vec<u8> {
    let mut d = vec![u8::from(forwarding), ea_len, len4];
    d.extend_from_slice(&v4);
    d.push(len6);
    d.extend_from_slice(&v6.parse::<Ipv6Addr>().unwrap().octets()[..usize::from(len6).div_ceil(8)]);
    d.extend_from_slice(subs);
    opt(89, &d)
}

fn portparams(offset: u8, psid_len: u8, psid: u16) -> Vec<u8> {
    let mut d = vec![offset, psid_len];
    d.extend_from_slice(&psid.to_be_bytes());
    opt(93, &d)
}

fn br(addr: &str) -> Vec<u8> {
    opt(90, &addr.parse::<Ipv6Addr>().unwrap().octets())
}

fn dmr96() -> Vec<u8> {
    let mut d = vec![96];
    d.extend_from_slice(&"64:ff9b::".parse::<Ipv6Addr>().unwrap().octets()[..12]);
    opt(91, &d)
}

/// The tutorial's MAP-T domain with PSID offset 6, plus a second rule with F for the mesh.
fn mapt() -> Vec<u8> {
    opt(95, &[
        rule(true, 13, [192, 0, 2, 0], 24, "2001:db8:ce::", 51, &portparams(6, 0, 0)),
        rule(true, 16, [198, 51, 100, 0], 24, "2001:db8:f000::", 40, &portparams(6, 0, 0)),
        dmr96(),
    ]
    .concat())
}

/// RFC 7597 Appendix A example 1's rule as MAP-E, without S46_PORTPARAMS.
fn mape() -> Vec<u8> {
    opt(94, &[rule(false, 16, [192, 0, 2, 0], 24, "2001:db8::", 40, &[]), br("2001:db8:ffff::1")].concat())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// IA_PD (RFC 8415 §21.21) with one IAPREFIX (§21.22).
fn ia_pd(prefix: &str, len: u8) -> Vec<u8> {
    let mut iaprefix = vec![0, 0, 0x0e, 0x10, 0, 0, 0x1c, 0x20, len];
    iaprefix.extend_from_slice(&prefix.parse::<Ipv6Addr>().unwrap().octets());
    let mut d = vec![0, 0, 0, 1, 0, 0, 0x07, 0x08, 0, 0, 0x0b, 0x40];
    d.extend_from_slice(&opt(26, &iaprefix));
    opt(25, &d)
}

/// A Reply (type 7, RFC 8415 §8) with these options.
fn reply(options: &[u8]) -> Vec<u8> {
    let mut m = vec![7, 0x12, 0x34, 0x56];
    m.extend_from_slice(options);
    m
}

#[test]
fn hex_options_of_a_map_t_container() {
    let (config, text) = provisioned(&["--hex", &hex(&mapt()), "--prefix", "2001:db8:ce:11b::/64"], &[]);
    assert_eq!(config.bmr.unwrap().to_string(), "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 6 forwarding");
    assert_eq!(config.fmrs.len(), 1, "the other F rule; the BMR's own F flag covers itself");
    assert_eq!(config.dmr.unwrap().prefix().to_string(), "64:ff9b::/96");
    assert_eq!(config.port_mapping.keyword(), "contiguous", "63 ranges: one NAPT rule with the mapping");
    assert!(text.contains("# bmr: the rule whose IPv6 prefix 2001:db8:ce::/51 holds the end-user prefix"), "{text}");
    // dhclient's unpadded ':' form of the same bytes.
    let unpadded: Vec<String> = mapt().iter().map(|b| format!("{b:x}")).collect();
    let (again, _) = provisioned(&["--hex", &unpadded.join(":"), "--prefix", "2001:db8:ce:11b::/64"], &[]);
    assert_eq!(again.to_string(), config.to_string());
}

#[test]
fn a_reply_message_gives_the_delegated_prefix_and_the_defaulted_offset() {
    let dir = std::env::temp_dir().join(format!("mapminctl-provision-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reply.bin");
    std::fs::write(&path, reply(&[ia_pd("2001:db8:12:3400::", 56), mape()].concat())).unwrap();
    let (config, text) = provisioned(&["--message", path.to_str().unwrap()], &[]);
    assert_eq!(config.end_user_prefix.unwrap().to_string(), "2001:db8:12:3400::/56");
    assert!(text.contains("# end-user prefix: the delegated prefix of the lease"), "{text}");
    assert!(text.contains("psid-offset 6: the rule has no S46_PORTPARAMS"), "{text}");
    assert_eq!(config.br_address.unwrap().to_string(), "2001:db8:ffff::1");
    // RFC 7597 Appendix A example 1: 192.0.2.18, PSID 0x34.
    let ce = config.ce_mapping().unwrap().unwrap();
    assert_eq!((ce.ipv4.to_string(), ce.psid()), ("192.0.2.18/32".to_string(), 0x34));
    std::fs::write(&path, [1u8, 0, 0, 0]).unwrap();
    refused(&["--message", path.to_str().unwrap()], &[], "message type 1 is not a Reply (7) or Advertise (2)");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_capture_of_the_exchange() {
    // Solicit from the client, Advertise and Reply from the server (UDP 547 -> 546).
    let dir = std::env::temp_dir().join(format!("mapminctl-provision-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dhcpv6.pcap");
    let mut writer = PcapWriter::with_header(
        std::fs::File::create(&path).unwrap(),
        PcapHeader { datalink: DataLink::ETHERNET, ..PcapHeader::default() },
    )
    .unwrap();
    let packet = |from: u16, to: u16, payload: &[u8]| {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv6([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 64)
            .udp(from, to)
            .write(&mut out, payload)
            .unwrap();
        out
    };
    let mut advertise = reply(&[ia_pd("2001:db8:ce:11b::", 64), mapt()].concat());
    advertise[0] = 2;
    for (i, frame) in [
        packet(546, 547, &[1, 0, 0, 1]),
        packet(547, 546, &advertise),
        packet(547, 546, &reply(&[ia_pd("2001:db8:ce:774::", 64), mapt()].concat())),
    ]
    .iter()
    .enumerate()
    {
        let ts = std::time::Duration::from_secs(i as u64);
        writer.write_packet(&PcapPacket::new(ts, frame.len() as u32, frame)).unwrap();
    }
    drop(writer);
    let (config, text) = provisioned(&["--pcap", path.to_str().unwrap()], &[]);
    assert_eq!(config.end_user_prefix.unwrap().to_string(), "2001:db8:ce:774::/64", "the Reply's, not the Advertise's");
    assert!(text.contains("packet 3"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hook_environments_of_isc_dhcp_client_dhcpcd_and_odhcp6c() {
    let payload = &mapt()[4..];
    let colon: Vec<String> = payload.iter().map(|b| format!("{b:x}")).collect();
    let isc = provisioned(&["--env"], &[
        ("reason", "BOUND6"),
        ("new_dhcp6_s46_cont_mapt", &colon.join(":")),
        ("new_ip6_prefix", "2001:db8:ce:11b::/64"),
    ]);
    let dhcpcd = provisioned(&["--env"], &[
        ("reason", "BOUND6"),
        ("new_dhcp6_s46_cont_mapt", &hex(payload)),
        ("new_dhcp6_ia_pd1_prefix1", "2001:db8:ce:11b::"),
        ("new_dhcp6_ia_pd1_prefix1_length", "64"),
    ]);
    assert_eq!(isc.0.to_string(), dhcpcd.0.to_string());
    // odhcp6c: psid left-aligned (0x3400 = PSID 0x34 of 8 bits), offset given.
    let mapt_string = "fmr,type=map-t,ealen=13,prefix4len=24,prefix6len=51,ipv4prefix=192.0.2.0,ipv6prefix=2001:db8:ce::,offset=6,psidlen=0,psid=0,dmr=64:ff9b::/96,";
    let odhcp6c = provisioned(&["--env"], &[("MAPT", mapt_string), ("PREFIXES", "2001:db8:ce:11b::/64,3600,7200")]);
    assert_eq!(odhcp6c.0.bmr, isc.0.bmr);
    let explicit = "type=map-e,ealen=0,prefix4len=32,prefix6len=56,ipv4prefix=198.51.100.7,ipv6prefix=2001:db8:7:700::,offset=4,psidlen=4,psid=12288,br=2001:db8:ffff::1,";
    let (config, _) = provisioned(&["--odhcp6c", explicit, "--prefix", "2001:db8:7:700::/56"], &[]);
    let ce = config.ce_mapping().unwrap().unwrap();
    assert_eq!((ce.psid(), ce.psid_len(), ce.psid_offset()), (3, 4, 4), "psid=12288 is 0x3000: PSID 3 of 4 bits");
    refused(&["--odhcp6c", "type=map-e,ealen=0,prefix4len=32,prefix6len=56,ipv4prefix=198.51.100.7,ipv6prefix=2001:db8:7:700::,psidlen=4,psid=12289,br=::1,", "--prefix", "2001:db8:7:700::/56"], &[], "bits past its 4-bit length");
}

#[test]
fn the_priority_option_chooses_between_containers_rfc8026() {
    let both = [mape(), mapt(), opt(111, &[0, 95, 0, 94])].concat();
    let (config, text) = provisioned(&["--hex", &hex(&both), "--prefix", "2001:db8:ce:11b::/64"], &[]);
    assert!(config.dmr.is_some(), "MAP-T first in S46_PRIORITY");
    assert!(text.contains("S46_PRIORITY (95, 94)"), "{text}");
    let (config, text) = provisioned(&["--hex", &hex(&[mape(), mapt()].concat()), "--prefix", "2001:db8:12:3400::/56"], &[]);
    assert!(config.br_address.is_some(), "without a priority, the first container");
    assert!(text.contains("the first MAP container"), "{text}");
    let json = mapminctl(&["-j", "provision", "--hex", &hex(&mapt()), "--prefix", "2001:db8:ce:11b::/64"], &[]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["container"], "OPTION_S46_CONT_MAPT");
    assert_eq!(value["ipv4"], "192.0.2.8/32");
    assert_eq!(value["psid"], 27);
    assert_eq!(value["port_mapping"], "contiguous");
}

#[test]
fn refusals_say_why() {
    refused(&["--hex", &hex(&mapt()), "--prefix", "2001:db8:99::/64"], &[], "lies in no rule's IPv6 prefix");
    refused(&["--hex", &hex(&mapt())], &[], "no end-user prefix");
    let mut cut = mapt();
    cut.truncate(20);
    refused(&["--hex", &hex(&cut), "--prefix", "2001:db8:ce:11b::/64"], &[], "byte 2: option 95 says");
    refused(&["--hex", "0:5f:zz"], &[], "not a hex digit");
    refused(&["--hex", "0é"], &[], "not a hex digit");
    refused(&["--hex", "005"], &[], "an odd number of hex digits");
    let lw = opt(96, &br("2001:db8:ffff::1"));
    refused(&["--hex", &hex(&lw), "--prefix", "2001:db8:ce:11b::/64"], &[], "only lightweight 4over6");
    refused(&["--env"], &[], "no S46 container");
}

/// The warnings on stderr.
fn warnings(args: &[&str]) -> String {
    let mut all = vec!["provision"];
    all.extend_from_slice(args);
    let out = mapminctl(&all, &[]);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    for line in stderr.lines() {
        let warning = line.strip_prefix("mapminctl provision: warning: ").expect("only warnings on stderr");
        assert!(stdout.contains(&format!("# warning: {warning}")), "each warning is a comment too");
    }
    stderr
}

#[test]
fn warnings_a_user_needs() {
    let prefix = ["--prefix", "2001:db8:ce:11b::/64"];
    let with = |pp: Vec<u8>| {
        hex(&opt(95, &[rule(false, 13, [192, 0, 2, 0], 24, "2001:db8:ce::", 51, &pp), dmr96()].concat()))
    };
    // The tutorial's rule, offset 6: 2016 ports, nothing to say.
    assert_eq!(warnings(&["--hex", &with(portparams(6, 0, 0)), prefix[0], prefix[1]]), "");
    // PORTPARAMS' PSID length against the EA bits' (13 - 8 = 5).
    let w = warnings(&["--hex", &with(portparams(6, 6, 0)), prefix[0], prefix[1]]);
    assert!(w.contains("PSID length 6, but ea-len 13 with an IPv4 prefix /24 leaves 5 PSID bits"), "{w}");
    // Offset 0 where the EA bits carry a PSID (openwrt#25190): which ports result.
    let w = warnings(&["--hex", &with(portparams(0, 0, 0)), prefix[0], prefix[1]]);
    assert!(w.contains("psid-offset 0 from S46_PORTPARAMS: the port set is the one range 55296-57343"), "{w}");
    // A small set: ea-len 18 on a /24 leaves 10 PSID bits, 63 single ports with offset 6.
    let small = hex(&opt(95, &[rule(false, 18, [192, 0, 2, 0], 24, "2001:db8:c0::", 46, &[]), dmr96()].concat()));
    let w = warnings(&["--hex", &small, "--prefix", "2001:db8:c0:11b::/64"]);
    assert!(w.contains("the port set has 63 ports"), "{w}");
    // An MTU that leaves IPv4 packets below 1280 after the MAP-E header.
    let w = warnings(&["--hex", &hex(&mape()), "--prefix", "2001:db8:12:3400::/56", "--link-mtu", "1300"]);
    assert!(w.contains("link MTU 1300 leaves 1260-byte IPv4 packets after encapsulation"), "{w}");
    // (RFC 7597 A's CE has 252 ports: that warning stays)
    let w = warnings(&["--hex", &hex(&mape()), "--prefix", "2001:db8:12:3400::/56", "--link-mtu", "1500"]);
    assert!(!w.contains("link MTU") && w.contains("the port set has 252 ports"), "{w}");
    let out = mapminctl(&["provision", "--hex", &hex(&mape()), "--prefix", "2001:db8:12:3400::/56", "--link-mtu", "1000"], &[]);
    assert_eq!(out.status.code(), Some(2), "below IPv6's minimum: a usage error");
}

/// The legacy interface identifier format (no DHCPv6 option carries it): `--legacy` marks
/// every rule, whose PSID offset then defaults to 4; the CE's address puts its IPv4 address at
/// byte 9 (worked out by hand: EA bits 0x123456 of 2001:db8::/40 198.18.0.0/16 are
/// 198.18.18.52 and PSID 0x56).
#[test]
fn legacy_interface_identifiers_by_flag() {
    let rule = "type=map-e,ealen=24,prefix4len=16,prefix6len=40,ipv4prefix=198.18.0.0,ipv6prefix=2001:db8::,br=2001:db8:ffff::1,";
    let (config, text) = provisioned(&["--odhcp6c", rule, "--prefix", "2001:db8:12:3456::/64", "--legacy"], &[]);
    assert!(text.contains("bmr 2001:db8::/40 198.18.0.0/16 ea-len 24 psid-offset 4 legacy"), "{text}");
    let ce = config.ce_mapping().unwrap().unwrap();
    assert_eq!(ce.map_address, "2001:db8:12:3456:c6:1212:3400:5600".parse::<Ipv6Addr>().unwrap());
    assert_eq!((ce.psid(), ce.psid_offset()), (0x56, 4));
    // Without the flag: RFC 7597's format and offset 6.
    let (config, _) = provisioned(&["--odhcp6c", rule, "--prefix", "2001:db8:12:3456::/64"], &[]);
    let ce = config.ce_mapping().unwrap().unwrap();
    assert_eq!(ce.map_address, "2001:db8:12:3456:0:c612:1234:56".parse::<Ipv6Addr>().unwrap());
    assert_eq!(ce.psid_offset(), 6);
}
