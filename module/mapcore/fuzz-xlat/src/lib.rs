//! Shared by the xlat fuzz targets: input decoding, a test address map, the checks.
//!
//! Input layout: byte 0 selects options (TTL mode, TOS copy, MTUs, whether to repair the
//! IPv4 header checksum so the fuzzer gets past it), byte 1 the headroom (low 7 bits) and
//! whether to repair ICMP/ICMPv6 checksums (high bit), the rest is the packet.

use std::net::{Ipv4Addr, Ipv6Addr};

use mapcore::xlat::{AddressMap, DropReason, Flow4, Flow6, Options, TtlMode, Verdict};

/// RFC 6052 /96 (64:ff9b::/96) on both sides; refuses port 0 to exercise the error path.
pub struct Map;

const PREFIX: [u8; 12] = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];

fn embed(a: Ipv4Addr) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o[..12].copy_from_slice(&PREFIX);
    o[12..].copy_from_slice(&a.octets());
    Ipv6Addr::from(o)
}

fn extract(a: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = a.octets();
    (o[..12] == PREFIX).then(|| Ipv4Addr::new(o[12], o[13], o[14], o[15]))
}

impl AddressMap for Map {
    fn v4_to_v6(&self, f: &Flow4) -> Result<(Ipv6Addr, Ipv6Addr), DropReason> {
        if f.dst_port == Some(0) {
            return Err(DropReason::PortNotAllowed);
        }
        Ok((embed(f.src), embed(f.dst)))
    }
    fn v6_to_v4(&self, f: &Flow6) -> Result<(Ipv4Addr, Ipv4Addr), DropReason> {
        let src = extract(f.src).unwrap_or(Ipv4Addr::new(192, 0, 0, 8));
        Ok((src, extract(f.dst).ok_or(DropReason::NoMapping)?))
    }
    fn ipv4_identification(&self) -> u16 {
        7
    }
}

pub struct Input {
    pub buf: Vec<u8>,
    pub start: usize,
    pub len: usize,
    pub opts: Options,
}

/// Decodes the fuzzer's bytes; `None` if too short.
pub fn decode(data: &[u8]) -> Option<Input> {
    let (&sel, rest) = data.split_first()?;
    let (&head, pkt) = rest.split_first()?;
    let opts = Options {
        ttl: [TtlMode::Decrement, TtlMode::Keep, TtlMode::Restore, TtlMode::Decrement][usize::from(sel & 3)],
        copy_tos: sel & 4 != 0,
        mtu6: if sel & 8 != 0 { 1280 } else { 0 },
        mtu4: if sel & 16 != 0 { 576 } else { 0 },
        encap_hop_limit: 64,
    };
    let mut pkt = pkt.to_vec();
    if sel & 32 != 0 {
        repair_v4(&mut pkt);
    }
    if sel & 64 != 0 && pkt.len() > 40 {
        repair_v4(&mut pkt[40..]);
    }
    if head & 0x80 != 0 {
        repair_icmp(&mut pkt);
    }
    let start = usize::from(head & 0x7f);
    let mut buf = vec![0u8; start];
    buf.extend_from_slice(&pkt);
    let len = if sel & 128 != 0 { pkt.len() + 1 } else { pkt.len() };
    Some(Input { buf, start, len, opts })
}

/// Rewrites the IPv4 header checksum if the bytes look like an IPv4 header.
pub fn repair_v4(p: &mut [u8]) {
    let Some(&v) = p.first() else { return };
    let ihl = usize::from(v & 15) * 4;
    if v >> 4 != 4 || ihl < 20 || ihl > p.len() {
        return;
    }
    p[10] = 0;
    p[11] = 0;
    let mut s: u32 = 0;
    for w in p[..ihl].chunks(2) {
        s += (u32::from(w[0]) << 8) | u32::from(*w.get(1).unwrap_or(&0));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    p[10..12].copy_from_slice(&(!(s as u16)).to_be_bytes());
}

/// The contract: an error leaves the buffer alone, a result lies inside it.
pub fn check(before: &[u8], after: &[u8], r: Result<(usize, usize), Verdict>) {
    match r {
        Ok((s, l)) => assert!(s.checked_add(l).is_some_and(|e| e <= after.len()), "result outside the buffer"),
        Err(_) => assert_eq!(before, after, "buffer changed on error"),
    }
}

fn sum(data: &[u8]) -> u32 {
    let mut s: u32 = 0;
    for w in data.chunks(2) {
        s += (u32::from(w[0]) << 8) | u32::from(*w.get(1).unwrap_or(&0));
    }
    s
}

fn finish(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Rewrites the checksum of an ICMP message right after an IPv4 header, or of an ICMPv6
/// message right after a 40-byte IPv6 header, so the fuzzer reaches the error translation.
pub fn repair_icmp(p: &mut [u8]) {
    match p.first().map(|v| v >> 4) {
        Some(4) => {
            let ihl = usize::from(p[0] & 15) * 4;
            if ihl >= 20 && p.len() >= ihl + 8 && p[9] == 1 {
                let end = usize::from(u16::from_be_bytes([p[2], p[3]])).clamp(ihl + 8, p.len());
                p[ihl + 2] = 0;
                p[ihl + 3] = 0;
                let c = finish(sum(&p[ihl..end]));
                p[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
            }
        }
        Some(6) if p.len() >= 48 && p[6] == 58 => {
            let end = (40 + usize::from(u16::from_be_bytes([p[4], p[5]]))).clamp(48, p.len());
            p[42] = 0;
            p[43] = 0;
            let len = (end - 40) as u32;
            let s = sum(&p[8..40]) + sum(&p[40..end]) + (len >> 16) + (len & 0xffff) + 58;
            let c = finish(s);
            p[42..44].copy_from_slice(&c.to_be_bytes());
        }
        _ => {}
    }
}
