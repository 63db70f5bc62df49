//! IPv6 -> IPv4 (RFC 7915 §5).

use super::icmp::{self, Kind, MtuCtx};
use super::ipv4;
use super::ipv6::{self, Ip6};
use super::wire::{self, arr, put16, u16_at, u8_at, Front};
use super::{
    adjust_checksum, next_hop_limit, packet, proto, AddressMap, DropReason, Flow6, FlowKind, IcmpReply,
    Options, Shape, Translated, Verdict, ICMP4_ERROR_MAX,
};

/// Above this IPv4 size DF is set on a packet that had no Fragment header (RFC 7915 §5.1:
/// 1280 - 20).
const DF_THRESHOLD: usize = 1260;

/// Translates the IPv6 packet at `buf[start..start + len]` to IPv4 in place (RFC 7915 §5,
/// MAP-T, RFC 7599). The result starts later than `start` (the IPv4 header is shorter); no
/// headroom is needed.
///
/// - Extension headers: Hop-by-Hop, Destination Options and Routing (Segments Left zero) are
///   skipped and not translated; a Routing header with Segments Left non-zero gives
///   [`IcmpReply::ParameterProblem`] pointing at it; a Fragment header becomes the IPv4
///   fragment fields (identification: its low 16 bits; DF clear). Without one, DF is set above
///   1260 bytes, and below that the identification comes from
///   [`AddressMap::ipv4_identification`].
/// - Hop limit: per [`Options::ttl`]; Traffic Class -> TOS per [`Options::copy_tos`].
/// - TCP/UDP checksums adjusted; IPv6 UDP with a zero checksum is dropped.
/// - ICMPv6 echo -> ICMP echo (pseudo-header removed from the checksum); errors translated
///   with their embedded packet, cut to 576 bytes, checksum recomputed after checking the
///   original; RFC 4884 extensions not carried. MLD, ND and other types: dropped.
/// - [`Options::mtu4`]: a result that does not fit and has DF gives
///   [`IcmpReply::PacketTooBig`]; without DF it is translated (the IPv4 stack fragments it).
pub fn v6_to_v4<M: AddressMap + ?Sized>(
    buf: &mut [u8],
    start: usize,
    len: usize,
    map: &M,
    opts: &Options,
) -> Result<Translated, Verdict> {
    v6_to_v4_shaped(buf, start, &Shape::whole(len), map, opts)
}

/// [`v6_to_v4`] for a packet that may lie only partly in the buffer (see [`Shape`]).
pub fn v6_to_v4_shaped<M: AddressMap + ?Sized>(
    buf: &mut [u8],
    start: usize,
    shape: &Shape,
    map: &M,
    opts: &Options,
) -> Result<Translated, Verdict> {
    let pkt = packet(buf, start, shape.visible())?;
    let ip = ipv6::parse_in(pkt, true, shape.len)?;
    if ip.proto == proto::ICMPV6 {
        if ip.frag.is_some() {
            return Err(DropReason::FragmentedIcmp.into());
        }
        shape.require_whole()?;
        let ty = u8_at(pkt, ip.l4_off)?;
        if icmp::is_error6(ty) {
            return error(buf, start, &ip, map, opts);
        }
    }
    plain(buf, start, &ip, shape, map, opts)
}

#[derive(Clone, Copy)]
enum Fix {
    None,
    Adjust { at: usize, udp: bool },
    Echo { ty: u8 },
}

/// Updates the transport checksum at the start of `l4` for the new addresses: `old6` and
/// `new4` are the sums of the old and new address pairs; an ICMPv6 echo also loses its
/// pseudo-header (upper-layer length `l4_len`) and gets its ICMPv4 type. Inlined (forced):
/// every packet's, and small for what it gets passed.
#[inline(always)]
fn apply_fix(l4: &mut [u8], fix: Fix, old6: u64, new4: u64, l4_len: usize, partial: bool) -> Result<(), DropReason> {
    match fix {
        Fix::None => {}
        Fix::Adjust { at, udp } => {
            let mut c = adjust_checksum(u16_at(l4, at)?, old6, new4, partial);
            if udp && c == 0 && !partial {
                c = 0xffff;
            }
            put16(l4, at, c)?;
        }
        Fix::Echo { ty } => {
            let old_word = u16_at(l4, 0)?;
            let new_word = (u16::from(ty) << 8) | (old_word & 0xff);
            let removed = u64::from(old_word)
                .wrapping_add(old6)
                .wrapping_add(wire::sum_len_proto(l4_len, proto::ICMPV6));
            let c = wire::adjust(u16_at(l4, 2)?, removed, u64::from(new_word));
            put16(l4, 0, new_word)?;
            put16(l4, 2, c)?;
        }
    }
    Ok(())
}

/// IPv4 identification and flags/offset word for a translated header.
fn id_flags(frag: Option<ipv6::Frag6>, total: usize, fresh: impl FnOnce() -> u16) -> (u16, u16) {
    match frag {
        Some(f) => ((f.id & 0xffff) as u16, (u16::from(f.more) << 13) | (f.offset & 0x1fff)),
        None if total > DF_THRESHOLD => (0, 0x4000),
        None => (fresh(), 0),
    }
}

fn plain<M: AddressMap + ?Sized>(
    buf: &mut [u8],
    start: usize,
    ip: &Ip6,
    shape: &Shape,
    map: &M,
    opts: &Options,
) -> Result<Translated, Verdict> {
    let (l4_abs, l4_end) = ip.l4_span(start)?;
    let l4_len = l4_end.saturating_sub(l4_abs);
    let l4_end = shape.visible_end(start, l4_end);
    let l4 = wire::slice(buf, l4_abs, l4_end)?;
    let first = ip.is_first();
    let fix = if !first {
        Fix::None
    } else {
        match ip.proto {
            proto::TCP => {
                u16_at(l4, 16)?;
                Fix::Adjust { at: 16, udp: false }
            }
            proto::UDP => match u16_at(l4, 6)? {
                0 => return Err(DropReason::UdpZeroChecksum.into()),
                _ => Fix::Adjust { at: 6, udp: true },
            },
            proto::ICMPV6 => {
                let rest = arr::<4>(l4, 4).ok_or(DropReason::Truncated)?;
                let mtu = MtuCtx { mtu4: opts.mtu4, mtu6: opts.mtu6, embedded_total: 0 };
                match icmp::v6_to_v4(u8_at(l4, 0)?, u8_at(l4, 1)?, rest, mtu)? {
                    Kind::Echo { ty } => Fix::Echo { ty },
                    Kind::Error { .. } => return Err(DropReason::Internal.into()),
                }
            }
            // An ICMPv4 error carried as it is: a CE's port mapping maps the ports it quotes
            // once it is translated, which needs the quote.
            proto::ICMP if l4.first().is_some_and(|&ty| icmp::is_error4(ty)) => {
                shape.require_whole()?;
                Fix::None
            }
            _ => Fix::None,
        }
    };
    let (src_port, dst_port) = if first { ipv4::ports_in_view(ip.proto, l4, l4_len)? } else { (None, None) };
    let ttl = next_hop_limit(ip.hop, opts.ttl)?;
    let flow = Flow6 { src: ip.src, dst: ip.dst, proto: ip.proto, src_port, dst_port, kind: FlowKind::Packet };
    let (s4, d4) = map.v6_to_v4(&flow)?;

    let total = l4_len.saturating_add(20);
    // A GSO packet IPv4 cannot carry whole is translated segment by segment.
    let total16 = u16::try_from(total).map_err(|_| if shape.segment.is_some() { Verdict::NeedWhole } else { DropReason::BadLength.into() })?;
    let df_set = ip.frag.is_none() && total > DF_THRESHOLD;
    let largest = shape.largest(total, 20, ip.proto, l4)?;
    if opts.mtu4 != 0 && largest > opts.mtu4 as usize && df_set {
        // An IPv6 packet of size S (no extension headers) becomes S - 20.
        let mtu = opts.mtu4.saturating_add(20).max(1280);
        return Err(Verdict::Reply(IcmpReply::PacketTooBig { mtu }));
    }
    let (id, flags) = id_flags(ip.frag, total, || map.ipv4_identification());
    let proto4 = if ip.proto == proto::ICMPV6 { proto::ICMP } else { ip.proto };
    let tos = if opts.copy_tos { ip.tc } else { 0 };
    let mut front = Front::new();
    front.push(&ipv4::header(tos, total16, id, flags, ttl, proto4, s4, d4))?;
    front.start_before(l4_abs)?;

    let old6 = wire::sum_v6(ip.src, ip.dst);
    let new4 = wire::sum_v4(s4, d4);
    let l4m = buf.get_mut(l4_abs..l4_end).ok_or(DropReason::Internal)?;
    apply_fix(l4m, fix, old6, new4, l4_len, shape.partial_checksum)?;
    let new_start = front.place(buf, l4_abs)?;
    Ok(Translated { start: new_start, len: total, header_len: 20 })
}

/// ICMPv6 error -> ICMPv4 error, embedded packet included (RFC 7915 §5.2, §5.3).
fn error<M: AddressMap + ?Sized>(
    buf: &mut [u8],
    start: usize,
    ip: &Ip6,
    map: &M,
    opts: &Options,
) -> Result<Translated, Verdict> {
    let (l4_abs, l4_end) = ip.l4_span(start)?;
    let l4 = wire::slice(buf, l4_abs, l4_end)?;
    if l4.len() < 8 {
        return Err(DropReason::Truncated.into());
    }
    if !matches!(u8_at(l4, 0)?, 1..=4) {
        // Unknown error types (RFC 7915 §5.2: silently dropped).
        return Err(DropReason::UntranslatableIcmp.into());
    }
    let check = wire::sum(l4)
        .wrapping_add(wire::sum_v6(ip.src, ip.dst))
        .wrapping_add(wire::sum_len_proto(l4.len(), proto::ICMPV6));
    if wire::fold(check) != 0xffff {
        return Err(DropReason::BadChecksum.into());
    }
    let ty = u8_at(l4, 0)?;
    let code = u8_at(l4, 1)?;
    let rest = arr::<4>(l4, 4).ok_or(DropReason::Truncated)?;
    let mut emb = l4.get(8..).ok_or(DropReason::Truncated)?;
    // RFC 4884: a non-zero length (64-bit words) marks where extensions begin.
    let ext_words = rest[0];
    if matches!(ty, 1 | 3) && ext_words != 0 {
        if let Some(e) = emb.get(..usize::from(ext_words) * 8) {
            emb = e;
        }
    }
    let inner = ipv6::parse(emb, false)?;
    let mtu = MtuCtx { mtu4: opts.mtu4, mtu6: opts.mtu6, embedded_total: 0 };
    let (ty4, code4, rest4) = match icmp::v6_to_v4(ty, code, rest, mtu)? {
        Kind::Error { ty, code, rest } => (ty, code, rest),
        Kind::Echo { .. } => return Err(DropReason::Internal.into()),
    };
    let inner_l4 = emb.get(inner.l4_off..).ok_or(DropReason::BadEmbeddedPacket)?;
    let inner_first = inner.is_first();
    let mut fix = Fix::None;
    if inner_first {
        match inner.proto {
            proto::TCP if inner_l4.len() >= 18 => fix = Fix::Adjust { at: 16, udp: false },
            proto::UDP if inner_l4.len() >= 8 && u16_at(inner_l4, 6)? != 0 => {
                fix = Fix::Adjust { at: 6, udp: true };
            }
            proto::ICMPV6 => match inner_l4.first() {
                Some(128) => fix = Fix::Echo { ty: 8 },
                Some(129) => fix = Fix::Echo { ty: 0 },
                Some(&t) if icmp::is_error6(t) => return Err(DropReason::NestedIcmpError.into()),
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
    let ttl = next_hop_limit(ip.hop, opts.ttl)?;
    let outer_flow = Flow6 {
        src: ip.src,
        dst: ip.dst,
        proto: inner.proto,
        src_port: idp,
        dst_port: isp,
        kind: FlowKind::IcmpError,
    };
    let (os4, od4) = map.v6_to_v4(&outer_flow)?;
    let reversed = Flow6 {
        src: inner.dst,
        dst: inner.src,
        proto: inner.proto,
        src_port: idp,
        dst_port: isp,
        kind: FlowKind::Embedded,
    };
    let (rev_src4, rev_dst4) = map.v6_to_v4(&reversed)?;
    let (is4, id4) = (rev_dst4, rev_src4);

    // The embedded packet's stated upper-layer length (its payload less its extension headers).
    let inner_l4_stated = inner.payload_len.saturating_sub(inner.l4_off.saturating_sub(40));
    let inner_total = inner_l4_stated.saturating_add(20);
    let inner_total16 = u16::try_from(inner_total).unwrap_or(u16::MAX);
    let (inner_id, inner_flags) = id_flags(inner.frag, inner_total, || 0);
    let inner_proto = if inner.proto == proto::ICMPV6 { proto::ICMP } else { inner.proto };
    let tos = if opts.copy_tos { ip.tc } else { 0 };
    let inner_tos = if opts.copy_tos { inner.tc } else { 0 };

    let rest_abs = l4_abs
        .checked_add(8)
        .and_then(|x| x.checked_add(inner.l4_off))
        .ok_or(DropReason::BadBuffer)?;
    let rest_len = inner_l4.len();
    let out_len = rest_len.saturating_add(48).min(ICMP4_ERROR_MAX);
    let out16 = u16::try_from(out_len).map_err(|_| DropReason::Internal)?;
    let outer_id = map.ipv4_identification();

    let mut front = Front::new();
    front.push(&ipv4::header(tos, out16, outer_id, 0, ttl, proto::ICMP, os4, od4))?;
    let [r0, r1, r2, r3] = rest4.to_be_bytes();
    front.push(&[ty4, code4, 0, 0, r0, r1, r2, r3])?;
    front.push(&ipv4::header(inner_tos, inner_total16, inner_id, inner_flags, inner.hop, inner_proto, is4, id4))?;
    front.start_before(rest_abs)?;

    let rest_end = rest_abs.checked_add(rest_len).ok_or(DropReason::Internal)?;
    let restm = buf.get_mut(rest_abs..rest_end).ok_or(DropReason::Internal)?;
    let old6 = wire::sum_v6(inner.src, inner.dst);
    let new4 = wire::sum_v4(is4, id4);
    apply_fix(restm, fix, old6, new4, inner_l4_stated, false)?;
    let new_start = front.place(buf, rest_abs)?;
    let icmp_start = new_start.checked_add(20).ok_or(DropReason::Internal)?;
    let out_end = new_start.checked_add(out_len).ok_or(DropReason::Internal)?;
    let c = wire::finish(wire::sum(wire::slice(buf, icmp_start, out_end)?));
    put16(buf, icmp_start.saturating_add(2), c)?;
    Ok(Translated { start: new_start, len: out_len, header_len: 20 })
}
