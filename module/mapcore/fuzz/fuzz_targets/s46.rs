//! Fuzzes the DHCPv6 S46 options parser (RFC 7598): whatever the bytes, nothing panics, and
//! what parses reads back whole (every container, rule, BR, DMR and binding, the priority
//! list), its rules usable by the core or refused with a reason.
//!
//! Run (stable toolchain; cargo-fuzz needs nightly flags, hence RUSTC_BOOTSTRAP):
//!   cd module/mapcore && RUSTC_BOOTSTRAP=1 cargo fuzz run s46 fuzz/corpus/s46 fuzz/seeds/s46 -- -max_total_time=60
#![no_main]

use libfuzzer_sys::fuzz_target;
use mapcore::s46::{ContainerKind, S46Options};
use mapcore::Rule;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(options) = S46Options::parse(bytes) {
        for container in options.containers() {
            for rule in container.rules() {
                assert!(rule.offset < bytes.len());
                let _ = Rule::new(rule.params()).map(|r| r.to_string());
            }
            assert!(container.brs().count() < bytes.len());
            let _ = (container.dmr(), container.v4v6bind());
        }
        assert!(options.priority().count() <= bytes.len() / 2);
    }
    for kind in [ContainerKind::MapE, ContainerKind::MapT, ContainerKind::Lw4o6] {
        if let Ok(container) = S46Options::container_payload(kind, bytes) {
            for rule in container.rules() {
                let _ = Rule::new(rule.params());
            }
        }
    }
});
