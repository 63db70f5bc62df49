// SPDX-License-Identifier: GPL-2.0
//! The transmit path: a packet routed into a mapmint device is translated (MAP-T) or
//! encapsulated/decapsulated (MAP-E) in place by the MAP core, then sent out by the device
//! (a route lookup and the output path, as a tunnel does) or, at a CE for packets from the
//! IPv6 side, handed back to the stack as if received on the device, so that conntrack
//! undoes the NAPT. The core decides everything; this file moves skbs and counts.
//!
//! Offloads cross: the device takes GSO super-packets and CHECKSUM_PARTIAL packets, the core
//! rewrites their headers only (the checksum seed updated for the new pseudo-header), and
//! the GSO type follows the family. What the core needs whole (ICMP) is made linear; a GSO
//! packet it cannot carry whole is segmented in software first.

use crate::device::PacketPath;
use crate::mapcore::domain::Domain;
use crate::mapcore::config::Role;
use crate::mapcore::rule::Mode;
use crate::mapcore::xlat::{self, DropReason, Options, TtlMode, Verdict};
use crate::netdev::NetDevice;
use crate::rcu::PacketContext;
use crate::skb::{Extent, FragmentSink, Segmented, Skb, AF_INET, ETH_P_IP, ETH_P_IPV6};

/// The most a header grows: IPv4 -> IPv6 adds 20 bytes (28 with a Fragment header), an ICMP
/// error whose embedded packet grows too adds 40 (48 when that packet is a fragment), and
/// MAP-E adds 40.
pub(crate) const MAX_GROWTH: u32 = 48;

/// Room for an Ethernet header (14 bytes, as `LL_RESERVED_SPACE` rounds it) in front of what
/// the device sends out, so that the output path need not copy the packet again for it.
const LINK_HEADER_ROOM: u32 = 16;

/// The most [`headroom_needed`] asks for, MAP-E's outer header and the link header's room
/// after it: the device's `needed_headroom`, so that what the stack sends or forwards into
/// the device has it already.
pub(crate) const MOST_HEADROOM_NEEDED: u32 = 40 + LINK_HEADER_ROOM;
const _: () = assert!(MOST_HEADROOM_NEEDED >= MAX_GROWTH);

/// The headroom a packet needs in front before it is translated. From IPv6 every result is
/// shorter (MAP-T's IPv4 header, MAP-E's decapsulation, a tunnel's Packet Too Big turned into
/// an ICMPv4 error): none, so a packet that lost headroom to the peer's encapsulation (veth
/// carries it along) is not copied for room it never uses. From IPv4: MAP-E's outer header
/// and the link header's room; MAP-T's growth, which leaves that room for a plain packet.
fn headroom_needed(ipv6: bool, mape: bool) -> u32 {
    match (ipv6, mape) {
        (true, _) => 0,
        (false, true) => MOST_HEADROOM_NEEDED,
        (false, false) => MAX_GROWTH,
    }
}

/// The translator's options for a device of MTU `mtu`. A packet forwarded into the device has
/// lost its hop there; one the device sends out itself keeps its TTL (`Keep`), one it hands
/// back to the stack is forwarded a second time, so the translation gives that hop back
/// (`Restore`): either way a box costs one hop.
///
/// MTU: the device MTU is the largest packet on either side. An IPv4 packet that would come
/// out larger as IPv6 (20 bytes more for MAP-T, 40 for MAP-E) is answered Fragmentation Needed
/// with the MTU that fits (RFC 7915 §4, RFC 7597 §8.3.1) when it has DF; without DF it is
/// fragmented as IPv4 to that size first, and each fragment translated.
fn options(mtu: u32, ttl: TtlMode) -> Options {
    Options { ttl, copy_tos: true, mtu6: mtu, mtu4: 0, encap_hop_limit: 64 }
}

/// What became of a packet handed to the translator.
enum Outcome {
    /// Translated (or fragmented, each fragment translated) and sent on.
    Translated,
    /// Dropped (counted by reason), possibly after an ICMP error to its source.
    Dropped,
    /// Not taken at receipt: the stack goes on with it, unchanged, and routes it.
    Left(Skb),
}

/// Where a packet reached the translator.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// Routed into the device; `may_fragment` unless it is a fragment the device made.
    Device { may_fragment: bool },
    /// At PREROUTING, before the stack routed it (translate-on-receive). What the translator
    /// cannot finish there in place (ICMP errors to send, fragments to make, segments to cut,
    /// a TTL running out) it leaves to the stack, which routes the packet into the device.
    Receive,
    /// Delivered to the host at the MAP-E tunnel end's address, on the device or on another
    /// interface (see [`crate::tunnel`]): not forwarded yet, as at receipt, but nothing is
    /// left to the stack once the packet is known to be this instance's.
    Delivered,
}

/// Translates `skb` for the device `tx`, or drops it and counts.
pub(crate) fn transmit(tx: &PacketPath<'_>, skb: Skb) {
    let outcome = match skb.unshare() {
        Some(skb) => translate(tx, skb, Entry::Device { may_fragment: true }),
        None => Outcome::Dropped,
    };
    if let Outcome::Dropped = outcome {
        tx.count_drop();
    }
}

/// What a device with translate-on-receive does with a packet at PREROUTING: translates and
/// sends on (or drops and counts) what is addressed to it, hands back everything else.
pub(crate) fn receive(tx: &PacketPath<'_>, skb: Skb) -> Option<Skb> {
    // (a link-layer broadcast or multicast is the stack's to refuse, as forwarding does)
    if !skb.is_for_this_host() {
        return Some(skb);
    }
    match translate(tx, skb, Entry::Receive) {
        Outcome::Left(skb) => Some(skb),
        Outcome::Translated => None,
        Outcome::Dropped => {
            tx.count_drop();
            None
        }
    }
}

/// What a MAP-E device whose tunnel end is an address of the host does with an IPv4-in-IPv6
/// packet (or an ICMPv6 error, `skb` then a copy) delivered there: decapsulates (or
/// translates the error) and sends on, or drops and counts, what is addressed to the
/// instance; hands back, unchanged, anything else.
pub(crate) fn deliver(tx: &PacketPath<'_>, skb: Skb) -> Option<Skb> {
    match translate(tx, skb, Entry::Delivered) {
        Outcome::Left(skb) => Some(skb),
        Outcome::Translated => None,
        Outcome::Dropped => {
            tx.count_drop();
            None
        }
    }
}

/// Whether the instance of `tx` would take `skb`, an IPv4-in-IPv6 packet (or an ICMPv6 error
/// about one) delivered to an address of another interface (data at its IPv6 header): its
/// device is up and its MAP-E tunnel end is the destination; with `by_peer`, its rules know
/// the far tunnel end as well (see [`crate::tunnel`]: what picks one of several instances
/// with that tunnel end).
pub(crate) fn claims(tx: &PacketPath<'_>, skb: &Skb, by_peer: bool) -> bool {
    let instance = tx.instance();
    let (Some(cpu), Some((config, fmrs, derived))) = (instance.this_cpu(), tx.published()) else {
        return false;
    };
    let Ok(domain) = Domain::with_derived(config, fmrs, derived, &cpu.ipv4_ident) else {
        return false;
    };
    let header = skb.header();
    domain.takes_on_delivery(header) && (!by_peer || domain.knows_tunnel_peer(header))
}

/// The fragments of a packet too big for the device: each is translated in turn.
struct TranslateFragments;

impl FragmentSink for TranslateFragments {
    fn fragment(skb: Skb, dev: &NetDevice, ctx: &PacketContext<'_>) {
        // (a fragment on any other device is dropped)
        let Some(tx) = PacketPath::of(dev, ctx) else {
            return;
        };
        if let Outcome::Dropped = translate(&tx, skb, Entry::Device { may_fragment: false }) {
            tx.count_drop();
        }
    }
}

/// GSO types whose segments the translator can relabel (MAP-T) or wrap (MAP-E) whole: TCP
/// and UDP segmentation of either family. Anything else (tunnels inside, SCTP, fraglists)
/// is segmented in software first.
const GSO_TRANSLATABLE: u32 = crate::bindings::SKB_GSO_TCPV4
    | crate::bindings::SKB_GSO_TCPV6
    | crate::bindings::SKB_GSO_TCP_ECN
    | crate::bindings::SKB_GSO_TCP_FIXEDID
    | crate::bindings::SKB_GSO_UDP_L4
    | crate::bindings::SKB_GSO_DODGY;

/// What a MAP-E decapsulation may find: the same, in an IPv4-in-IPv6 tunnel.
const GSO_DECAPSULATABLE: u32 = GSO_TRANSLATABLE | crate::bindings::SKB_GSO_IPXIP6;

fn translate(tx: &PacketPath<'_>, mut skb: Skb, entry: Entry) -> Outcome {
    let instance = tx.instance();
    // Taken at receipt, the stack goes on with what the translator does not finish.
    let receiving = entry == Entry::Receive;
    // Not forwarded by this box yet (at receipt, or delivered): the stack may go on with
    // a packet the device cannot judge yet.
    let unforwarded = !matches!(entry, Entry::Device { .. });
    let delivered = entry == Entry::Delivered;
    let Some(cpu) = instance.this_cpu() else {
        return if unforwarded { Outcome::Left(skb) } else { Outcome::Dropped };
    };
    let drop = |reason: DropReason| {
        cpu.dropped(reason);
        Outcome::Dropped
    };
    let ipv6 = match skb.protocol() {
        ETH_P_IP => false,
        ETH_P_IPV6 => true,
        _ if receiving => return Outcome::Left(skb),
        _ => return drop(DropReason::BadVersion),
    };
    let Some((config, fmrs, derived)) = tx.published() else {
        return if unforwarded { Outcome::Left(skb) } else { drop(DropReason::NoMapping) };
    };
    let domain = match Domain::with_derived(config, fmrs, derived, &cpu.ipv4_ident) {
        Ok(domain) => domain.with_fragment_cache(&instance.fragments),
        Err(_) if unforwarded => return Outcome::Left(skb),
        Err(reason) => return drop(reason),
    };
    // Delivered to an address of the host: a MAP-E instance's tunnel end only. The IPv6
    // layer leaves IPsec's inbound policies to the tunnel's handler.
    if delivered {
        if !(ipv6 && domain.takes_on_delivery(skb.header())) {
            return Outcome::Left(skb);
        }
        if !skb.ipsec_accepts_delivered() {
            return drop(DropReason::NoRoute);
        }
    }
    // At receipt, only what the stack would route into this device (a CE's IPv4 side needs
    // the NAPT first); the domain decides, from the configuration read once per packet.
    if receiving
        && !(config.translate_on_receive
            && (ipv6 || config.role == Role::Br)
            && domain.takes_on_receive(skb.header(), ipv6))
    {
        return Outcome::Left(skb);
    }
    // A datagram reassembled at PREROUTING goes on as the stack's: forwarding cuts it again
    // to its fragments' size before the device, which translates each. Taken whole, it would
    // leave as one packet over the MTU (with DF, in MAP-T) and be refused.
    if receiving && skb.is_reassembled(ipv6) {
        return Outcome::Left(skb);
    }
    let mape = config.mode == Mode::MapE;
    if let Some((gso_type, _)) = skb.gso() {
        let allowed = if mape && ipv6 { GSO_DECAPSULATABLE } else { GSO_TRANSLATABLE };
        let nested = skb.is_encapsulated() && !(mape && ipv6);
        if gso_type & !allowed != 0 || nested {
            return if receiving { Outcome::Left(skb) } else { transmit_segments(tx, skb) };
        }
        // A BIG TCP super-packet (over 64 KB, made by GRO on a link whose gro_max_size
        // allows it) has no length in its IP header for the translator to read. Routed into
        // the device, it arrives cut to the device's 64 KB GSO limit; delivered, it is cut
        // here.
        if unforwarded && skb.len() > usize::from(u16::MAX) {
            return if receiving { Outcome::Left(skb) } else { transmit_segments(tx, skb) };
        }
    }
    // MAP-T updates the transport checksum as the offload's seed only where it is one; any
    // other checksum left to offload (a tunnel's inner one) is computed first, so that the
    // translation updates complete checksums. At receipt, the stack routes such a packet
    // into the device, where that happens.
    if !mape && !skb.partial_checksum_is_transport() {
        if receiving {
            return Outcome::Left(skb);
        }
        if skb.gso().is_some() {
            return transmit_segments(tx, skb);
        }
        if let Err(e) = skb.resolve_partial_checksum() {
            return drop(kernel_refusal(e));
        }
    }
    // Where the stack has nothing to undo, the translated packet goes straight out. A CE's
    // inbound packets are received again instead: conntrack must undo the NAPT.
    let mut send_out = !(ipv6 && config.role == Role::Ce);
    // One hop per box: a packet routed into the device was forwarded once already; one taken
    // at receipt (or delivered) was not, and is forwarded after the translation only if
    // received again.
    let ttl = match (unforwarded, send_out) {
        (false, true) | (true, false) => TtlMode::Keep,
        (false, false) => TtlMode::Restore,
        (true, true) => TtlMode::Decrement,
    };
    let opts = options(tx.mtu(), ttl);
    // An IPv4 packet taken at receipt for MAP-E was not forwarded yet, and the encapsulation
    // hides its TTL: at the end of it, the stack's forwarding answers Time Exceeded.
    if receiving && mape && !ipv6 && skb.header().get(8).is_none_or(|ttl| *ttl <= 1) {
        return Outcome::Left(skb);
    }
    // First the headers alone, keeping offloads: as they lie in the linear part, then
    // pulled into it; the whole packet only when the translator needs every byte (ICMP, a
    // UDP checksum to compute, headers beyond what can be pulled).
    let mut extent = Extent::Linear;
    let (out, shape, start) = loop {
        let shape = match skb.prepare(headroom_needed(ipv6, mape), extent, receiving) {
            Ok(shape) => shape,
            Err(e) => return drop(kernel_refusal(e)),
        };
        let (buffer, start) = skb.buffer();
        let result = if ipv6 {
            domain.from_v6_shaped(buffer, start, &shape, &opts)
        } else {
            domain.from_v4_shaped(buffer, start, &shape, &opts)
        };
        let wants_more = match result {
            Err(Verdict::NeedWhole) => !shape.is_whole() || shape.partial_checksum,
            // Cut off by the bytes at hand, not by the packet's own end.
            Err(Verdict::Drop(DropReason::Truncated)) => !shape.is_whole(),
            _ => false,
        };
        if wants_more {
            extent = match extent {
                Extent::Linear if !shape.is_whole() => Extent::Headers,
                _ if skb.gso().is_some() && receiving => return Outcome::Left(skb),
                _ if skb.gso().is_some() => return transmit_segments(tx, skb),
                _ => Extent::Whole,
            };
            continue;
        }
        match result {
            // The buffer is unchanged on these (the core's contract): the stack takes over.
            Err(Verdict::NeedWhole | Verdict::Reply(_) | Verdict::Fragment { .. }) if receiving => {
                return Outcome::Left(skb);
            }
            // A GSO packet that needs fragments: its segments are cut, then each translated
            // and fragmented. One that does not fit is answered once, below, as forwarding
            // answers it (ip_forward, ip6_forward), not once per segment.
            Err(Verdict::Fragment { .. }) if skb.gso().is_some() => {
                return transmit_segments(tx, skb);
            }
            Ok(out) => break (out, shape, start),
            Err(Verdict::Drop(reason)) => return drop(reason),
            Err(Verdict::NeedWhole) => return drop(DropReason::Internal),
            Err(Verdict::Reply(reply)) => {
                // The buffer is unchanged on an error: the ICMP error quotes the packet as sent.
                skb.icmp_reply(ipv6, reply.for_family(ipv6));
                cpu.icmp_error();
                return Outcome::Dropped;
            }
            // ip_do_fragment takes the MTU and headroom from the packet's IPv4 route, which a
            // packet written by a packet socket or redirected by tc/bpf does not carry.
            Err(Verdict::Fragment { .. }) if skb.route_family() != Some(AF_INET) => {
                return drop(DropReason::NoRoute);
            }
            Err(Verdict::Fragment { mtu }) if entry == (Entry::Device { may_fragment: true }) => {
                // The buffer is unchanged: fragment the original, translate each fragment.
                skb.fragment_ipv4::<TranslateFragments>(mtu, tx.context());
                return Outcome::Translated;
            }
            // A fragment we made does not fit: cannot happen, the core sized them.
            Err(Verdict::Fragment { .. }) => return drop(DropReason::Internal),
        }
    };
    if mape && send_out {
        let (buffer, _) = skb.buffer();
        if ipv6 {
            // A decapsulated packet was not forwarded as IPv4 yet: the box's hop is taken
            // here, or, at the end of its TTL, it is handed to the stack, whose forwarding
            // answers Time Exceeded from this box.
            send_out = xlat::forward_ipv4(buffer, out.start).is_ok();
        } else if receiving && xlat::forward_ipv4(buffer, start).is_err() {
            // The box's hop for an IPv4 packet taken at receipt (its TTL was checked above).
            return drop(DropReason::Internal);
        }
    }
    let offloads_moved = match (mape, ipv6) {
        (false, _) => {
            skb.relabel_gso(!ipv6);
            true
        }
        (true, false) => skb.mark_encapsulated(),
        (true, true) => skb.mark_decapsulated(),
    };
    if !offloads_moved || !skb.set_packet(&out, if ipv6 { ETH_P_IP } else { ETH_P_IPV6 }) {
        return drop(DropReason::NoMemory);
    }
    // (MAP-T checked its offload above; MAP-E's encapsulation keeps the inner packet's)
    if mape && ipv6 && !skb.forget_offload_before_packet() {
        return drop(DropReason::BadOffload);
    }
    if send_out {
        if unforwarded {
            skb.clear_receive_timestamp();
        }
        if !tx.send(skb, !ipv6) {
            return drop(DropReason::NoRoute);
        }
    } else {
        tx.receive(skb);
    }
    cpu.translated(ipv6, shape.len, out.len);
    if receiving {
        cpu.translated_on_receive();
    }
    Outcome::Translated
}

/// Why the kernel's skb helpers refused a packet: memory, or offload metadata that does not
/// fit its headers.
fn kernel_refusal(e: kernel::error::Error) -> DropReason {
    if e == kernel::error::code::ENOMEM {
        DropReason::NoMemory
    } else {
        DropReason::BadOffload
    }
}

/// A GSO packet that cannot cross whole: its segments cross one by one.
fn transmit_segments(tx: &PacketPath<'_>, skb: Skb) -> Outcome {
    let segments = match skb.segment() {
        Ok(Segmented::Segments(segments)) => segments,
        Ok(Segmented::Whole(skb)) => return translate(tx, skb, Entry::Device { may_fragment: true }),
        Err(e) => {
            if let Some(cpu) = tx.instance().this_cpu() {
                cpu.dropped(kernel_refusal(e));
            }
            return Outcome::Dropped;
        }
    };
    let mut outcome = Outcome::Translated;
    for segment in segments {
        if let Outcome::Dropped = translate(tx, segment, Entry::Device { may_fragment: true }) {
            outcome = Outcome::Dropped;
        }
    }
    outcome
}
