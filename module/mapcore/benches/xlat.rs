//! Per-packet cost of the translation engine against a plain copy of the same bytes.
//!
//! `cargo bench -p mapcore --bench xlat` runs criterion on each case (copy alone, then copy +
//! translate: the buffer must be refreshed before every in-place translation), then prints a
//! table of `(copy + translate) / copy` ratios from its own timing loop.

#[path = "../tests/xlat_common/mod.rs"]
mod xlat_common;
#[path = "../tests/instance/mod.rs"]
mod instance;

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::AtomicU16;
use std::time::Instant;

use criterion::Criterion;
use instance::Instance;
use mapcore::domain::{Derived, Domain};
use mapcore::xlat::{self, Options, TtlMode};
use xlat_common::*;

struct Case {
    name: &'static str,
    pkt: Vec<u8>,
    to_v6: bool,
}

fn cases() -> Vec<Case> {
    let payload = [0x5au8; 1000];
    let tcp4 = ip4(6, A4, B4, &tcp(Pseudo::V4(A4, B4), 40000, 443, &payload));
    let udp4 = ip4(17, A4, B4, &udp(Pseudo::V4(A4, B4), 5353, 53, &payload));
    let inner_seg = tcp(Pseudo::V4(B4, A4), 443, 40000, &payload[..512]);
    let inner = ip4_raw(6, B4, A4, 12, 0, 1, DF, &[], &inner_seg);
    let err4 = ip4(1, R4, A4, &icmp4(3, 3, [0; 4], &inner));
    let tcp6 = ip6(6, a6(), b6(), &tcp(Pseudo::V6(a6(), b6()), 40000, 443, &payload));
    let udp6 = ip6(17, a6(), b6(), &udp(Pseudo::V6(a6(), b6()), 5353, 53, &payload));
    let inner_seg = tcp(Pseudo::V6(b6(), a6()), 443, 40000, &payload[..512]);
    let inner = ip6_raw(6, b6(), a6(), 12, 0, &[], &inner_seg);
    let err6 = ip6(58, r6(), a6(), &icmp6(r6(), a6(), 1, 4, [0; 4], &inner));
    vec![
        Case { name: "tcp 4->6", pkt: tcp4, to_v6: true },
        Case { name: "udp 4->6", pkt: udp4, to_v6: true },
        Case { name: "icmp-error 4->6", pkt: err4, to_v6: true },
        Case { name: "tcp 6->4", pkt: tcp6, to_v6: false },
        Case { name: "udp 6->4", pkt: udp6, to_v6: false },
        Case { name: "icmp-error 6->4", pkt: err6, to_v6: false },
    ]
}

const OPTS: Options = Options { ttl: TtlMode::Restore, copy_tos: true, mtu6: 1500, mtu4: 1500, encap_hop_limit: 64 };

#[inline(always)]
fn copy(buf: &mut [u8], pkt: &[u8]) {
    buf[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(black_box(pkt));
    black_box(&buf);
}

#[inline(always)]
fn copy_translate(buf: &mut [u8], pkt: &[u8], to_v6: bool, map: &Nat64) {
    buf[HEADROOM..HEADROOM + pkt.len()].copy_from_slice(black_box(pkt));
    let r = if to_v6 {
        xlat::v4_to_v6(buf, HEADROOM, pkt.len(), map, &OPTS)
    } else {
        xlat::v6_to_v4(buf, HEADROOM, pkt.len(), map, &OPTS)
    };
    black_box(r).expect("translates");
}

/// A map that does not record (the test map's log would grow without bound).
fn map() -> Nat64 {
    Nat64::new()
}

fn bench(c: &mut Criterion) {
    for case in cases() {
        let mut buf = vec![0u8; HEADROOM + case.pkt.len()];
        let m = map();
        let mut g = c.benchmark_group(case.name);
        g.bench_function("copy", |b| b.iter(|| copy(&mut buf, &case.pkt)));
        g.bench_function("copy+translate", |b| {
            b.iter(|| {
                copy_translate(&mut buf, &case.pkt, case.to_v6, &m);
                m.seen4.borrow_mut().clear();
                m.seen6.borrow_mut().clear();
            })
        });
        g.finish();
    }
}

fn time(mut f: impl FnMut(), iters: u32) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(iters)
}

/// The ratio tables' header, and one row: a case's copy alone against copy and translation.
fn ratio_header() {
    println!("{:<18} {:>7} {:>10} {:>16} {:>8}", "case", "bytes", "copy ns", "copy+xlat ns", "ratio");
}

fn ratio_row(name: &str, bytes: usize, copy_ns: f64, xlat_ns: f64) {
    println!("{name:<18} {bytes:>7} {copy_ns:>10.1} {xlat_ns:>16.1} {:>8.2}", xlat_ns / copy_ns);
}

fn ratios() {
    println!();
    ratio_header();
    for case in cases() {
        let mut buf = vec![0u8; HEADROOM + case.pkt.len()];
        let m = map();
        let iters = 200_000;
        let c = time(|| copy(&mut buf, &case.pkt), iters);
        let x = time(
            || {
                copy_translate(&mut buf, &case.pkt, case.to_v6, &m);
                m.seen4.borrow_mut().clear();
                m.seen6.borrow_mut().clear();
            },
            iters,
        );
        ratio_row(case.name, case.pkt.len(), c, x);
    }
}

/// A device's per-packet work: a MAP domain (the tutorial's rule, CE 11b and the BR, the
/// configuration derived once as a device does when it publishes it) translating a UDP
/// datagram of 32 bytes (pktgen's 60-byte frames) from the CE's address and port to the
/// server, and the BR the result.
struct DomainCase {
    name: &'static str,
    instance: Instance,
    derived: Derived,
    pkt: Vec<u8>,
    from_v4: bool,
}

const RULE: &str = "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0";

fn domain_cases() -> Vec<DomainCase> {
    let server = Ipv4Addr::new(203, 0, 113, 56);
    let v4 = ip4(17, A4, server, &udp(Pseudo::V4(A4, server), 55296, 9, &[0x5a; 32]));
    let mut cases = Vec::new();
    for (mode, towards_br) in [("t", "dmr 64:ff9b::/96"), ("e", "br 2001:db8:6::1")] {
        let parse = |text: String| Instance::parse(&text).expect("configuration");
        let new_ce = || parse(format!("role ce\nmode {mode}\nend-user-prefix 2001:db8:ce:11b::/64\nbmr {RULE}\n{towards_br}\n"));
        let new_br = || parse(format!("role br\nmode {mode}\nfmr {RULE}\n{towards_br}\n"));
        let (ce, br) = (new_ce(), new_br());
        // what the CE sends is what the BR gets
        let ident = AtomicU16::new(0);
        let mut buf = vec![0u8; HEADROOM + 128];
        buf[HEADROOM..HEADROOM + v4.len()].copy_from_slice(&v4);
        let out = ce.domain(&ident).expect("complete").from_v4(&mut buf, HEADROOM, v4.len(), &OPTS).expect("CE translates");
        let v6 = buf[out.start..out.start + out.len].to_vec();
        // and the reply: the server's datagram to the CE, through the BR, then the CE
        let reply4 = ip4(17, server, A4, &udp(Pseudo::V4(server, A4), 9, 55296, &[0x5a; 32]));
        buf[HEADROOM..HEADROOM + reply4.len()].copy_from_slice(&reply4);
        let out = br.domain(&ident).expect("complete").from_v4(&mut buf, HEADROOM, reply4.len(), &OPTS).expect("BR translates");
        let reply6 = buf[out.start..out.start + out.len].to_vec();
        let names = if mode == "t" {
            ["MAP-T CE udp 4->6", "MAP-T BR udp 6->4", "MAP-T BR udp 4->6", "MAP-T CE udp 6->4"]
        } else {
            ["MAP-E CE udp encap", "MAP-E BR udp decap", "MAP-E BR udp encap", "MAP-E CE udp decap"]
        };
        let (ce2, br2) = (new_ce(), new_br());
        for (name, instance, pkt, from_v4) in
            [(names[0], ce, v4.clone(), true), (names[1], br, v6, false), (names[2], br2, reply4, true), (names[3], ce2, reply6, false)]
        {
            let derived = Derived::of(&instance.config, instance.fmrs.len());
            cases.push(DomainCase { name, instance, derived, pkt, from_v4 });
        }
    }
    cases
}

#[inline(always)]
fn copy_through_domain(buf: &mut [u8], case: &DomainCase, ident: &AtomicU16) {
    buf[HEADROOM..HEADROOM + case.pkt.len()].copy_from_slice(black_box(&case.pkt));
    let i = &case.instance;
    let domain = Domain::with_derived(&i.config, i.fmrs.index(), &case.derived, black_box(ident)).expect("complete");
    let r = if case.from_v4 {
        domain.from_v4(buf, HEADROOM, case.pkt.len(), &OPTS)
    } else {
        domain.from_v6(buf, HEADROOM, case.pkt.len(), &OPTS)
    };
    black_box(r).expect("translates");
}

fn domain_ratios() {
    println!();
    println!("through a MAP domain, as a device translates:");
    ratio_header();
    let ident = AtomicU16::new(0);
    for case in domain_cases() {
        let mut buf = vec![0u8; HEADROOM + 128];
        let iters = 2_000_000;
        let c = time(|| copy(&mut buf, &case.pkt), iters);
        let x = time(|| copy_through_domain(&mut buf, &case, &ident), iters);
        ratio_row(case.name, case.pkt.len(), c, x);
    }
}

/// Runs one domain case `iterations` times, alone: for an instruction count
/// (`MAPCORE_XLAT_COUNT=CASE:N valgrind --tool=callgrind --toggle-collect=*count_case* ...`).
#[inline(never)]
fn count_case(case: &DomainCase, iterations: u32) {
    let ident = AtomicU16::new(0);
    let mut buf = vec![0u8; HEADROOM + 128];
    for _ in 0..iterations {
        copy_through_domain(&mut buf, case, &ident);
    }
}

fn main() {
    if let Ok(spec) = std::env::var("MAPCORE_XLAT_COUNT") {
        let (name, n) = spec.rsplit_once(':').expect("MAPCORE_XLAT_COUNT=CASE:N");
        let case = domain_cases().into_iter().find(|c| c.name == name).expect("a domain case's name");
        count_case(&case, n.parse().expect("a count"));
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    let ident = AtomicU16::new(0);
    for case in domain_cases() {
        let mut buf = vec![0u8; HEADROOM + 128];
        let mut g = c.benchmark_group(case.name);
        g.bench_function("copy+translate", |b| b.iter(|| copy_through_domain(&mut buf, &case, &ident)));
        g.finish();
    }
    c.final_summary();
    ratios();
    domain_ratios();
}
