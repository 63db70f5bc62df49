//! `hostile`: packets no honest stack would send, for writing straight into a mapmint device.
//!
//! Each shape starts from a packet the device would translate (addresses from its own rule),
//! so that it gets as deep into the translator as possible before its fault shows: truncated
//! headers at every length, every IPv4 version/IHL, options (source routes, bad option
//! lengths), lengths that lie, zero length, fragments (tiny, overlapping, out of order, a first
//! fragment shorter than its transport header), ICMP errors quoting ICMP errors quoting
//! fragments, IPv6 extension-header chains (long, overrunning, misplaced), tunnel packets
//! carrying all of the IPv4 faults, packets up to 64 KiB, then random mutations of all of
//! them, half with their checksums repaired. Packed by hand on purpose.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

const ICMP: u8 = 1;
const IPIP: u8 = 4;
const TCP: u8 = 6;
const UDP: u8 = 17;
const IPV6_IN: u8 = 41;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const ESP: u8 = 50;
const ICMPV6: u8 = 58;
const NO_NEXT: u8 = 59;
const DEST_OPTS: u8 = 60;
const HOP_BY_HOP: u8 = 0;

/// The addresses of a flow the device translates: IPv4 `v4_src` → `v4_dst` into the device;
/// IPv6 `v6_src` → `v6_dst` into it (plain for MAP-T, carrying IPv4 `v4_dst` → `v4_src` for
/// MAP-E).
pub struct Flows {
    pub v4_src: SocketAddrV4,
    pub v4_dst: SocketAddrV4,
    pub v6_src: SocketAddrV6,
    pub v6_dst: SocketAddrV6,
}

/// A packet to write: its bytes and whether the device gets it as IPv6.
pub struct Packet {
    pub ipv6: bool,
    pub bytes: Vec<u8>,
}

/// xorshift64*: reproducible from the seed printed with the results.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

// --- packing

fn sum(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        acc += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn pseudo4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> u32 {
    sum(&src.octets(), sum(&dst.octets(), u32::from(proto) + len as u32))
}

fn pseudo6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, len: usize) -> u32 {
    sum(&src.octets(), sum(&dst.octets(), u32::from(proto) + len as u32))
}

/// Fills the checksum at `at` of a transport segment, from the pseudo-header sum `pseudo`.
fn fill_checksum(segment: &mut [u8], at: usize, pseudo: u32) {
    segment[at..at + 2].fill(0);
    let check = fold(sum(segment, pseudo));
    segment[at..at + 2].copy_from_slice(&check.to_be_bytes());
}

/// Where a segment of `proto` keeps its checksum, if its `len` bytes hold the header; `icmp`
/// is the family's ICMP.
fn checksum_at(proto: u8, icmp: u8, len: usize) -> Option<usize> {
    match proto {
        UDP if len >= 8 => Some(6),
        TCP if len >= 20 => Some(16),
        _ if proto == icmp && len >= 4 => Some(2),
        _ => None,
    }
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + payload.len()).min(65535) as u16).to_be_bytes());
    p.extend_from_slice(&0x1234u16.to_be_bytes());
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    repair_ipv4(&mut p);
    p
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len().min(65535) as u16).to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&((8 + data.len()).min(65535) as u16).to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(data);
    s
}

fn tcp_syn(sport: u16, dport: u16) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    s
}

/// An ICMP or ICMPv6 message: type, code, the 4 bytes after the checksum, the body.
fn icmp(kind: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut s = vec![kind, code, 0, 0];
    s.extend_from_slice(&rest);
    s.extend_from_slice(body);
    s
}

/// Transport checksums of an IPv4 packet built by `ipv4`, where the bytes allow.
fn seal4(mut p: Vec<u8>) -> Vec<u8> {
    let Some((src, dst, proto, ihl)) = v4_fields(&p) else { return p };
    let first_fragment = u16::from_be_bytes([p[6], p[7]]) & 0x1fff == 0;
    let len = p.len().saturating_sub(ihl);
    if let (true, Some(at)) = (first_fragment, checksum_at(proto, ICMP, len)) {
        let pseudo = if proto == ICMP { 0 } else { pseudo4(src, dst, proto, len) };
        fill_checksum(&mut p[ihl..], at, pseudo);
    }
    p
}

fn v4_fields(p: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, usize)> {
    let ihl = usize::from(p.first()? & 0x0f) * 4;
    let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
    Some((src.into(), dst.into(), p[9], ihl))
}

/// Transport checksum of an IPv6 packet whose header is followed directly by `next`'s header.
fn seal6(mut p: Vec<u8>) -> Vec<u8> {
    if p.len() < 40 {
        return p;
    }
    let src: [u8; 16] = p[8..24].try_into().unwrap_or_default();
    let dst: [u8; 16] = p[24..40].try_into().unwrap_or_default();
    let next = p[6];
    if let Some(at) = checksum_at(next, ICMPV6, p.len() - 40) {
        let pseudo = pseudo6(src.into(), dst.into(), next, p.len() - 40);
        fill_checksum(&mut p[40..], at, pseudo);
    }
    p
}

/// Rewrites the IPv4 header checksum, if the bytes hold the header their IHL claims.
fn repair_ipv4(p: &mut [u8]) {
    let ihl = usize::from(p.first().copied().unwrap_or(0) & 0x0f) * 4;
    if ihl < 20 || p.len() < ihl {
        return;
    }
    p[10] = 0;
    p[11] = 0;
    let check = fold(sum(&p[..ihl], 0));
    p[10..12].copy_from_slice(&check.to_be_bytes());
}

// --- the shapes

/// Valid IPv4 packets of the flow, `src` → `dst`: UDP, TCP, echo, errors quoting the reverse
/// flow, a fragment train.
fn templates4(src: SocketAddrV4, dst: SocketAddrV4) -> Vec<Vec<u8>> {
    let (s, d) = (*src.ip(), *dst.ip());
    let udp_packet = |from: SocketAddrV4, to: SocketAddrV4, data: &[u8]| {
        seal4(ipv4(*from.ip(), *to.ip(), UDP, 0, &udp(from.port(), to.port(), data)))
    };
    let reply = udp_packet(dst, src, b"a reply that did not arrive");
    let quoted_error = seal4(ipv4(d, s, ICMP, 0, &icmp(3, 3, [0; 4], &reply)));
    let datagram = udp(src.port(), dst.port(), &[0x5a; 56]);
    let mut out = vec![
        udp_packet(src, dst, b"hello"),
        seal4(ipv4(s, d, TCP, 0, &tcp_syn(src.port(), dst.port()))),
        seal4(ipv4(s, d, ICMP, 0, &icmp(8, 0, [(src.port() >> 8) as u8, src.port() as u8, 0, 1], b"ping"))),
        seal4(ipv4(s, d, ICMP, 0, &icmp(3, 4, [0, 0, 0x05, 0xdc], &reply))),
        seal4(ipv4(s, d, ICMP, 0, &icmp(11, 0, [0; 4], &reply[..28]))),
        // an error quoting an error quoting an error
        seal4(ipv4(s, d, ICMP, 0, &icmp(3, 1, [0; 4], &seal4(ipv4(d, s, ICMP, 0, &icmp(3, 1, [0; 4], &quoted_error)))))),
        // an error quoting a non-first fragment, and one quoting an echo request
        seal4(ipv4(s, d, ICMP, 0, &icmp(3, 3, [0; 4], &ipv4(d, s, UDP, 0x0003, &[1; 16])))),
        seal4(ipv4(s, d, ICMP, 0, &icmp(11, 0, [0; 4], &seal4(ipv4(d, s, ICMP, 0, &icmp(8, 0, [0, 7, 0, 1], b"x")))))),
    ];
    // the datagram in 8-byte fragments, in order and reversed; overlapping; a first fragment
    // shorter than the UDP header
    let pieces: Vec<Vec<u8>> = datagram
        .chunks(8)
        .enumerate()
        .map(|(i, chunk)| {
            let more = if (i + 1) * 8 < datagram.len() { 0x2000 } else { 0 };
            let mut f = ipv4(s, d, UDP, more | i as u16, chunk);
            f[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
            repair_ipv4(&mut f);
            f
        })
        .collect();
    out.extend(pieces.iter().cloned());
    out.extend(pieces.iter().rev().cloned());
    out.push(ipv4(s, d, UDP, 0x2000, &datagram[..24]));
    out.push(ipv4(s, d, UDP, 0x2001, &datagram[4..40]));
    out.push(ipv4(s, d, UDP, 0x0002, &datagram[16..]));
    out.push(ipv4(s, d, UDP, 0x2000, &datagram[..4]));
    out.push(ipv4(s, d, UDP, 0x0000, &datagram[4..]));
    // options: record route, a loose and a strict source route, a bad option length
    for options in [
        &[7u8, 7, 4, 0, 0, 0, 0, 1][..],
        &[131, 7, 4, 10, 0, 0, 1, 0],
        &[137, 7, 8, 10, 0, 0, 1, 0],
        &[1, 1, 1, 0x44, 0, 0, 0, 0],
        &[7, 40, 4, 0, 0, 0, 0, 0],
        &[7, 0, 0, 0],
    ] {
        let mut p = udp_packet(src, dst, b"options");
        let words = options.len().div_ceil(4);
        p.splice(20..20, options.iter().copied().chain(std::iter::repeat(0)).take(words * 4));
        p[0] = 0x45 + words as u8;
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        repair_ipv4(&mut p);
        out.push(p);
    }
    out
}

/// Valid IPv6 packets of the flow: UDP, TCP, echo, Packet Too Big quoting the reverse flow,
/// fragments, and extension-header chains in front of UDP.
fn templates6(src: SocketAddrV6, dst: SocketAddrV6) -> Vec<Vec<u8>> {
    let (s, d) = (*src.ip(), *dst.ip());
    let reply = seal6(ipv6(d, s, UDP, &udp(dst.port(), src.port(), b"a reply")));
    let ptb = seal6(ipv6(s, d, ICMPV6, &icmp(2, 0, 1280u32.to_be_bytes(), &reply)));
    let mut out = vec![
        seal6(ipv6(s, d, UDP, &udp(src.port(), dst.port(), b"hello"))),
        seal6(ipv6(s, d, TCP, &tcp_syn(src.port(), dst.port()))),
        seal6(ipv6(s, d, ICMPV6, &icmp(128, 0, [(src.port() >> 8) as u8, src.port() as u8, 0, 1], b"ping"))),
        ptb.clone(),
        seal6(ipv6(s, d, ICMPV6, &icmp(1, 4, [0; 4], &reply))),
        seal6(ipv6(s, d, ICMPV6, &icmp(3, 0, [0; 4], &reply[..48]))),
        seal6(ipv6(s, d, ICMPV6, &icmp(1, 0, [0; 4], &seal6(ipv6(d, s, ICMPV6, &icmp(1, 0, [0; 4], &ptb)))))),
    ];
    for mtu in [0u32, 1, 68, 1279, 65535, u32::MAX] {
        out.push(seal6(ipv6(s, d, ICMPV6, &icmp(2, 0, mtu.to_be_bytes(), &reply))));
    }
    let segment = udp(src.port(), dst.port(), &[0x33; 40]);
    // Fragment headers: atomic, first, last, overlapping, first shorter than UDP's header
    // (offset in 8-byte units << 3 | M, bytes of the datagram)
    for (field, range) in [(0u16, 0..48), (0x0001, 0..16), (0x0010, 16..48), (0x0009, 8..32), (0x0001, 0..4), (0x0019, 24..40)] {
        let mut payload = vec![UDP, 0];
        payload.extend_from_slice(&field.to_be_bytes());
        payload.extend_from_slice(&0x0101_0101u32.to_be_bytes());
        payload.extend_from_slice(&segment[range]);
        out.push(ipv6(s, d, FRAGMENT, &payload));
    }
    // extension headers before UDP: each kind, a long chain, one that overruns the packet,
    // hop-by-hop where only the first may be
    let ext = |kind_next: u8, units: u8| {
        let mut h = vec![kind_next, units];
        h.resize(8 * (usize::from(units) + 1), 0);
        h
    };
    let udp_bytes = udp(src.port(), dst.port(), b"behind extensions");
    for chain in [
        vec![HOP_BY_HOP],
        vec![DEST_OPTS],
        vec![ROUTING],
        vec![HOP_BY_HOP, DEST_OPTS, ROUTING, DEST_OPTS],
        vec![DEST_OPTS; 40],
        vec![DEST_OPTS, HOP_BY_HOP],
    ] {
        let mut payload = Vec::new();
        for (i, _) in chain.iter().enumerate() {
            let next = chain.get(i + 1).copied().unwrap_or(UDP);
            let mut h = ext(next, 0);
            if chain[i] == ROUTING {
                h[2] = 0; // type 0, one segment left
                h[3] = 1;
            }
            payload.extend_from_slice(&h);
        }
        payload.extend_from_slice(&udp_bytes);
        out.push(ipv6(s, d, chain[0], &payload));
    }
    let mut overrun = ext(UDP, 200);
    overrun.truncate(16);
    out.push(ipv6(s, d, DEST_OPTS, &overrun));
    out.push(ipv6(s, d, NO_NEXT, b""));
    out.push(ipv6(s, d, ESP, &[0; 24]));
    out.push(ipv6(s, d, IPV6_IN, &reply));
    out
}

/// MAP-E tunnel packets: every IPv4 template of the reverse flow inside IPv6.
fn templates_tunnel(flows: &Flows) -> Vec<Vec<u8>> {
    let (s, d) = (*flows.v6_src.ip(), *flows.v6_dst.ip());
    let mut out: Vec<Vec<u8>> =
        templates4(flows.v4_dst, flows.v4_src).iter().map(|inner| ipv6(s, d, IPIP, inner)).collect();
    // a Packet Too Big about a tunnel packet, and tunnel packets behind a Fragment header
    let sent = ipv6(d, s, IPIP, &templates4(flows.v4_src, flows.v4_dst)[0]);
    out.push(seal6(ipv6(s, d, ICMPV6, &icmp(2, 0, 1280u32.to_be_bytes(), &sent))));
    let inner = &templates4(flows.v4_dst, flows.v4_src)[0];
    let mut fragmented = vec![IPIP, 0, 0, 1, 0, 0, 0, 9];
    fragmented.extend_from_slice(&inner[..16]);
    out.push(ipv6(s, d, FRAGMENT, &fragmented));
    out
}

/// Ways to cut a packet short, with its length fields left as they were: at every byte of
/// its headers (network, tunnelled, transport), every 16th byte beyond.
fn truncations(templates: &[Vec<u8>], ipv6: bool, out: &mut Vec<Packet>) {
    for t in templates {
        let headers = if ipv6 && t.get(6) == Some(&IPIP) {
            40 + 20 + 8
        } else if ipv6 {
            40 + 8
        } else {
            usize::from(t[0] & 0x0f) * 4 + 8
        };
        // below the outer header only every 4th: the tunnel's cuts are the plain IPv6 ones
        let step = |len: usize| if ipv6 && t.get(6) == Some(&IPIP) && len < 40 { len.is_multiple_of(4) } else { true };
        for len in (0..t.len().min(128)).filter(|len| (*len <= headers && step(*len)) || len.is_multiple_of(16)) {
            out.push(Packet { ipv6, bytes: t[..len].to_vec() });
        }
    }
}

/// IPv4 header fields set to what they must not be.
fn header_faults4(t: &[u8], out: &mut Vec<Packet>) {
    let mut push = |edit: &dyn Fn(&mut Vec<u8>), repair: bool| {
        let mut p = t.to_vec();
        edit(&mut p);
        if repair {
            repair_ipv4(&mut p);
        }
        out.push(Packet { ipv6: false, bytes: p });
    };
    for version in (0..16u8).filter(|v| *v != 4) {
        push(&|p| p[0] = (version << 4) | (p[0] & 0x0f), true);
    }
    for ihl in 0..16u8 {
        push(&|p| p[0] = 0x40 | ihl, true);
    }
    let len = t.len() as u16;
    for total in [0u16, 1, 19, 20, len.wrapping_sub(1), len.wrapping_add(1), 65535] {
        push(&|p| p[2..4].copy_from_slice(&total.to_be_bytes()), true);
    }
    for ttl in [0u8, 1] {
        push(&|p| p[8] = ttl, true);
    }
    for proto in [0u8, IPIP, IPV6_IN, 47, ESP, 132, 255] {
        push(&|p| p[9] = proto, true);
    }
    for frag in [0x8000u16, 0x4001, 0x1fff, 0x3fff, 0x2000] {
        push(&|p| p[6..8].copy_from_slice(&frag.to_be_bytes()), true);
    }
    push(&|p| p[11] ^= 0xff, false);
}

/// IPv6 header fields set to what they must not be.
fn header_faults6(t: &[u8], out: &mut Vec<Packet>) {
    let mut push = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut p = t.to_vec();
        edit(&mut p);
        out.push(Packet { ipv6: true, bytes: p });
    };
    for version in (0..16u8).filter(|v| *v != 6) {
        push(&|p| p[0] = (version << 4) | (p[0] & 0x0f));
    }
    let len = t.len().saturating_sub(40) as u16;
    for payload in [0u16, 1, len.wrapping_sub(1), len.wrapping_add(1), 65535] {
        push(&|p| p[4..6].copy_from_slice(&payload.to_be_bytes()));
    }
    for hop in [0u8, 1] {
        push(&|p| p[7] = hop);
    }
    for next in [HOP_BY_HOP, ROUTING, FRAGMENT, ESP, NO_NEXT, DEST_OPTS, IPIP, IPV6_IN, 255] {
        push(&|p| p[6] = next);
    }
}

/// Packets of 64 KiB and near it: truthful, and with lengths that claim less or more.
fn huge(flows: &Flows, out: &mut Vec<Packet>) {
    let (s4, d4) = (*flows.v4_src.ip(), *flows.v4_dst.ip());
    let (s6, d6) = (*flows.v6_src.ip(), *flows.v6_dst.ip());
    for size in [9000usize, 65495, 65535] {
        let data = vec![0xab; size - 28];
        let p = seal4(ipv4(s4, d4, UDP, 0, &udp(flows.v4_src.port(), flows.v4_dst.port(), &data)));
        out.push(Packet { ipv6: false, bytes: p.clone() });
        let mut short = p.clone();
        short[2..4].copy_from_slice(&1500u16.to_be_bytes());
        repair_ipv4(&mut short);
        out.push(Packet { ipv6: false, bytes: short });
        let p6 = seal6(ipv6(s6, d6, UDP, &udp(flows.v6_src.port(), flows.v6_dst.port(), &data[..size - 48])));
        out.push(Packet { ipv6: true, bytes: p6 });
        out.push(Packet { ipv6: true, bytes: ipv6(s6, d6, IPIP, &p[..size - 40]) });
        out.push(Packet { ipv6: true, bytes: seal6(ipv6(s6, d6, ICMPV6, &icmp(1, 0, [0; 4], &vec![0x60; size - 48]))) });
    }
}

/// One random mutation of a copy of `t`: bytes set or flipped, cut, lengthened, a header
/// repeated; half of them get their checksums repaired so they pass the first checks.
fn mutate(rng: &mut Rng, t: &[u8], ipv6: bool) -> Vec<u8> {
    let mut p = t.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(p.len().min(120));
        match rng.below(6) {
            0 if !p.is_empty() => p[at] = rng.byte(),
            1 if !p.is_empty() => p[at] ^= 1 << rng.below(8),
            2 => p.truncate(at),
            3 => p.extend((0..rng.below(64)).map(|_| rng.byte())),
            4 if p.len() >= at + 8 => {
                let copy = p[at..at + 8].to_vec();
                p.splice(at..at, copy);
            }
            _ if p.len() > at + 2 => p[at..at + 2].copy_from_slice(&(rng.next() as u16 % 1600).to_be_bytes()),
            _ => {}
        }
    }
    if rng.below(2) == 0 {
        if ipv6 {
            p = seal6(p);
            if p.len() > 40 && p[6] == IPIP {
                repair_ipv4(&mut p[40..]);
            }
        } else {
            repair_ipv4(&mut p);
        }
    }
    p
}

/// Every fixed shape, then random mutations of the templates up to `count` packets in all.
pub fn packets(flows: &Flows, count: usize, rng: &mut Rng) -> Vec<Packet> {
    let v4 = templates4(flows.v4_src, flows.v4_dst);
    let mut v6 = templates6(flows.v6_src, flows.v6_dst);
    v6.extend(templates_tunnel(flows));
    let mut out = Vec::new();
    out.extend(v4.iter().map(|t| Packet { ipv6: false, bytes: t.clone() }));
    out.extend(v6.iter().map(|t| Packet { ipv6: true, bytes: t.clone() }));
    // (a fragment train sent in order and reversed: each fragment needs its faults once)
    let unique = |templates: &[Vec<u8>]| {
        let mut seen = std::collections::HashSet::new();
        templates.iter().filter(|t| seen.insert(t.to_vec())).cloned().collect::<Vec<_>>()
    };
    let (u4, u6) = (unique(&v4), unique(&v6));
    truncations(&u4, false, &mut out);
    truncations(&u6, true, &mut out);
    for t in &u4 {
        header_faults4(t, &mut out);
    }
    for t in &u6 {
        header_faults6(t, &mut out);
    }
    huge(flows, &mut out);
    while out.len() < count {
        let ipv6 = rng.below(2) == 0;
        let pool = if ipv6 { &v6 } else { &v4 };
        let t = &pool[rng.below(pool.len())];
        let bytes = mutate(rng, t, ipv6);
        out.push(Packet { ipv6, bytes });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flows() -> Flows {
        Flows {
            v4_src: "192.0.2.8:55300".parse().unwrap(),
            v4_dst: "203.0.113.56:7000".parse().unwrap(),
            v6_src: "[64:ff9b::cb00:7138]:7000".parse().unwrap(),
            v6_dst: "[2001:db8:ce:11b:0:c000:208:1b]:55300".parse().unwrap(),
        }
    }

    #[test]
    fn templates_are_valid_packets() {
        use etherparse::SlicedPacket;
        let f = flows();
        // the first templates of each kind parse and carry correct checksums
        let v4 = templates4(f.v4_src, f.v4_dst);
        let sliced = SlicedPacket::from_ip(&v4[0]).unwrap();
        let Some(etherparse::TransportSlice::Udp(udp)) = sliced.transport else { panic!("not UDP") };
        let Some(etherparse::NetSlice::Ipv4(ip)) = sliced.net else { panic!("not IPv4") };
        let expected = udp.to_header().calc_checksum_ipv4(&ip.header().to_header(), udp.payload()).unwrap();
        assert_eq!(udp.checksum(), expected);
        assert_eq!(ip.header().to_header().calc_header_checksum(), ip.header().header_checksum());
        let v6 = templates6(f.v6_src, f.v6_dst);
        let sliced = SlicedPacket::from_ip(&v6[0]).unwrap();
        let Some(etherparse::TransportSlice::Udp(udp)) = sliced.transport else { panic!("not UDP") };
        let Some(etherparse::NetSlice::Ipv6(ip)) = sliced.net else { panic!("not IPv6") };
        let expected = udp.to_header().calc_checksum_ipv6(&ip.header().to_header(), udp.payload()).unwrap();
        assert_eq!(udp.checksum(), expected);
    }

    #[test]
    fn the_count_is_reached_and_reproducible() {
        let f = flows();
        let a = packets(&f, 20000, &mut Rng::new(7));
        let b = packets(&f, 20000, &mut Rng::new(7));
        assert_eq!(a.len(), 20000);
        assert!(a.iter().zip(&b).all(|(x, y)| x.bytes == y.bytes && x.ipv6 == y.ipv6));
        assert!(a.iter().any(|p| p.bytes.is_empty()));
        assert!(a.iter().any(|p| p.bytes.len() >= 65495));
        // the fixed shapes alone, then their share of a count of 12000
        let fixed = packets(&f, 0, &mut Rng::new(7)).len();
        println!("{fixed} fixed shapes");
        assert!(fixed < 12000);
    }
}
