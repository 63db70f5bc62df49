//! Shared by the fuzz targets of translation (xlat_*) and of a MAP domain (domain): input
//! decoding, a test address map, the checks, the domains and their seeds.
//!
//! Input layout: byte 0 selects options (TTL mode, TOS copy, MTUs, whether to repair the
//! IPv4 header checksum so the fuzzer gets past it), byte 1 the headroom (low 7 bits) and
//! whether to repair ICMP/ICMPv6 checksums (high bit), the rest is the packet.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::AtomicU16;

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
        Err(verdict) => assert_eq!(before, after, "buffer changed on error ({verdict:?})"),
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

/// Configurations as `mapminctl apply` reads them, parsed and indexed as the kernel side
/// keeps them.
#[path = "../../tests/instance/mod.rs"]
pub mod instance;

const RULE: &str = "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0";
const RULE_A6: &str = "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 6";
const RULE72: &str = "2001:db8:ce:100::/64 192.0.2.16/28 ea-len 8 psid-offset 6";
const LEGACY: &str = "2001:db8:ce::/48 192.0.2.0/24 ea-len 16 legacy";
/// A per-CE rule: 198.51.100.1 shared by explicit PSIDs.
const PER_CE_RULE: &str = "2001:db8:f0:1::/64 198.51.100.1/32 ea-len 0 psid-offset 6 psid-len 4 psid 3";
/// With [`PER_CE_RULE`], per-CE rules sharing 198.51.100.1 by explicit PSIDs, and a 1:1 rule.
const PER_CE_OTHERS: &str = "fmr 2001:db8:f0:2::/64 198.51.100.1/32 ea-len 0 psid-offset 6 psid-len 4 psid 9\n\
    fmr 2001:db8:f1::/48 198.51.100.128/25 ea-len 7 psid-offset 0\n";

/// The domains the `domain` target runs packets through (its input's first byte picks one):
/// the tutorial's CE 11b and BR in MAP-T and MAP-E, and the shapes of the other features
/// (mapped ports, End-user prefixes past /64, the legacy identifier, per-CE rules, an ICMP
/// source pool, translate-on-receive), each CE followed by its BR.
pub fn domain_configs() -> Vec<String> {
    let t = "dmr 64:ff9b::/96\n";
    let e = "br 2001:db8:6::1\n";
    let ce = |mode: &str, prefix: &str, rule: &str, tail: &str| {
        format!("role ce\nmode {mode}\nend-user-prefix {prefix}\nbmr {rule}\nfmr {rule}\n{tail}")
    };
    let br = |mode: &str, rule: &str, tail: &str| format!("role br\nmode {mode}\nfmr {rule}\n{tail}");
    let pool = "icmp-source-pool 198.51.100.64/30\n";
    let per_ce = format!("fmr {PER_CE_RULE}\n{PER_CE_OTHERS}");
    let per_ce_t = format!("{per_ce}{t}{pool}translate-on-receive on\n");
    let per_ce_e = format!("{per_ce}{e}{pool}");
    vec![
        ce("t", "2001:db8:ce:11b::/64", RULE, t),
        br("t", RULE, t),
        ce("e", "2001:db8:ce:11b::/64", RULE, e),
        br("e", RULE, e),
        ce("t", "2001:db8:ce:11b::/64", RULE_A6, &format!("{t}port-mapping contiguous\ntranslate-on-receive on\n")),
        br("t", RULE_A6, t),
        ce("t", "2001:db8:ce:100:8b00::/72", RULE72, t),
        br("t", RULE72, &format!("{t}translate-on-receive on\n")),
        ce("e", "2001:db8:ce:81b::/64", LEGACY, e),
        br("e", LEGACY, &per_ce_e),
        ce("t", "2001:db8:f0:1::/64", PER_CE_RULE, t),
        br("t", RULE, &per_ce_t),
        ce("e", "2001:db8:ce:11b::/64", RULE_A6, &format!("{e}port-mapping contiguous\n")),
        br("e", RULE_A6, &format!("{e}translate-on-receive on\n")),
    ]
}

/// What the `domain` target's input asks for, before [`decode`]'s layout: byte 0 the domain
/// (index into [`domain_configs`], modulo) and, in its high bit, the family the packet comes
/// from (set: IPv6); byte 1 the shape the kernel side hands over: bit 0 a checksum left to
/// offload, bit 1 a GSO super-packet of the segment size in bytes 2-3, bits 2-7 (when not
/// zero) the bytes in the buffer, in units of 4 (the headers alone, the rest in pages);
/// byte 4 where a second packet starts in the input's packet (0: none), which goes through
/// the same domain (and fragment cache) after the first.
pub struct DomainInput {
    pub domain: usize,
    pub from_v6: bool,
    pub partial_checksum: bool,
    pub segment: Option<usize>,
    pub present_units: usize,
    pub split: usize,
    pub packet: Input,
}

impl DomainInput {
    pub fn decode(data: &[u8]) -> Option<DomainInput> {
        let (control, rest) = data.split_first_chunk::<5>()?;
        Some(DomainInput {
            domain: usize::from(control[0] & 0x7f),
            from_v6: control[0] & 0x80 != 0,
            partial_checksum: control[1] & 1 != 0,
            segment: (control[1] & 2 != 0).then(|| usize::from(u16::from_be_bytes([control[2], control[3]]))),
            present_units: usize::from(control[1] >> 2),
            split: usize::from(control[4]),
            packet: decode(rest)?,
        })
    }
}

/// An IPv4 packet of `payload` (a transport header and data, its checksum right), identification
/// `id` and flags/fragment offset field `fragment`, with a right header checksum.
fn ipv4(proto: u8, src: Ipv4Addr, dst: Ipv4Addr, id: u16, fragment: u16, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&fragment.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    repair_v4(&mut p);
    p.extend_from_slice(payload);
    p
}

/// A UDP (17) or TCP (6) segment from `src` to `dst` with its checksum over IPv4's
/// pseudo-header; `data` after the ports.
fn transport(proto: u8, src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), data: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&src.1.to_be_bytes());
    t.extend_from_slice(&dst.1.to_be_bytes());
    let at = if proto == 17 {
        t.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        t.extend_from_slice(&[0, 0]);
        6
    } else {
        // sequence 1, no acknowledgement, a 20-byte header, SYN, window 65535
        t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        16
    };
    t.extend_from_slice(data);
    let len = t.len() as u32;
    let s = sum(&src.0.octets()) + sum(&dst.0.octets()) + u32::from(proto) + len + sum(&t);
    let c = finish(s);
    t[at..at + 2].copy_from_slice(&(if proto == 17 && c == 0 { 0xffff } else { c }).to_be_bytes());
    t
}

/// An ICMP message: type, code, the rest of the header, the body; its checksum right.
fn icmp(kind: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let c = finish(sum(&m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// The packet with source and destination (addresses, and ports or the tunnel's inner
/// packet's) exchanged: the other direction of the flow. Checksums stay right (sums do not
/// care about order).
fn reversed(p: &[u8]) -> Vec<u8> {
    let mut r = p.to_vec();
    let swap = |r: &mut [u8], a: usize, n: usize| {
        let (x, y) = r[a..a + 2 * n].split_at_mut(n);
        x.swap_with_slice(y);
    };
    let ports = |r: &mut [u8], at: usize, proto: u8| {
        if (proto == 6 || proto == 17) && r.len() >= at + 4 {
            swap(r, at, 2);
        }
    };
    match r.first().map(|v| v >> 4) {
        Some(4) => {
            let ihl = usize::from(r[0] & 15) * 4;
            swap(&mut r, 12, 4);
            let (proto, first) = (r[9], u16::from_be_bytes([r[6], r[7]]) & 0x1fff == 0);
            if first {
                ports(&mut r, ihl, proto);
            }
        }
        Some(6) => {
            swap(&mut r, 8, 16);
            match r[6] {
                4 => r[40..].copy_from_slice(&reversed(&p[40..])),
                proto => ports(&mut r, 40, proto),
            }
        }
        _ => {}
    }
    r
}

/// The seed corpus of the `domain` target: for each CE of [`domain_configs`] and its BR,
/// packets of the CE's flows to a server (UDP, a TCP SYN, an echo request with the CE's port
/// as its identifier, a fragmented datagram as two packets of one input, an ICMP error
/// quoting the server's packet, a TCP segment as a GSO super-packet with its headers alone in
/// the buffer and its checksum left to offload): what the CE sends, what it gets back, what
/// the BR gets from the CE (the CE's translation) and from the server.
pub fn domain_seeds() -> Vec<Vec<u8>> {
    let server = Ipv4Addr::new(203, 0, 113, 56);
    let configs = domain_configs();
    let mut seeds = Vec::new();
    for ce_index in (0..configs.len()).step_by(2) {
        let br_index = ce_index + 1;
        let ce = instance::Instance::parse(&configs[ce_index]).expect("a CE configuration");
        let mapping = ce.ce_mapping().expect("a CE").expect("a mapping");
        let (ip, port) = (mapping.ipv4.addr, mapping.port_set.contiguous_range().first);
        let udp = transport(17, (ip, port), (server, 53), &[0x5a; 32]);
        let syn = transport(6, (ip, port), (server, 80), &[]);
        let echo = icmp(8, 0, [(port >> 8) as u8, port as u8, 0, 1], &[0x5a; 16]);
        let reply = ipv4(17, server, ip, 7, 0, &transport(17, (server, 53), (ip, port), &[0x5a; 8]));
        let unreachable = icmp(3, 3, [0; 4], &reply);
        let datagram = transport(17, (ip, port), (server, 53), &[0x5a; 40]);
        let segment = transport(6, (ip, port), (server, 80), &[0x5a; 1400]);
        // (control byte 1, segment size, packets): whole packets, or a GSO packet's headers
        let shapes: [(u8, u16, Vec<Vec<u8>>); 6] = [
            (0, 0, vec![ipv4(17, ip, server, 1, 0x4000, &udp)]),
            (0, 0, vec![ipv4(6, ip, server, 2, 0x4000, &syn)]),
            (0, 0, vec![ipv4(1, ip, server, 3, 0, &echo)]),
            (0, 0, vec![ipv4(17, ip, server, 4, 0x2000, &datagram[..24]), ipv4(17, ip, server, 4, 3, &datagram[24..])]),
            (0, 0, vec![ipv4(1, ip, server, 5, 0, &unreachable)]),
            (1 | 2 | (10 << 2), 700, vec![ipv4(6, ip, server, 6, 0x4000, &segment)]),
        ];
        for (shape, segment_size, packets) in shapes {
            let ident = AtomicU16::new(0);
            let domain = ce.domain(&ident).expect("a complete CE");
            let mut translated = Vec::new();
            for p in &packets {
                let mut buf = vec![0u8; 64];
                buf.extend_from_slice(p);
                let opts = Options { ttl: TtlMode::Keep, ..Options::default() };
                if let Ok(out) = domain.from_v4(&mut buf, 64, p.len(), &opts) {
                    translated.push(buf[out.start..out.start + out.len].to_vec());
                }
            }
            let seed = |domain: usize, from_v6: bool, packets: &[Vec<u8>]| {
                let split = if packets.len() > 1 { packets[0].len() as u8 } else { 0 };
                let mut seed = vec![domain as u8 | if from_v6 { 0x80 } else { 0 }, shape];
                seed.extend_from_slice(&segment_size.to_be_bytes());
                seed.extend_from_slice(&[split, 1, 64]);
                seed.extend(packets.iter().flatten());
                seed
            };
            let back = |packets: &[Vec<u8>]| packets.iter().map(|p| reversed(p)).collect::<Vec<_>>();
            seeds.push(seed(ce_index, false, &packets));
            seeds.push(seed(br_index, false, &back(&packets)));
            if translated.len() == packets.len() {
                seeds.push(seed(br_index, true, &translated));
                seeds.push(seed(ce_index, true, &back(&translated)));
            }
        }
    }
    seeds
}
