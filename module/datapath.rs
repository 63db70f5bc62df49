// SPDX-License-Identifier: GPL-2.0
//! The transmit path: a packet routed into a mapmint device is translated (MAP-T) or
//! encapsulated/decapsulated (MAP-E) in place by the MAP core, then handed back to the stack
//! as if it had been received on the device. The core decides everything; this file moves
//! skbs and counts.

use crate::device::Instance;
use crate::mapcore::domain::Domain;
use crate::mapcore::xlat::{DropReason, Options, TtlMode, Verdict};
use crate::skb::{Skb, ETH_P_IP, ETH_P_IPV6};
use core::sync::atomic::{AtomicU64, Ordering};

/// The most a header grows: IPv4 -> IPv6 adds 20 bytes (28 with a Fragment header), an ICMP
/// error whose embedded packet grows too adds 40, and MAP-E adds 40.
const MAX_GROWTH: u32 = 40;

/// The translator's options for a device of MTU `mtu`. The kernel forwards each packet twice
/// around the device (as IPv4, then as IPv6, or the reverse), so the translation gives one hop
/// back: a box costs one hop.
///
/// MTU: the device MTU is the largest packet on either side. An IPv4 packet that would come
/// out larger as IPv6 (20 bytes more for MAP-T, 40 for MAP-E) is answered Fragmentation Needed
/// with the MTU that fits (RFC 7915 §4, RFC 7597 §8.3.1) when it has DF; without DF it is
/// fragmented as IPv4 to that size first, and each fragment translated.
fn options(mtu: u32) -> Options {
    Options { ttl: TtlMode::Restore, copy_tos: true, mtu6: mtu, mtu4: 0, encap_hop_limit: 64 }
}

/// Per-instance counters (atomics: the transmit path takes no lock).
pub(crate) struct Counters {
    pub(crate) v4_to_v6_packets: AtomicU64,
    pub(crate) v4_to_v6_bytes: AtomicU64,
    pub(crate) v6_to_v4_packets: AtomicU64,
    pub(crate) v6_to_v4_bytes: AtomicU64,
    /// Bytes of the translated packets as they entered the device.
    pub(crate) input_bytes: AtomicU64,
    /// ICMP errors sent back instead of a translation (Time Exceeded, Fragmentation Needed...).
    pub(crate) icmp_errors: AtomicU64,
    /// Drops by [`DropReason::index`].
    pub(crate) drops: [AtomicU64; DropReason::COUNT],
}

impl Counters {
    pub(crate) const fn new() -> Self {
        const ZERO: AtomicU64 = AtomicU64::new(0);
        Counters {
            v4_to_v6_packets: ZERO,
            v4_to_v6_bytes: ZERO,
            v6_to_v4_packets: ZERO,
            v6_to_v4_bytes: ZERO,
            input_bytes: ZERO,
            icmp_errors: ZERO,
            drops: [ZERO; DropReason::COUNT],
        }
    }

    /// Packets translated in both directions.
    pub(crate) fn translated(&self) -> u64 {
        self.v4_to_v6_packets.load(Ordering::Relaxed) + self.v6_to_v4_packets.load(Ordering::Relaxed)
    }

    /// Bytes of translated packets, as they left the translator.
    pub(crate) fn translated_bytes(&self) -> u64 {
        self.v4_to_v6_bytes.load(Ordering::Relaxed) + self.v6_to_v4_bytes.load(Ordering::Relaxed)
    }

    fn drop(&self, reason: DropReason) {
        if let Some(counter) = self.drops.get(reason.index()) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What became of a packet handed to the device.
pub(crate) enum Outcome {
    /// Translated and received again on the device.
    Translated,
    /// Dropped (counted by reason), possibly after an ICMP error to its source.
    Dropped,
}

/// Translates `skb` for `instance`, a device of MTU `mtu`. Runs in the device's transmit
/// path, an RCU reader.
pub(crate) fn transmit(instance: &Instance, mtu: u32, skb: Skb) -> Outcome {
    transmit_one(instance, mtu, skb, true)
}

/// ip_do_fragment's output: translates one fragment of a packet that was too big.
unsafe extern "C" fn translate_fragment(
    _net: *mut crate::bindings::net,
    _sk: *mut crate::bindings::sock,
    skb: *mut crate::bindings::sk_buff,
) -> i32 {
    // SAFETY: ip_do_fragment hands over each fragment it built, for the mapmint device that
    // had the original packet (skb->dev).
    let Some(skb) = (unsafe { Skb::from_raw(skb) }) else {
        return 0;
    };
    let dev = skb.dev();
    // SAFETY: the device outlives its transmit path, which we are still in.
    let (instance, mtu) = unsafe { (&*crate::device::instance_of(dev), (*dev).mtu) };
    if let Outcome::Dropped = transmit_one(instance, mtu, skb, false) {
        // SAFETY: a valid device.
        unsafe { crate::bindings::dev_core_stats_tx_dropped_inc(dev) };
    }
    0
}

fn transmit_one(instance: &Instance, mtu: u32, mut skb: Skb, may_fragment: bool) -> Outcome {
    let counters = &instance.counters;
    let ipv6 = match skb.protocol() {
        ETH_P_IP => false,
        ETH_P_IPV6 => true,
        _ => {
            counters.drop(DropReason::BadVersion);
            return Outcome::Dropped;
        }
    };
    // SAFETY: ndo_start_xmit runs under rcu_read_lock_bh, and the device outlives it.
    let Some(config) = (unsafe { instance.config() }) else {
        counters.drop(DropReason::NoMapping);
        return Outcome::Dropped;
    };
    let domain = match Domain::new(config, &instance.ipv4_ident) {
        Ok(domain) => domain.with_fragment_cache(&instance.fragments),
        Err(reason) => {
            counters.drop(reason);
            return Outcome::Dropped;
        }
    };
    if !skb.make_writable(MAX_GROWTH) {
        counters.drop(DropReason::NoHeadroom);
        return Outcome::Dropped;
    }
    let len = skb.len();
    let (buffer, start) = skb.buffer();
    let result = if ipv6 {
        domain.from_v6(buffer, start, len, &options(mtu))
    } else {
        domain.from_v4(buffer, start, len, &options(mtu))
    };
    match result {
        Ok(out) => {
            let (protocol, packets, bytes) = if ipv6 {
                (ETH_P_IP, &counters.v6_to_v4_packets, &counters.v6_to_v4_bytes)
            } else {
                (ETH_P_IPV6, &counters.v4_to_v6_packets, &counters.v4_to_v6_bytes)
            };
            skb.set_packet(out.start, out.len, protocol);
            packets.fetch_add(1, Ordering::Relaxed);
            bytes.fetch_add(out.len as u64, Ordering::Relaxed);
            counters.input_bytes.fetch_add(len as u64, Ordering::Relaxed);
            skb.receive();
            Outcome::Translated
        }
        Err(Verdict::Drop(reason)) => {
            counters.drop(reason);
            Outcome::Dropped
        }
        Err(Verdict::Reply(reply)) => {
            // The buffer is unchanged on an error: the ICMP error quotes the packet as sent.
            skb.icmp_reply(ipv6, reply.for_family(ipv6));
            counters.icmp_errors.fetch_add(1, Ordering::Relaxed);
            Outcome::Dropped
        }
        Err(Verdict::Fragment { mtu }) if may_fragment => {
            // The buffer is unchanged: fragment the original, translate each fragment.
            skb.fragment_ipv4(mtu, translate_fragment);
            Outcome::Translated
        }
        Err(Verdict::Fragment { .. }) => {
            // A fragment we made does not fit: cannot happen, the core sized them.
            counters.drop(DropReason::Internal);
            Outcome::Dropped
        }
    }
}
