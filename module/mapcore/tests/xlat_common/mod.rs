//! Shared helpers of the xlat_* integration tests: a test address map, packet builders and
//! independent verification with etherparse.
#![allow(dead_code)]

use std::cell::RefCell;
use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::checksum::Sum16BitWords;
use etherparse::{Icmpv6Slice, Ipv4Header, Ipv6FragmentHeader, Ipv6Header, TcpHeader, TcpSlice, UdpHeader};
use mapcore::xlat::{self, AddressMap, DropReason, Flow4, Flow6, FlowKind, Options, Translated, Verdict};

/// RFC 6052 /96 on both sides (64:ff9b::/96), recording every flow it was asked about.
pub struct Nat64 {
    pub seen4: RefCell<Vec<Flow4>>,
    pub seen6: RefCell<Vec<Flow6>>,
}

pub const PREFIX: [u8; 12] = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];

pub fn embed(a: Ipv4Addr) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o[..12].copy_from_slice(&PREFIX);
    o[12..].copy_from_slice(&a.octets());
    Ipv6Addr::from(o)
}

pub fn extract(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = a.octets();
    (o[..12] == PREFIX).then(|| Ipv4Addr::new(o[12], o[13], o[14], o[15]))
}

impl Nat64 {
    pub fn new() -> Self {
        Nat64 { seen4: RefCell::new(Vec::new()), seen6: RefCell::new(Vec::new()) }
    }
}

impl AddressMap for Nat64 {
    fn v4_to_v6(&self, f: &Flow4) -> Result<(Ipv6Addr, Ipv6Addr), DropReason> {
        self.seen4.borrow_mut().push(*f);
        Ok((embed(f.src), embed(f.dst)))
    }
    fn v6_to_v4(&self, f: &Flow6) -> Result<(Ipv4Addr, Ipv4Addr), DropReason> {
        self.seen6.borrow_mut().push(*f);
        let src = match extract(f.src) {
            Some(a) => a,
            // RFC 6791: an untranslatable ICMPv6 error source gets a pool address.
            None if f.kind == FlowKind::IcmpError => Ipv4Addr::new(192, 0, 0, 8),
            None => return Err(DropReason::NoMapping),
        };
        Ok((src, extract(f.dst).ok_or(DropReason::NoMapping)?))
    }
    fn ipv4_identification(&self) -> u16 {
        0x5151
    }
}

pub const A4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 8);
pub const B4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 56);
pub const R4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

pub fn a6() -> Ipv6Addr {
    embed(A4)
}
pub fn b6() -> Ipv6Addr {
    embed(B4)
}
pub fn r6() -> Ipv6Addr {
    embed(R4)
}

pub const HEADROOM: usize = 64;

pub fn keep() -> Options {
    Options { ttl: xlat::TtlMode::Keep, ..Options::default() }
}

/// Runs `f` on `pkt` placed after `HEADROOM` bytes (plus `pad` trailing bytes not part of
/// the packet); returns the result bytes. Asserts the buffer is untouched on error.
pub fn run(
    pkt: &[u8],
    f: impl FnOnce(&mut [u8], usize, usize) -> Result<Translated, Verdict>,
) -> Result<Vec<u8>, Verdict> {
    let mut buf = vec![0xeeu8; HEADROOM];
    buf.extend_from_slice(pkt);
    buf.extend_from_slice(&[0xdd; 16]);
    let orig = buf.clone();
    match f(&mut buf, HEADROOM, pkt.len()) {
        Ok(t) => {
            let out = &buf[t.start..t.start + t.len];
            // where the kernel side sets the transport header
            let header_len = match out[0] >> 4 {
                4 => usize::from(out[0] & 0xf) * 4,
                _ if out[6] == 44 => 48,
                _ => 40,
            };
            assert_eq!(t.header_len, header_len, "the network header's length, of {out:02x?}");
            Ok(out.to_vec())
        }
        Err(v) => {
            assert_eq!(buf, orig, "buffer changed although the verdict was {v:?}");
            Err(v)
        }
    }
}

pub fn to6(pkt: &[u8], opts: &Options) -> Result<Vec<u8>, Verdict> {
    let map = Nat64::new();
    run(pkt, |b, s, l| xlat::v4_to_v6(b, s, l, &map, opts))
}

pub fn to4(pkt: &[u8], opts: &Options) -> Result<Vec<u8>, Verdict> {
    let map = Nat64::new();
    run(pkt, |b, s, l| xlat::v6_to_v4(b, s, l, &map, opts))
}

// ---------- builders ----------

/// A raw IPv4 packet with a correct header checksum. `flags_off`: the flags/offset word.
#[allow(clippy::too_many_arguments)]
pub fn ip4_raw(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, tos: u8, id: u16, flags_off: u16, options: &[u8], l4: &[u8]) -> Vec<u8> {
    assert!(options.len().is_multiple_of(4));
    let ihl = 20 + options.len();
    let total = (ihl + l4.len()) as u16;
    let mut h = vec![0x40 | (ihl / 4) as u8, tos];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&flags_off.to_be_bytes());
    h.extend_from_slice(&[ttl, proto, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(options);
    let c = Sum16BitWords::new().add_slice(&h).ones_complement().to_be();
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(l4);
    h
}

pub const DF: u16 = 0x4000;
pub const MF: u16 = 0x2000;

pub fn ip4(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, l4: &[u8]) -> Vec<u8> {
    ip4_raw(proto, src, dst, 64, 0x28, 0x1234, DF, &[], l4)
}

/// A raw IPv6 packet; `exts` are extension headers already chained, `next` is the first.
pub fn ip6_raw(next: u8, src: Ipv6Addr, dst: Ipv6Addr, hop: u8, tc: u8, exts: &[u8], l4: &[u8]) -> Vec<u8> {
    let plen = (exts.len() + l4.len()) as u16;
    let mut h = vec![0x60 | (tc >> 4), tc << 4, 0x0b, 0xcd];
    h.extend_from_slice(&plen.to_be_bytes());
    h.extend_from_slice(&[next, hop]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(exts);
    h.extend_from_slice(l4);
    h
}

pub fn ip6(next: u8, src: Ipv6Addr, dst: Ipv6Addr, l4: &[u8]) -> Vec<u8> {
    ip6_raw(next, src, dst, 64, 0x28, &[], l4)
}

pub enum Pseudo {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

fn pseudo_sum(p: &Pseudo, proto: u8, len: usize) -> Sum16BitWords {
    match p {
        Pseudo::V4(s, d) => Sum16BitWords::new()
            .add_4bytes(s.octets())
            .add_4bytes(d.octets())
            .add_2bytes([0, proto])
            .add_2bytes((len as u16).to_be_bytes()),
        Pseudo::V6(s, d) => Sum16BitWords::new()
            .add_16bytes(s.octets())
            .add_16bytes(d.octets())
            .add_4bytes((len as u32).to_be_bytes())
            .add_2bytes([0, proto]),
    }
}

pub fn tcp(p: Pseudo, sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = TcpHeader::new(sp, dp, 0x0102_0304, 4096);
    h.acknowledgment_number = 0x0a0b_0c0d;
    h.ack = true;
    h.psh = true;
    let mut seg = h.to_bytes().to_vec();
    seg.extend_from_slice(payload);
    let c = pseudo_sum(&p, 6, seg.len()).add_slice(&seg).ones_complement().to_be();
    seg[16..18].copy_from_slice(&c.to_be_bytes());
    seg
}

pub fn udp(p: Pseudo, sp: u16, dp: u16, payload: &[u8]) -> Vec<u8> {
    let mut seg = Vec::new();
    seg.extend_from_slice(&sp.to_be_bytes());
    seg.extend_from_slice(&dp.to_be_bytes());
    seg.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    seg.extend_from_slice(&[0, 0]);
    seg.extend_from_slice(payload);
    let c = pseudo_sum(&p, 17, seg.len()).add_slice(&seg).to_ones_complement_with_no_zero().to_be();
    seg[6..8].copy_from_slice(&c.to_be_bytes());
    seg
}

/// An ICMPv4 message (checksum over the message only).
pub fn icmp4(ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let c = Sum16BitWords::new().add_slice(&m).ones_complement().to_be();
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// An ICMPv6 message (checksum with the pseudo-header).
pub fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let c = pseudo_sum(&Pseudo::V6(src, dst), 58, m.len()).add_slice(&m).ones_complement().to_be();
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

pub fn echo_body(id: u16, seq: u16, data: &[u8]) -> ([u8; 4], Vec<u8>) {
    let [i0, i1] = id.to_be_bytes();
    let [s0, s1] = seq.to_be_bytes();
    ([i0, i1, s0, s1], data.to_vec())
}

// ---------- independent verification ----------

/// What verify6 found.
#[derive(Debug)]
pub struct V6 {
    pub hdr: Ipv6Header,
    pub frag: Option<Ipv6FragmentHeader>,
    pub proto: u8,
    pub l4: Vec<u8>,
}

/// Parses an IPv6 packet with etherparse and checks its transport checksum (when it is not a
/// fragment) independently. Panics on any inconsistency.
pub fn verify6(pkt: &[u8]) -> V6 {
    let (hdr, rest) = Ipv6Header::from_slice(pkt).expect("etherparse: IPv6 header");
    assert_eq!(hdr.payload_length as usize, rest.len(), "payload length");
    let (frag, proto, l4) = if hdr.next_header.0 == 44 {
        let (f, l4) = Ipv6FragmentHeader::from_slice(rest).expect("fragment header");
        (Some(f.clone()), f.next_header.0, l4)
    } else {
        (None, hdr.next_header.0, rest)
    };
    let whole = frag.as_ref().is_none_or(|f| !f.more_fragments && f.fragment_offset.value() == 0);
    if whole {
        check_l4_6(hdr.source, hdr.destination, proto, l4);
    }
    V6 { hdr, frag, proto, l4: l4.to_vec() }
}

pub fn check_l4_6(src: [u8; 16], dst: [u8; 16], proto: u8, l4: &[u8]) {
    match proto {
        6 => {
            let t = TcpSlice::from_slice(l4).expect("tcp");
            assert_eq!(t.calc_checksum_ipv6(src, dst).unwrap(), t.checksum(), "TCP checksum (IPv6)");
        }
        17 => {
            let (u, payload) = UdpHeader::from_slice(l4).expect("udp");
            assert_ne!(u.checksum, 0, "IPv6 UDP checksum must not be zero");
            assert_eq!(u.calc_checksum_ipv6_raw(src, dst, payload).unwrap(), u.checksum, "UDP checksum (IPv6)");
        }
        58 => {
            let s = Icmpv6Slice::from_slice(l4).expect("icmpv6");
            assert!(s.is_checksum_valid(src, dst), "ICMPv6 checksum");
        }
        _ => {}
    }
}

#[derive(Debug)]
pub struct V4 {
    pub hdr: Ipv4Header,
    pub l4: Vec<u8>,
}

/// Parses an IPv4 packet with etherparse, checks the header checksum and (when not a
/// fragment) the transport checksum.
pub fn verify4(pkt: &[u8]) -> V4 {
    let (hdr, rest) = Ipv4Header::from_slice(pkt).expect("etherparse: IPv4 header");
    assert_eq!(hdr.total_len as usize, pkt.len(), "total length");
    assert_eq!(hdr.calc_header_checksum(), hdr.header_checksum, "IPv4 header checksum");
    let whole = !hdr.more_fragments && hdr.fragment_offset.value() == 0;
    if whole {
        check_l4_4(hdr.source, hdr.destination, hdr.protocol.0, rest);
    }
    V4 { hdr, l4: rest.to_vec() }
}

pub fn check_l4_4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) {
    match proto {
        6 => {
            let t = TcpSlice::from_slice(l4).expect("tcp");
            assert_eq!(t.calc_checksum_ipv4(src, dst).unwrap(), t.checksum(), "TCP checksum (IPv4)");
        }
        17 => {
            let (u, payload) = UdpHeader::from_slice(l4).expect("udp");
            if u.checksum != 0 {
                assert_eq!(u.calc_checksum_ipv4_raw(src, dst, payload).unwrap(), u.checksum, "UDP checksum (IPv4)");
            }
        }
        1 => assert_eq!(Sum16BitWords::new().add_slice(l4).ones_complement(), 0, "ICMPv4 checksum"),
        _ => {}
    }
}
