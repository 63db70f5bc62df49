#![no_main]
//! MAP-E decapsulation, encapsulation and inspection on arbitrary bytes.
use libfuzzer_sys::fuzz_target;
use mapcore::xlat;
use mapcore_fuzz_xlat::{check, decode};

fuzz_target!(|data: &[u8]| {
    let Some(inp) = decode(data) else { return };
    let mut buf = inp.buf.clone();
    let r = xlat::decapsulate(&mut buf, inp.start, inp.len);
    check(&inp.buf, &buf, r.map(|d| (d.start, d.len)));
    let mut buf = inp.buf.clone();
    let src = "2001:db8::1".parse().unwrap();
    let dst = "2001:db8::2".parse().unwrap();
    let r = xlat::encapsulate(&mut buf, inp.start, inp.len, src, dst, &inp.opts);
    check(&inp.buf, &buf, r.map(|e| (e.start, e.len)));
    if let Ok(e) = r {
        let d = xlat::decapsulate(&mut buf, e.start, e.len).expect("decapsulates what it encapsulated");
        assert_eq!(d.len, e.len - 40);
    }
    let _ = xlat::inspect_v4(&inp.buf, inp.start, inp.len);
});
