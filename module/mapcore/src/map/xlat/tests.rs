//! Unit tests of the engine's internals; the RFC cases are in tests/xlat_*.rs.
extern crate std;

use super::wire;

#[test]
fn checksum_sum_matches_rfc1071_example() {
    // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(wire::fold(wire::sum(&d)), 0xddf2);
    assert_eq!(wire::fold(wire::sum(&d[..6])), wire::fold(0x0001 + 0xf203 + 0xf4f5));
    assert_eq!(wire::fold(wire::sum(&[0xab])), 0xab00);
}

#[test]
fn checksum_sum_of_a_20_byte_header_is_the_general_sum() {
    // The 20-byte fast path against the loop over the same words in two pieces.
    let header: [u8; 20] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(0xe5));
    assert_eq!(wire::sum(&header), wire::sum(&header[..8]) + wire::sum(&header[8..]));
    // A header with a valid checksum (b861) sums to ffff.
    let valid = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
    assert_eq!(wire::fold(wire::sum(&valid)), 0xffff);
}

#[test]
fn built_ipv4_headers_carry_the_checksum_of_their_bytes() {
    // `ipv4::header` sums its fields; the bytes it writes must sum to ffff all the same.
    use core::net::Ipv4Addr;
    for (tos, total, id, flags, ttl, proto, src, dst) in [
        (0, 20, 0, 0, 64, 6, Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(198, 51, 100, 2)),
        (0xff, 0xffff, 0xffff, 0x7fff, 255, 255, Ipv4Addr::BROADCAST, Ipv4Addr::BROADCAST),
        (0xb8, 1500, 0x1234, 0x4000, 1, 17, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::UNSPECIFIED),
    ] {
        let header = super::ipv4::header(tos, total, id, flags, ttl, proto, src, dst);
        assert_eq!(wire::fold(wire::sum(&header)), 0xffff, "{header:x?}");
    }
}
