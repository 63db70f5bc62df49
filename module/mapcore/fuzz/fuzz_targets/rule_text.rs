//! Fuzzes the rule text parsers (the config/`rule add` syntax and calc's comma form).
//!
//! Run (stable toolchain; cargo-fuzz needs nightly flags, hence RUSTC_BOOTSTRAP):
//!   cargo install --locked cargo-fuzz
//!   cd module/mapcore && mkdir -p fuzz/corpus/rule_text
//!   RUSTC_BOOTSTRAP=1 cargo fuzz run rule_text fuzz/corpus/rule_text fuzz/seeds/rule_text -- \
//!       -dict=fuzz/rule_text.dict -max_total_time=60
#![no_main]

use libfuzzer_sys::fuzz_target;
use mapcore::{parse_rule, parse_rule_csv, Ipv6Prefix, Mode};

fuzz_target!(|text: &str| {
    for parsed in [parse_rule(text), parse_rule_csv(text)] {
        match parsed {
            Ok(rule) => {
                // What parses prints back to the same rule.
                let printed = rule.to_string();
                assert_eq!(parse_rule(&printed), Ok(rule));
                // And its own CE at the start of the rule maps consistently.
                let eu = Ipv6Prefix { addr: rule.ipv6_prefix().addr, len: rule.end_user_prefix_len() };
                let ce = rule.ce_mapping(eu).expect("the rule's first End-user prefix is inside it");
                let d = rule.decode(ce.map_address, Mode::MapE).expect("a CE's MAP address decodes");
                assert_eq!((d.ce_ipv4, d.psid), (ce.ipv4, ce.psid()));
            }
            Err(e) => {
                // Every error renders (and names a piece of the input).
                let _ = e.to_string();
                assert!(text.contains(e.value) || e.value.is_empty());
            }
        }
    }
});
