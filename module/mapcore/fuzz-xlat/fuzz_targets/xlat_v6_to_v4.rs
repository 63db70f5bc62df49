#![no_main]
//! IPv6 -> IPv4 translation (and, on success, back) on arbitrary bytes.
use libfuzzer_sys::fuzz_target;
use mapcore::xlat;
use mapcore_fuzz_xlat::{check, decode, Map};

fuzz_target!(|data: &[u8]| {
    let Some(mut inp) = decode(data) else { return };
    let before = inp.buf.clone();
    let r = xlat::v6_to_v4(&mut inp.buf, inp.start, inp.len, &Map, &inp.opts);
    check(&before, &inp.buf, r.map(|t| (t.start, t.len)));
    if let Ok(t) = r {
        // Give the way back the headroom it needs.
        let mut again = vec![0u8; 64];
        again.extend_from_slice(&inp.buf[t.start..t.start + t.len]);
        let _ = xlat::v4_to_v6(&mut again, 64, t.len, &Map, &inp.opts);
    }
});
