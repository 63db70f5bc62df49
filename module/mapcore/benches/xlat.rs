//! Per-packet cost of the translation engine against a plain copy of the same bytes.
//!
//! `cargo bench -p mapcore --bench xlat` runs criterion on each case (copy alone, then copy +
//! translate: the buffer must be refreshed before every in-place translation), then prints a
//! table of `(copy + translate) / copy` ratios from its own timing loop.

#[path = "../tests/xlat_common/mod.rs"]
mod xlat_common;

use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
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

fn ratios() {
    println!();
    println!("{:<18} {:>7} {:>10} {:>16} {:>8}", "case", "bytes", "copy ns", "copy+xlat ns", "ratio");
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
        println!("{:<18} {:>7} {:>10.1} {:>16.1} {:>8.2}", case.name, case.pkt.len(), c, x, x / c);
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    ratios();
}
