#![no_main]
//! The calls the kernel's device makes, on arbitrary bytes: a MAP domain of either role and
//! mode (rules, port sets, the RFC 7597 §8.1 checks, the fragment cache) translating packets
//! from either family in the shapes the kernel side hands over (the headers alone in the
//! buffer, a checksum left to offload, a GSO super-packet), and the tests made at receipt.
//! Beyond not panicking, it holds the contract the device relies on: an error leaves the
//! buffer as it was (the device quotes it in an ICMP error or hands it back to the stack), a
//! result lies inside the buffer, nothing is read past the bytes the buffer holds (the buffer
//! ends there), a translation from IPv6 writes nothing before the packet, only an IPv4 packet
//! asks to be fragmented, and a whole packet with nothing left to offload is never sent back
//! for more of it.
use std::sync::atomic::AtomicU16;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mapcore::domain::{Domain, FragmentCache};
use mapcore::xlat::{Shape, Verdict};
use mapcore_fuzz_xlat::instance::Instance;
use mapcore_fuzz_xlat::{check, domain_configs, DomainInput};

fn instances() -> &'static [Instance] {
    static INSTANCES: OnceLock<Vec<Instance>> = OnceLock::new();
    INSTANCES.get_or_init(|| {
        domain_configs().iter().map(|text| Instance::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))).collect()
    })
}

/// One packet, `packet` with `headroom` zero bytes before it, through `domain`.
fn run(domain: &Domain<'_>, input: &DomainInput, headroom: usize, packet: &[u8], len: usize) {
    let available = packet.len();
    let mut present = available.min(len);
    if input.present_units != 0 {
        present = present.min(input.present_units * 4);
    }
    let shape = Shape { len, present, partial_checksum: input.partial_checksum, segment: input.segment };
    // The buffer ends where the bytes the kernel side has in it end.
    let mut buf = vec![0u8; headroom];
    buf.extend_from_slice(&packet[..present]);
    let header = &buf[headroom..];
    let _ = domain.takes_on_receive(header, input.from_v6);
    let _ = domain.takes_on_delivery(header);
    let _ = domain.knows_tunnel_peer(header);
    let before = buf.clone();
    let opts = &input.packet.opts;
    let result = if input.from_v6 {
        domain.from_v6_shaped(&mut buf, headroom, &shape, opts)
    } else {
        domain.from_v4_shaped(&mut buf, headroom, &shape, opts)
    };
    match result {
        // Only the headers need lie in the buffer: the rest of the result is the packet's
        // bytes that never were in it (and what lies past its IP length, which the kernel
        // side trims).
        Ok(out) => {
            assert!(out.header_len <= out.len, "a network header longer than the packet");
            assert!(
                out.start.checked_add(out.header_len).is_some_and(|end| end <= buf.len()),
                "a network header past the buffer"
            );
            if shape.is_whole() {
                assert!(out.start.checked_add(out.len).is_some_and(|end| end <= buf.len()), "a result past the buffer");
            }
            if input.from_v6 {
                assert_eq!(before[..headroom], buf[..headroom], "wrote before an IPv6 packet");
            }
        }
        Err(Verdict::Fragment { .. }) => assert!(!input.from_v6, "an IPv6 packet to fragment"),
        Err(Verdict::NeedWhole) => assert!(
            !shape.is_whole() || shape.partial_checksum || shape.segment.is_some(),
            "a whole packet with nothing to offload sent back for more"
        ),
        Err(_) => {}
    }
    if let Err(verdict) = result {
        check(&before, &buf, Err(verdict));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = DomainInput::decode(data) else { return };
    let instances = instances();
    let instance = &instances[input.domain % instances.len()];
    let ident = AtomicU16::new(0);
    let cache = FragmentCache::new();
    let Ok(domain) = instance.domain(&ident) else { return };
    let domain = domain.with_fragment_cache(&cache);
    let start = input.packet.start;
    let packet = &input.packet.buf[start..];
    // decode's length may run one byte past the packet: a length the buffer does not hold
    let extra = input.packet.len - packet.len();
    let split = if input.split != 0 && input.split < packet.len() { input.split } else { packet.len() };
    if split == packet.len() {
        run(&domain, &input, start, packet, packet.len() + extra);
    } else {
        run(&domain, &input, start, &packet[..split], split);
        run(&domain, &input, start, &packet[split..], packet.len() - split + extra);
    }
});
