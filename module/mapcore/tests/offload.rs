//! Packets only partly in the buffer ([`Shape`]): what a kernel's GSO super-packets and paged
//! skbs look like, and checksum offload (CHECKSUM_PARTIAL seeds). Each header-only result is
//! compared with the whole-packet translation, and each seed update with a seed computed
//! afresh for the new pseudo-header.

mod xlat_common;

use etherparse::checksum::Sum16BitWords;
use mapcore::xlat::{self, AddressMap, DropReason, Flow4, Flow6, IcmpReply, Options, Shape, Verdict};
use std::net::{Ipv4Addr, Ipv6Addr};
use xlat_common::*;

/// MAP addresses (RFC 7599 App. A's CE, the seed's tutorial CE 11b) for A4 <-> B4, whose
/// pseudo-header sums differ from the IPv4 ones: the well-known NAT64 prefix of the other
/// tests is checksum-neutral (RFC 6052 §4.1), which would hide a wrong seed update.
struct MapAddresses;

fn ce6() -> Ipv6Addr {
    "2001:db8:ce:11b:0:c000:208:1b".parse().unwrap()
}
fn server6() -> Ipv6Addr {
    "2001:db8:64::cb00:7138".parse().unwrap()
}

impl AddressMap for MapAddresses {
    fn v4_to_v6(&self, _: &Flow4) -> Result<(Ipv6Addr, Ipv6Addr), DropReason> {
        Ok((ce6(), server6()))
    }
    fn v6_to_v4(&self, _: &Flow6) -> Result<(Ipv4Addr, Ipv4Addr), DropReason> {
        Ok((B4, A4))
    }
    fn ipv4_identification(&self) -> u16 {
        1
    }
}

/// The pseudo-header part of a TCP/UDP checksum (what Linux puts in the checksum field of a
/// CHECKSUM_PARTIAL packet: the folded, uncomplemented sum).
fn seed4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u16 {
    let sum = Sum16BitWords::new()
        .add_4bytes(src.octets())
        .add_4bytes(dst.octets())
        .add_2bytes([0, proto])
        .add_2bytes((len as u16).to_be_bytes());
    wire_value(!sum.ones_complement())
}

fn seed6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, len: usize) -> u16 {
    let sum = Sum16BitWords::new()
        .add_16bytes(src.octets())
        .add_16bytes(dst.octets())
        .add_4bytes((len as u32).to_be_bytes())
        .add_2bytes([0, proto]);
    wire_value(!sum.ones_complement())
}

/// etherparse sums native-endian words; the field's value as read from the wire.
fn wire_value(native: u16) -> u16 {
    u16::from_be_bytes(native.to_ne_bytes())
}

/// One's complement equality (0x0000 and 0xffff are both zero).
fn same_sum(a: u16, b: u16) -> bool {
    a == b || (a == 0 || a == 0xffff) && (b == 0 || b == 0xffff)
}

/// `pkt` with its transport checksum (at `at` past the `l3`-byte header) replaced by the
/// offload seed for its pseudo-header.
fn with_seed(mut pkt: Vec<u8>, l3: usize, at: usize, seed: u16) -> Vec<u8> {
    pkt[l3 + at..l3 + at + 2].copy_from_slice(&seed.to_be_bytes());
    pkt
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

/// Runs a shaped translation on `pkt` with `present` bytes copied into the buffer (the rest
/// is "elsewhere": not given to the engine at all).
fn run_shaped(
    pkt: &[u8],
    present: usize,
    partial: bool,
    segment: Option<usize>,
    f: impl FnOnce(&mut [u8], usize, &Shape) -> Result<xlat::Translated, Verdict>,
) -> Result<Vec<u8>, Verdict> {
    let mut buf = vec![0xeeu8; HEADROOM];
    buf.extend_from_slice(&pkt[..present]);
    let orig = buf.clone();
    let shape = Shape { len: pkt.len(), present, partial_checksum: partial, segment };
    match f(&mut buf, HEADROOM, &shape) {
        Ok(t) => Ok(buf[t.start..].to_vec()),
        Err(v) => {
            assert_eq!(buf, orig, "buffer changed although the verdict was {v:?}");
            Err(v)
        }
    }
}

fn shaped_to6(pkt: &[u8], present: usize, partial: bool, segment: Option<usize>, opts: &Options) -> Result<Vec<u8>, Verdict> {
    let map = MapAddresses;
    run_shaped(pkt, present, partial, segment, |b, s, shape| xlat::v4_to_v6_shaped(b, s, shape, &map, opts))
}

fn shaped_to4(pkt: &[u8], present: usize, partial: bool, segment: Option<usize>, opts: &Options) -> Result<Vec<u8>, Verdict> {
    let map = MapAddresses;
    run_shaped(pkt, present, partial, segment, |b, s, shape| xlat::v6_to_v4_shaped(b, s, shape, &map, opts))
}

#[test]
fn tcp_headers_alone_translate_like_the_whole_packet_v4_to_v6() {
    let pkt = ip4(6, A4, B4, &tcp(Pseudo::V4(A4, B4), 40000, 443, &payload(3000)));
    let whole = shaped_to6(&pkt, pkt.len(), false, None, &Options::default()).unwrap();
    // Only the IPv4 and TCP headers are in the buffer.
    let out = shaped_to6(&pkt, 40, false, None, &Options::default()).unwrap();
    assert_eq!(out, whole[..60], "IPv6 header and TCP header (checksum included) as for the whole packet");
}

#[test]
fn tcp_headers_alone_translate_like_the_whole_packet_v6_to_v4() {
    let pkt = ip6(6, server6(), ce6(), &tcp(Pseudo::V6(server6(), ce6()), 40000, 443, &payload(3000)));
    let whole = shaped_to4(&pkt, pkt.len(), false, None, &Options::default()).unwrap();
    let out = shaped_to4(&pkt, 60, false, None, &Options::default()).unwrap();
    assert_eq!(out, whole[..40]);
}

/// RFC 1624 applied to a checksum is wrong for a CHECKSUM_PARTIAL seed; the seed update must
/// equal a seed computed for the new pseudo-header (IPv4 -> IPv6, TCP and UDP).
#[test]
fn partial_seed_update_equals_a_fresh_seed_v4_to_v6() {
    for (proto, at) in [(6u8, 16usize), (17, 6)] {
        for len in [1usize, 100, 1400, 40000] {
            let l4 = match proto {
                6 => tcp(Pseudo::V4(A4, B4), 40000, 443, &payload(len)),
                _ => udp(Pseudo::V4(A4, B4), 40000, 53, &payload(len)),
            };
            let l4_len = l4.len();
            let pkt = with_seed(ip4(proto, A4, B4, &l4), 20, at, seed4(A4, B4, proto, l4_len));
            let out = shaped_to6(&pkt, 20 + at + 2, true, None, &Options::default()).unwrap();
            let got = u16::from_be_bytes([out[40 + at], out[40 + at + 1]]);
            let want = seed6(ce6(), server6(), proto, l4_len);
            assert!(same_sum(got, want), "proto {proto} len {len}: seed {got:#06x}, fresh {want:#06x}");
        }
    }
}

#[test]
fn partial_seed_update_equals_a_fresh_seed_v6_to_v4() {
    for (proto, at) in [(6u8, 16usize), (17, 6)] {
        for len in [1usize, 100, 1400, 40000] {
            let l4 = match proto {
                6 => tcp(Pseudo::V6(server6(), ce6()), 40000, 443, &payload(len)),
                _ => udp(Pseudo::V6(server6(), ce6()), 40000, 53, &payload(len)),
            };
            let l4_len = l4.len();
            let pkt = with_seed(ip6(proto, server6(), ce6(), &l4), 40, at, seed6(server6(), ce6(), proto, l4_len));
            let out = shaped_to4(&pkt, 40 + at + 2, true, None, &Options::default()).unwrap();
            let got = u16::from_be_bytes([out[20 + at], out[20 + at + 1]]);
            let want = seed4(B4, A4, proto, l4_len);
            assert!(same_sum(got, want), "proto {proto} len {len}: seed {got:#06x}, fresh {want:#06x}");
        }
    }
}

/// The seed the engine wrote, completed as a NIC (or skb_checksum_help) would, gives a valid
/// checksum for the translated packet.
#[test]
fn completed_seed_is_a_valid_checksum() {
    let l4 = tcp(Pseudo::V4(A4, B4), 40000, 443, &payload(999));
    let pkt = with_seed(ip4(6, A4, B4, &l4), 20, 16, seed4(A4, B4, 6, l4.len()));
    let mut out = shaped_to6(&pkt, pkt.len(), true, None, &Options::default()).unwrap();
    let sum = Sum16BitWords::new().add_slice(&out[40..]).ones_complement();
    out[56..58].copy_from_slice(&sum.to_ne_bytes());
    verify6(&out);
}

/// A GSO packet: the MTU applies to each segment (IPv6 header + TCP header + segment size).
#[test]
fn gso_segments_are_checked_against_the_mtu_not_the_whole() {
    let l4 = tcp(Pseudo::V4(A4, B4), 40000, 443, &payload(60000));
    let pkt = ip4_raw(6, A4, B4, 64, 0, 1, DF, &[], &l4);
    let opts = Options { mtu6: 1500, ..Options::default() };
    // 40 + 20 + 1440 = 1500: fits.
    assert!(shaped_to6(&pkt, 40, true, Some(1440), &opts).is_ok());
    // 1460-byte segments make 1520-byte IPv6 packets: Fragmentation Needed, as for one of them.
    assert_eq!(
        shaped_to6(&pkt, 40, true, Some(1460), &opts),
        Err(Verdict::Reply(IcmpReply::FragmentationNeeded { mtu: 1480 }))
    );
    // Without the segment size the whole packet would be judged.
    assert!(matches!(shaped_to6(&pkt, 40, true, None, &opts), Err(Verdict::Reply(_))));
}

/// What needs every byte says so instead of guessing: ICMP, and a zero UDP checksum to
/// compute; the buffer is left as it was (run_shaped checks).
#[test]
fn what_needs_the_whole_packet_asks_for_it() {
    let (rest, body) = echo_body(7, 1, &payload(100));
    let echo = ip4(1, A4, B4, &icmp4(8, 0, rest, &body));
    assert_eq!(shaped_to6(&echo, 28, false, None, &Options::default()), Err(Verdict::NeedWhole));
    assert!(shaped_to6(&echo, echo.len(), false, None, &Options::default()).is_ok());

    let mut zero = udp(Pseudo::V4(A4, B4), 40000, 53, &payload(100));
    zero[6..8].copy_from_slice(&[0, 0]);
    let zero = ip4(17, A4, B4, &zero);
    assert_eq!(shaped_to6(&zero, 28, false, None, &Options::default()), Err(Verdict::NeedWhole));

    let echo6 = {
        let (rest, body) = echo_body(7, 1, &payload(100));
        ip6(58, server6(), ce6(), &icmp6(server6(), ce6(), 128, 0, rest, &body))
    };
    assert_eq!(shaped_to4(&echo6, 48, false, None, &Options::default()), Err(Verdict::NeedWhole));
}

/// A GSO IPv6 packet whose IPv4 form would exceed 65535 bytes is translated per segment.
#[test]
fn gso_packet_too_long_for_ipv4_asks_for_its_segments() {
    let l4 = tcp(Pseudo::V6(server6(), ce6()), 40000, 443, &payload(65515));
    let pkt = ip6(6, server6(), ce6(), &l4);
    assert_eq!(shaped_to4(&pkt, 60, true, Some(1440), &Options::default()), Err(Verdict::NeedWhole));
}

/// MAP-E with headers only: the outer header goes in front, the inner headers are untouched.
#[test]
fn mape_encapsulation_and_decapsulation_from_headers_alone() {
    let l4 = tcp(Pseudo::V4(A4, B4), 40000, 443, &payload(3000));
    let pkt = ip4(6, A4, B4, &l4);
    let (ce, br) = (ce6(), server6());
    let opts = Options { mtu6: 1500, ..Options::default() };
    let shape = Shape { len: pkt.len(), present: 40, partial_checksum: true, segment: Some(1420) };
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(&pkt[..40]);
    let out = xlat::encapsulate_shaped(&mut buf, HEADROOM, &shape, ce, br, &opts).unwrap();
    assert_eq!(out.len, pkt.len() + 40);
    assert!(!out.fragment, "1420-byte segments fit: 40 + 20 + 20 + 1420 = 1500");
    assert_eq!(&buf[out.start + 40..], &pkt[..40], "inner headers untouched");
    assert_eq!(u16::from_be_bytes([buf[out.start + 4], buf[out.start + 5]]) as usize, pkt.len());

    let too_big = Shape { segment: Some(1440), ..shape };
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(&pkt[..40]);
    assert_eq!(
        xlat::encapsulate_shaped(&mut buf, HEADROOM, &too_big, ce, br, &opts),
        Err(Verdict::Reply(IcmpReply::FragmentationNeeded { mtu: 1460 })),
        "1440-byte segments make 1520-byte tunnel packets"
    );

    // Decapsulation of the whole tunnel packet, given its first 80 bytes.
    let mut tunnel = ip6(4, ce, br, &pkt);
    let tunnel_len = tunnel.len();
    tunnel.truncate(80);
    let shape = Shape { len: tunnel_len, present: 80, partial_checksum: true, segment: Some(1420) };
    let out = xlat::decapsulate_shaped(&mut tunnel, 0, &shape).unwrap();
    assert_eq!((out.start, out.len, out.header_len), (40, pkt.len(), 20));
    assert_eq!(out.inner.src_port, Some(40000));
}

/// The kernel tries the translation with whatever the linear part holds before it pulls
/// more: with any number of bytes present, the result is the whole packet's, or a request
/// for more (never another verdict, never a change to the buffer: run_shaped checks).
#[test]
fn any_number_of_present_bytes_translates_or_asks_for_more() {
    type Shaped = fn(&[u8], usize, bool, Option<usize>, &Options) -> Result<Vec<u8>, Verdict>;
    let opts = Options::default();
    // Each `present` gives the whole packet's result, or a request for more bytes.
    let check = |name: &str, translate: Shaped, pkt: &[u8], partial: bool| {
        let whole = translate(pkt, pkt.len(), partial, None, &opts);
        for present in 0..=80 {
            let out = translate(pkt, present, partial, None, &opts);
            match (&out, &whole) {
                (Ok(out), Ok(whole)) => assert_eq!(out[..], whole[..out.len()], "{name}, {present} bytes present"),
                _ => assert!(
                    matches!(out, Err(Verdict::NeedWhole | Verdict::Drop(DropReason::Truncated))),
                    "{name}, {present} bytes present: {out:?}"
                ),
            }
        }
    };
    for partial in [false, true] {
        let l4 = tcp(Pseudo::V4(A4, B4), 40000, 443, &payload(3000));
        let pkt = with_seed(ip4(6, A4, B4, &l4), 20, 16, seed4(A4, B4, 6, l4.len()));
        check("v4 -> v6", shaped_to6, &pkt, partial);
        let l4 = udp(Pseudo::V6(server6(), ce6()), 40000, 53, &payload(3000));
        let pkt = with_seed(ip6(17, server6(), ce6(), &l4), 40, 6, seed6(server6(), ce6(), 17, l4.len()));
        check("v6 -> v4", shaped_to4, &pkt, partial);
    }
}

/// The same for MAP-E: the flow, the size, the encapsulation and the decapsulation, from any
/// number of bytes present.
#[test]
fn mape_from_any_number_of_present_bytes_or_asks_for_more() {
    let asks_for_more = |v: &Verdict| matches!(v, Verdict::NeedWhole | Verdict::Drop(DropReason::Truncated));
    let l4 = tcp(Pseudo::V4(A4, B4), 40000, 443, &payload(3000));
    let pkt = ip4(6, A4, B4, &l4);
    let (ce, br) = (ce6(), server6());
    let opts = Options { mtu6: 65000, ..Options::default() };
    let shape_of = |present| Shape { len: pkt.len(), present, partial_checksum: false, segment: None };
    let whole_flow = xlat::inspect_v4_shaped(&pkt, 0, &shape_of(pkt.len())).unwrap();
    for present in 0..=80 {
        let shape = shape_of(present);
        match xlat::inspect_v4_shaped(&pkt[..present], 0, &shape) {
            Ok(flow) => assert_eq!(flow, whole_flow, "{present} bytes present"),
            Err(v) => assert!(asks_for_more(&v), "flow, {present} bytes present: {v:?}"),
        }
        if let Err(v) = xlat::encapsulated_size(&pkt[..present], 0, &shape) {
            assert!(asks_for_more(&v), "size, {present} bytes present: {v:?}");
        }
        let mut buf = vec![0u8; HEADROOM];
        buf.extend_from_slice(&pkt[..present]);
        let mut read_once = buf.clone();
        match xlat::encapsulate_shaped(&mut buf, HEADROOM, &shape, ce, br, &opts) {
            Ok(out) => assert_eq!(&buf[out.start + 40..], &pkt[..present]),
            Err(v) => assert!(asks_for_more(&v), "encapsulation, {present} bytes present: {v:?}"),
        }
        // the header read once, as a MAP-E device reads it: the same flow, size and result
        let inspected = xlat::inspect_for_encapsulation(&read_once, HEADROOM, &shape);
        match xlat::inspect_v4_shaped(&pkt[..present], 0, &shape) {
            Ok(flow) => assert_eq!(inspected.map(|i| *i.flow()), Ok(flow), "{present} bytes present"),
            Err(v) => assert_eq!(inspected.map(|i| *i.flow()), Err(v), "{present} bytes present"),
        }
        if let Ok(inspected) = inspected {
            let size = inspected.encapsulated_size(&read_once, HEADROOM, &shape);
            assert_eq!(size, xlat::encapsulated_size(&pkt[..present], 0, &shape), "{present} bytes present");
            if let Ok((largest, _)) = size {
                let out = xlat::encapsulate_inspected(&mut read_once, HEADROOM, &inspected, largest, ce, br, &opts);
                assert_eq!(out.map(|o| &read_once[o.start + 40..]), Ok(&pkt[..present]), "{present} bytes present");
            }
        }
    }
    let tunnel = ip6(4, ce, br, &pkt);
    for present in 0..=120 {
        let shape = Shape { len: tunnel.len(), present, partial_checksum: false, segment: None };
        let mut buf = tunnel[..present].to_vec();
        match xlat::decapsulate_shaped(&mut buf, 0, &shape) {
            Ok(out) => assert_eq!((out.start, out.len, out.inner), (40, pkt.len(), whole_flow), "{present} bytes present"),
            Err(v) => assert!(asks_for_more(&v), "decapsulation, {present} bytes present: {v:?}"),
        }
    }
}
