//! `port-mapping contiguous` end to end through a CE's domain: the NAPT fills one contiguous
//! range and the device maps it to the port set and back. The CE is the offset tutorial's
//! "11b" (BMR 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 6: 192.0.2.8, PSID 27,
//! 63 ranges of 32 ports 1888-1919, 2912-2943, ..., 65376-65407; contiguous range 1888-3903).
//! Packets are built and their checksums checked with etherparse.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::AtomicU16;

use etherparse::{Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
#[path = "instance/mod.rs"]
mod instance;
use instance::Instance;
use mapcore::xlat::{DropReason, IcmpReply, Options, TtlMode, Verdict};

const HEADROOM: usize = 64;
const RULE: &str = "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 6";
const CE: &str = "192.0.2.8";
const SERVER: &str = "203.0.113.56";
const SERVER_T: &str = "64:ff9b::cb00:7138";
const BR_E: &str = "2001:db8:6::1";

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn ce(mode: &str, mapping: &str) -> Instance {
    let peer = if mode == "t" { "dmr 64:ff9b::/96".to_string() } else { format!("br {BR_E}") };
    let text = format!(
        "role ce\nmode {mode}\nend-user-prefix 2001:db8:ce:11b::/64\nbmr {RULE}\n{peer}\nport-mapping {mapping}\n"
    );
    Instance::parse(&text).unwrap_or_else(|e| panic!("{e}"))
}

fn map_address(config: &Instance) -> Ipv6Addr {
    config.ce_mapping().unwrap().unwrap().map_address
}

fn opts() -> Options {
    Options { ttl: TtlMode::Keep, ..Options::default() }
}

/// Runs the packet through the CE (IPv4 -> IPv6 side when `out`), returning the result, or
/// the verdict and the buffer's packet bytes afterwards.
fn cross(config: &Instance, packet: &[u8], out: bool, opts: &Options) -> Result<Vec<u8>, (Verdict, Vec<u8>)> {
    let ident = AtomicU16::new(1);
    let domain = config.domain(&ident).unwrap();
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(packet);
    let result = if out {
        domain.from_v4(&mut buf, HEADROOM, packet.len(), opts)
    } else {
        domain.from_v6(&mut buf, HEADROOM, packet.len(), opts)
    };
    match result {
        Ok(t) => Ok(buf[t.start..t.start + t.len].to_vec()),
        Err(v) => Err((v, buf[HEADROOM..].to_vec())),
    }
}

/// [`cross`] for a view of the packet's first `present` bytes (the rest not in the buffer,
/// as the device hands over headers alone): the verdict on `Err`, and the viewed bytes after.
fn cross_view(config: &Instance, packet: &[u8], present: usize, out: bool) -> (Option<Verdict>, Vec<u8>) {
    let (result, after) = config.through_view(packet, present, !out, &opts());
    (result.err(), after)
}

fn udp4(src: (&str, u16), dst: (&str, u16)) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(v4(src.0).octets(), v4(dst.0).octets(), 64).udp(src.1, dst.1).write(&mut out, b"map").unwrap();
    out
}

fn tcp4(src: (&str, u16), dst: (&str, u16), payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4(v4(src.0).octets(), v4(dst.0).octets(), 64)
        .tcp(src.1, dst.1, 7, 65535)
        .syn()
        .write(&mut out, payload)
        .unwrap();
    out
}

fn udp6(src: (Ipv6Addr, u16), dst: (Ipv6Addr, u16)) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(src.0.octets(), dst.0.octets(), 64).udp(src.1, dst.1).write(&mut out, b"map").unwrap();
    out
}

/// The ports of a TCP or UDP packet over IPv4 or IPv6 (MAP-E: the inner IPv4 packet), after
/// checking its transport checksum.
fn ports(packet: &[u8]) -> (u16, u16) {
    let sliced = SlicedPacket::from_ip(packet).unwrap();
    if let Some(NetSlice::Ipv6(ip)) = &sliced.net {
        if ip.header().next_header() == etherparse::IpNumber::IPV4 {
            return ports(ip.payload().payload);
        }
    }
    match (&sliced.net, &sliced.transport) {
        (Some(net), Some(TransportSlice::Udp(udp))) => {
            let h = udp.to_header();
            let sum = match net {
                NetSlice::Ipv4(ip) => h.calc_checksum_ipv4(&ip.header().to_header(), udp.payload()).unwrap(),
                NetSlice::Ipv6(ip) => h.calc_checksum_ipv6(&ip.header().to_header(), udp.payload()).unwrap(),
                _ => unreachable!(),
            };
            assert_eq!(h.checksum, sum, "UDP checksum");
            (h.source_port, h.destination_port)
        }
        (Some(net), Some(TransportSlice::Tcp(tcp))) => {
            let h = tcp.to_header();
            let sum = match net {
                NetSlice::Ipv4(ip) => h.calc_checksum_ipv4(&ip.header().to_header(), tcp.payload()).unwrap(),
                NetSlice::Ipv6(ip) => h.calc_checksum_ipv6(&ip.header().to_header(), tcp.payload()).unwrap(),
                _ => unreachable!(),
            };
            assert_eq!(h.checksum, sum, "TCP checksum");
            (h.source_port, h.destination_port)
        }
        other => panic!("not TCP or UDP: {other:?}"),
    }
}

#[test]
fn outbound_ports_of_the_contiguous_range_become_the_sets_ports() {
    for mode in ["t", "e"] {
        let config = ce(mode, "contiguous");
        // k-th port of 1888-3903 -> k-th port of the set: the first range keeps its numbers.
        for (napt, real) in [(1888, 1888), (1919, 1919), (1920, 2912), (1951, 2943), (3903, 65407)] {
            let out = cross(&config, &udp4((CE, napt), (SERVER, 53)), true, &opts()).unwrap();
            assert_eq!(ports(&out), (real, 53), "MAP-{mode} UDP {napt}");
            let out = cross(&config, &tcp4((CE, napt), (SERVER, 80), b"hello"), true, &opts()).unwrap();
            assert_eq!(ports(&out), (real, 80), "MAP-{mode} TCP {napt}");
        }
        // Ports outside the contiguous range are not the NAPT's: refused and counted.
        for napt in [1887, 3904, 55296] {
            let refused = cross(&config, &udp4((CE, napt), (SERVER, 53)), true, &opts());
            assert_eq!(refused.unwrap_err().0, Verdict::Drop(DropReason::PortNotAllowed), "MAP-{mode} {napt}");
        }
        // Another source is not ours to map (and the CE refuses it as before).
        let other = cross(&config, &udp4(("192.0.2.9", 1920), (SERVER, 53)), true, &opts());
        assert_eq!(other.unwrap_err().0, Verdict::Drop(DropReason::SourceMismatch));
    }
}

#[test]
fn without_the_mapping_the_set_ports_pass_unchanged() {
    let config = ce("t", "off");
    let out = cross(&config, &udp4((CE, 2912), (SERVER, 53)), true, &opts()).unwrap();
    assert_eq!(ports(&out), (2912, 53));
    let refused = cross(&config, &udp4((CE, 1920), (SERVER, 53)), true, &opts());
    assert_eq!(refused.unwrap_err().0, Verdict::Drop(DropReason::PortNotAllowed));
}

#[test]
fn inbound_set_ports_become_the_contiguous_range() {
    // MAP-T: a reply from the server to the CE's port 2943 reaches the NAPT as 1951.
    let config = ce("t", "contiguous");
    let reply = udp6((v6(SERVER_T), 53), (map_address(&config), 2943));
    let four = cross(&config, &reply, false, &opts()).unwrap();
    assert_eq!(ports(&four), (53, 1951));
    // MAP-E: the BR's tunnel packet carries the reply to port 65407, which is 3903.
    let config = ce("e", "contiguous");
    let inner = tcp4((SERVER, 80), (CE, 65407), b"world");
    let mut tunnel = Vec::new();
    PacketBuilder::ipv6(v6(BR_E).octets(), map_address(&config).octets(), 64)
        .write(&mut tunnel, etherparse::IpNumber::IPV4, &inner)
        .unwrap();
    let four = cross(&config, &tunnel, false, &opts()).unwrap();
    assert_eq!(ports(&four), (80, 3903));
}

#[test]
fn round_trip_through_the_set_for_every_napt_port() {
    let config = ce("t", "contiguous");
    let map = map_address(&config);
    for napt in 1888..=3903u16 {
        let out = cross(&config, &udp4((CE, napt), (SERVER, 53)), true, &opts()).unwrap();
        let (real, _) = ports(&out);
        let back = cross(&config, &udp6((v6(SERVER_T), 53), (map, real)), false, &opts()).unwrap();
        assert_eq!(ports(&back), (53, napt));
    }
}

#[test]
fn echo_identifiers_are_mapped_both_ways() {
    let config = ce("t", "contiguous");
    let mut request = Vec::new();
    PacketBuilder::ipv4(v4(CE).octets(), v4(SERVER).octets(), 64)
        .icmpv4_echo_request(1920, 1)
        .write(&mut request, b"ping")
        .unwrap();
    let out = cross(&config, &request, true, &opts()).unwrap();
    let sliced = SlicedPacket::from_ip(&out).unwrap();
    let Some(TransportSlice::Icmpv6(icmp)) = sliced.transport else { panic!("not ICMPv6") };
    let Icmpv6Type::EchoRequest(echo) = icmp.icmp_type() else { panic!("{:?}", icmp.icmp_type()) };
    assert_eq!(echo.id, 2912);
    let Some(NetSlice::Ipv6(ip)) = &sliced.net else { unreachable!() };
    let h = ip.header().to_header();
    let expected = icmp.icmp_type().calc_checksum(h.source, h.destination, icmp.payload()).unwrap();
    assert_eq!(icmp.header().checksum, expected, "ICMPv6 checksum");

    let mut reply = Vec::new();
    PacketBuilder::ipv6(v6(SERVER_T).octets(), map_address(&config).octets(), 64)
        .icmpv6_echo_reply(2912, 1)
        .write(&mut reply, b"ping")
        .unwrap();
    let four = cross(&config, &reply, false, &opts()).unwrap();
    let sliced = SlicedPacket::from_ip(&four).unwrap();
    let Some(TransportSlice::Icmpv4(icmp)) = sliced.transport else { panic!("not ICMP") };
    let Icmpv4Type::EchoReply(echo) = icmp.icmp_type() else { panic!("{:?}", icmp.icmp_type()) };
    assert_eq!(echo.id, 1920);
    assert_eq!(icmp.header().checksum, icmp.icmp_type().calc_checksum(icmp.payload()), "ICMP checksum");
}

#[test]
fn an_icmp_error_about_our_packet_quotes_it_as_the_napt_sent_it() {
    // The LAN's packet after NAPT (port 1951), and what it became on the IPv6 side (2943).
    let config = ce("t", "contiguous");
    let sent = udp4((CE, 1951), (SERVER, 53));
    let six = cross(&config, &sent, true, &opts()).unwrap();
    assert_eq!(ports(&six), (2943, 53));
    let mut error = Vec::new();
    PacketBuilder::ipv6(v6(SERVER_T).octets(), map_address(&config).octets(), 64)
        .icmpv6(Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Port))
        .write(&mut error, &six)
        .unwrap();
    let four = cross(&config, &error, false, &opts()).unwrap();
    let sliced = SlicedPacket::from_ip(&four).unwrap();
    let Some(TransportSlice::Icmpv4(icmp)) = sliced.transport else { panic!("not ICMP") };
    assert_eq!(icmp.header().checksum, icmp.icmp_type().calc_checksum(icmp.payload()), "ICMP checksum");
    // Byte for byte the packet the NAPT sent, so conntrack finds its connection (the TTL is
    // kept: the test translates with TtlMode::Keep).
    let quoted = icmp.payload();
    assert_eq!(quoted.len(), sent.len());
    assert_eq!(&quoted[20..], &sent[20..], "transport header and payload");
    assert_eq!(&quoted[12..20], &sent[12..20], "addresses");
}

#[test]
fn an_icmp_error_from_the_lan_about_an_inbound_packet_quotes_the_set_port() {
    // A LAN host answers Port Unreachable to a datagram the server sent to the CE's real port
    // 2943, which the NAPT saw as 1951: the quoted destination port goes back to 2943.
    let config = ce("t", "contiguous");
    let quoted = udp4((SERVER, 53), (CE, 1951));
    let mut error = Vec::new();
    PacketBuilder::ipv4(v4(CE).octets(), v4(SERVER).octets(), 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(etherparse::icmpv4::DestUnreachableHeader::Port))
        .write(&mut error, &quoted)
        .unwrap();
    let six = cross(&config, &error, true, &opts()).unwrap();
    let sliced = SlicedPacket::from_ip(&six).unwrap();
    let Some(TransportSlice::Icmpv6(icmp)) = sliced.transport else { panic!("not ICMPv6") };
    let Some(NetSlice::Ipv6(ip)) = &sliced.net else { unreachable!() };
    let h = ip.header().to_header();
    let expected = icmp.icmp_type().calc_checksum(h.source, h.destination, icmp.payload()).unwrap();
    assert_eq!(icmp.header().checksum, expected, "ICMPv6 checksum");
    assert_eq!(ports(icmp.payload()), (53, 2943), "the quoted packet, its UDP checksum right");
}

#[test]
fn a_packet_the_translation_refuses_stays_as_the_napt_sent_it() {
    // Too big with DF: Fragmentation Needed quotes the packet, so its port must be the NAPT's.
    let config = ce("t", "contiguous");
    let mut big = Vec::new();
    PacketBuilder::ipv4(v4(CE).octets(), v4(SERVER).octets(), 64)
        .udp(1920, 53)
        .write(&mut big, &[0u8; 1472])
        .unwrap();
    big[6] |= 0x40; // DF
    big[10] = 0;
    big[11] = 0;
    let sum = etherparse::Ipv4Header::from_slice(&big).unwrap().0.calc_header_checksum();
    big[10..12].copy_from_slice(&sum.to_be_bytes());
    let opts = Options { mtu6: 1500, ..opts() };
    let (verdict, after) = cross(&config, &big, true, &opts).unwrap_err();
    assert_eq!(verdict, Verdict::Reply(IcmpReply::FragmentationNeeded { mtu: 1480 }));
    assert_eq!(after, big);
}

#[test]
fn only_a_ce_maps_ports() {
    let text = format!("role br\nmode t\nfmr {RULE}\ndmr 64:ff9b::/96\nport-mapping contiguous\n");
    let err = Instance::parse(&text).err().unwrap();
    assert_eq!(err.to_string(), "line 5: port-mapping is for a CE, and this is a BR");
    let err = Instance::parse("role ce\nport-mapping on\n").err().unwrap();
    assert!(err.to_string().contains("off or contiguous"), "{err}");
    // The setting survives the text form.
    let config = ce("e", "contiguous");
    let again = Instance::parse(&config.to_string()).unwrap();
    assert_eq!(again.port_mapping, config.port_mapping);
    assert!(config.to_string().contains("port-mapping contiguous\n"));
}

#[test]
fn a_tunnel_packet_seen_up_to_its_ports_is_asked_for_whole() {
    // MAP-E: the BR's reply to port 65407, ECN-capable inside and marked Congestion
    // Experienced outside (RFC 6040: the mark goes onto the inner header).
    let config = ce("e", "contiguous");
    let mut inner = tcp4((SERVER, 80), (CE, 65407), b"world");
    let (mut header, _) = etherparse::Ipv4Header::from_slice(&inner).unwrap();
    header.ecn = etherparse::IpEcn::Ect0;
    header.header_checksum = header.calc_header_checksum();
    inner[..20].copy_from_slice(&header.to_bytes());
    let mut tunnel = Vec::new();
    PacketBuilder::ipv6(v6(BR_E).octets(), map_address(&config).octets(), 64)
        .write(&mut tunnel, etherparse::IpNumber::IPV4, &inner)
        .unwrap();
    tunnel[1] |= 0x30;
    // A device's view that ends after the inner ports, before the TCP checksum the mapping
    // updates: asked for whole, the buffer as it came (the device pulls more and retries).
    let present = 40 + 20 + 4;
    let (verdict, after) = cross_view(&config, &tunnel, present, false);
    assert_eq!(verdict, Some(Verdict::NeedWhole));
    assert_eq!(after, &tunnel[..present], "written before asking for the whole packet");
    // Whole, it passes: ports mapped, the inner header marked, its checksums right.
    let four = cross(&config, &tunnel, false, &opts()).unwrap();
    assert_eq!(ports(&four), (80, 3903));
    let (header, _) = etherparse::Ipv4Header::from_slice(&four).unwrap();
    assert_eq!(header.ecn, etherparse::IpEcn::CongestionExperienced);
    assert_eq!(header.header_checksum, header.calc_header_checksum());
}

#[test]
fn an_icmpv4_error_carried_in_ipv6_is_asked_for_whole_before_its_quote_is_mapped() {
    // MAP-T passes an ICMPv4 message inside IPv6 on as it is; an error's quoted ports are
    // mapped once it is IPv4, so a view of its headers alone is asked for whole, unwritten.
    let config = ce("t", "contiguous");
    let quoted = udp4((CE, 2943), (SERVER, 53));
    let mut error = Vec::new();
    PacketBuilder::ipv6(v6(SERVER_T).octets(), map_address(&config).octets(), 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(etherparse::icmpv4::DestUnreachableHeader::Port))
        .write(&mut error, &quoted)
        .unwrap();
    let present = 40 + 8;
    let (verdict, after) = cross_view(&config, &error, present, false);
    assert_eq!(verdict, Some(Verdict::NeedWhole));
    assert_eq!(after, &error[..present], "written before asking for the whole packet");
    // Whole, the quote is mapped: the NAPT sees the port it sent from.
    let four = cross(&config, &error, false, &opts()).unwrap();
    let sliced = SlicedPacket::from_ip(&four).unwrap();
    let Some(TransportSlice::Icmpv4(icmp)) = sliced.transport else { panic!("not ICMP") };
    assert_eq!(icmp.header().checksum, icmp.icmp_type().calc_checksum(icmp.payload()), "ICMP checksum");
    assert_eq!(ports(icmp.payload()), (1951, 53), "the quoted packet, its UDP checksum right");
    // Cut short before its quote, whole: dropped as truncated (the device does not try again).
    let mut patched = error[..40 + 5].to_vec();
    patched[4..6].copy_from_slice(&5u16.to_be_bytes());
    assert_eq!(cross(&config, &patched, false, &opts()).unwrap_err().0, Verdict::Drop(DropReason::Truncated));
}

#[test]
fn an_icmp_error_quoting_a_port_outside_the_napt_range_is_refused_for_its_port() {
    // From the LAN, about a datagram to the CE's port 55296, which no NAPT port maps to.
    let config = ce("t", "contiguous");
    let quoted = udp4((SERVER, 53), (CE, 55296));
    let mut error = Vec::new();
    PacketBuilder::ipv4(v4(CE).octets(), v4(SERVER).octets(), 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(etherparse::icmpv4::DestUnreachableHeader::Port))
        .write(&mut error, &quoted)
        .unwrap();
    let (verdict, after) = cross(&config, &error, true, &opts()).unwrap_err();
    assert_eq!(verdict, Verdict::Drop(DropReason::PortNotAllowed), "not Truncated: the quote is whole");
    assert_eq!(after, error);
    // Its headers alone: asked for whole before anything is written.
    let present = 20 + 8 + 12;
    let (verdict, after) = cross_view(&config, &error, present, true);
    assert_eq!(verdict, Some(Verdict::NeedWhole));
    assert_eq!(after, &error[..present]);
}

#[test]
fn an_echo_seen_up_to_its_ip_header_is_asked_for_whole() {
    // Its identifier 55296 is outside the NAPT's range; its IPv4 header checksum is wrong, so
    // that a view of the IPv4 header alone, if the mapping took the echo for a packet without
    // an identifier, would come out dropped for the checksum where the whole one is refused
    // for its identifier: the mapping asks for the rest before either.
    let config = ce("t", "contiguous");
    let mut echo = Vec::new();
    PacketBuilder::ipv4(v4(CE).octets(), v4(SERVER).octets(), 64)
        .icmpv4_echo_request(55296, 1)
        .write(&mut echo, b"ping")
        .unwrap();
    echo[10] ^= 0xff;
    assert_eq!(cross(&config, &echo, true, &opts()).unwrap_err().0, Verdict::Drop(DropReason::PortNotAllowed));
    let (verdict, after) = cross_view(&config, &echo, 20, true);
    assert_eq!(verdict, Some(Verdict::NeedWhole));
    assert_eq!(after, &echo[..20]);
}
