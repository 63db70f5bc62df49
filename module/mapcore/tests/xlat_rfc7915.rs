//! RFC 7915 translation, section by section, every output checked by etherparse.

mod xlat_common;

use mapcore::xlat::{self, DropReason, FlowKind, IcmpReply, Options, TtlMode, Verdict};
use xlat_common::*;

fn v4_tcp() -> Vec<u8> {
    let seg = tcp(Pseudo::V4(A4, B4), 40000, 443, b"hello, translated world");
    ip4(6, A4, B4, &seg)
}

fn v6_tcp() -> Vec<u8> {
    let seg = tcp(Pseudo::V6(a6(), b6()), 40000, 443, b"hello, translated world");
    ip6(6, a6(), b6(), &seg)
}

// ---------------- §4.1 IPv4 -> IPv6 header ----------------

#[test]
fn rfc7915_4_1_tcp_header_fields() {
    let pkt = v4_tcp();
    let out = to6(&pkt, &Options::default()).unwrap();
    let v = verify6(&out);
    assert_eq!(out.len(), pkt.len() + 20);
    assert_eq!(v.hdr.traffic_class, 0x28, "traffic class = TOS");
    assert_eq!(v.hdr.flow_label.value(), 0);
    assert_eq!(v.hdr.hop_limit, 63, "hop limit = TTL - 1");
    assert_eq!(v.proto, 6);
    assert_eq!(v.hdr.source, a6().octets());
    assert_eq!(v.hdr.destination, b6().octets());
    assert!(v.frag.is_none(), "no Fragment header for an unfragmented packet");
    // The transport bytes other than the checksum are unchanged.
    assert_eq!(&out[40..56], &pkt[20..36]);
    assert_eq!(&out[58..], &pkt[38..]);
}

#[test]
fn rfc7915_4_1_udp_checksum_adjusted() {
    let seg = udp(Pseudo::V4(A4, B4), 5353, 53, b"query");
    let out = to6(&ip4(17, A4, B4, &seg), &Options::default()).unwrap();
    assert_eq!(verify6(&out).proto, 17);
}

#[test]
fn rfc7915_4_5_udp_zero_checksum_computed() {
    let mut seg = udp(Pseudo::V4(A4, B4), 5353, 53, b"no checksum here");
    seg[6] = 0;
    seg[7] = 0;
    let out = to6(&ip4(17, A4, B4, &seg), &Options::default()).unwrap();
    let v = verify6(&out);
    assert_ne!(&v.l4[6..8], &[0, 0]);
}

#[test]
fn rfc7915_4_5_fragmented_udp_zero_checksum_dropped() {
    let mut seg = udp(Pseudo::V4(A4, B4), 5353, 53, b"no checksum here");
    seg[6] = 0;
    seg[7] = 0;
    let pkt = ip4_raw(17, A4, B4, 64, 0, 7, MF, &[], &seg);
    assert_eq!(to6(&pkt, &Options::default()), Err(Verdict::Drop(DropReason::FragmentedUdpZeroChecksum)));
}

#[test]
fn rfc7915_4_1_tos_zeroed_when_configured() {
    let opts = Options { copy_tos: false, ..Options::default() };
    let out = to6(&v4_tcp(), &opts).unwrap();
    assert_eq!(verify6(&out).hdr.traffic_class, 0);
}

#[test]
fn rfc7915_4_1_ttl_modes() {
    let seg = tcp(Pseudo::V4(A4, B4), 1, 2, b"");
    for (ttl, mode, want) in [
        (64, TtlMode::Decrement, Ok(63)),
        (2, TtlMode::Decrement, Ok(1)),
        (1, TtlMode::Decrement, Err(Verdict::Reply(IcmpReply::TimeExceeded))),
        (0, TtlMode::Decrement, Err(Verdict::Reply(IcmpReply::TimeExceeded))),
        (64, TtlMode::Keep, Ok(64)),
        (1, TtlMode::Keep, Ok(1)),
        (63, TtlMode::Restore, Ok(64)),
        (255, TtlMode::Restore, Ok(255)),
    ] {
        let pkt = ip4_raw(6, A4, B4, ttl, 0, 1, DF, &[], &seg);
        let opts = Options { ttl: mode, ..Options::default() };
        let got = to6(&pkt, &opts).map(|o| verify6(&o).hdr.hop_limit);
        assert_eq!(got, want, "ttl {ttl} {mode:?}");
    }
    assert_eq!(IcmpReply::TimeExceeded.for_family(false), (11, 0, 0));
    assert_eq!(IcmpReply::TimeExceeded.for_family(true), (3, 0, 0));
}

#[test]
fn rfc7915_4_1_ipv4_options_ignored() {
    let seg = tcp(Pseudo::V4(A4, B4), 1000, 80, b"opts");
    // NOP, NOP, record route (7) len 7 ptr 4 + 4 bytes, EOL -> 12 bytes of options.
    let options = [1, 1, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0];
    let pkt = ip4_raw(6, A4, B4, 64, 0, 1, DF, &options, &seg);
    let out = to6(&pkt, &Options::default()).unwrap();
    assert_eq!(out.len(), pkt.len() - 32 + 40);
    verify6(&out);
}

#[test]
fn rfc7915_4_1_unexpired_source_route_refused() {
    let seg = tcp(Pseudo::V4(A4, B4), 1000, 80, b"lsrr");
    // LSRR (131), len 7, pointer 4 (unexpired), one address, NOP padding.
    let lsrr = [131, 7, 4, 10, 0, 0, 1, 1];
    let pkt = ip4_raw(6, A4, B4, 64, 0, 1, DF, &lsrr, &seg);
    assert_eq!(to6(&pkt, &Options::default()), Err(Verdict::Reply(IcmpReply::SourceRouteFailed)));
    assert_eq!(IcmpReply::SourceRouteFailed.for_family(false), (3, 5, 0));
    // Pointer past the end: expired, translated.
    let ssrr = [137, 7, 8, 10, 0, 0, 1, 1];
    let pkt = ip4_raw(6, A4, B4, 64, 0, 1, DF, &ssrr, &seg);
    verify6(&to6(&pkt, &Options::default()).unwrap());
}

#[test]
fn rfc7915_4_1_fragments_get_a_fragment_header() {
    let seg = tcp(Pseudo::V4(A4, B4), 1000, 80, &[7u8; 64]);
    // First fragment: the first 48 bytes of the segment, MF set.
    let first = ip4_raw(6, A4, B4, 64, 0, 0xabcd, MF, &[], &seg[..48]);
    let map = Nat64::new();
    let out = run(&first, |b, s, l| xlat::v4_to_v6(b, s, l, &map, &Options::default())).unwrap();
    let v = verify6(&out);
    let f = v.frag.expect("Fragment header");
    assert_eq!(f.identification, 0xabcd);
    assert!(f.more_fragments);
    assert_eq!(f.fragment_offset.value(), 0);
    assert_eq!(v.proto, 6);
    assert_eq!(out.len(), first.len() + 28);
    let flow = map.seen4.borrow()[0];
    assert_eq!((flow.src_port, flow.dst_port), (Some(1000), Some(80)));
    // The checksum of the whole segment, adjusted in the first fragment, verifies once
    // reassembled with the second.
    let second = ip4_raw(6, A4, B4, 64, 0, 0xabcd, 6, &[], &seg[48..]);
    let map = Nat64::new();
    let out2 = run(&second, |b, s, l| xlat::v4_to_v6(b, s, l, &map, &Options::default())).unwrap();
    let v2 = verify6(&out2);
    let f2 = v2.frag.unwrap();
    assert_eq!(f2.fragment_offset.value(), 6);
    assert!(!f2.more_fragments);
    assert_eq!(f2.identification, 0xabcd);
    assert_eq!(v2.l4, &seg[48..]);
    let flow = map.seen4.borrow()[0];
    assert_eq!((flow.src_port, flow.dst_port), (None, None), "a non-first fragment shows no ports");
    let mut whole = v.l4.clone();
    whole.extend_from_slice(&v2.l4);
    check_l4_6(a6().octets(), b6().octets(), 6, &whole);
}

#[test]
fn rfc7915_4_1_mtu_df_and_no_df() {
    let seg = tcp(Pseudo::V4(A4, B4), 1000, 80, &[0u8; 1460]);
    let opts = Options { mtu6: 1500, ..Options::default() };
    let pkt = ip4_raw(6, A4, B4, 64, 0, 1, DF, &[], &seg);
    assert_eq!(to6(&pkt, &opts), Err(Verdict::Reply(IcmpReply::FragmentationNeeded { mtu: 1480 })));
    let pkt = ip4_raw(6, A4, B4, 64, 0, 1, 0, &[], &seg);
    assert_eq!(to6(&pkt, &opts), Err(Verdict::Fragment { mtu: 1472 }));
    let seg = tcp(Pseudo::V4(A4, B4), 1000, 80, &[0u8; 1440]);
    let pkt = ip4_raw(6, A4, B4, 64, 0, 1, DF, &[], &seg);
    assert_eq!(to6(&pkt, &opts).unwrap().len(), 1500);
}

#[test]
fn rfc7915_4_1_igmp_and_bad_headers_dropped() {
    let pkt = ip4(2, A4, B4, &[0x11, 0, 0xee, 0xff, 0, 0, 0, 0]);
    assert_eq!(to6(&pkt, &Options::default()), Err(Verdict::Drop(DropReason::UnsupportedProtocol)));
    let mut bad = v4_tcp();
    bad[10] ^= 1;
    assert_eq!(to6(&bad, &Options::default()), Err(Verdict::Drop(DropReason::BadHeaderChecksum)));
    let mut bad = v4_tcp();
    bad[0] = 0x65;
    assert_eq!(to6(&bad, &Options::default()), Err(Verdict::Drop(DropReason::BadVersion)));
    let good = v4_tcp();
    assert_eq!(to6(&good[..good.len() - 1], &Options::default()), Err(Verdict::Drop(DropReason::Truncated)));
}

// ---------------- §4.2 ICMPv4 -> ICMPv6 ----------------

#[test]
fn rfc7915_4_2_icmp_echo_request_and_reply() {
    for (ty4, ty6) in [(8u8, 128u8), (0, 129)] {
        let (rest, body) = echo_body(0x4242, 7, b"ping payload");
        let pkt = ip4(1, A4, B4, &icmp4(ty4, 0, rest, &body));
        let map = Nat64::new();
        let out = run(&pkt, |b, s, l| xlat::v4_to_v6(b, s, l, &map, &Options::default())).unwrap();
        let v = verify6(&out);
        assert_eq!(v.proto, 58);
        assert_eq!(v.l4[0], ty6);
        assert_eq!(&v.l4[4..], &pkt[24..]);
        let f = map.seen4.borrow()[0];
        assert_eq!((f.proto, f.src_port, f.dst_port), (1, Some(0x4242), Some(0x4242)));
    }
}

#[test]
fn rfc7915_4_2_informational_icmp_dropped() {
    for ty in [13u8, 14, 15, 16, 17, 18, 9, 10, 4, 5, 6, 42] {
        let pkt = ip4(1, A4, B4, &icmp4(ty, 0, [0; 4], &[0; 20]));
        // Source quench (4) and redirect (5) are errors without a translation.
        assert_eq!(to6(&pkt, &Options::default()), Err(Verdict::Drop(DropReason::UntranslatableIcmp)), "type {ty}");
    }
}

/// An ICMPv4 error from R4 to A4 about a TCP packet A4 -> B4 (complete, so its checksum can
/// be verified after translation).
fn v4_error(ty: u8, code: u8, rest: [u8; 4]) -> Vec<u8> {
    let inner_seg = tcp(Pseudo::V4(B4, A4), 443, 40000, b"the original datagram");
    let inner = ip4_raw(6, B4, A4, 12, 0x10, 0x7777, DF, &[], &inner_seg);
    ip4(1, R4, A4, &icmp4(ty, code, rest, &inner))
}

fn icmp6_of(out: &[u8]) -> (u8, u8, u32) {
    let v = verify6(out);
    assert_eq!(v.proto, 58);
    (v.l4[0], v.l4[1], u32::from_be_bytes(v.l4[4..8].try_into().unwrap()))
}

#[test]
fn rfc7915_4_2_destination_unreachable_codes() {
    type Want = Option<(u8, u8, u32)>;
    let table: [(u8, Want); 16] = [
        (0, Some((1, 0, 0))),
        (1, Some((1, 0, 0))),
        (2, Some((4, 1, 6))),
        (3, Some((1, 4, 0))),
        (5, Some((1, 0, 0))),
        (6, Some((1, 0, 0))),
        (7, Some((1, 0, 0))),
        (8, Some((1, 0, 0))),
        (9, Some((1, 1, 0))),
        (10, Some((1, 1, 0))),
        (11, Some((1, 0, 0))),
        (12, Some((1, 0, 0))),
        (13, Some((1, 1, 0))),
        (14, None),
        (15, Some((1, 1, 0))),
        (16, None),
    ];
    for (code, want) in table {
        let got = to6(&v4_error(3, code, [0; 4]), &Options::default());
        match want {
            Some(w) => assert_eq!(icmp6_of(&got.unwrap()), w, "code {code}"),
            None => assert_eq!(got, Err(Verdict::Drop(DropReason::UntranslatableIcmp)), "code {code}"),
        }
    }
}

#[test]
fn rfc7915_4_2_fragmentation_needed_to_packet_too_big() {
    let fnd = |mtu: u16, opts: &Options| icmp6_of(&to6(&v4_error(3, 4, [0, 0, (mtu >> 8) as u8, mtu as u8]), opts).unwrap());
    assert_eq!(fnd(1400, &Options::default()), (2, 0, 1420), "MTU + 20");
    assert_eq!(fnd(1400, &Options { mtu6: 1400, ..Options::default() }), (2, 0, 1400), "IPv6 next hop");
    assert_eq!(fnd(1400, &Options { mtu4: 1300, ..Options::default() }), (2, 0, 1320), "IPv4 next hop + 20");
    assert_eq!(fnd(576, &Options::default()), (2, 0, 1280), "clamped to the IPv6 minimum");
    // Zero MTU: the RFC 1191 plateau below the embedded packet's length (61 bytes -> 508 + 20
    // -> clamped 1280), and for a big one 1492 + 20.
    assert_eq!(fnd(0, &Options::default()), (2, 0, 1280));
    let big_seg = tcp(Pseudo::V4(B4, A4), 443, 40000, &[0u8; 1480]);
    let mut big = ip4_raw(6, B4, A4, 12, 0, 1, DF, &[], &big_seg);
    big.truncate(28);
    let pkt = ip4(1, R4, A4, &icmp4(3, 4, [0; 4], &big));
    assert_eq!(icmp6_of(&to6(&pkt, &Options::default()).unwrap()), (2, 0, 1512));
}

#[test]
fn rfc7915_4_2_time_exceeded() {
    for code in [0u8, 1] {
        assert_eq!(icmp6_of(&to6(&v4_error(11, code, [0; 4]), &Options::default()).unwrap()), (3, code, 0));
    }
    assert_eq!(to6(&v4_error(11, 2, [0; 4]), &Options::default()), Err(Verdict::Drop(DropReason::UntranslatableIcmp)));
}

#[test]
fn rfc7915_4_2_parameter_problem_pointer() {
    let table: [(u8, Option<u32>); 20] = [
        (0, Some(0)),
        (1, Some(1)),
        (2, Some(4)),
        (3, Some(4)),
        (4, None),
        (5, None),
        (6, None),
        (7, None),
        (8, Some(7)),
        (9, Some(6)),
        (10, None),
        (11, None),
        (12, Some(8)),
        (13, Some(8)),
        (14, Some(8)),
        (15, Some(8)),
        (16, Some(24)),
        (17, Some(24)),
        (19, Some(24)),
        (20, None),
    ];
    for (p4, p6) in table {
        let got = to6(&v4_error(12, 0, [p4, 0, 0, 0]), &Options::default());
        match p6 {
            Some(p) => assert_eq!(icmp6_of(&got.unwrap()), (4, 0, p), "pointer {p4}"),
            None => assert_eq!(got, Err(Verdict::Drop(DropReason::UntranslatableIcmp)), "pointer {p4}"),
        }
    }
    assert_eq!(icmp6_of(&to6(&v4_error(12, 2, [9, 0, 0, 0]), &Options::default()).unwrap()), (4, 0, 6));
    assert_eq!(to6(&v4_error(12, 1, [0; 4]), &Options::default()), Err(Verdict::Drop(DropReason::UntranslatableIcmp)));
}

#[test]
fn rfc7915_4_3_embedded_packet_translated() {
    let pkt = v4_error(3, 3, [0; 4]);
    let map = Nat64::new();
    let out = run(&pkt, |b, s, l| xlat::v4_to_v6(b, s, l, &map, &Options::default())).unwrap();
    assert_eq!(out.len(), pkt.len() + 40);
    let v = verify6(&out);
    assert_eq!(v.hdr.source, r6().octets());
    assert_eq!(v.hdr.destination, a6().octets());
    let inner = &v.l4[8..];
    let w = verify6(inner);
    assert_eq!(w.hdr.source, b6().octets());
    assert_eq!(w.hdr.destination, a6().octets());
    assert_eq!(w.hdr.hop_limit, 12, "the embedded TTL is not decremented");
    assert_eq!(w.hdr.traffic_class, 0x10);
    assert_eq!(w.proto, 6);
    // The outer flow carries the embedded ports, read in the error's direction; the embedded
    // flow is presented reversed.
    let seen = map.seen4.borrow();
    assert_eq!(seen[0].kind, FlowKind::IcmpError);
    assert_eq!((seen[0].src, seen[0].dst, seen[0].proto), (R4, A4, 6));
    assert_eq!((seen[0].src_port, seen[0].dst_port), (Some(40000), Some(443)));
    assert_eq!(seen[1].kind, FlowKind::Embedded);
    assert_eq!((seen[1].src, seen[1].dst), (A4, B4));
    assert_eq!((seen[1].src_port, seen[1].dst_port), (Some(40000), Some(443)));
}

#[test]
fn rfc7915_4_3_embedded_echo_and_fragment() {
    let (rest, body) = echo_body(9, 1, b"abcdefgh");
    let inner_icmp = icmp4(8, 0, rest, &body);
    let inner = ip4_raw(1, A4, B4, 3, 0, 0x99, 0, &[], &inner_icmp);
    let pkt = ip4(1, R4, A4, &icmp4(11, 0, [0; 4], &inner));
    let out = to6(&pkt, &Options::default()).unwrap();
    let w = verify6(&verify6(&out).l4[8..]);
    assert_eq!(w.l4[0], 128);
    // An embedded first fragment gets a Fragment header too.
    let seg = tcp(Pseudo::V4(B4, A4), 443, 40000, &[1u8; 32]);
    let inner = ip4_raw(6, B4, A4, 3, 0, 0x99, MF, &[], &seg[..24]);
    let pkt = ip4(1, R4, A4, &icmp4(3, 1, [0; 4], &inner));
    let out = to6(&pkt, &Options::default()).unwrap();
    assert_eq!(out.len(), pkt.len() + 48);
    let w = verify6(&verify6(&out).l4[8..]);
    assert_eq!(w.frag.unwrap().identification, 0x99);
}

#[test]
fn rfc7915_4_2_error_checks() {
    // Corrupt ICMP checksum.
    let mut pkt = v4_error(3, 3, [0; 4]);
    let n = pkt.len();
    pkt[n - 1] ^= 0xff;
    assert_eq!(to6(&pkt, &Options::default()), Err(Verdict::Drop(DropReason::BadChecksum)));
    // An error about an error.
    let inner = ip4(1, B4, A4, &icmp4(3, 3, [0; 4], &[0x45; 28]));
    let pkt = ip4(1, R4, A4, &icmp4(3, 3, [0; 4], &inner));
    assert_eq!(to6(&pkt, &Options::default()), Err(Verdict::Drop(DropReason::NestedIcmpError)));
    // Fragmented ICMP.
    let (rest, body) = echo_body(9, 1, b"abcdefgh");
    let pkt = ip4_raw(1, A4, B4, 64, 0, 3, MF, &[], &icmp4(8, 0, rest, &body));
    assert_eq!(to6(&pkt, &Options::default()), Err(Verdict::Drop(DropReason::FragmentedIcmp)));
    // Too short to hold an embedded header.
    let pkt = ip4(1, R4, A4, &icmp4(3, 3, [0; 4], &[0x45, 0, 0]));
    assert_eq!(to6(&pkt, &Options::default()), Err(Verdict::Drop(DropReason::BadEmbeddedPacket)));
}

#[test]
fn rfc7915_4_2_error_truncated_to_1280() {
    let inner_seg = udp(Pseudo::V4(B4, A4), 53, 5353, &[3u8; 1400]);
    let inner = ip4_raw(17, B4, A4, 12, 0, 1, 0, &[], &inner_seg);
    let pkt = ip4(1, R4, A4, &icmp4(3, 3, [0; 4], &inner));
    let out = to6(&pkt, &Options::default()).unwrap();
    assert_eq!(out.len(), 1280);
    icmp6_of(&out);
}

#[test]
fn rfc4884_extension_cut() {
    let inner_seg = udp(Pseudo::V4(B4, A4), 53, 5353, &[3u8; 100]);
    let inner = ip4_raw(17, B4, A4, 12, 0, 1, 0, &[], &inner_seg);
    let mut body = inner[..128].to_vec();
    body.extend_from_slice(&[0x20, 0, 0, 0, 0, 8, 1, 1, 0, 0, 0, 0]);
    let pkt = ip4(1, R4, A4, &icmp4(11, 0, [0, 32, 0, 0], &body));
    let out = to6(&pkt, &Options::default()).unwrap();
    assert_eq!(out.len(), 40 + 8 + 40 + 128 - 20);
    assert_eq!(icmp6_of(&out), (3, 0, 0));
}

// ---------------- §5.1 IPv6 -> IPv4 header ----------------

#[test]
fn rfc7915_5_1_tcp_header_fields() {
    let pkt = v6_tcp();
    let out = to4(&pkt, &Options::default()).unwrap();
    let v = verify4(&out);
    assert_eq!(out.len(), pkt.len() - 20);
    assert_eq!(v.hdr.dscp.value() << 2 | v.hdr.ecn.value(), 0x28, "TOS = traffic class");
    assert_eq!(v.hdr.time_to_live, 63);
    assert_eq!(v.hdr.protocol.0, 6);
    assert_eq!(v.hdr.source, A4.octets());
    assert_eq!(v.hdr.destination, B4.octets());
    assert!(!v.hdr.dont_fragment, "small packets get DF clear (RFC 7915 §5.1)");
    assert_eq!(v.hdr.identification, 0x5151, "from AddressMap::ipv4_identification");
    assert!(v.hdr.options.is_empty());
}

#[test]
fn rfc7915_5_1_df_above_1260() {
    let seg = tcp(Pseudo::V6(a6(), b6()), 1, 2, &[0u8; 1300]);
    let out = to4(&ip6(6, a6(), b6(), &seg), &Options::default()).unwrap();
    let v = verify4(&out);
    assert!(v.hdr.dont_fragment);
    assert_eq!(v.hdr.identification, 0);
}

#[test]
fn rfc7915_5_1_mtu4_packet_too_big() {
    let seg = tcp(Pseudo::V6(a6(), b6()), 1, 2, &[0u8; 1440]);
    let opts = Options { mtu4: 1400, ..Options::default() };
    assert_eq!(to4(&ip6(6, a6(), b6(), &seg), &opts), Err(Verdict::Reply(IcmpReply::PacketTooBig { mtu: 1420 })));
    assert_eq!(IcmpReply::PacketTooBig { mtu: 1420 }.for_family(true), (2, 0, 1420));
}

#[test]
fn rfc7915_5_1_extension_headers_skipped() {
    let seg = udp(Pseudo::V6(a6(), b6()), 1, 2, b"with extension headers");
    // Hop-by-Hop (next: Routing) PadN, Routing type 0 with segments left 0 (next: Dest opts),
    // Destination Options (next: UDP).
    let mut exts = vec![43, 0, 1, 4, 0, 0, 0, 0];
    exts.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
    exts.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    let pkt = ip6_raw(0, a6(), b6(), 64, 0, &exts, &seg);
    let out = to4(&pkt, &Options::default()).unwrap();
    let v = verify4(&out);
    assert_eq!(v.hdr.protocol.0, 17);
    assert_eq!(out.len(), 20 + seg.len());
}

#[test]
fn rfc7915_5_1_routing_header_segments_left() {
    let seg = udp(Pseudo::V6(a6(), b6()), 1, 2, b"routed");
    let exts = [17, 0, 0, 1, 0, 0, 0, 0];
    let pkt = ip6_raw(43, a6(), b6(), 64, 0, &exts, &seg);
    assert_eq!(to4(&pkt, &Options::default()), Err(Verdict::Reply(IcmpReply::ParameterProblem { pointer: 43 })));
}

#[test]
fn rfc7915_5_1_fragment_header() {
    let seg = udp(Pseudo::V6(a6(), b6()), 7, 9, &[5u8; 64]);
    let frag1 = [17, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
    let pkt = ip6_raw(44, a6(), b6(), 64, 0, &frag1, &seg[..40]);
    let map = Nat64::new();
    let out = run(&pkt, |b, s, l| xlat::v6_to_v4(b, s, l, &map, &Options::default())).unwrap();
    let v = verify4(&out);
    assert_eq!(v.hdr.identification, 0xbeef, "low 16 bits of the identification");
    assert!(v.hdr.more_fragments);
    assert!(!v.hdr.dont_fragment);
    assert_eq!(v.hdr.fragment_offset.value(), 0);
    assert_eq!(map.seen6.borrow()[0].dst_port, Some(9));
    let frag2 = [17, 0, 0, 5 << 3, 0xde, 0xad, 0xbe, 0xef];
    let pkt2 = ip6_raw(44, a6(), b6(), 64, 0, &frag2, &seg[40..]);
    let map = Nat64::new();
    let out2 = run(&pkt2, |b, s, l| xlat::v6_to_v4(b, s, l, &map, &Options::default())).unwrap();
    let v2 = verify4(&out2);
    assert_eq!(v2.hdr.fragment_offset.value(), 5);
    assert!(!v2.hdr.more_fragments);
    assert_eq!(map.seen6.borrow()[0].dst_port, None);
    let mut whole = v.l4.clone();
    whole.extend_from_slice(&v2.l4);
    check_l4_4(A4.octets(), B4.octets(), 17, &whole);
}

#[test]
fn rfc7915_5_1_drops() {
    let mut seg = udp(Pseudo::V6(a6(), b6()), 1, 2, b"zero");
    seg[6] = 0;
    seg[7] = 0;
    assert_eq!(to4(&ip6(17, a6(), b6(), &seg), &Options::default()), Err(Verdict::Drop(DropReason::UdpZeroChecksum)));
    let seg = tcp(Pseudo::V6(a6(), b6()), 1, 2, b"");
    let pkt = ip6_raw(6, a6(), b6(), 1, 0, &[], &seg);
    assert_eq!(to4(&pkt, &Options::default()), Err(Verdict::Reply(IcmpReply::TimeExceeded)));
    let other = ip6(6, "2001:db8::1".parse().unwrap(), b6(), &seg);
    assert_eq!(to4(&other, &Options::default()), Err(Verdict::Drop(DropReason::NoMapping)));
    let mut jumbo = v6_tcp();
    jumbo[4] = 0;
    jumbo[5] = 0;
    assert_eq!(to4(&jumbo, &Options::default()), Err(Verdict::Drop(DropReason::BadLength)));
    // Too many extension headers.
    let mut exts = Vec::new();
    for _ in 0..9 {
        exts.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    let n = exts.len();
    exts[n - 8] = 6;
    let pkt = ip6_raw(60, a6(), b6(), 64, 0, &exts, &seg);
    assert_eq!(to4(&pkt, &Options::default()), Err(Verdict::Drop(DropReason::TooManyExtensionHeaders)));
}

// ---------------- §5.2 ICMPv6 -> ICMPv4 ----------------

#[test]
fn rfc7915_5_2_icmpv6_echo() {
    for (ty6, ty4) in [(128u8, 8u8), (129, 0)] {
        let (rest, body) = echo_body(0x77, 3, b"ping6 payload!");
        let pkt = ip6(58, a6(), b6(), &icmp6(a6(), b6(), ty6, 0, rest, &body));
        let out = to4(&pkt, &Options::default()).unwrap();
        let v = verify4(&out);
        assert_eq!(v.hdr.protocol.0, 1);
        assert_eq!(v.l4[0], ty4);
    }
}

#[test]
fn rfc7915_5_2_mld_nd_dropped() {
    for ty in [130u8, 131, 132, 133, 134, 135, 136, 137, 143, 200, 0, 5, 100, 127] {
        let pkt = ip6(58, a6(), b6(), &icmp6(a6(), b6(), ty, 0, [0; 4], &[0; 16]));
        assert_eq!(to4(&pkt, &Options::default()), Err(Verdict::Drop(DropReason::UntranslatableIcmp)), "type {ty}");
    }
}

/// An ICMPv6 error from R6 to A6 about a TCP packet A6 -> B6.
fn v6_error(ty: u8, code: u8, rest: [u8; 4]) -> Vec<u8> {
    let inner_seg = tcp(Pseudo::V6(b6(), a6()), 443, 40000, b"the original datagram");
    let inner = ip6_raw(6, b6(), a6(), 12, 0x10, &[], &inner_seg);
    ip6(58, r6(), a6(), &icmp6(r6(), a6(), ty, code, rest, &inner))
}

fn icmp4_of(out: &[u8]) -> (u8, u8, [u8; 4]) {
    let v = verify4(out);
    assert_eq!(v.hdr.protocol.0, 1);
    (v.l4[0], v.l4[1], v.l4[4..8].try_into().unwrap())
}

#[test]
fn rfc7915_5_2_destination_unreachable_codes() {
    for (code, want) in [(0u8, Some(1u8)), (1, Some(10)), (2, Some(1)), (3, Some(1)), (4, Some(3)), (5, None), (7, None)] {
        let got = to4(&v6_error(1, code, [0; 4]), &Options::default());
        match want {
            Some(c) => assert_eq!(icmp4_of(&got.unwrap()), (3, c, [0; 4]), "code {code}"),
            None => assert_eq!(got, Err(Verdict::Drop(DropReason::UntranslatableIcmp))),
        }
    }
}

#[test]
fn rfc7915_5_2_packet_too_big_to_fragmentation_needed() {
    let ptb = |mtu: u32, opts: &Options| icmp4_of(&to4(&v6_error(2, 0, mtu.to_be_bytes()), opts).unwrap());
    assert_eq!(ptb(1500, &Options::default()), (3, 4, [0, 0, 0x05, 0xc8]), "1500 - 20 = 1480");
    assert_eq!(ptb(1500, &Options { mtu4: 1400, ..Options::default() }), (3, 4, [0, 0, 0x05, 0x78]));
    assert_eq!(ptb(1500, &Options { mtu6: 1420, ..Options::default() }), (3, 4, [0, 0, 0x05, 0x78]));
    assert_eq!(ptb(70_000, &Options::default()), (3, 4, [0, 0, 0xff, 0xff]), "clamped to 16 bits");
    assert_eq!(ptb(40, &Options::default()), (3, 4, [0, 0, 0, 68]), "at least 68");
}

#[test]
fn rfc7915_5_2_time_exceeded_and_parameter_problem() {
    assert_eq!(icmp4_of(&to4(&v6_error(3, 0, [0; 4]), &Options::default()).unwrap()), (11, 0, [0; 4]));
    assert_eq!(icmp4_of(&to4(&v6_error(3, 1, [0; 4]), &Options::default()).unwrap()), (11, 1, [0; 4]));
    for (p6, p4) in [(0u32, Some(0u8)), (1, Some(1)), (2, None), (3, None), (4, Some(2)), (5, Some(2)), (6, Some(9)), (7, Some(8)), (8, Some(12)), (23, Some(12)), (24, Some(16)), (39, Some(16)), (40, None)] {
        let got = to4(&v6_error(4, 0, p6.to_be_bytes()), &Options::default());
        match p4 {
            Some(p) => assert_eq!(icmp4_of(&got.unwrap()), (12, 0, [p, 0, 0, 0]), "pointer {p6}"),
            None => assert_eq!(got, Err(Verdict::Drop(DropReason::UntranslatableIcmp)), "pointer {p6}"),
        }
    }
    assert_eq!(icmp4_of(&to4(&v6_error(4, 1, [0, 0, 0, 40]), &Options::default()).unwrap()), (3, 2, [0; 4]));
    assert_eq!(to4(&v6_error(4, 2, [0; 4]), &Options::default()), Err(Verdict::Drop(DropReason::UntranslatableIcmp)));
}

#[test]
fn rfc7915_5_3_embedded_packet_translated() {
    let pkt = v6_error(1, 4, [0; 4]);
    let map = Nat64::new();
    let out = run(&pkt, |b, s, l| xlat::v6_to_v4(b, s, l, &map, &Options::default())).unwrap();
    assert_eq!(out.len(), pkt.len() - 40);
    let v = verify4(&out);
    assert_eq!(v.hdr.source, R4.octets());
    assert_eq!(v.hdr.destination, A4.octets());
    let w = verify4(&v.l4[8..]);
    assert_eq!(w.hdr.source, B4.octets());
    assert_eq!(w.hdr.destination, A4.octets());
    assert_eq!(w.hdr.time_to_live, 12);
    let seen = map.seen6.borrow();
    assert_eq!((seen[0].kind, seen[0].src_port, seen[0].dst_port), (FlowKind::IcmpError, Some(40000), Some(443)));
    assert_eq!((seen[1].kind, seen[1].src, seen[1].dst), (FlowKind::Embedded, a6(), b6()));
}

#[test]
fn rfc7915_5_3_untranslatable_error_source_and_truncation() {
    // A native IPv6 router (no IPv4 form): the map answers an RFC 6791 pool address.
    let router: std::net::Ipv6Addr = "2001:db8:ffff::1".parse().unwrap();
    let inner_seg = udp(Pseudo::V6(b6(), a6()), 53, 5353, &[9u8; 1000]);
    let inner = ip6_raw(17, b6(), a6(), 12, 0, &[], &inner_seg);
    let pkt = ip6(58, router, a6(), &icmp6(router, a6(), 3, 0, [0; 4], &inner));
    let out = to4(&pkt, &Options::default()).unwrap();
    assert_eq!(out.len(), 576);
    let v = verify4(&out);
    assert_eq!(v.hdr.source, [192, 0, 0, 8]);
    assert_eq!((v.l4[0], v.l4[1]), (11, 0));
    // Bad checksum, nested error.
    let mut bad = v6_error(1, 4, [0; 4]);
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert_eq!(to4(&bad, &Options::default()), Err(Verdict::Drop(DropReason::BadChecksum)));
    let nested_inner = ip6(58, b6(), a6(), &icmp6(b6(), a6(), 1, 0, [0; 4], &[0x60; 48]));
    let pkt = ip6(58, r6(), a6(), &icmp6(r6(), a6(), 1, 0, [0; 4], &nested_inner));
    assert_eq!(to4(&pkt, &Options::default()), Err(Verdict::Drop(DropReason::NestedIcmpError)));
}

// ---------------- buffer contract ----------------

#[test]
fn buffer_contract() {
    let pkt = v4_tcp();
    let mut buf = pkt.clone();
    let map = Nat64::new();
    assert_eq!(
        xlat::v4_to_v6(&mut buf, 0, pkt.len(), &map, &Options::default()),
        Err(Verdict::Drop(DropReason::NoHeadroom))
    );
    assert_eq!(buf, pkt);
    assert_eq!(
        xlat::v4_to_v6(&mut buf, 10, pkt.len(), &map, &Options::default()),
        Err(Verdict::Drop(DropReason::BadBuffer))
    );
    assert_eq!(
        xlat::v4_to_v6(&mut buf, usize::MAX, 2, &map, &Options::default()),
        Err(Verdict::Drop(DropReason::BadBuffer))
    );
    // Exactly 20 bytes of headroom suffice; trailing padding is not part of the result.
    let mut buf = vec![0u8; 20];
    buf.extend_from_slice(&pkt);
    buf.extend_from_slice(&[0; 6]);
    let t = xlat::v4_to_v6(&mut buf, 20, pkt.len() + 6, &map, &Options::default()).unwrap();
    assert_eq!((t.start, t.len), (0, pkt.len() + 20));
    // IPv6 -> IPv4 needs none, and starts later.
    let pkt6 = v6_tcp();
    let mut buf = pkt6.clone();
    let t = xlat::v6_to_v4(&mut buf, 0, pkt6.len(), &map, &Options::default()).unwrap();
    assert_eq!((t.start, t.len), (20, pkt6.len() - 20));
    assert_eq!(DropReason::ALL.len(), DropReason::COUNT);
    for (i, r) in DropReason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
    }
}

// ---------------- round trips ----------------

/// IPv4 fields that survive 4 -> 6 -> 4 with TtlMode::Keep: everything but identification,
/// flags (DF follows the 1260 rule) and the header checksum.
fn v4_cmp(a: &[u8], b: &[u8]) {
    assert_eq!(a.len(), b.len());
    assert_eq!(a[..4], b[..4]);
    assert_eq!(a[8..10], b[8..10]);
    assert_eq!(a[12..], b[12..]);
}

#[test]
fn round_trip_4_6_4() {
    let (rest, body) = echo_body(5, 6, b"round trip");
    let mut zero_udp = udp(Pseudo::V4(A4, B4), 1, 2, b"zero");
    zero_udp[6..8].copy_from_slice(&[0, 0]);
    let cases = [
        v4_tcp(),
        ip4(17, A4, B4, &udp(Pseudo::V4(A4, B4), 5353, 53, b"udp round trip")),
        ip4(1, A4, B4, &icmp4(8, 0, rest, &body)),
        ip4(1, A4, B4, &icmp4(0, 0, rest, &body)),
        ip4(50, A4, B4, b"some ESP bytes"),
        v4_error(3, 3, [0; 4]),
        v4_error(11, 0, [0; 4]),
    ];
    for (i, pkt) in cases.into_iter().enumerate() {
        let six = to6(&pkt, &keep()).unwrap();
        verify6(&six);
        let mut back = to4(&six, &keep()).unwrap();
        verify4(&back);
        let mut pkt = pkt;
        if i >= 5 {
            // ICMP errors: the embedded header's identification, flags and checksum, and so
            // the ICMP checksum, follow the same rules.
            for b in [&mut pkt, &mut back] {
                b[22..24].fill(0);
                b[32..36].fill(0);
                b[38..40].fill(0);
            }
        }
        v4_cmp(&pkt, &back);
    }
}

#[test]
fn round_trip_6_4_6() {
    let (rest, body) = echo_body(5, 6, b"round trip");
    let cases = [
        v6_tcp(),
        ip6(17, a6(), b6(), &udp(Pseudo::V6(a6(), b6()), 5353, 53, b"udp round trip")),
        ip6(58, a6(), b6(), &icmp6(a6(), b6(), 128, 0, rest, &body)),
        ip6(58, a6(), b6(), &icmp6(a6(), b6(), 129, 0, rest, &body)),
        v6_error(1, 4, [0; 4]),
        v6_error(3, 0, [0; 4]),
    ];
    for (i, pkt) in cases.into_iter().enumerate() {
        let four = to4(&pkt, &keep()).unwrap();
        verify4(&four);
        let mut back = to6(&four, &keep()).unwrap();
        verify6(&back);
        let mut pkt = pkt;
        if i >= 4 {
            // ICMP errors: the embedded flow label is zeroed too, and so the checksum changes.
            for b in [&mut pkt, &mut back] {
                b[42..44].fill(0);
                b[49] &= 0xf0;
                b[50..52].fill(0);
            }
        }
        // Only the flow label (RFC 7915 §4.1: zero) differs.
        assert_eq!(pkt[..1], back[..1]);
        assert_eq!(pkt[1] & 0xf0, back[1] & 0xf0);
        assert_eq!(pkt[4..], back[4..]);
    }
    // The fragment identification survives in its low 16 bits.
    let seg = udp(Pseudo::V6(a6(), b6()), 7, 9, &[5u8; 64]);
    let pkt = ip6_raw(44, a6(), b6(), 64, 0, &[17, 0, 0, 1, 0, 0, 0xbe, 0xef], &seg[..40]);
    let back = to6(&to4(&pkt, &keep()).unwrap(), &keep()).unwrap();
    assert_eq!(pkt[4..], back[4..]);
}
