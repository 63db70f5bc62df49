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
