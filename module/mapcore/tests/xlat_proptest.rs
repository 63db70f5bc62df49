//! Properties: no input makes the engine panic, an error leaves the buffer untouched, a
//! result lies inside the buffer; random well-formed packets translate to packets etherparse
//! accepts and survive round trips.

mod xlat_common;

use mapcore::xlat::{self, Options, Shape, TtlMode, Verdict};
use proptest::prelude::*;
use xlat_common::*;

fn options() -> impl Strategy<Value = Options> {
    (0u8..3, any::<bool>(), prop_oneof![Just(0u32), 0u32..2000, Just(1280u32)], prop_oneof![Just(0u32), 0u32..2000])
        .prop_map(|(t, copy_tos, mtu6, mtu4)| Options {
            ttl: [TtlMode::Decrement, TtlMode::Keep, TtlMode::Restore][t as usize],
            copy_tos,
            mtu6,
            mtu4,
            encap_hop_limit: 64,
        })
}

/// Runs every entry point on `buf[start..start + len]` and checks the contract.
fn all_entry_points(buf: &[u8], start: usize, len: usize, opts: &Options) {
    let check = |r: Result<(usize, usize), Verdict>, before: &[u8], after: &[u8]| match r {
        Ok((s, l)) => assert!(s.checked_add(l).is_some_and(|e| e <= after.len())),
        Err(_) => assert_eq!(before, after, "buffer changed on error"),
    };
    let map = Nat64::new();
    let mut b = buf.to_vec();
    let r = xlat::v4_to_v6(&mut b, start, len, &map, opts).map(|t| (t.start, t.len));
    check(r, buf, &b);
    let mut b = buf.to_vec();
    let r = xlat::v6_to_v4(&mut b, start, len, &map, opts).map(|t| (t.start, t.len));
    check(r, buf, &b);
    let mut b = buf.to_vec();
    let r = xlat::encapsulate(&mut b, start, len, a6(), b6(), opts).map(|t| (t.start, t.len));
    check(r, buf, &b);
    let mut b = buf.to_vec();
    let r = xlat::decapsulate(&mut b, start, len).map(|t| (t.start, t.len));
    check(r, buf, &b);
    let mut b = buf.to_vec();
    let r = xlat::tunnel_too_big(&mut b, start, len, a6(), mapcore::domain::DUMMY_IPV4, 7).map(|t| (t.start, t.len));
    check(r, buf, &b);
    let _ = xlat::inspect_v4(buf, start, len);
    header_read_once_answers_alike(buf, start, len, opts);
}

/// A MAP-E device reads an IPv4 packet's header once for its flow, its size and its
/// encapsulation (`inspect_for_encapsulation`): the same answers as reading it for each.
fn header_read_once_answers_alike(buf: &[u8], start: usize, len: usize, opts: &Options) {
    let shape = Shape::whole(len);
    let separate = xlat::inspect_v4_shaped(buf, start, &shape)
        .and_then(|flow| Ok((flow, xlat::encapsulated_size(buf, start, &shape)?)));
    let once = xlat::inspect_for_encapsulation(buf, start, &shape)
        .and_then(|inspected| Ok((inspected, inspected.encapsulated_size(buf, start, &shape)?)));
    match (separate, once) {
        (Ok((flow, size)), Ok((inspected, size_once))) => {
            assert_eq!(&flow, inspected.flow());
            assert_eq!(size, size_once);
            let (mut each, mut read_once) = (buf.to_vec(), buf.to_vec());
            let a = xlat::encapsulate_shaped(&mut each, start, &shape, a6(), b6(), opts);
            let b = xlat::encapsulate_inspected(&mut read_once, start, &inspected, size.0, a6(), b6(), opts);
            assert_eq!(a, b);
            assert_eq!(each, read_once);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("read for each: {a:?}, read once: {b:?}"),
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let (rest, body) = echo_body(1, 2, b"seed");
    let inner4 = ip4(6, B4, A4, &tcp(Pseudo::V4(B4, A4), 80, 1000, b"inner"));
    let inner6 = ip6(17, b6(), a6(), &udp(Pseudo::V6(b6(), a6()), 53, 1000, b"inner"));
    vec![
        ip4(6, A4, B4, &tcp(Pseudo::V4(A4, B4), 1000, 80, b"tcp seed")),
        ip4(17, A4, B4, &udp(Pseudo::V4(A4, B4), 1000, 53, b"udp seed")),
        ip4(1, A4, B4, &icmp4(8, 0, rest, &body)),
        ip4(1, R4, A4, &icmp4(3, 4, [0, 0, 5, 0], &inner4)),
        ip4(1, R4, A4, &icmp4(12, 0, [9, 0, 0, 0], &inner4)),
        ip4_raw(6, A4, B4, 64, 0, 9, MF, &[1, 1, 1, 0], &[0; 24]),
        ip6(6, a6(), b6(), &tcp(Pseudo::V6(a6(), b6()), 1000, 80, b"tcp seed")),
        ip6(58, a6(), b6(), &icmp6(a6(), b6(), 128, 0, rest, &body)),
        ip6(58, r6(), a6(), &icmp6(r6(), a6(), 2, 0, [0, 0, 5, 0], &inner6)),
        ip6(58, r6(), a6(), &icmp6(r6(), a6(), 4, 0, [0, 0, 0, 7], &inner6)),
        ip6_raw(0, a6(), b6(), 64, 0, &[44, 0, 1, 4, 0, 0, 0, 0, 17, 0, 0, 1, 0, 0, 0, 5], &[0; 24]),
        ip6(4, a6(), b6(), &inner4),
    ]
}

/// The IPv6 seeds, and a Packet Too Big about a MAP-E tunnel packet sent from `a6()`.
fn ipv6_seeds() -> Vec<Vec<u8>> {
    let mut seeds = seeds().split_off(6);
    let inner4 = ip4(17, A4, B4, &udp(Pseudo::V4(A4, B4), 1000, 53, b"inner"));
    seeds.push(ip6(58, r6(), a6(), &icmp6(r6(), a6(), 2, 0, [0, 0, 5, 0], &ip6(4, a6(), b6(), &inner4))));
    seeds
}

type Entry = fn(&mut [u8], usize, usize, &Options) -> Result<(usize, usize), Verdict>;

/// The entry points that take IPv6 in: where each result starts and how long it is.
const IPV6_ENTRY_POINTS: [(&str, Entry); 3] = [
    ("v6_to_v4", |b, s, l, o| xlat::v6_to_v4(b, s, l, &Nat64::new(), o).map(|t| (t.start, t.len))),
    ("decapsulate", |b, s, l, _| xlat::decapsulate(b, s, l).map(|t| (t.start, t.len))),
    ("tunnel_too_big", |b, s, l, _| {
        xlat::tunnel_too_big(b, s, l, a6(), mapcore::domain::DUMMY_IPV4, 7).map(|t| (t.start, t.len))
    }),
];

/// The property below is not empty: each IPv6 entry point translates one of the seeds
/// with no headroom (the TCP segment, the IPv4-in-IPv6 packet, the tunnel's Packet Too Big).
#[test]
fn ipv6_seeds_translate_without_headroom() {
    let seeds = ipv6_seeds();
    let opts = Options { ttl: TtlMode::Keep, copy_tos: true, mtu6: 0, mtu4: 0, encap_hop_limit: 64 };
    for ((name, entry), seed) in IPV6_ENTRY_POINTS.into_iter().zip([&seeds[0], &seeds[5], &seeds[6]]) {
        let mut buf = seed.clone();
        let result = entry(&mut buf, 0, seed.len(), &opts);
        assert!(result.is_ok_and(|(start, _)| start > 0), "{name}: {result:?}");
    }
}

/// Recomputes the IPv4 header checksum if the bytes still look like IPv4, so mutations reach
/// past the header check.
fn fix_v4_checksum(p: &mut [u8]) {
    if p.len() >= 20 && p[0] >> 4 == 4 {
        let ihl = usize::from(p[0] & 15) * 4;
        if ihl >= 20 && ihl <= p.len() {
            p[10] = 0;
            p[11] = 0;
            let mut s: u32 = 0;
            for w in p[..ihl].chunks(2) {
                s += u32::from(w[0]) << 8 | u32::from(*w.get(1).unwrap_or(&0));
            }
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            let c = !(s as u16);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..1600),
        headroom in 0usize..100,
        extra in 0usize..4,
        opts in options(),
    ) {
        let mut buf = vec![0u8; headroom];
        buf.extend_from_slice(&bytes);
        // Sometimes claim more than the buffer holds.
        all_entry_points(&buf, headroom, bytes.len() + extra % 2, &opts);
        // Random bytes behind a valid-looking version nibble get further.
        if let Some(first) = buf.get_mut(headroom) {
            *first = 0x45;
        }
        all_entry_points(&buf, headroom, bytes.len(), &opts);
        if let Some(first) = buf.get_mut(headroom) {
            *first = 0x60;
        }
        all_entry_points(&buf, headroom, bytes.len(), &opts);
    }

    #[test]
    fn mutated_packets_never_panic(
        which in 0usize..12,
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..6),
        cut in any::<u16>(),
        grow in proptest::collection::vec(any::<u8>(), 0..3),
        fix in any::<bool>(),
        headroom in prop_oneof![Just(0usize), Just(20), Just(64)],
        opts in options(),
    ) {
        let mut p = seeds().swap_remove(which);
        for (pos, val) in edits {
            let n = p.len();
            p[usize::from(pos) % n] = val;
        }
        if cut % 4 == 0 {
            p.truncate(usize::from(cut) % (p.len() + 1));
        }
        p.extend_from_slice(&grow);
        if fix {
            fix_v4_checksum(&mut p);
            if p.len() > 48 && p[0] >> 4 == 6 && p[6] == 4 {
                fix_v4_checksum(&mut p[40..]);
            }
        }
        let mut buf = vec![0u8; headroom];
        buf.extend_from_slice(&p);
        all_entry_points(&buf, headroom, p.len(), &opts);
    }

    /// What lets the device ask for no headroom before a packet from IPv6
    /// (`datapath::headroom_needed` in the module): every entry point taking IPv6 in writes
    /// nothing before the packet, so it answers alike with no headroom at all.
    #[test]
    fn ipv6_entry_points_need_no_headroom(
        which in 0usize..7,
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..4),
        opts in options(),
    ) {
        let mut p = ipv6_seeds().swap_remove(which);
        for (pos, val) in edits {
            let n = p.len();
            p[usize::from(pos) % n] = val;
        }
        for (name, entry) in IPV6_ENTRY_POINTS {
            let room = 64;
            let mut roomy = vec![0u8; room];
            roomy.extend_from_slice(&p);
            let mut tight = p.clone();
            match (entry(&mut roomy, room, p.len(), &opts), entry(&mut tight, 0, p.len(), &opts)) {
                (Ok((s, l)), Ok((t, m))) => {
                    prop_assert!(s >= room, "{}: result starts before the packet", name);
                    prop_assert_eq!(&roomy[s..s + l], &tight[t..t + m], "{}", name);
                }
                (Err(a), Err(b)) => prop_assert_eq!(a, b, "{}", name),
                (a, b) => prop_assert!(false, "{}: with headroom {:?}, without {:?}", name, a, b),
            }
        }
    }

    #[test]
    fn random_tcp_udp_round_trip_4_6_4(
        udp_ in any::<bool>(),
        sp in any::<u16>(),
        dp in any::<u16>(),
        ttl in 2u8..=255,
        tos in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..1400),
    ) {
        let l4 = if udp_ {
            udp(Pseudo::V4(A4, B4), sp, dp, &payload)
        } else {
            tcp(Pseudo::V4(A4, B4), sp, dp, &payload)
        };
        let pkt = ip4_raw(if udp_ { 17 } else { 6 }, A4, B4, ttl, tos, 1, DF, &[], &l4);
        let six = to6(&pkt, &keep()).unwrap();
        let v = verify6(&six);
        prop_assert_eq!(v.hdr.hop_limit, ttl);
        prop_assert_eq!(v.hdr.traffic_class, tos);
        let back = to4(&six, &keep()).unwrap();
        verify4(&back);
        prop_assert_eq!(&pkt[..4], &back[..4]);
        prop_assert_eq!(&pkt[8..10], &back[8..10]);
        prop_assert_eq!(&pkt[12..], &back[12..]);
    }

    #[test]
    fn random_tcp_udp_round_trip_6_4_6(
        udp_ in any::<bool>(),
        sp in any::<u16>(),
        dp in any::<u16>(),
        hop in 2u8..=255,
        payload in proptest::collection::vec(any::<u8>(), 0..1400),
    ) {
        let l4 = if udp_ {
            udp(Pseudo::V6(a6(), b6()), sp, dp, &payload)
        } else {
            tcp(Pseudo::V6(a6(), b6()), sp, dp, &payload)
        };
        let pkt = ip6_raw(if udp_ { 17 } else { 6 }, a6(), b6(), hop, 0x2c, &[], &l4);
        let four = to4(&pkt, &keep()).unwrap();
        verify4(&four);
        let back = to6(&four, &keep()).unwrap();
        verify6(&back);
        prop_assert_eq!(&pkt[4..], &back[4..]);
    }
}

/// Writes the seed corpus of the fuzz targets (`fuzz-xlat/seeds/`): each file is the two
/// option bytes the targets decode (repair checksums, 64 bytes of headroom) and a packet.
/// Run with `cargo test -p mapcore --test xlat_proptest -- --ignored write_fuzz_seeds`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-xlat/seeds");
    std::fs::create_dir_all(&dir).unwrap();
    let mut more = seeds();
    let inner4 = ip4(17, B4, A4, &udp(Pseudo::V4(B4, A4), 53, 1000, b"inner"));
    let inner6 = ip6(6, b6(), a6(), &tcp(Pseudo::V6(b6(), a6()), 80, 1000, b"inner"));
    let (rest, body) = echo_body(1, 2, b"x");
    let echo6 = ip6(58, b6(), a6(), &icmp6(b6(), a6(), 128, 0, rest, &body));
    more.push(ip4(1, R4, A4, &icmp4(11, 0, [0; 4], &inner4)));
    more.push(ip6(58, r6(), a6(), &icmp6(r6(), a6(), 1, 4, [0; 4], &inner6)));
    more.push(ip6(58, r6(), a6(), &icmp6(r6(), a6(), 3, 0, [0; 4], &echo6)));
    more.push(ip6_raw(43, a6(), b6(), 64, 0, &[17, 0, 0, 0, 0, 0, 0, 0], &udp(Pseudo::V6(a6(), b6()), 1, 2, b"rh")));
    for (i, p) in more.iter().enumerate() {
        let sel: u8 = if p[0] >> 4 == 4 { 0x24 } else if p[6] == 4 { 0x44 } else { 0x04 };
        let mut f = vec![sel, 0xc0];
        f.extend_from_slice(p);
        std::fs::write(dir.join(format!("seed-{i:02}")), f).unwrap();
    }
}
