//! Contiguous port mapping at a CE (`port-mapping contiguous`).
//!
//! Linux NAPT fills one contiguous port range per rule, while a CE's port set is 2^a - 1
//! separate ranges when the PSID offset a > 0. With this mapping the NAPT fills the set's
//! [`contiguous range`](PortSet::contiguous_range) and the device rewrites, on the IPv4 side,
//! the k-th port of that range into the k-th port of the set on the way out, and back on the
//! way in. It is stateless and bijective, so conntrack keeps all the state and the BR sees
//! ordinary set ports.
//!
//! Out (our packet towards the IPv6 side): the source port or ICMP echo identifier of a
//! packet from our address, and in an ICMP error about a packet sent to us, that packet's
//! destination port. In: the destination port or identifier of a packet to our address, and in
//! an ICMP error about our packet, its source port. Checksums follow incrementally (RFC 1624);
//! a CHECKSUM_PARTIAL seed covers no port and stays. Non-first fragments carry no port.

use core::net::Ipv4Addr;

use super::ipv4;
use super::wire::{self, u16_at};
use super::{proto, DropReason, Shape, Verdict};
use super::super::portset::PortSet;
use super::super::prefix::Ipv4Prefix;

/// Which way a packet crosses the CE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDirection {
    /// From the CE's NAPT towards the IPv6 side: contiguous range -> port set.
    Out,
    /// From the IPv6 side towards the NAPT: port set -> contiguous range.
    In,
}

/// The most 16-bit fields one packet's mapping writes: a port and its checksum, or in an ICMP
/// error the embedded port, the embedded checksum and the ICMP checksum.
const MAX_EDITS: usize = 3;

/// The fields a mapping changed, with their old values, to put the packet back as it was
/// (the translation after it failed and the original must be quoted or fragmented).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortUndo {
    edits: [(usize, u16); MAX_EDITS],
    count: usize,
}

impl PortUndo {
    /// Writes the old values back, last change first.
    pub fn undo(&self, buf: &mut [u8]) {
        for &(offset, old) in self.edits.iter().take(self.count).rev() {
            // Each offset was written by the mapping, so it lies inside `buf`.
            let _ = wire::put16(buf, offset, old);
        }
    }

    fn write(&mut self, buf: &mut [u8], offset: usize, new: u16) -> Result<(), DropReason> {
        let old = u16_at(buf, offset)?;
        let slot = self.edits.get_mut(self.count).ok_or(DropReason::Internal)?;
        wire::put16(buf, offset, new)?;
        *slot = (offset, old);
        self.count = self.count.saturating_add(1);
        Ok(())
    }
}

/// The port of the other side for `port`, or [`DropReason::PortNotAllowed`]: out of the
/// contiguous range going out (the NAPT rule does not cover it), not in the set coming in.
fn map_port(set: &PortSet, direction: PortDirection, port: u16) -> Result<u16, DropReason> {
    match direction {
        PortDirection::Out => set.to_real(port),
        PortDirection::In => set.to_contiguous(port),
    }
    .ok_or(DropReason::PortNotAllowed)
}

/// Where a transport header keeps the port this direction maps (the source going out, the
/// destination coming in; `swap` for a packet quoted in an ICMP error, which went the other
/// way) and its checksum: `(port offset, checksum offset, zero means none)` from the header's
/// start, or `None` for a header without one.
fn port_fields(proto_: u8, l4: &[u8], direction: PortDirection, swap: bool) -> Option<(usize, Option<(usize, bool)>)> {
    let source = (direction == PortDirection::Out) != swap;
    match proto_ {
        proto::TCP => Some((if source { 0 } else { 2 }, Some((16, false)))),
        proto::UDP => Some((if source { 0 } else { 2 }, Some((6, true)))),
        // Echo request and reply: the identifier is the port, both ways.
        proto::ICMP if matches!(l4.first(), Some(0 | 8)) => Some((4, Some((2, false)))),
        _ => None,
    }
}

/// Maps the ports of the IPv4 packet at `buf[start..]` for a CE that owns `own` and `set`.
/// Packets that are not ours (another address), carry no port (non-first fragments, other
/// protocols, other ICMP) or quote no packet of ours pass unchanged. On `Err` the buffer is
/// unchanged; on `Ok` the returned [`PortUndo`] restores it.
pub fn map_ports(
    buf: &mut [u8],
    start: usize,
    shape: &Shape,
    own: &Ipv4Prefix,
    set: &PortSet,
    direction: PortDirection,
) -> Result<PortUndo, Verdict> {
    let mut undo = PortUndo::default();
    let end = shape.visible_end(start, start.saturating_add(shape.len));
    let packet = buf.get(start..end).ok_or(DropReason::BadBuffer)?;
    // A malformed header is left to the translation, which names what is wrong with it.
    let Ok(ip) = ipv4::parse_in(packet, false, shape.len) else {
        return Ok(undo);
    };
    let ours = |addr: Ipv4Addr| own.contains(addr);
    if ip.offset != 0 || !ours(if direction == PortDirection::Out { ip.src } else { ip.dst }) {
        return Ok(undo);
    }
    let l4 = start.checked_add(ip.ihl).ok_or(DropReason::BadBuffer)?;
    let l4_bytes = packet.get(ip.ihl..).unwrap_or(&[]);
    // Bytes not at hand: the caller gives the whole packet (GSO packets have their headers).
    let short = |_| if shape.is_whole() { Verdict::Drop(DropReason::Truncated) } else { Verdict::NeedWhole };
    // An ICMP type past the bytes at hand: whether it has an identifier is not known yet.
    if ip.proto == proto::ICMP && l4_bytes.is_empty() && !shape.is_whole() {
        return Err(Verdict::NeedWhole);
    }
    if ip.proto == proto::ICMP && matches!(l4_bytes.first(), Some(3 | 4 | 5 | 11 | 12)) {
        // The quote may lie past the bytes at hand (translating an error needs all of it too).
        shape.require_whole()?;
        let result = map_quoted(buf, l4, end, &ours, set, direction, &mut undo);
        if result.is_err() {
            undo.undo(buf);
        }
        result.map_err(|reason| if reason == DropReason::Truncated { short(reason) } else { reason.into() })?;
        return Ok(undo);
    }
    let Some((port_at, checksum)) = port_fields(ip.proto, l4_bytes, direction, false) else {
        return Ok(undo);
    };
    let port_offset = l4.checked_add(port_at).ok_or(DropReason::BadBuffer)?;
    let old = u16_at(packet, ip.ihl.saturating_add(port_at)).map_err(short)?;
    let new = map_port(set, direction, old)?;
    let mut checksum_edit = None;
    if let (Some((at, zero_is_none)), false) = (checksum, shape.partial_checksum) {
        let offset = l4.checked_add(at).ok_or(DropReason::BadBuffer)?;
        let sum = u16_at(packet, ip.ihl.saturating_add(at)).map_err(short)?;
        checksum_edit = checksum_after(sum, old, new, zero_is_none).map(|fixed| (offset, fixed));
    }
    undo.write(buf, port_offset, new)?;
    if let Some((offset, sum)) = checksum_edit {
        if let Err(e) = undo.write(buf, offset, sum) {
            undo.undo(buf);
            return Err(e.into());
        }
    }
    Ok(undo)
}

/// A TCP/UDP checksum `sum` once its port went from `old` to `new` (RFC 1624); `None` for a
/// UDP checksum of zero, which means none and stays. One that computes to zero is sent as all
/// ones (RFC 768).
fn checksum_after(sum: u16, old: u16, new: u16, zero_is_none: bool) -> Option<u16> {
    if zero_is_none && sum == 0 {
        return None;
    }
    let fixed = wire::adjust(sum, u64::from(old), u64::from(new));
    Some(if zero_is_none && fixed == 0 { 0xffff } else { fixed })
}

/// The packet quoted by the ICMP error whose header is at `buf[l4..end]`: if it is ours, its
/// port (and its own checksum when quoted), then the ICMP checksum over both changes.
fn map_quoted(
    buf: &mut [u8],
    l4: usize,
    end: usize,
    ours: &dyn Fn(Ipv4Addr) -> bool,
    set: &PortSet,
    direction: PortDirection,
    undo: &mut PortUndo,
) -> Result<(), DropReason> {
    let quoted = l4.checked_add(8).ok_or(DropReason::BadBuffer)?;
    let icmp_sum_at = l4.checked_add(2).ok_or(DropReason::BadBuffer)?;
    let inner = buf.get(quoted..end).ok_or(DropReason::Truncated)?;
    let Ok(ip) = ipv4::parse(inner, false) else {
        return Ok(());
    };
    // The quoted packet went the other way: ours as its source coming in, as its destination
    // going out.
    let quoted_owner = if direction == PortDirection::In { ip.src } else { ip.dst };
    if ip.offset != 0 || !ours(quoted_owner) {
        return Ok(());
    }
    let inner_l4 = inner.get(ip.ihl..).unwrap_or(&[]);
    let Some((port_at, checksum)) = port_fields(ip.proto, inner_l4, direction, true) else {
        return Ok(());
    };
    let Ok(old) = u16_at(inner_l4, port_at) else {
        return Ok(());
    };
    let new = map_port(set, direction, old)?;
    let mut removed = u64::from(old);
    let mut added = u64::from(new);
    let l4_offset = quoted.checked_add(ip.ihl).ok_or(DropReason::BadBuffer)?;
    let mut inner_sum_edit = None;
    // The quoted checksum, when the quote reaches it, follows its port as NAT does.
    if let Some((at, zero_is_none)) = checksum {
        if let Ok(sum) = u16_at(inner_l4, at) {
            if let Some(fixed) = checksum_after(sum, old, new, zero_is_none) {
                removed = removed.wrapping_add(u64::from(sum));
                added = added.wrapping_add(u64::from(fixed));
                inner_sum_edit = Some((l4_offset.checked_add(at).ok_or(DropReason::BadBuffer)?, fixed));
            }
        }
    }
    let icmp_sum = wire::adjust(u16_at(buf, icmp_sum_at)?, removed, added);
    undo.write(buf, l4_offset.checked_add(port_at).ok_or(DropReason::BadBuffer)?, new)?;
    if let Some((offset, sum)) = inner_sum_edit {
        undo.write(buf, offset, sum)?;
    }
    undo.write(buf, icmp_sum_at, icmp_sum)?;
    Ok(())
}
