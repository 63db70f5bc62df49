//! MAP-E (RFC 7597): IPv4-in-IPv6 encapsulation (RFC 2473) and decapsulation.

use core::net::Ipv6Addr;

use super::icmp;
use super::ipv4::{self, Ip4};
use super::ipv6;
use super::wire::{self, put, u8_at, Front};
use super::{
    packet, proto, DropReason, Flow4, FlowKind, IcmpReply, Options, Shape, Translated, Verdict,
};

/// An encapsulated packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encapsulated {
    /// Index of the outer IPv6 header.
    pub start: usize,
    /// Length of the IPv6 packet.
    pub len: usize,
    /// The IPv6 packet exceeds [`Options::mtu6`] and the IPv4 packet allowed fragmentation:
    /// the caller must fragment the *IPv6* packet (RFC 2473 §7.2, RFC 7597 §8.3.1; in Linux,
    /// `skb->ignore_df` lets the IPv6 output path do it). The peer reassembles before it
    /// decapsulates, so it still sees the ports for its RFC 7597 §8.1 check, which fragmenting
    /// the inner IPv4 packet would hide in all but the first fragment.
    pub fragment: bool,
}

/// Wraps the IPv4 packet at `buf[start..start + len]` in an IPv6 header (next header 4) from
/// `src` to `dst` (the CE's MAP address and the BR's, or the FMR-derived CE address), written
/// into the 40 bytes of headroom before `start`.
///
/// The IPv4 packet is validated (version, lengths, header checksum) and otherwise left alone:
/// its TTL was handled by the IPv4 forwarding that brought it here. The Traffic Class copies
/// the TOS ([`Options::copy_tos`]), the hop limit is [`Options::encap_hop_limit`], the flow
/// label is zero. Bytes past the IPv4 total length are dropped.
///
/// Tunnel MTU (RFC 7597 §8.3.1): with [`Options::mtu6`] set, a result longer than it gives
/// [`IcmpReply::FragmentationNeeded`] with `mtu6 - 40` if the IPv4 packet has DF, or is
/// encapsulated with [`Encapsulated::fragment`] set if not.
pub fn encapsulate(
    buf: &mut [u8],
    start: usize,
    len: usize,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    opts: &Options,
) -> Result<Encapsulated, Verdict> {
    encapsulate_shaped(buf, start, &Shape::whole(len), src, dst, opts)
}

/// [`encapsulate`] for a packet that may lie only partly in the buffer (see [`Shape`]).
pub fn encapsulate_shaped(
    buf: &mut [u8],
    start: usize,
    shape: &Shape,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    opts: &Options,
) -> Result<Encapsulated, Verdict> {
    let pkt = packet(buf, start, shape.visible())?;
    let ip = ipv4::parse_in(pkt, true, shape.len)?;
    let largest = largest_encapsulated(pkt, &ip, shape)?;
    encapsulate_parsed(buf, start, &ip, largest, src, dst, opts)
}

/// [`encapsulate_shaped`] of the packet `inspected` read at `buf[start..]` (unchanged since),
/// whose largest IPv6 packet is `largest` ([`Inspected4::encapsulated_size`]): the header is
/// not read again.
pub fn encapsulate_inspected(
    buf: &mut [u8],
    start: usize,
    inspected: &Inspected4,
    largest: usize,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    opts: &Options,
) -> Result<Encapsulated, Verdict> {
    encapsulate_parsed(buf, start, &inspected.ip, largest, src, dst, opts)
}

fn encapsulate_parsed(
    buf: &mut [u8],
    start: usize,
    ip: &Ip4,
    largest: usize,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    opts: &Options,
) -> Result<Encapsulated, Verdict> {
    let out_len = ip.total.saturating_add(40);
    let mut fragment = false;
    if opts.mtu6 != 0 && largest > opts.mtu6 as usize {
        if ip.df {
            let mtu = u16::try_from(opts.mtu6.saturating_sub(40).max(68)).unwrap_or(u16::MAX);
            return Err(Verdict::Reply(IcmpReply::FragmentationNeeded { mtu }));
        }
        fragment = true;
    }
    let payload = u16::try_from(ip.total).map_err(|_| DropReason::BadLength)?;
    let tc = if opts.copy_tos { ip.tos } else { 0 };
    let mut front = Front::new();
    front.push(&ipv6::header(tc, payload, proto::IPV4, opts.encap_hop_limit, src, dst))?;
    let new_start = front.start_before(start)?;
    front.place(buf, start)?;
    Ok(Encapsulated { start: new_start, len: out_len, fragment })
}

/// For the IPv4 packet at `buf[start..]`: the largest IPv6 packet encapsulating it puts on
/// the wire (see [`encapsulate_shaped`]), and whether it has DF.
pub fn encapsulated_size(buf: &[u8], start: usize, shape: &Shape) -> Result<(usize, bool), Verdict> {
    let pkt = packet(buf, start, shape.visible())?;
    let ip = ipv4::parse_in(pkt, true, shape.len)?;
    Ok((largest_encapsulated(pkt, &ip, shape)?, ip.df))
}

/// An IPv4 packet read once for its encapsulation: its flow ([`inspect_v4_shaped`]) and the
/// header the encapsulation needs ([`encapsulate_inspected`]).
#[derive(Clone, Copy, Debug)]
pub struct Inspected4 {
    ip: Ip4,
    flow: Flow4,
}

impl Inspected4 {
    /// The packet's addresses and ports, as [`inspect_v4`] reads them.
    pub fn flow(&self) -> &Flow4 {
        &self.flow
    }

    /// What [`encapsulated_size`] says of the packet, still at `buf[start..]`.
    pub fn encapsulated_size(&self, buf: &[u8], start: usize, shape: &Shape) -> Result<(usize, bool), Verdict> {
        let pkt = packet(buf, start, shape.visible())?;
        Ok((largest_encapsulated(pkt, &self.ip, shape)?, self.ip.df))
    }
}

/// [`inspect_v4_shaped`], keeping what [`encapsulate_inspected`] needs: a packet whose
/// outer addresses depend on its flow is read once.
pub fn inspect_for_encapsulation(buf: &[u8], start: usize, shape: &Shape) -> Result<Inspected4, Verdict> {
    let pkt = packet(buf, start, shape.visible())?;
    let (ip, flow) = flow_of(pkt, shape.len, shape)?;
    Ok(Inspected4 { ip, flow })
}

/// The largest IPv6 packet that encapsulating the IPv4 packet `ip` (whose first bytes are
/// `pkt`) puts on the wire: the packet, or one segment of a GSO packet, plus 40.
fn largest_encapsulated(pkt: &[u8], ip: &Ip4, shape: &Shape) -> Result<usize, Verdict> {
    let l4 = pkt.get(ip.ihl..).unwrap_or(&[]);
    shape.largest(ip.total.saturating_add(40), ip.ihl.saturating_add(40), ip.proto, l4)
}

/// A decapsulated packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decapsulated {
    /// Index of the inner IPv4 header.
    pub start: usize,
    /// Length of the IPv4 packet (its total length).
    pub len: usize,
    /// Length of its header.
    pub header_len: usize,
    /// The outer source: RFC 7597 §8.1 requires it to match the address the rules derive
    /// from `inner.src` and `inner.src_port` (or to be the BR's address); the caller checks.
    pub outer_src: Ipv6Addr,
    /// The outer destination.
    pub outer_dst: Ipv6Addr,
    /// The inner packet's addresses and ports, as [`inspect_v4`] reads them.
    pub inner: Flow4,
    /// Whether RFC 6040 has Congestion Experienced copied onto the inner header:
    /// [`decapsulate_unmarked`] leaves that to [`mark_congestion`](Self::mark_congestion).
    pub congestion: bool,
}

impl Decapsulated {
    /// Copies Congestion Experienced onto the inner header, if [`congestion`](Self::congestion)
    /// says so (RFC 6040), and updates its checksum.
    pub fn mark_congestion(&self, buf: &mut [u8]) -> Result<(), Verdict> {
        if !self.congestion {
            return Ok(());
        }
        let hdr = wire::slice(buf, self.start, self.start.saturating_add(12))?;
        let tos = u8_at(hdr, 1)? | 3;
        let old = u16::from_be_bytes([u8_at(hdr, 0)?, u8_at(hdr, 1)?]);
        let new = u16::from_be_bytes([u8_at(hdr, 0)?, tos]);
        let ck = wire::adjust(wire::u16_at(hdr, 10)?, u64::from(old), u64::from(new));
        put(buf, self.start.saturating_add(1), &[tos])?;
        wire::put16(buf, self.start.saturating_add(10), ck)?;
        Ok(())
    }
}

/// Unwraps the IPv4-in-IPv6 packet at `buf[start..start + len]` (RFC 7597 §8, RFC 2473).
///
/// Skips Hop-by-Hop, Destination Options (including a Tunnel Encapsulation Limit) and a
/// Routing header with Segments Left zero; a Fragment header gives
/// [`DropReason::OuterFragment`] (reassemble first), any upper layer but IPv4
/// [`DropReason::UnsupportedProtocol`]. The inner IPv4 header is validated. ECN (RFC 6040):
/// Congestion Experienced on the outer header is copied onto an ECN-capable inner header. The
/// inner TTL is not touched. No write happens on an error.
pub fn decapsulate(buf: &mut [u8], start: usize, len: usize) -> Result<Decapsulated, Verdict> {
    decapsulate_shaped(buf, start, &Shape::whole(len))
}

/// [`decapsulate`] for a packet that may lie only partly in the buffer (see [`Shape`]).
pub fn decapsulate_shaped(buf: &mut [u8], start: usize, shape: &Shape) -> Result<Decapsulated, Verdict> {
    let out = decapsulate_unmarked(buf, start, shape)?;
    out.mark_congestion(buf)?;
    Ok(out)
}

/// [`decapsulate_shaped`] without its one write, the congestion mark, for a caller with more
/// to check or change first: one that may still send the packet back as it came (asking for
/// more of it) calls [`Decapsulated::mark_congestion`] once nothing can fail. Never writes.
pub fn decapsulate_unmarked(buf: &[u8], start: usize, shape: &Shape) -> Result<Decapsulated, Verdict> {
    let pkt = packet(buf, start, shape.visible())?;
    let ip6 = ipv6::parse_in(pkt, true, shape.len)?;
    if ip6.frag.is_some() {
        return Err(DropReason::OuterFragment.into());
    }
    if ip6.proto != proto::IPV4 {
        return Err(DropReason::UnsupportedProtocol.into());
    }
    let end = ip6.payload_len.saturating_add(40);
    let inner_len = end.saturating_sub(ip6.l4_off);
    let inner_pkt = wire::slice(pkt, ip6.l4_off, end.min(pkt.len()))?;
    let (ip4, inner) = flow_of(inner_pkt, inner_len, shape)?;
    let inner_start = start.checked_add(ip6.l4_off).ok_or(DropReason::BadBuffer)?;
    Ok(Decapsulated {
        start: inner_start,
        len: ip4.total,
        header_len: ip4.ihl,
        outer_src: ip6.src,
        outer_dst: ip6.dst,
        inner,
        congestion: ip6.tc & 3 == 3 && matches!(ip4.tos & 3, 1 | 2),
    })
}

/// The hop a router takes from the (decapsulated) IPv4 packet at `buf[start..]`: TTL - 1, the
/// header checksum updated (RFC 1624). A device that sends a decapsulated packet out itself
/// instead of having the IPv4 stack forward it calls this, so the box still costs one hop.
/// TTL 1 or 0: [`IcmpReply::TimeExceeded`], buffer unchanged (the caller lets the stack
/// forward the packet, which answers it).
pub fn forward_ipv4(buf: &mut [u8], start: usize) -> Result<(), Verdict> {
    let header = buf.get_mut(start..).and_then(|b| b.get_mut(..12)).ok_or(DropReason::Truncated)?;
    let ttl = u8_at(header, 8)?;
    if ttl <= 1 {
        return Err(Verdict::Reply(IcmpReply::TimeExceeded));
    }
    let proto_ = u8_at(header, 9)?;
    let old = u16::from_be_bytes([ttl, proto_]);
    let new = u16::from_be_bytes([ttl.saturating_sub(1), proto_]);
    let checksum = wire::adjust(wire::u16_at(header, 10)?, u64::from(old), u64::from(new));
    put(header, 8, &[ttl.saturating_sub(1)])?;
    wire::put16(header, 10, checksum)?;
    Ok(())
}

/// Reads the IPv4 packet at `buf[start..start + len]` as the [`super::AddressMap`] would see
/// it, without changing it: for MAP-E, the caller chooses the outer addresses from this
/// (e.g. the BR picks the CE by destination address and port). Ports follow [`Flow4`]: for an
/// ICMP error they come from the embedded packet ([`FlowKind::IcmpError`]).
pub fn inspect_v4(buf: &[u8], start: usize, len: usize) -> Result<Flow4, DropReason> {
    inspect_v4_shaped(buf, start, &Shape::whole(len)).map_err(|verdict| match verdict {
        Verdict::Drop(reason) => reason,
        // A whole packet needs nothing more, and inspecting answers nothing else.
        _ => DropReason::Internal,
    })
}

/// [`inspect_v4`] for a packet that may lie only partly in the buffer (see [`Shape`]).
pub fn inspect_v4_shaped(buf: &[u8], start: usize, shape: &Shape) -> Result<Flow4, Verdict> {
    let pkt = packet(buf, start, shape.visible())?;
    flow_of(pkt, shape.len, shape).map(|(_, f)| f)
}

/// The IPv4 packet of `len` bytes starting with `pkt`, as a flow. An ICMP error's flow comes
/// from its embedded packet, which needs the whole of it. Inlined (forced: the compiler keeps
/// it apart): each MAP-E packet goes through it once, and a call returned the header and the
/// flow through memory, about 45 instructions of the 150 it took.
#[inline(always)]
fn flow_of(pkt: &[u8], len: usize, shape: &Shape) -> Result<(Ip4, Flow4), Verdict> {
    let ip = ipv4::parse_in(pkt, true, len)?;
    let l4 = wire::slice(pkt, ip.ihl, ip.total.min(pkt.len()))?;
    let mut flow = Flow4 {
        src: ip.src,
        dst: ip.dst,
        proto: ip.proto,
        src_port: None,
        dst_port: None,
        kind: FlowKind::Packet,
        fragment: ip.fragment(),
    };
    if !ip.is_first() {
        return Ok((ip, flow));
    }
    // The ports (the ICMP type and identifier) are part of the flow: when the packet has
    // them but the bytes at hand stop short, ask for more rather than answer without them.
    let (sp, dp) = ipv4::ports_in_view(ip.proto, l4, ip.total.saturating_sub(ip.ihl))?;
    if ip.proto == proto::ICMP && l4.first().is_some_and(|&t| icmp::is_error4(t)) {
        shape.require_whole()?;
        flow.kind = FlowKind::IcmpError;
        if let Some(emb) = l4.get(8..) {
            if let Ok(inner) = ipv4::parse(emb, false) {
                flow.proto = inner.proto;
                if inner.is_first() {
                    let (sp, dp) = ipv4::ports(inner.proto, emb.get(inner.ihl..).unwrap_or(&[]));
                    flow.src_port = dp;
                    flow.dst_port = sp;
                }
            }
        }
        return Ok((ip, flow));
    }
    flow.src_port = sp;
    flow.dst_port = dp;
    Ok((ip, flow))
}

/// RFC 2473 §7: an ICMPv6 Packet Too Big about a packet this tunnel end sent (its quoted
/// IPv6 header has source `ours` and next header 4) becomes an ICMPv4 Destination
/// Unreachable, Fragmentation Needed for the sender of the inner IPv4 packet, with the MTU
/// less the 40-byte outer header, so the sender's path MTU discovery works across the tunnel.
/// Its source is `source` (the device has no IPv4 address of its own: the RFC 7600 dummy
/// address or one of an RFC 6791 pool).
///
/// Written in place: the ICMPv4 message ends where the quoted inner packet does, so the quote
/// (the inner IPv4 header and 8 bytes, at least) stays where it is. Any other packet:
/// [`DropReason::UnsupportedProtocol`], buffer unchanged.
pub fn tunnel_too_big(
    buf: &mut [u8],
    start: usize,
    len: usize,
    ours: Ipv6Addr,
    source: core::net::Ipv4Addr,
    ident: u16,
) -> Result<Translated, Verdict> {
    let pkt = packet(buf, start, len)?;
    let ip6 = ipv6::parse(pkt, true)?;
    let icmp6 = wire::slice(pkt, ip6.l4_off, ip6.payload_len.saturating_add(40))?;
    if ip6.proto != proto::ICMPV6 || u8_at(icmp6, 0)? != 2 {
        return Err(DropReason::UnsupportedProtocol.into());
    }
    let mtu = wire::u32_at(icmp6, 4)?;
    // The quoted tunnel packet: a plain IPv6 header (what we send) with IPv4 inside.
    let quoted = wire::slice(icmp6, 8, icmp6.len())?;
    if u8_at(quoted, 0)? >> 4 != 6 || u8_at(quoted, 6)? != proto::IPV4 || wire::v6_at(quoted, 8)? != ours {
        return Err(DropReason::UnsupportedProtocol.into());
    }
    let inner = wire::slice(quoted, 40, quoted.len())?;
    let ihl = usize::from(u8_at(inner, 0)? & 0x0f).saturating_mul(4);
    if u8_at(inner, 0)? >> 4 != 4 || ihl < 20 {
        return Err(DropReason::BadEmbeddedPacket.into());
    }
    // The IPv4 header and 64 bits of the datagram (RFC 792), or what the quote holds of it.
    let quote_len = inner.len().min(ihl.saturating_add(8));
    if quote_len < ihl {
        return Err(DropReason::BadEmbeddedPacket.into());
    }
    let sender = wire::v4_at(inner, 12)?;
    let next_hop_mtu = u16::try_from(mtu.saturating_sub(40).clamp(68, 65535)).unwrap_or(u16::MAX);

    // Absolute positions: the quote starts at `quote_at`; the new headers go right before it.
    let quote_at = start.checked_add(ip6.l4_off).and_then(|v| v.checked_add(48)).ok_or(DropReason::BadBuffer)?;
    let new_start = quote_at.checked_sub(28).ok_or(DropReason::BadBuffer)?;
    let total = quote_len.saturating_add(28);
    let quote = wire::slice(buf, quote_at, quote_at.saturating_add(quote_len))?;
    let [m0, m1] = next_hop_mtu.to_be_bytes();
    let mut icmp4 = [3u8, 4, 0, 0, 0, 0, m0, m1];
    let [c0, c1] = wire::finish(wire::sum(&icmp4).wrapping_add(wire::sum(quote))).to_be_bytes();
    icmp4[2] = c0;
    icmp4[3] = c1;
    let total16 = u16::try_from(total).map_err(|_| DropReason::BadLength)?;
    let header = ipv4::header(0, total16, ident, 0, 64, proto::ICMP, source, sender);
    put(buf, new_start, &header)?;
    put(buf, new_start.saturating_add(20), &icmp4)?;
    Ok(Translated { start: new_start, len: total, header_len: 20 })
}
