//! MAP-E (RFC 7597 §7.1, §8): IPv4-in-IPv6 encapsulation and decapsulation.

mod xlat_common;

use std::net::Ipv6Addr;

use mapcore::xlat::{self, DropReason, FlowKind, IcmpReply, Options, Verdict};
use xlat_common::*;

fn ce() -> Ipv6Addr {
    "2001:db8:12:3400:0:c000:208:34".parse().unwrap()
}
fn br() -> Ipv6Addr {
    "2001:db8:ffff::1".parse().unwrap()
}

fn encap(pkt: &[u8], opts: &Options) -> Result<(Vec<u8>, bool), Verdict> {
    let mut buf = vec![0u8; 40];
    buf.extend_from_slice(pkt);
    let orig = buf.clone();
    match xlat::encapsulate(&mut buf, 40, pkt.len(), ce(), br(), opts) {
        Ok(e) => Ok((buf[e.start..e.start + e.len].to_vec(), e.fragment)),
        Err(v) => {
            assert_eq!(buf, orig);
            Err(v)
        }
    }
}

fn decap(b: &mut [u8]) -> Result<xlat::Decapsulated, Verdict> {
    let n = b.len();
    xlat::decapsulate(b, 0, n)
}

#[test]
fn rfc7597_7_1_encapsulation() {
    let seg = tcp(Pseudo::V4(A4, B4), 0x1234, 80, b"map-e payload");
    let pkt = ip4(6, A4, B4, &seg);
    let (out, frag) = encap(&pkt, &Options::default()).unwrap();
    assert!(!frag);
    let v = verify6(&out);
    assert_eq!(v.proto, 4, "next header 4: IPv4");
    assert_eq!(v.hdr.source, ce().octets());
    assert_eq!(v.hdr.destination, br().octets());
    assert_eq!(v.hdr.hop_limit, 64);
    assert_eq!(v.hdr.traffic_class, 0x28);
    assert_eq!(&out[40..], &pkt[..], "the inner packet is untouched (TTL included)");
    verify4(&out[40..]);
}

#[test]
fn rfc7597_8_decapsulation_returns_inner_and_outer_source() {
    let seg = udp(Pseudo::V4(B4, A4), 53, 0x1234, b"answer");
    let inner = ip4(17, B4, A4, &seg);
    // Hop-by-Hop and a Destination Options header with a Tunnel Encapsulation Limit before it.
    let exts = [60, 0, 1, 4, 0, 0, 0, 0, 4, 0, 4, 1, 4, 1, 0, 0];
    let mut pkt = ip6_raw(0, br(), ce(), 64, 0, &exts, &inner);
    pkt.extend_from_slice(&[0; 5]); // link padding, not part of the packet
    let len = pkt.len();
    let d = xlat::decapsulate(&mut pkt, 0, len).unwrap();
    assert_eq!(&pkt[d.start..d.start + d.len], &inner[..]);
    assert_eq!(d.outer_src, br());
    assert_eq!(d.outer_dst, ce());
    assert_eq!((d.inner.src, d.inner.dst, d.inner.proto), (B4, A4, 17));
    assert_eq!((d.inner.src_port, d.inner.dst_port), (Some(53), Some(0x1234)));
    assert_eq!(d.inner.kind, FlowKind::Packet);
}

#[test]
fn rfc7597_round_trip() {
    let (rest, body) = echo_body(77, 1, b"echo through the tunnel");
    for pkt in [
        ip4(6, A4, B4, &tcp(Pseudo::V4(A4, B4), 1, 2, b"x")),
        ip4(1, A4, B4, &icmp4(8, 0, rest, &body)),
        ip4_raw(17, A4, B4, 9, 0, 3, 100 | MF, &[], &[1; 16]),
    ] {
        let (mut out, _) = encap(&pkt, &Options::default()).unwrap();
        let len = out.len();
        let d = xlat::decapsulate(&mut out, 0, len).unwrap();
        assert_eq!(&out[d.start..d.start + d.len], &pkt[..]);
    }
}

#[test]
fn rfc7597_8_3_1_tunnel_mtu() {
    let opts = Options { mtu6: 1500, ..Options::default() };
    let seg = udp(Pseudo::V4(A4, B4), 1, 2, &[0; 1452]);
    // 1480 bytes of IPv4 -> 1520 of IPv6.
    let df = ip4_raw(17, A4, B4, 64, 0, 1, DF, &[], &seg);
    assert_eq!(encap(&df, &opts), Err(Verdict::Reply(IcmpReply::FragmentationNeeded { mtu: 1460 })));
    let no_df = ip4_raw(17, A4, B4, 64, 0, 1, 0, &[], &seg);
    let (out, frag) = encap(&no_df, &opts).unwrap();
    assert!(frag, "the caller fragments the IPv6 packet");
    assert_eq!(out.len(), 1520);
    let small = ip4_raw(17, A4, B4, 64, 0, 1, DF, &[], &seg[..1000]);
    assert!(!encap(&small, &opts).unwrap().1);
}

#[test]
fn rfc7597_decapsulation_drops() {
    let inner = ip4(6, B4, A4, &tcp(Pseudo::V4(B4, A4), 80, 1, b"y"));
    let not_ipv4 = ip6(41, br(), ce(), &inner);
    let mut b = not_ipv4.clone();
    assert_eq!(decap(&mut b), Err(Verdict::Drop(DropReason::UnsupportedProtocol)));
    let frag = ip6_raw(44, br(), ce(), 64, 0, &[4, 0, 0, 1, 0, 0, 0, 1], &inner);
    let mut b = frag.clone();
    assert_eq!(decap(&mut b), Err(Verdict::Drop(DropReason::OuterFragment)));
    let mut bad_inner = inner.clone();
    bad_inner[10] ^= 1;
    let mut b = ip6(4, br(), ce(), &bad_inner);
    assert_eq!(decap(&mut b), Err(Verdict::Drop(DropReason::BadHeaderChecksum)));
    let mut b = ip6(4, br(), ce(), &inner[..inner.len() - 1]);
    assert_eq!(decap(&mut b), Err(Verdict::Drop(DropReason::Truncated)));
    let mut b = ip6_raw(43, br(), ce(), 64, 0, &[4, 0, 0, 2, 0, 0, 0, 0], &inner);
    assert_eq!(
        decap(&mut b),
        Err(Verdict::Reply(IcmpReply::ParameterProblem { pointer: 43 }))
    );
}

#[test]
fn rfc6040_ecn_congestion_copied_on_decapsulation() {
    let seg = tcp(Pseudo::V4(B4, A4), 80, 1, b"ecn");
    let inner = ip4_raw(6, B4, A4, 64, 0x02, 1, DF, &[], &seg); // ECT(0)
    let mut b = ip6_raw(4, br(), ce(), 64, 0x03, &[], &inner); // outer CE
    let d = decap(&mut b).unwrap();
    let out = &b[d.start..d.start + d.len];
    assert_eq!(out[1] & 3, 3);
    verify4(out);
}

#[test]
fn inspect_v4_gives_ports_for_address_selection() {
    let pkt = ip4(6, A4, B4, &tcp(Pseudo::V4(A4, B4), 4000, 80, b""));
    let f = xlat::inspect_v4(&pkt, 0, pkt.len()).unwrap();
    assert_eq!((f.src_port, f.dst_port, f.kind), (Some(4000), Some(80), FlowKind::Packet));
    // An ICMP error towards A4 about A4:4000 -> B4:80: the ports of the embedded packet, read
    // in the error's direction.
    let err = ip4(1, R4, A4, &icmp4(3, 3, [0; 4], &pkt[..28]));
    let f = xlat::inspect_v4(&err, 0, err.len()).unwrap();
    assert_eq!((f.src, f.dst, f.proto), (R4, A4, 6));
    assert_eq!((f.src_port, f.dst_port, f.kind), (Some(80), Some(4000), FlowKind::IcmpError));
    let frag = ip4_raw(6, A4, B4, 64, 0, 1, 10, &[], &[0; 8]);
    let f = xlat::inspect_v4(&frag, 0, frag.len()).unwrap();
    assert_eq!((f.src_port, f.dst_port), (None, None));
}

/// A BR that sends decapsulated packets out itself takes the router's hop from them.
#[test]
fn forward_ipv4_takes_one_hop_and_keeps_the_header_checksum_right() {
    let l4 = udp(Pseudo::V4(A4, B4), 5353, 53, b"query");
    let mut pkt = ip4_raw(17, A4, B4, 64, 0, 7, 0, &[], &l4);
    xlat::forward_ipv4(&mut pkt, 0).unwrap();
    assert_eq!(pkt[8], 63);
    let v = verify4(&pkt);
    assert_eq!(v.hdr.time_to_live, 63);
    for ttl in [0u8, 1] {
        let mut last = ip4_raw(17, A4, B4, ttl, 0, 7, 0, &[], &l4);
        let before = last.clone();
        assert_eq!(xlat::forward_ipv4(&mut last, 0), Err(Verdict::Reply(IcmpReply::TimeExceeded)));
        assert_eq!(last, before, "unchanged: the stack forwards it and answers Time Exceeded");
    }
}
