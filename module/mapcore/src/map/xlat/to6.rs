//! IPv4 -> IPv6 (RFC 7915 §4).

use super::icmp::{self, Kind, MtuCtx};
use super::ipv4::{self, Ip4};
use super::ipv6;
use super::wire::{self, arr, put16, u16_at, u8_at, Front};
use super::{
    adjust_checksum, next_hop_limit, packet, proto, AddressMap, DropReason, Flow4,
    FlowKind, IcmpReply, Options, Shape, Translated, Verdict, ICMP6_ERROR_MAX,
};

/// Translates the IPv4 packet at `buf[start..start + len]` to IPv6 in place (RFC 7915 §4,
/// MAP-T, RFC 7599).
///
/// The IPv6 header (and a Fragment header for an IPv4 fragment) is written in front of the
/// unmoved payload, into the headroom before `start`: 20 bytes (28 for a fragment) for a
/// packet with a 20-byte IPv4 header, 40 for an ICMP error (the embedded packet grows too);
/// IPv4 options shrink the need. Bytes past the IPv4 total length (link padding) are not part
/// of the result.
///
/// - TTL: per [`Options::ttl`]. TOS -> Traffic Class per [`Options::copy_tos`]; flow label 0.
/// - IPv4 options are ignored, except an unexpired source route: [`IcmpReply::SourceRouteFailed`].
/// - TCP/UDP: checksum adjusted for the pseudo-header change (RFC 1624); a zero IPv4 UDP
///   checksum is computed in full (the datagram must not be a fragment).
/// - ICMP echo <-> ICMPv6 echo with the pseudo-header added; ICMP errors translated with their
///   embedded packet, cut to 1280 bytes, checksum recomputed (after checking the original);
///   RFC 4884 extensions are not carried (the embedded datagram is cut where they begin).
///   Other ICMP types and IGMP: dropped.
/// - Fragments: see the module documentation. DF is not carried (IPv6 routers never fragment).
pub fn v4_to_v6<M: AddressMap + ?Sized>(
    buf: &mut [u8],
    start: usize,
    len: usize,
    map: &M,
    opts: &Options,
) -> Result<Translated, Verdict> {
    v4_to_v6_shaped(buf, start, &Shape::whole(len), map, opts)
}

/// [`v4_to_v6`] for a packet that may lie only partly in the buffer (see [`Shape`]).
pub fn v4_to_v6_shaped<M: AddressMap + ?Sized>(
    buf: &mut [u8],
    start: usize,
    shape: &Shape,
    map: &M,
    opts: &Options,
) -> Result<Translated, Verdict> {
    let pkt = packet(buf, start, shape.visible())?;
    let ip = ipv4::parse_in(pkt, true, shape.len)?;
    if ipv4::unexpired_source_route(wire::slice(pkt, 20, ip.ihl)?) {
        return Err(Verdict::Reply(IcmpReply::SourceRouteFailed));
    }
    match ip.proto {
        proto::ICMP => {
            if ip.is_fragment() {
                return Err(DropReason::FragmentedIcmp.into());
            }
            shape.require_whole()?;
            let ty = u8_at(pkt, ip.ihl)?;
            if icmp::is_error4(ty) {
                return error(buf, start, &ip, map, opts);
            }
        }
        proto::IGMP => return Err(DropReason::UnsupportedProtocol.into()),
        _ => {}
    }
    plain(buf, start, &ip, shape, map, opts)
}

/// The transport fix-up to apply once everything is checked.
#[derive(Clone, Copy)]
enum Fix {
    None,
    /// Incremental update of the 16-bit checksum at this offset; `udp`: 0 becomes 0xffff.
    Adjust { at: usize, udp: bool },
    /// Compute the UDP checksum in full (it was zero).
    UdpFull,
    /// ICMP echo: new type, checksum at 2 adjusted for the type and the pseudo-header.
    Echo { ty: u8 },
}

fn plain<M: AddressMap + ?Sized>(
    buf: &mut [u8],
    start: usize,
    ip: &Ip4,
    shape: &Shape,
    map: &M,
    opts: &Options,
) -> Result<Translated, Verdict> {
    let (l4_abs, l4_end) = ip.l4_span(start)?;
    let l4_len = l4_end.saturating_sub(l4_abs);
    let l4_end = shape.visible_end(start, l4_end);
    let l4 = wire::slice(buf, l4_abs, l4_end)?;
    let first = ip.is_first();
    let fragment = ip.is_fragment();
    let fix = if !first {
        Fix::None
    } else {
        match ip.proto {
            proto::TCP => {
                u16_at(l4, 16)?;
                Fix::Adjust { at: 16, udp: false }
            }
            proto::UDP => match u16_at(l4, 6)? {
                0 if fragment => return Err(DropReason::FragmentedUdpZeroChecksum.into()),
                0 => {
                    shape.require_whole()?;
                    Fix::UdpFull
                }
                _ => Fix::Adjust { at: 6, udp: true },
            },
            proto::ICMP => {
                let rest = arr::<4>(l4, 4).ok_or(DropReason::Truncated)?;
                let mtu = MtuCtx { mtu4: opts.mtu4, mtu6: opts.mtu6, embedded_total: 0 };
                match icmp::v4_to_v6(u8_at(l4, 0)?, u8_at(l4, 1)?, rest, mtu)? {
                    Kind::Echo { ty } => Fix::Echo { ty },
                    Kind::Error { .. } => return Err(DropReason::Internal.into()),
                }
            }
            _ => Fix::None,
        }
    };
    let (src_port, dst_port) = if first { ipv4::ports_in_view(ip.proto, l4, l4_len)? } else { (None, None) };
    let hop = next_hop_limit(ip.ttl, opts.ttl)?;
    let flow = Flow4 {
        src: ip.src,
        dst: ip.dst,
        proto: ip.proto,
        src_port,
        dst_port,
        kind: FlowKind::Packet,
        fragment: ip.fragment(),
    };
    let (s6, d6) = map.v4_to_v6(&flow)?;

    let next = if ip.proto == proto::ICMP { proto::ICMPV6 } else { ip.proto };
    let frag_len: u16 = if fragment { 8 } else { 0 };
    let frag_len_usize = usize::from(frag_len);
    let payload = l4_len.saturating_add(frag_len_usize);
    let out_len = payload.saturating_add(40);
    let largest = shape.largest(out_len, 40usize.saturating_add(frag_len_usize), ip.proto, l4)?;
    if opts.mtu6 != 0 && largest > opts.mtu6 as usize {
        // An IPv4 packet of size S (20-byte header) becomes S + 20 (+ 8 with a Fragment header).
        let clamp = |m: u32| u16::try_from(m.max(68)).unwrap_or(u16::MAX);
        return Err(if ip.df {
            let mtu = opts.mtu6.saturating_sub(20).saturating_sub(u32::from(frag_len));
            Verdict::Reply(IcmpReply::FragmentationNeeded { mtu: clamp(mtu) })
        } else {
            Verdict::Fragment { mtu: clamp(opts.mtu6.saturating_sub(28)) }
        });
    }
    let payload16 = u16::try_from(payload).map_err(|_| DropReason::BadLength)?;
    let tc = if opts.copy_tos { ip.tos } else { 0 };
    let mut front = Front::new();
    if fragment {
        front.push(&ipv6::header(tc, payload16, proto::FRAGMENT, hop, s6, d6))?;
        front.push(&ipv6::fragment_header(next, ip.offset, ip.mf, u32::from(ip.id)))?;
    } else {
        front.push(&ipv6::header(tc, payload16, next, hop, s6, d6))?;
    }
    front.start_before(l4_abs)?;

    // Everything is checked: write.
    let old4 = wire::sum_v4(ip.src, ip.dst);
    let new6 = wire::sum_v6(s6, d6);
    let l4m = buf.get_mut(l4_abs..l4_end).ok_or(DropReason::Internal)?;
    match fix {
        Fix::None => {}
        Fix::Adjust { at, udp } => {
            let mut c = adjust_checksum(u16_at(l4m, at)?, old4, new6, shape.partial_checksum);
            if udp && c == 0 && !shape.partial_checksum {
                c = 0xffff;
            }
            put16(l4m, at, c)?;
        }
        Fix::UdpFull => {
            let s = wire::sum(l4m)
                .wrapping_add(new6)
                .wrapping_add(wire::sum_len_proto(l4_len, proto::UDP));
            let c = match wire::finish(s) {
                0 => 0xffff,
                c => c,
            };
            put16(l4m, 6, c)?;
        }
        Fix::Echo { ty } => {
            let old_word = u16_at(l4m, 0)?;
            let new_word = (u16::from(ty) << 8) | (old_word & 0xff);
            let added = u64::from(new_word)
                .wrapping_add(new6)
                .wrapping_add(wire::sum_len_proto(l4_len, proto::ICMPV6));
            let c = wire::adjust(u16_at(l4m, 2)?, u64::from(old_word), added);
            put16(l4m, 0, new_word)?;
            put16(l4m, 2, c)?;
        }
    }
    let new_start = front.place(buf, l4_abs)?;
    Ok(Translated { start: new_start, len: out_len, header_len: if fragment { 48 } else { 40 } })
}

/// ICMPv4 error -> ICMPv6 error, embedded packet included (RFC 7915 §4.2, §4.3).
fn error<M: AddressMap + ?Sized>(
    buf: &mut [u8],
    start: usize,
    ip: &Ip4,
    map: &M,
    opts: &Options,
) -> Result<Translated, Verdict> {
    let (l4_abs, l4_end) = ip.l4_span(start)?;
    let l4 = wire::slice(buf, l4_abs, l4_end)?;
    if l4.len() < 8 {
        return Err(DropReason::Truncated.into());
    }
    if !matches!(u8_at(l4, 0)?, 3 | 11 | 12) {
        // Source quench, redirect: errors without a translation (RFC 7915 §4.2).
        return Err(DropReason::UntranslatableIcmp.into());
    }
    if wire::fold(wire::sum(l4)) != 0xffff {
        return Err(DropReason::BadChecksum.into());
    }
    let ty = u8_at(l4, 0)?;
    let code = u8_at(l4, 1)?;
    let rest = arr::<4>(l4, 4).ok_or(DropReason::Truncated)?;
    let mut emb = l4.get(8..).ok_or(DropReason::Truncated)?;
    // RFC 4884: a non-zero length (32-bit words) marks where extensions begin; cut them off.
    let ext_words = rest[1];
    if matches!(ty, 3 | 11 | 12) && ext_words != 0 {
        if let Some(e) = emb.get(..usize::from(ext_words) * 4) {
            emb = e;
        }
    }
    let inner = ipv4::parse(emb, false)?;
    let mtu = MtuCtx {
        mtu4: opts.mtu4,
        mtu6: opts.mtu6,
        embedded_total: u16::try_from(inner.total).unwrap_or(u16::MAX),
    };
    let (ty6, code6, rest6) = match icmp::v4_to_v6(ty, code, rest, mtu)? {
        Kind::Error { ty, code, rest } => (ty, code, rest),
        Kind::Echo { .. } => return Err(DropReason::Internal.into()),
    };
    let inner_l4 = emb.get(inner.ihl..).ok_or(DropReason::BadEmbeddedPacket)?;
    let inner_first = inner.is_first();
    let inner_fragment = inner.is_fragment();
    let mut fix = Fix::None;
    if inner_first {
        match inner.proto {
            proto::TCP if inner_l4.len() >= 18 => fix = Fix::Adjust { at: 16, udp: false },
            proto::UDP if inner_l4.len() >= 8 && u16_at(inner_l4, 6)? != 0 => {
                fix = Fix::Adjust { at: 6, udp: true };
            }
            proto::ICMP => match inner_l4.first() {
                Some(8) => fix = Fix::Echo { ty: 128 },
                Some(0) => fix = Fix::Echo { ty: 129 },
                Some(&t) if icmp::is_error4(t) => return Err(DropReason::NestedIcmpError.into()),
                Some(_) => return Err(DropReason::UntranslatableIcmp.into()),
                None => {}
            },
            _ => {}
        }
        if let Fix::Echo { .. } = fix {
            if inner_l4.len() < 4 {
                fix = Fix::None;
            }
        }
    }
    let (isp, idp) = if inner_first { ipv4::ports(inner.proto, inner_l4) } else { (None, None) };
    let hop = next_hop_limit(ip.ttl, opts.ttl)?;
    let outer_flow = Flow4 {
        src: ip.src,
        dst: ip.dst,
        proto: inner.proto,
        src_port: idp,
        dst_port: isp,
        kind: FlowKind::IcmpError,
        fragment: None,
    };
    let (os6, od6) = map.v4_to_v6(&outer_flow)?;
    let reversed = Flow4 {
        src: inner.dst,
        dst: inner.src,
        proto: inner.proto,
        src_port: idp,
        dst_port: isp,
        kind: FlowKind::Embedded,
        fragment: None,
    };
    let (rev_src6, rev_dst6) = map.v4_to_v6(&reversed)?;
    let (is6, id6) = (rev_dst6, rev_src6);

    let inner_next = if inner.proto == proto::ICMP { proto::ICMPV6 } else { inner.proto };
    let inner_frag_len: usize = if inner_fragment { 8 } else { 0 };
    let inner_l4_stated = inner.total.saturating_sub(inner.ihl);
    let inner_payload =
        u16::try_from(inner_l4_stated.saturating_add(inner_frag_len)).unwrap_or(u16::MAX);
    let tc = if opts.copy_tos { ip.tos } else { 0 };
    let inner_tc = if opts.copy_tos { inner.tos } else { 0 };

    let rest_abs = l4_abs
        .checked_add(8)
        .and_then(|x| x.checked_add(inner.ihl))
        .ok_or(DropReason::BadBuffer)?;
    let rest_len = inner_l4.len();
    let header_len = inner_frag_len.saturating_add(40 + 8 + 40);
    let out_len = header_len.saturating_add(rest_len).min(ICMP6_ERROR_MAX);
    let payload16 = u16::try_from(out_len.saturating_sub(40)).map_err(|_| DropReason::Internal)?;

    let [r0, r1, r2, r3] = rest6.to_be_bytes();
    let mut front = Front::new();
    front.push(&ipv6::header(tc, payload16, proto::ICMPV6, hop, os6, od6))?;
    front.push(&[ty6, code6, 0, 0, r0, r1, r2, r3])?;
    if inner_fragment {
        front.push(&ipv6::header(inner_tc, inner_payload, proto::FRAGMENT, inner.ttl, is6, id6))?;
        front.push(&ipv6::fragment_header(inner_next, inner.offset, inner.mf, u32::from(inner.id)))?;
    } else {
        front.push(&ipv6::header(inner_tc, inner_payload, inner_next, inner.ttl, is6, id6))?;
    }
    front.start_before(rest_abs)?;

    // Write: the embedded transport header's checksum, then the headers, then the ICMPv6
    // checksum over what is kept.
    let rest_end = rest_abs.checked_add(rest_len).ok_or(DropReason::Internal)?;
    let rest = buf.get_mut(rest_abs..rest_end).ok_or(DropReason::Internal)?;
    let old4 = wire::sum_v4(inner.src, inner.dst);
    let new6 = wire::sum_v6(is6, id6);
    match fix {
        Fix::Adjust { at, udp } => {
            let mut c = wire::adjust(u16_at(rest, at)?, old4, new6);
            if udp && c == 0 {
                c = 0xffff;
            }
            put16(rest, at, c)?;
        }
        Fix::Echo { ty } => {
            let old_word = u16_at(rest, 0)?;
            let new_word = (u16::from(ty) << 8) | (old_word & 0xff);
            let added = u64::from(new_word)
                .wrapping_add(new6)
                .wrapping_add(wire::sum_len_proto(inner_l4_stated, proto::ICMPV6));
            let c = wire::adjust(u16_at(rest, 2)?, u64::from(old_word), added);
            put16(rest, 0, new_word)?;
            put16(rest, 2, c)?;
        }
        Fix::None | Fix::UdpFull => {}
    }
    let new_start = front.place(buf, rest_abs)?;
    let icmp_start = new_start.checked_add(40).ok_or(DropReason::Internal)?;
    let out_end = new_start.checked_add(out_len).ok_or(DropReason::Internal)?;
    let msg = wire::slice(buf, icmp_start, out_end)?;
    let s = wire::sum(msg)
        .wrapping_add(wire::sum_v6(os6, od6))
        .wrapping_add(wire::sum_len_proto(msg.len(), proto::ICMPV6));
    put16(buf, icmp_start.saturating_add(2), wire::finish(s))?;
    Ok(Translated { start: new_start, len: out_len, header_len: 40 })
}
