//! Fuzzes the calculations behind `mapminctl calc` with arbitrary (mostly illegal) rules and
//! inputs: nothing may panic, and whatever succeeds must be self-consistent.
//!
//! Run (stable toolchain; cargo-fuzz needs nightly flags, hence RUSTC_BOOTSTRAP):
//!   cd module/mapcore && RUSTC_BOOTSTRAP=1 cargo fuzz run calc -- -max_total_time=60
#![no_main]

use core::net::{Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mapcore::{Ipv4Prefix, Ipv6Prefix, Mode, Rfc6052Prefix, Rule, RuleIndex, RuleParams};

#[derive(Arbitrary, Debug)]
struct Input {
    v6: u128,
    n: u8,
    v4: u32,
    r: u8,
    ea_len: u8,
    offset: Option<u8>,
    psid_len: Option<u8>,
    psid: Option<u16>,
    /// Clear the host bits so more rules are legal.
    clean: bool,
    end_user: u128,
    end_user_len: u8,
    probe4: u32,
    port: u16,
    probe_psid: u16,
    probe6: u128,
    dmr_len: u8,
}

fn masked(bits: u128, len: u8) -> u128 {
    if len == 0 { 0 } else { bits & (u128::MAX << (128 - u32::from(len.min(128)))) }
}

fuzz_target!(|i: Input| {
    let n = i.n % 130;
    let r = i.r % 34;
    let (v6, v4) = if i.clean {
        (masked(i.v6, n), if r == 0 || r > 32 { 0 } else { i.v4 & (u32::MAX << (32 - u32::from(r))) })
    } else {
        (i.v6, i.v4)
    };
    let params = RuleParams {
        ipv6: Ipv6Prefix { addr: Ipv6Addr::from(v6), len: n },
        ipv4: Ipv4Prefix { addr: Ipv4Addr::from(v4), len: r },
        ea_len: i.ea_len,
        psid_offset: i.offset,
        psid_len: i.psid_len,
        psid: i.psid,
        forwarding: false,
        legacy: i.clean && i.n % 2 == 1,
    };

    // RFC 6052 with any prefix length.
    if let Ok(dmr) = Rfc6052Prefix::new(Ipv6Prefix { addr: Ipv6Addr::from(masked(i.probe6, i.dmr_len)), len: i.dmr_len }) {
        let a = dmr.embed(Ipv4Addr::from(i.probe4));
        assert_eq!(dmr.extract(a), Ok(Ipv4Addr::from(i.probe4)));
        let _ = dmr.extract(Ipv6Addr::from(i.probe6));
    }

    let rule = match Rule::new(params) {
        Ok(rule) => rule,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = rule.to_string();

    // BMR: any End-user prefix.
    let eu = Ipv6Prefix { addr: Ipv6Addr::from(i.end_user), len: i.end_user_len % 129 };
    match rule.ce_mapping(eu) {
        Ok(ce) => {
            let d = rule.decode(ce.map_address, Mode::MapE).expect("CE address decodes");
            assert_eq!((d.ce_ipv4, d.psid), (ce.ipv4, ce.psid()));
            for range in ce.port_set.ranges().take(4) {
                assert_eq!(rule.psid_for_port(range.first), Ok(ce.psid()));
                assert_eq!(rule.psid_for_port(range.last), Ok(ce.psid()));
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }

    // Forward mapping: any IPv4 address and port, any PSID.
    let probe4 = Ipv4Addr::from(i.probe4);
    for mode in [Mode::MapE, Mode::MapT] {
        match rule.map_address_for_port(probe4, i.port, mode) {
            Ok((psid, a6)) => {
                let d = rule.decode(a6, mode).expect("forward-mapped address decodes");
                assert_eq!(d.psid, psid);
                assert!(d.ce_ipv4.contains(probe4));
                assert!(rule.port_set(psid).expect("psid is legal").contains(i.port));
                assert!(rule.owns(a6, probe4, i.port, mode));
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
        if let Ok(a6) = rule.map_address(probe4, i.probe_psid, mode) {
            let d = rule.decode(a6, mode).expect("mapped address decodes");
            assert_eq!(d.psid, i.probe_psid);
        }
        // Reverse mapping of any address.
        if let Ok(d) = rule.decode(Ipv6Addr::from(i.probe6), mode) {
            assert_eq!(rule.map_address(d.ipv4, d.psid, mode), Ok(Ipv6Addr::from(i.probe6)));
        }
    }

    // An index holding the rule finds it.
    let rules = [rule];
    let mut slots = [0; mapcore::index::slots_needed(1)];
    let table = RuleIndex::build(&rules, &mut slots, i.probe6 as u64).expect("one rule is a legal table");
    assert_eq!(table.lookup_ipv6(rule.ipv6_prefix().addr), Some(&rule));
    if let Some(found) = table.lookup_ipv4(probe4, Some(i.port)) {
        assert_eq!(found, &rule);
    }
});
