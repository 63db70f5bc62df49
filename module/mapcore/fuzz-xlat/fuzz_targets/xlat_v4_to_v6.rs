#![no_main]
//! IPv4 -> IPv6 translation (and, on success, back) on arbitrary bytes.
use libfuzzer_sys::fuzz_target;
use mapcore::xlat;
use mapcore_fuzz_xlat::{check, decode, Map};

fuzz_target!(|data: &[u8]| {
    let Some(mut inp) = decode(data) else { return };
    let before = inp.buf.clone();
    let r = xlat::v4_to_v6(&mut inp.buf, inp.start, inp.len, &Map, &inp.opts);
    check(&before, &inp.buf, r.map(|t| (t.start, t.len)));
    if let Ok(t) = r {
        let _ = xlat::v6_to_v4(&mut inp.buf, t.start, t.len, &Map, &inp.opts);
    }
});
