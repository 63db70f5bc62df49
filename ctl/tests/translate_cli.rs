//! `mapminctl translate` end to end: pcaps (and raw IP) built here with etherparse from the
//! RFC 7597 / RFC 7599 Appendix A examples and the seed's Jool tutorial topology, run through
//! the real binary with CE and BR config files; every output packet is parsed back with
//! etherparse (addresses, ports, checksums) and every verdict line is checked.
//!
//! RFC examples: BMR/FMR {2001:db8:0000::/40, 192.0.2.0/24, 16} (PSID offset 6), CE End-user
//! prefix 2001:db8:0012:3400::/56 = 192.0.2.18 PSID 0x34 (ports 1232-1235, 2256-2259, ...),
//! MAP address 2001:db8:0012:3400:0000:c000:0212:0034; MAP-T DMR 2001:db8:ffff::/64, server
//! 10.2.3.4 = 2001:db8:ffff:0:000a:0203:0400::.
//! Tutorial: BMR/FMR 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0, DMR 64:ff9b::/96,
//! CE 2001:db8:ce:11b::/64 = 192.0.2.8 ports 55296-57343, MAP-E BR 2001:db8:6::1.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

const BIN: &str = env!("CARGO_BIN_EXE_mapminctl");

// ---------------------------------------------------------------- configurations

const RFC_RULE: &str = "2001:db8:0000::/40 192.0.2.0/24 ea-len 16";
const RFC_CE_T: &str = "role ce\nmode t\nend-user-prefix 2001:db8:0012:3400::/56\n\
    bmr 2001:db8:0000::/40 192.0.2.0/24 ea-len 16\ndmr 2001:db8:ffff::/64\n";

fn rfc_br(mode: &str) -> String {
    match mode {
        "t" => format!("role br\nmode t\nfmr {RFC_RULE}\ndmr 2001:db8:ffff::/64\n"),
        _ => format!("role br\nmode e\nfmr {RFC_RULE}\nbr 2001:db8:ffff::1\n"),
    }
}

const TUTORIAL_RULE: &str = "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0";

fn tutorial(role: &str, mode: &str) -> String {
    let mut text = format!("role {role}\nmode {mode}\n");
    if role == "ce" {
        text += &format!("end-user-prefix 2001:db8:ce:11b::/64\nbmr {TUTORIAL_RULE}\n");
    }
    text += &format!("fmr {TUTORIAL_RULE}\n");
    text += if mode == "t" { "dmr 64:ff9b::/96\n" } else { "br 2001:db8:6::1\n" };
    text
}

// RFC 7597/7599 Appendix A addresses.
const RFC_CE4: &str = "192.0.2.18";
const RFC_CE6: &str = "2001:db8:0012:3400:0000:c000:0212:0034";
const RFC_SERVER4: &str = "10.2.3.4";
const RFC_SERVER6: &str = "2001:db8:ffff:0:000a:0203:0400::";
// Tutorial addresses.
const CE4: &str = "192.0.2.8";
const CE6: &str = "2001:db8:ce:11b:0:c000:208:1b";
const SERVER4: &str = "203.0.113.56";
const SERVER6: &str = "64:ff9b::cb00:7138";
const BR6: &str = "2001:db8:6::1";

// ---------------------------------------------------------------- helpers

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("translate").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &std::path::Path, name: &str, data: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path.to_str().unwrap().to_string()
}

fn mapminctl(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A failing run may exit before reading its input: ignore a broken pipe.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "mapminctl panicked: {stderr}");
    out
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec()).unwrap().lines().map(String::from).collect()
}

/// A classic little-endian microsecond pcap, written by hand (independent of the tool's
/// pcap library).
fn pcap(linktype: u32, packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Reads a pcap written by the tool: (link type, [(seconds, microseconds, packet)]).
fn read_pcap(data: &[u8]) -> (u32, Vec<(u32, u32, Vec<u8>)>) {
    let le = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
    assert_eq!(le(0), 0xa1b2_c3d4, "a little-endian microsecond pcap");
    let linktype = le(20);
    let mut packets = Vec::new();
    let mut at = 24;
    while at < data.len() {
        let (sec, usec, incl, orig) = (le(at), le(at + 4), le(at + 8) as usize, le(at + 12) as usize);
        assert_eq!(incl, orig);
        packets.push((sec, usec, data[at + 16..at + 16 + incl].to_vec()));
        at += 16 + incl;
    }
    assert_eq!(at, data.len());
    (linktype, packets)
}

fn packets_of(data: &[u8]) -> Vec<Vec<u8>> {
    let (linktype, packets) = read_pcap(data);
    assert_eq!(linktype, 101, "LINKTYPE_RAW");
    packets.into_iter().map(|(_, _, p)| p).collect()
}

fn udp4(src: (&str, u16), dst: (&str, u16), ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(v4(src.0).octets(), v4(dst.0).octets(), ttl)
        .udp(src.1, dst.1)
        .write(&mut out, payload)
        .unwrap();
    out
}

fn tcp4(src: (&str, u16), dst: (&str, u16), ttl: u8) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(v4(src.0).octets(), v4(dst.0).octets(), ttl)
        .tcp(src.1, dst.1, 0x1234_5678, 65535)
        .syn()
        .write(&mut out, b"")
        .unwrap();
    out
}

fn tcp6(src: (&str, u16), dst: (&str, u16), hops: u8) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(v6(src.0).octets(), v6(dst.0).octets(), hops)
        .tcp(src.1, dst.1, 0x1234_5678, 65535)
        .syn()
        .write(&mut out, b"")
        .unwrap();
    out
}

fn udp6(src: (&str, u16), dst: (&str, u16), hops: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(v6(src.0).octets(), v6(dst.0).octets(), hops)
        .udp(src.1, dst.1)
        .write(&mut out, payload)
        .unwrap();
    out
}

/// The facts of a TCP or UDP packet, after etherparse checked its IPv4 header checksum and
/// its transport checksum.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    src: String,
    dst: String,
    proto: &'static str,
    sport: u16,
    dport: u16,
    ttl: u8,
}

fn seen(packet: &[u8]) -> Seen {
    let sliced = SlicedPacket::from_ip(packet).unwrap();
    let (src, dst, ttl, src_raw, dst_raw) = match sliced.net.as_ref().unwrap() {
        NetSlice::Ipv4(ip) => {
            let h = ip.header().to_header();
            assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 header checksum");
            (v4s(h.source), v4s(h.destination), h.time_to_live, h.source.to_vec(), h.destination.to_vec())
        }
        NetSlice::Ipv6(ip) => {
            let h = ip.header().to_header();
            (
                h.source_addr().to_string(),
                h.destination_addr().to_string(),
                h.hop_limit,
                h.source.to_vec(),
                h.destination.to_vec(),
            )
        }
        other => panic!("not IP: {other:?}"),
    };
    let (proto, sport, dport, ok) = match sliced.transport.unwrap() {
        TransportSlice::Udp(udp) => {
            let h = udp.to_header();
            let want = if src_raw.len() == 4 {
                h.calc_checksum_ipv4_raw(
                    src_raw[..].try_into().unwrap(),
                    dst_raw[..].try_into().unwrap(),
                    udp.payload(),
                )
            } else {
                h.calc_checksum_ipv6_raw(
                    src_raw[..].try_into().unwrap(),
                    dst_raw[..].try_into().unwrap(),
                    udp.payload(),
                )
            };
            ("udp", h.source_port, h.destination_port, want.unwrap() == h.checksum)
        }
        TransportSlice::Tcp(tcp) => {
            let h = tcp.to_header();
            let want = if src_raw.len() == 4 {
                h.calc_checksum_ipv4_raw(
                    src_raw[..].try_into().unwrap(),
                    dst_raw[..].try_into().unwrap(),
                    tcp.payload(),
                )
            } else {
                h.calc_checksum_ipv6_raw(
                    src_raw[..].try_into().unwrap(),
                    dst_raw[..].try_into().unwrap(),
                    tcp.payload(),
                )
            };
            ("tcp", h.source_port, h.destination_port, want.unwrap() == h.checksum)
        }
        other => panic!("not TCP/UDP: {other:?}"),
    };
    assert!(ok, "{proto} checksum of {src} -> {dst}");
    Seen { src, dst, proto, sport, dport, ttl }
}

fn v4s(o: [u8; 4]) -> String {
    Ipv4Addr::from(o).to_string()
}

fn want(src: &str, dst: &str, proto: &'static str, sport: u16, dport: u16, ttl: u8) -> Seen {
    // Normalise the RFC's spelling of addresses.
    let norm = |s: &str| s.parse::<std::net::IpAddr>().unwrap().to_string();
    Seen { src: norm(src), dst: norm(dst), proto, sport, dport, ttl }
}

/// One's-complement sum check of an ICMPv6 message (pseudo-header included).
fn icmpv6_checksum_ok(packet: &[u8]) -> bool {
    let payload = &packet[40..];
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&packet[8..40]);
    add(&(payload.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(payload);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

// ---------------------------------------------------------------- RFC 7599 (MAP-T)

#[test]
fn rfc7599_appendix_a_example_3_ce_translates_192_0_2_18_port_1232_through_the_dmr() {
    let dir = scratch("rfc7599_example_3_ce");
    let config = write(&dir, "ce.conf", RFC_CE_T);
    let server_reply = tcp6((RFC_SERVER6, 80), (RFC_CE6, 1232), 64);
    let input = pcap(
        101,
        &[
            // Example 3: 192.0.2.18:1232 -> 10.2.3.4:80 leaves as RFC_CE6 -> RFC_SERVER6.
            tcp4((RFC_CE4, 1232), (RFC_SERVER4, 80), 64),
            // Port 1236 is PSID 0x35's, not this CE's (1232-1235, 2256-2259, ...).
            tcp4((RFC_CE4, 1236), (RFC_SERVER4, 80), 64),
            // The server's answer through the DMR comes back as IPv4.
            server_reply.clone(),
            // ... but not to a port outside the set.
            tcp6((RFC_SERVER6, 80), (RFC_CE6, 2260), 64),
        ],
    );
    let in_path = write(&dir, "in.pcap", &input);
    let out_path = dir.join("out.pcap");
    let out = mapminctl(&["translate", "--config", &config, &in_path, out_path.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let packets = packets_of(&std::fs::read(&out_path).unwrap());
    assert_eq!(packets.len(), 2);
    // "MAP-T CE IPv6 source address: 2001:db8:0012:3400:0000:c000:0212:0034",
    // "IPv6 destination address: 2001:db8:ffff:0:000a:0203:0400::"; the hop limit is one less.
    assert_eq!(seen(&packets[0]), want(RFC_CE6, RFC_SERVER6, "tcp", 1232, 80, 63));
    assert_eq!(seen(&packets[1]), want(RFC_SERVER4, RFC_CE4, "tcp", 80, 1232, 63));
    assert_eq!(
        lines(&out.stdout),
        [
            "1 translated ipv4->ipv6 2001:db8:12:3400:0:c000:212:34 -> 2001:db8:ffff:0:a:203:400:0 tcp 1232 -> 80 (60 bytes)",
            "2 dropped port-not-allowed ipv4 192.0.2.18 -> 10.2.3.4 tcp 1236 -> 80 (40 bytes)",
            "3 translated ipv6->ipv4 10.2.3.4 -> 192.0.2.18 tcp 80 -> 1232 (40 bytes)",
            "4 dropped port-not-allowed ipv6 2001:db8:ffff:0:a:203:400:0 -> 2001:db8:12:3400:0:c000:212:34 tcp 80 -> 2260 (60 bytes)",
        ]
    );
    // The input's timestamps are kept.
    let (_, with_times) = read_pcap(&std::fs::read(&out_path).unwrap());
    assert_eq!((with_times[0].0, with_times[0].1), (1_700_000_000, 0));
    assert_eq!((with_times[1].0, with_times[1].1), (1_700_000_002, 2000));
}

#[test]
fn rfc7599_appendix_a_example_2_br_translates_both_ways_and_refuses_a_spoofed_source() {
    let dir = scratch("rfc7599_example_2_br");
    let config = write(&dir, "br.conf", rfc_br("t"));
    let input = pcap(
        101,
        &[
            // Example 2: 10.2.3.4:80 -> 192.0.2.18:1232 gets source 2001:db8:ffff:0:000a:0203:0400::
            // and destination 2001:db8:0012:3400:0000:c000:0212:0034.
            tcp4((RFC_SERVER4, 80), (RFC_CE4, 1232), 64),
            // Example 3's packet arriving at the BR.
            tcp6((RFC_CE6, 1232), (RFC_SERVER6, 80), 64),
            // The same CE address with a port of another CE's set: spoofed (RFC 7597 §8.1).
            tcp6((RFC_CE6, 1236), (RFC_SERVER6, 80), 64),
        ],
    );
    let in_path = write(&dir, "in.pcap", &input);
    let out_path = dir.join("out.pcap");
    let out = mapminctl(&["translate", "--config", &config, &in_path, out_path.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let packets = packets_of(&std::fs::read(&out_path).unwrap());
    assert_eq!(packets.len(), 2);
    assert_eq!(seen(&packets[0]), want(RFC_SERVER6, RFC_CE6, "tcp", 80, 1232, 63));
    assert_eq!(seen(&packets[1]), want(RFC_CE4, RFC_SERVER4, "tcp", 1232, 80, 63));
    assert_eq!(
        lines(&out.stdout),
        [
            "1 translated ipv4->ipv6 2001:db8:ffff:0:a:203:400:0 -> 2001:db8:12:3400:0:c000:212:34 tcp 80 -> 1232 (60 bytes)",
            "2 translated ipv6->ipv4 192.0.2.18 -> 10.2.3.4 tcp 1232 -> 80 (40 bytes)",
            "3 dropped source-mismatch ipv6 2001:db8:12:3400:0:c000:212:34 -> 2001:db8:ffff:0:a:203:400:0 tcp 1236 -> 80 (60 bytes)",
        ]
    );
}

// ---------------------------------------------------------------- Jool tutorial (MAP-T)

/// The tutorial CE's LAN side after SNAT, as a pcap.
fn tutorial_lan_capture() -> Vec<u8> {
    let mut echo = Vec::new();
    PacketBuilder::ipv4(v4(CE4).octets(), v4(SERVER4).octets(), 64)
        .icmpv4_echo_request(55300, 1)
        .write(&mut echo, b"ping")
        .unwrap();
    pcap(
        101,
        &[
            udp4((CE4, 55296), (SERVER4, 80), 64, b"map"),
            udp4((CE4, 1234), (SERVER4, 80), 64, b"map"),
            udp4((CE4, 55297), (SERVER4, 80), 1, b"ttl"),
            udp4((CE4, 55298), (SERVER4, 80), 64, &[0x55; 1372]), // 1400 bytes, DF
            echo,
        ],
    )
}

#[test]
fn tutorial_map_t_ce_then_br_round_trip_with_drops_and_icmp_verdicts() {
    let dir = scratch("tutorial_map_t");
    let ce = write(&dir, "ce.conf", tutorial("ce", "t"));
    let br = write(&dir, "br.conf", tutorial("br", "t"));
    let lan = write(&dir, "lan.pcap", tutorial_lan_capture());
    let wan = dir.join("wan.pcap");
    let out = mapminctl(&["translate", "--config", &ce, "--mtu6", "1280", &lan, wan.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        lines(&out.stdout),
        [
            "1 translated ipv4->ipv6 2001:db8:ce:11b:0:c000:208:1b -> 64:ff9b::cb00:7138 udp 55296 -> 80 (51 bytes)",
            "2 dropped port-not-allowed ipv4 192.0.2.8 -> 203.0.113.56 udp 1234 -> 80 (31 bytes)",
            "3 icmp-reply time-exceeded ipv4 192.0.2.8 -> 203.0.113.56 udp 55297 -> 80 (31 bytes)",
            "4 icmp-reply fragmentation-needed mtu 1260 ipv4 192.0.2.8 -> 203.0.113.56 udp 55298 -> 80 (1400 bytes)",
            "5 translated ipv4->ipv6 2001:db8:ce:11b:0:c000:208:1b -> 64:ff9b::cb00:7138 icmpv6 type 128 code 0 id 55300 (52 bytes)",
        ]
    );
    let six = packets_of(&std::fs::read(&wan).unwrap());
    assert_eq!(six.len(), 2);
    assert_eq!(seen(&six[0]), want(CE6, SERVER6, "udp", 55296, 80, 63));
    assert!(icmpv6_checksum_ok(&six[1]), "ICMPv6 checksum");

    // At the BR, with one spoofed packet more: CE 11b's address but a port of CE 774's set.
    let mut wan_packets = six.clone();
    wan_packets.push(udp6((CE6, 40960), (SERVER6, 80), 64, b"spoof"));
    let wan_in = write(&dir, "wan-in.pcap", pcap(101, &wan_packets));
    let internet = dir.join("internet.pcap");
    let out = mapminctl(&["translate", "--config", &br, &wan_in, internet.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        lines(&out.stdout),
        [
            "1 translated ipv6->ipv4 192.0.2.8 -> 203.0.113.56 udp 55296 -> 80 (31 bytes)",
            "2 translated ipv6->ipv4 192.0.2.8 -> 203.0.113.56 icmp type 8 code 0 id 55300 (32 bytes)",
            "3 dropped source-mismatch ipv6 2001:db8:ce:11b:0:c000:208:1b -> 64:ff9b::cb00:7138 udp 40960 -> 80 (53 bytes)",
        ]
    );
    let four = packets_of(&std::fs::read(&internet).unwrap());
    // Two hops: the CE and the BR, each a standalone translator (--ttl decrement).
    assert_eq!(seen(&four[0]), want(CE4, SERVER4, "udp", 55296, 80, 62));
    assert_eq!(&four[0][28..], b"map");

    // --ttl keep / restore.
    let out = mapminctl(&["translate", "--config", &ce, "--ttl", "keep", &lan, wan.to_str().unwrap()], b"");
    assert!(out.status.success());
    assert_eq!(seen(&packets_of(&std::fs::read(&wan).unwrap())[0]).ttl, 64);
    let out = mapminctl(&["translate", "--config", &ce, "--ttl", "restore", &lan, wan.to_str().unwrap()], b"");
    assert!(out.status.success());
    assert_eq!(seen(&packets_of(&std::fs::read(&wan).unwrap())[0]).ttl, 65);
    // Without --mtu6 the big packet goes through, and --strict fails the run for the rest.
    let out = mapminctl(&["translate", "--config", &ce, "--strict", &lan], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(lines(&out.stdout)[3].starts_with("4 translated ipv4->ipv6 "), "{:?}", lines(&out.stdout));
}

// ---------------------------------------------------------------- MAP-E

#[test]
fn map_e_tutorial_ce_encapsulates_to_the_br_and_the_br_decapsulates() {
    let dir = scratch("tutorial_map_e");
    let ce = write(&dir, "ce.conf", tutorial("ce", "e"));
    let br = write(&dir, "br.conf", tutorial("br", "e"));
    let original = udp4((CE4, 55296), (SERVER4, 80), 64, b"map");
    let lan = write(&dir, "lan.pcap", pcap(101, &[original.clone(), udp4((CE4, 1234), (SERVER4, 80), 64, b"x")]));
    let wan = dir.join("wan.pcap");
    let out = mapminctl(&["translate", "--config", &ce, &lan, wan.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        lines(&out.stdout),
        [
            "1 encapsulated ipv4->ipv6 2001:db8:ce:11b:0:c000:208:1b -> 2001:db8:6::1 ipip 192.0.2.8 -> 203.0.113.56 udp 55296 -> 80 (71 bytes)",
            "2 dropped port-not-allowed ipv4 192.0.2.8 -> 203.0.113.56 udp 1234 -> 80 (29 bytes)",
        ]
    );
    let six = packets_of(&std::fs::read(&wan).unwrap());
    assert_eq!(six.len(), 1);
    // RFC 7597 §6: the CE's MAP-E address (192.0.2.8, PSID 0x1b); the outer destination is
    // the BR; the inner packet travels unchanged.
    let sliced = SlicedPacket::from_ip(&six[0]).unwrap();
    let Some(NetSlice::Ipv6(outer)) = sliced.net else { panic!("not IPv6") };
    let h = outer.header().to_header();
    assert_eq!((h.source_addr(), h.destination_addr(), h.next_header.0), (v6(CE6), v6(BR6), 4));
    assert_eq!(&six[0][40..], &original[..]);

    // The BR decapsulates it, and refuses the same inner packet from another CE's address.
    let mut spoofed = six[0].clone();
    spoofed[8..24].copy_from_slice(&v6("2001:db8:ce:774:0:c000:23b:14").octets());
    let wan_in = write(&dir, "wan-in.pcap", pcap(101, &[six[0].clone(), spoofed]));
    let internet = dir.join("internet.pcap");
    let out = mapminctl(&["translate", "--config", &br, &wan_in, internet.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        lines(&out.stdout),
        [
            "1 decapsulated ipv6->ipv4 192.0.2.8 -> 203.0.113.56 udp 55296 -> 80 (31 bytes)",
            "2 dropped source-mismatch ipv6 2001:db8:ce:774:0:c000:23b:14 -> 2001:db8:6::1 ipip 192.0.2.8 -> 203.0.113.56 udp 55296 -> 80 (71 bytes)",
        ]
    );
    let four = packets_of(&std::fs::read(&internet).unwrap());
    assert_eq!(four, vec![original]);
}

#[test]
fn rfc7597_appendix_a_example_2_map_e_br_encapsulates_to_the_ce_and_the_ce_decapsulates() {
    let dir = scratch("rfc7597_example_2");
    let br = write(&dir, "br.conf", rfc_br("e"));
    let ce = write(
        &dir,
        "ce.conf",
        format!("role ce\nmode e\nend-user-prefix 2001:db8:0012:3400::/56\nbmr {RFC_RULE}\nbr 2001:db8:ffff::1\n"),
    );
    // Example 2: IPv4 destination 192.0.2.18, port 1232 -> "IPv6 destination address:
    // 2001:db8:0012:3400:0000:c000:0212:0034".
    let reply = tcp4((RFC_SERVER4, 80), (RFC_CE4, 1232), 64);
    let input = write(&dir, "in.pcap", pcap(101, std::slice::from_ref(&reply)));
    let out = mapminctl(&["translate", "--config", &br, &input, "-"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        lines(&out.stderr),
        ["1 encapsulated ipv4->ipv6 2001:db8:ffff::1 -> 2001:db8:12:3400:0:c000:212:34 ipip 10.2.3.4 -> 192.0.2.18 tcp 80 -> 1232 (80 bytes)"]
    );
    let six = packets_of(&out.stdout);
    let sliced = SlicedPacket::from_ip(&six[0]).unwrap();
    let Some(NetSlice::Ipv6(outer)) = sliced.net else { panic!("not IPv6") };
    assert_eq!(outer.header().to_header().destination_addr(), v6(RFC_CE6));
    assert_eq!(seen(&six[0][40..]), want(RFC_SERVER4, RFC_CE4, "tcp", 80, 1232, 64));

    // The CE takes the encapsulated packet from stdin and gives back the inner one.
    let out = mapminctl(&["translate", "--config", &ce, "-", "-"], &out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(&out.stderr), ["1 decapsulated ipv6->ipv4 10.2.3.4 -> 192.0.2.18 tcp 80 -> 1232 (40 bytes)"]);
    assert_eq!(packets_of(&out.stdout), vec![reply]);
}

// ---------------------------------------------------------------- formats

#[test]
fn raw_ip_in_and_out_rfc7599_example_3() {
    let dir = scratch("raw");
    let config = write(&dir, "ce.conf", RFC_CE_T);
    let a = tcp4((RFC_CE4, 1232), (RFC_SERVER4, 80), 64);
    let b = udp4((RFC_CE4, 2257), (RFC_SERVER4, 53), 64, b"query");
    let input = write(&dir, "in.raw", [a, b].concat());
    let out_path = dir.join("out.raw");
    let out =
        mapminctl(&["translate", "--config", &config, "--format", "raw", &input, out_path.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(&out.stdout).len(), 2);
    // Split the output by the IPv6 payload lengths.
    let raw = std::fs::read(&out_path).unwrap();
    let first_len = 40 + usize::from(u16::from_be_bytes([raw[4], raw[5]]));
    let (first, second) = raw.split_at(first_len);
    assert_eq!(seen(first), want(RFC_CE6, RFC_SERVER6, "tcp", 1232, 80, 63));
    assert_eq!(seen(second), want(RFC_CE6, RFC_SERVER6, "udp", 2257, 53, 63));
    assert_eq!(first.len() + second.len(), raw.len());

    // Raw in on stdin, pcap out on stdout, verdicts on stderr.
    let out = mapminctl(&["translate", "--config", &config, "-", "-"], &std::fs::read(&input).unwrap());
    assert!(out.status.success());
    assert_eq!(packets_of(&out.stdout).len(), 2);
    assert_eq!(lines(&out.stderr).len(), 2);
    assert!(lines(&out.stderr)[1].starts_with("2 translated ipv4->ipv6 2001:db8:12:3400:0:c000:212:34 -> "));
}

#[test]
fn json_verdicts_rfc7599_example_3() {
    let dir = scratch("json");
    let config = write(&dir, "ce.conf", RFC_CE_T);
    let input = write(
        &dir,
        "in.pcap",
        pcap(
            101,
            &[
                tcp4((RFC_CE4, 1232), (RFC_SERVER4, 80), 64),
                tcp4((RFC_CE4, 1236), (RFC_SERVER4, 80), 64),
                tcp4((RFC_CE4, 1233), (RFC_SERVER4, 80), 1),
            ],
        ),
    );
    for args in
        [vec!["translate", "-j", "--config", &config, &input], vec!["-j", "translate", "--config", &config, &input]]
    {
        let out = mapminctl(&args, b"");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let objects: Vec<serde_json::Value> =
            lines(&out.stdout).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(objects.len(), 3);
        assert_eq!(objects[0]["packet"], 1);
        assert_eq!(objects[0]["verdict"], "translated");
        assert_eq!(objects[0]["direction"], "ipv4->ipv6");
        assert_eq!(objects[0]["output"]["src"], "2001:db8:12:3400:0:c000:212:34");
        assert_eq!(objects[0]["output"]["dst"], "2001:db8:ffff:0:a:203:400:0");
        assert_eq!(objects[0]["output"]["src_port"], 1232);
        assert_eq!(objects[0]["input"]["src"], RFC_CE4);
        assert_eq!(objects[0]["length"], 60);
        assert_eq!(objects[1]["verdict"], "dropped");
        assert_eq!(objects[1]["reason"], "port-not-allowed");
        assert_eq!(objects[1]["input"]["src_port"], 1236);
        assert_eq!(objects[2]["verdict"], "icmp-reply");
        assert_eq!(objects[2]["icmp"], "time-exceeded");
        assert_eq!((objects[2]["icmp_type"].clone(), objects[2]["icmp_code"].clone()), (11.into(), 0.into()));
    }
}

#[test]
fn ethernet_linux_sll_and_pcapng_captures_tutorial() {
    let dir = scratch("links");
    let config = write(&dir, "ce.conf", tutorial("ce", "t"));
    let ip = udp4((CE4, 55296), (SERVER4, 80), 64, b"map");
    let mut eth = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
    eth.extend_from_slice(&ip);
    eth.extend_from_slice(&[0; 6]); // Ethernet padding to 60 bytes: not part of the packet
    let mut vlan = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00];
    vlan.extend_from_slice(&ip);
    let arp = [vec![0xff; 6], vec![0x02, 0, 0, 0, 0, 2], vec![0x08, 0x06], vec![0; 28]].concat();
    let input = write(&dir, "eth.pcap", pcap(1, &[eth, vlan, arp]));
    let out = mapminctl(&["translate", "--config", &config, &input, dir.join("o1.pcap").to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = lines(&out.stdout);
    assert_eq!(
        v[0],
        "1 translated ipv4->ipv6 2001:db8:ce:11b:0:c000:208:1b -> 64:ff9b::cb00:7138 udp 55296 -> 80 (51 bytes)"
    );
    assert_eq!(v[1], v[0].replacen('1', "2", 1));
    assert_eq!(v[2], "3 skipped ethertype 0x0806 (42 bytes)");
    let six = packets_of(&std::fs::read(dir.join("o1.pcap")).unwrap());
    assert_eq!(six.len(), 2);
    assert_eq!(seen(&six[0]), want(CE6, SERVER6, "udp", 55296, 80, 63));

    // LINUX_SLL ("any" interface captures): 16-byte header, protocol at 14.
    let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    let input = write(&dir, "sll.pcap", pcap(113, &[sll]));
    let out = mapminctl(&["translate", "--config", &config, &input], b"");
    assert!(out.status.success());
    assert_eq!(lines(&out.stdout), [v[0].clone()]);

    // pcapng: section header, an Ethernet interface, one enhanced packet block.
    let out = mapminctl(&["translate", "--config", &config, &write(&dir, "in.pcapng", pcapng_ethernet(&ip)), "-"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(&out.stderr), [v[0].clone()]);
    let (_, packets) = read_pcap(&out.stdout);
    assert_eq!((packets[0].0, packets[0].1), (1_700_000_000, 250_000), "the timestamp, in microseconds");
    assert_eq!(seen(&packets[0].2), want(CE6, SERVER6, "udp", 55296, 80, 63));
}

/// A little-endian pcapng with one Ethernet interface and one packet at 1700000000.25 s.
fn pcapng_ethernet(ip: &[u8]) -> Vec<u8> {
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = (body.len() + 12) as u32;
        [kind.to_le_bytes().to_vec(), len.to_le_bytes().to_vec(), body, len.to_le_bytes().to_vec()].concat()
    }
    let shb = [0x1a2b_3c4du32.to_le_bytes().to_vec(), vec![1, 0, 0, 0], (-1i64).to_le_bytes().to_vec()].concat();
    let idb = [1u16.to_le_bytes().to_vec(), vec![0, 0], 65535u32.to_le_bytes().to_vec()].concat();
    let frame = [vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00], ip.to_vec()].concat();
    let micros: u64 = 1_700_000_000 * 1_000_000 + 250_000;
    let epb = [
        0u32.to_le_bytes().to_vec(),
        ((micros >> 32) as u32).to_le_bytes().to_vec(),
        (micros as u32).to_le_bytes().to_vec(),
        (frame.len() as u32).to_le_bytes().to_vec(),
        (frame.len() as u32).to_le_bytes().to_vec(),
        frame,
    ]
    .concat();
    [block(0x0a0d_0d0a, &shb), block(1, &idb), block(6, &epb)].concat()
}

// ---------------------------------------------------------------- bad inputs

#[test]
fn bad_inputs_and_configs_give_the_documented_exit_codes() {
    let dir = scratch("bad");
    let config = write(&dir, "ce.conf", RFC_CE_T);
    let run = |args: &[&str]| mapminctl(args, b"");
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    // Garbage: not pcap, pcapng nor raw IP.
    let garbage = write(&dir, "garbage", b"hello, this is not a capture\n");
    let out = run(&["translate", "--config", &config, &garbage]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a pcap, pcapng or raw IP file (it starts with 68 65 6c 6c)"),
        "{}",
        stderr(&out)
    );

    // A missing input file.
    let out = run(&["translate", "--config", &config, dir.join("nope.pcap").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope.pcap: No such file"), "{}", stderr(&out));

    // A pcap cut inside its file header.
    let whole =
        pcap(101, &[tcp4((RFC_CE4, 1232), (RFC_SERVER4, 80), 64), tcp4((RFC_CE4, 1233), (RFC_SERVER4, 80), 64)]);
    let out = run(&["translate", "--config", &config, &write(&dir, "head.pcap", &whole[..10])]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("truncated pcap file header"), "{}", stderr(&out));

    // A pcap cut inside its second packet: the first is still translated and written.
    let cut = write(&dir, "cut.pcap", &whole[..whole.len() - 5]);
    let out_path = dir.join("cut-out.pcap");
    let out = run(&["translate", "--config", &config, &cut, out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("truncated pcap: packet 2's record runs past the end of the file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(lines(&out.stdout).len(), 1);
    assert_eq!(packets_of(&std::fs::read(&out_path).unwrap()).len(), 1);

    // An unsupported link type.
    let out = run(&["translate", "--config", &config, &write(&dir, "wifi.pcap", pcap(105, &[]))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unsupported pcap link type 105"), "{}", stderr(&out));

    // A bad configuration: one line naming the file, the line and the bad value; exit 2.
    let bad = write(&dir, "bad.conf", "role ce\nmode x\n");
    let input = write(&dir, "ok.pcap", &whole);
    let out = run(&["translate", "--config", &bad, &input]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), format!("mapminctl: translate: {bad}: line 2: bad mode 'x': expected t or e\n"));
    // An incomplete one.
    let incomplete = write(
        &dir,
        "incomplete.conf",
        "role ce\nmode t\nend-user-prefix 2001:db8:12:3400::/56\nbmr 2001:db8::/40 192.0.2.0/24 ea-len 16\n",
    );
    let out = run(&["translate", "--config", &incomplete, &input]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("incomplete.conf: line 4: the configuration has no 'dmr'"), "{}", stderr(&out));
    // A missing configuration file.
    let out = run(&["translate", "--config", dir.join("none.conf").to_str().unwrap(), &input]);
    assert_eq!(out.status.code(), Some(1));

    // Raw IP that is cut short or is not IP after the first packet: verdicts, exit 0.
    let mut raw = tcp4((RFC_CE4, 1232), (RFC_SERVER4, 80), 64);
    raw.extend_from_slice(&[0x45, 0, 0, 200, 1, 2, 3]);
    let out = run(&["translate", "--config", &config, &write(&dir, "short.raw", &raw)]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lines(&out.stdout)[1], "2 dropped bad-header-length (7 bytes)");
    let mut raw = tcp4((RFC_CE4, 1232), (RFC_SERVER4, 80), 64);
    raw.extend_from_slice(b"Xgarbage");
    let out = run(&["translate", "--config", &config, &write(&dir, "tail.raw", &raw)]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lines(&out.stdout)[1], "2 dropped bad-version (8 bytes)");

    // An empty input is zero packets.
    let out = run(&["translate", "--config", &config, &write(&dir, "empty", b"")]);
    assert_eq!((out.status.code(), out.stdout.len()), (Some(0), 0));
    // Text starting like an IPv6 header ('h' = 0x68) is still not raw IP: its length is wrong.
    let out = run(&["translate", "--config", &config, &write(&dir, "short6", [0x60u8; 39])]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a pcap, pcapng or raw IP file (it starts with 60 60 60 60)"),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------- committed example data

/// `ctl/tests/data/tutorial-lan.pcap` (the README's example) is what `tutorial_lan_capture`
/// builds; `MAPMINT_WRITE_TEST_DATA=1 cargo test -p mapminctl --test translate_cli` rewrites
/// it. The README quotes the verdicts the tool gives on it.
#[test]
fn tutorial_example_data_matches_its_generator_and_the_readme() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let pcap_path = data.join("tutorial-lan.pcap");
    if std::env::var_os("MAPMINT_WRITE_TEST_DATA").is_some() {
        std::fs::write(&pcap_path, tutorial_lan_capture()).unwrap();
    }
    assert_eq!(std::fs::read(&pcap_path).unwrap(), tutorial_lan_capture(), "regenerate with MAPMINT_WRITE_TEST_DATA=1");

    let dir = scratch("example_data");
    let wan = dir.join("wan.pcap");
    let ce = data.join("tutorial-ce.conf");
    let out = mapminctl(
        &[
            "translate",
            "--config",
            ce.to_str().unwrap(),
            "--mtu6",
            "1280",
            pcap_path.to_str().unwrap(),
            wan.to_str().unwrap(),
        ],
        b"",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let br = data.join("tutorial-br.conf");
    let back = mapminctl(&["translate", "--config", br.to_str().unwrap(), wan.to_str().unwrap()], b"");
    assert!(back.status.success(), "{}", String::from_utf8_lossy(&back.stderr));
    let readme = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    for line in lines(&out.stdout).iter().chain(lines(&back.stdout).iter()) {
        assert!(readme.contains(line.as_str()), "README.md does not quote: {line}");
    }
}

// ---------------------------------------------------------------- ICMP errors as packets

/// The Internet checksum (RFC 1071), written here independently of the tool's libraries.
fn checksum(chunks: &[&[u8]]) -> [u8; 2] {
    let bytes: Vec<u8> = chunks.concat();
    let mut sum: u32 = bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    (!(sum as u16)).to_be_bytes()
}

/// An ICMPv4 error built by hand (RFC 792): IPv4 header with precedence 0xc0, TTL 64, then
/// type, code, checksum, the 4-byte word, the quote.
fn icmpv4_error_by_hand(src: &str, dst: &str, icmp_type: u8, code: u8, word: [u8; 4], quote: &[u8]) -> Vec<u8> {
    let total = (20 + 8 + quote.len()) as u16;
    let mut ip = vec![0x45, 0xc0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&v4(src).octets());
    ip.extend_from_slice(&v4(dst).octets());
    let ck = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&ck);
    let mut icmp = vec![icmp_type, code, 0, 0];
    icmp.extend_from_slice(&word);
    let ck = checksum(&[&icmp, quote]);
    icmp[2..4].copy_from_slice(&ck);
    [ip, icmp, quote.to_vec()].concat()
}

/// An ICMPv6 error built by hand (RFC 4443): hop limit 64, the checksum over the RFC 8200
/// §8.1 pseudo-header.
fn icmpv6_error_by_hand(src: &str, dst: &str, icmp_type: u8, code: u8, word: [u8; 4], quote: &[u8]) -> Vec<u8> {
    let len = (8 + quote.len()) as u32;
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(len as u16).to_be_bytes());
    ip.extend_from_slice(&[58, 64]);
    ip.extend_from_slice(&v6(src).octets());
    ip.extend_from_slice(&v6(dst).octets());
    let mut icmp = vec![icmp_type, code, 0, 0];
    icmp.extend_from_slice(&word);
    let pseudo = [&v6(src).octets()[..], &v6(dst).octets()[..], &len.to_be_bytes()[..], &[0, 0, 0, 58][..]].concat();
    let ck = checksum(&[&pseudo, &icmp, quote]);
    icmp[2..4].copy_from_slice(&ck);
    [ip, icmp, quote.to_vec()].concat()
}

#[test]
fn icmp_errors_written_as_packets_byte_for_byte() {
    let dir = scratch("icmp_errors");
    let ce = write(&dir, "ce.conf", tutorial("ce", "t"));
    let lan = tutorial_lan_capture();
    let lan_packets = packets_of(&lan);
    let lan = write(&dir, "lan.pcap", lan);
    let wan = dir.join("wan.pcap");
    let out =
        mapminctl(&["translate", "--config", &ce, "--mtu6", "1280", "--icmp-errors", &lan, wan.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines(&out.stdout)[2], "3 icmp-reply time-exceeded ipv4 192.0.2.8 -> 203.0.113.56 udp 55297 -> 80 (31 bytes)");
    let written = packets_of(&std::fs::read(&wan).unwrap());
    assert_eq!(written.len(), 4, "two translations and, in their places, two errors");
    // RFC 792 Time Exceeded (11/0) for the TTL-1 datagram, quoting all of its 31 bytes, from
    // the RFC 7600 dummy address to the CE's address.
    assert_eq!(written[1], icmpv4_error_by_hand("192.0.0.8", CE4, 11, 0, [0; 4], &lan_packets[2]));
    // RFC 1191 Fragmentation Needed (3/4), next-hop MTU 1260 (1280 less the 20 bytes MAP-T
    // adds), quoting the 1400-byte datagram as far as 576 bytes allow.
    assert_eq!(written[2], icmpv4_error_by_hand("192.0.0.8", CE4, 3, 4, [0, 0, 0x04, 0xec], &lan_packets[3][..548]));
    assert_eq!(written[2].len(), 576);

    // IPv6 in: Time Exceeded (3/0) for hop limit 1, Packet Too Big (2/0) when the IPv4 side
    // takes 1400 bytes (MTU 1420: IPv6's 20 bytes more), from the CE's MAP address by default
    // or the address given.
    let expiring = udp6((SERVER6, 80), (CE6, 55296), 1, b"late");
    let big = udp6((SERVER6, 80), (CE6, 55296), 64, &[0xaa; 1452]);
    let wan_in = write(&dir, "wan-in.pcap", pcap(101, &[expiring.clone(), big.clone()]));
    let back = dir.join("back.pcap");
    let out = mapminctl(
        &["translate", "--config", &ce, "--mtu4", "1400", "--icmp-errors", &wan_in, back.to_str().unwrap()],
        b"",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        lines(&out.stdout),
        [
            "1 icmp-reply time-exceeded ipv6 64:ff9b::cb00:7138 -> 2001:db8:ce:11b:0:c000:208:1b udp 80 -> 55296 (52 bytes)",
            "2 icmp-reply packet-too-big mtu 1420 ipv6 64:ff9b::cb00:7138 -> 2001:db8:ce:11b:0:c000:208:1b udp 80 -> 55296 (1500 bytes)",
        ]
    );
    let written = packets_of(&std::fs::read(&back).unwrap());
    assert_eq!(written[0], icmpv6_error_by_hand(CE6, SERVER6, 3, 0, [0; 4], &expiring));
    assert_eq!(written[1], icmpv6_error_by_hand(CE6, SERVER6, 2, 0, 1420u32.to_be_bytes(), &big[..1232]));
    assert_eq!(written[1].len(), 1280);
    let out = mapminctl(
        &["translate", "--config", &ce, "--icmp-errors", "--icmp-source6", "2001:db8:100:11b::2", &wan_in, back.to_str().unwrap()],
        b"",
    );
    assert!(out.status.success());
    let written = packets_of(&std::fs::read(&back).unwrap());
    assert_eq!(written[0], icmpv6_error_by_hand("2001:db8:100:11b::2", SERVER6, 3, 0, [0; 4], &expiring));
    assert_eq!(written.len(), 2, "the error, and the big packet translated (no --mtu4 this time)");

    // Without --icmp-errors only the verdicts tell; a MAP-T BR has no IPv6 address to send from.
    let out = mapminctl(&["translate", "--config", &ce, "--mtu6", "1280", &lan, wan.to_str().unwrap()], b"");
    assert!(out.status.success());
    assert_eq!(packets_of(&std::fs::read(&wan).unwrap()).len(), 2);
    let br = write(&dir, "br.conf", tutorial("br", "t"));
    let out = mapminctl(&["translate", "--config", &br, "--icmp-errors", &wan_in, back.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --icmp-source6"));
    let out = mapminctl(&["translate", "--config", &ce, "--icmp-errors", &wan_in], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--icmp-errors writes the errors to OUT"));
}
