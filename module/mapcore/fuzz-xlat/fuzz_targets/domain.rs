#![no_main]
//! The calls the kernel's device makes, on arbitrary bytes: a MAP domain of either role and
//! mode (rules, port sets, the RFC 7597 §8.1 checks, the fragment cache) translating packets
//! from either family in the shapes the kernel side hands over (the headers alone in the
//! buffer, a checksum left to offload, a GSO super-packet), and the tests made at receipt.
//! Beyond not panicking, it holds the contract the device relies on: an error the device
//! goes on from leaves the buffer as it was (it quotes the packet in an ICMP error, fragments
//! it, hands it back to the stack or tries again with more of it), a result lies inside the
//! buffer, nothing is read past the bytes the buffer holds (the buffer ends there), a
//! translation from IPv6 writes nothing before the packet, only an IPv4 packet asks to be
//! fragmented, a whole packet with nothing left to offload is never sent back for more of it,
//! and a packet judged from its headers alone gets the verdict (and bytes) it gets whole.
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mapcore::domain::FragmentCache;
use mapcore::xlat::{DropReason, Shape, Translated, Verdict};
use mapcore_fuzz_xlat::instance::Instance;
use mapcore_fuzz_xlat::{check, domain_configs, DomainInput};

fn instances() -> &'static [Instance] {
    static INSTANCES: OnceLock<Vec<Instance>> = OnceLock::new();
    INSTANCES.get_or_init(|| {
        domain_configs().iter().map(|text| Instance::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))).collect()
    })
}

/// Where a packet goes through: a domain of `instance` with `cache`, its IPv4
/// identifications from `ident`.
struct Through<'a> {
    instance: &'a Instance,
    cache: &'a FragmentCache,
    ident: &'a AtomicU16,
}

impl Through<'_> {
    /// `packet` (`len` long, of which the buffer holds `present` bytes) with `headroom` zero
    /// bytes before it, through the domain: the buffer after and the result.
    fn translate(&self, input: &DomainInput, headroom: usize, packet: &[u8], shape: &Shape) -> (Vec<u8>, Vec<u8>, Result<Translated, Verdict>) {
        let domain = self.instance.domain(self.ident).expect("a complete domain").with_fragment_cache(self.cache);
        // The buffer ends where the bytes the kernel side has in it end.
        let mut buf = vec![0u8; headroom];
        buf.extend_from_slice(&packet[..shape.present]);
        let header = &buf[headroom..];
        let _ = domain.takes_on_receive(header, input.from_v6);
        let _ = domain.takes_on_delivery(header);
        let _ = domain.knows_tunnel_peer(header);
        let before = buf.clone();
        let opts = &input.packet.opts;
        let result = if input.from_v6 {
            domain.from_v6_shaped(&mut buf, headroom, shape, opts)
        } else {
            domain.from_v4_shaped(&mut buf, headroom, shape, opts)
        };
        (before, buf, result)
    }

    /// One packet, `packet` (`len` long) with `headroom` zero bytes before it.
    fn run(&self, input: &DomainInput, headroom: usize, packet: &[u8], len: usize) {
        let mut present = packet.len().min(len);
        if input.present_units != 0 {
            present = present.min(input.present_units * 4);
        }
        let shape = Shape { len, present, partial_checksum: input.partial_checksum, segment: input.segment };
        let ident_before = self.ident.load(Ordering::Relaxed);
        let (before, buf, result) = self.translate(input, headroom, packet, &shape);
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
        // A packet the device goes on with (an ICMP error quoting it, the stack's, fragments
        // of it, a second try with more of it: a truncation the view made) is as it came; a
        // dropped one may have changed on the way (a decapsulation that then fails its checks,
        // ports mapped before a refusal, an ICMP error whose quote ends short).
        match result {
            Err(verdict @ (Verdict::Reply(_) | Verdict::NeedWhole | Verdict::Fragment { .. })) => check(&before, &buf, Err(verdict)),
            Err(verdict @ Verdict::Drop(DropReason::Truncated)) if !shape.is_whole() => check(&before, &buf, Err(verdict)),
            _ => {}
        }
        // Judged from its headers alone, a packet gets the verdict it gets whole, and a
        // translation the same bytes (the headers' translation, then the rest as it was),
        // from the same IPv4 identification. Only a request for more of it may differ.
        let asks_for_more = matches!(result, Err(Verdict::NeedWhole | Verdict::Drop(DropReason::Truncated)));
        if !shape.is_whole() && len <= packet.len() && !asks_for_more {
            let judge_whole = |shape: &Shape| {
                let whole_ident = AtomicU16::new(ident_before);
                Through { ident: &whole_ident, ..*self }.translate(input, headroom, packet, shape)
            };
            let whole_shape = Shape { present: len, ..shape };
            let (_, whole_buf, whole_result) = judge_whole(&whole_shape);
            match (result, whole_result) {
                (Ok(out), Ok(whole_out)) => {
                    assert_eq!((whole_out.start, whole_out.len, whole_out.header_len), (out.start, out.len, out.header_len));
                    let mut from_headers = buf[out.start..].to_vec();
                    from_headers.extend_from_slice(&packet[present..len]);
                    from_headers.truncate(out.len);
                    assert_eq!(from_headers, whole_buf[whole_out.start..whole_out.start + whole_out.len], "headers alone and whole differ");
                }
                // Whole, it wants its checksum resolved (the device does that, then asks
                // again): the verdict then is the one to match, the checksum's bytes aside.
                (from_headers, Err(Verdict::NeedWhole)) if shape.partial_checksum && shape.segment.is_none() => {
                    let (_, _, resolved) = judge_whole(&Shape { partial_checksum: false, ..whole_shape });
                    assert_eq!(from_headers.map(|_| ()), resolved.map(|_| ()), "judged from its headers alone, and whole with its checksum resolved");
                }
                (from_headers, whole) => assert_eq!(from_headers, whole, "judged from its headers alone, and whole"),
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = DomainInput::decode(data) else { return };
    let instances = instances();
    let instance = &instances[input.domain % instances.len()];
    let ident = AtomicU16::new(0);
    let cache = FragmentCache::new();
    if instance.domain(&ident).is_err() {
        return;
    }
    let through = Through { instance, cache: &cache, ident: &ident };
    let start = input.packet.start;
    let packet = &input.packet.buf[start..];
    // decode's length may run one byte past the packet: a length the buffer does not hold
    let extra = input.packet.len - packet.len();
    let split = if input.split != 0 && input.split < packet.len() { input.split } else { packet.len() };
    if split == packet.len() {
        through.run(&input, start, packet, packet.len() + extra);
    } else {
        through.run(&input, start, &packet[..split], split);
        through.run(&input, start, &packet[split..], packet.len() - split + extra);
    }
});
