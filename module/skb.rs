// SPDX-License-Identifier: GPL-2.0
//! An owned socket buffer, with the few operations the transmit path needs: in-place header
//! rewriting that keeps GSO and checksum offload, software segmentation, fragmentation,
//! re-injection. All of the datapath's skb handling (and its `unsafe`) is here.

use crate::bindings as b;
use crate::mapcore::xlat::Shape;
use core::ptr::{self, NonNull};

/// The most header bytes pulled into the linear part for in-place translation: an IPv6
/// header with a few extension headers and a TCP header with options. A packet whose
/// headers go on further is translated whole.
const HEADERS: usize = 256;

/// EtherType of IPv4 and IPv6, as `skb->protocol` holds them (network byte order).
pub(crate) const ETH_P_IP: u16 = 0x0800u16.to_be();
pub(crate) const ETH_P_IPV6: u16 = 0x86DDu16.to_be();

/// An skb we own: freed on drop unless handed on.
pub(crate) struct Skb(NonNull<b::sk_buff>);

impl Skb {
    /// Takes ownership of `skb`.
    ///
    /// # Safety
    /// `skb` is a valid skb whose ownership passes to the returned value.
    pub(crate) unsafe fn from_raw(skb: *mut b::sk_buff) -> Option<Self> {
        NonNull::new(skb).map(Skb)
    }

    fn raw(&self) -> *mut b::sk_buff {
        self.0.as_ptr()
    }

    /// Makes sure the skb itself (not only its data) is ours alone: a shared one (users > 1)
    /// is replaced by a clone. None when that clone cannot be allocated (the skb is freed).
    pub(crate) fn unshare(self) -> Option<Self> {
        let skb = self.raw();
        core::mem::forget(self);
        // SAFETY: we own a reference to `skb`; skb_share_check consumes it and returns one
        // we own alone, or null. GFP_ATOMIC: the transmit path cannot sleep.
        NonNull::new(unsafe { b::skb_share_check(skb, kernel::bindings::GFP_ATOMIC) }).map(Skb)
    }

    /// The address family of the route attached to the packet, if any. A packet written by
    /// a packet socket or redirected by tc/bpf has none, or one of the other family.
    pub(crate) fn route_family(&self) -> Option<u16> {
        // SAFETY: we own the skb; an attached dst stays valid while we do (the transmit path
        // holds the RCU read lock for noref dsts), and every dst has its ops.
        unsafe {
            let dst = b::skb_dst(self.raw());
            if dst.is_null() {
                return None;
            }
            Some((*(*dst).ops).family)
        }
    }

    /// `skb->protocol`.
    pub(crate) fn protocol(&self) -> u16 {
        // SAFETY: we own a valid skb.
        unsafe { (*self.raw()).__bindgen_anon_4.__bindgen_anon_1.as_ref().protocol }
    }

    /// `skb->len`.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: we own a valid skb.
        unsafe { (*self.raw()).len as usize }
    }

    fn ip_summed(&self) -> u8 {
        // SAFETY: we own a valid skb.
        unsafe { (*self.raw()).__bindgen_anon_4.__bindgen_anon_1.as_ref().ip_summed() }
    }

    fn set_ip_summed(&mut self, value: u8) {
        // SAFETY: we own the skb.
        unsafe { (*self.raw()).__bindgen_anon_4.__bindgen_anon_1.as_mut().set_ip_summed(value) }
    }

    fn shared_info(&self) -> *mut b::skb_shared_info {
        // SAFETY: every skb has its shared info at its end pointer.
        unsafe { b::skb_end_pointer(self.raw()).cast::<b::skb_shared_info>() }
    }

    /// A GSO super-packet: (gso_type, gso_size).
    pub(crate) fn gso(&self) -> Option<(u32, u16)> {
        // SAFETY: we own a valid skb; its shared info is readable.
        unsafe {
            if !b::skb_is_gso(self.raw()) {
                return None;
            }
            let info = &*self.shared_info();
            Some((info.gso_type, info.gso_size))
        }
    }

    /// Whether the packet is encapsulated already (a tunnel's inner headers are set).
    pub(crate) fn is_encapsulated(&self) -> bool {
        // SAFETY: we own a valid skb.
        unsafe { (*self.raw()).__bindgen_anon_4.__bindgen_anon_1.as_ref().encapsulation() != 0 }
    }

    /// Prepares the packet for writing its headers in place, with at least `headroom` bytes
    /// in front, and says how it lies in [`buffer`](Self::buffer). `whole`: make it linear,
    /// with real checksums (no offload seed), for work that reads every byte. Otherwise only
    /// the headers (the first [`HEADERS`] bytes at most) are pulled into the linear part and
    /// made private; the payload stays where it is, shared or not. False when memory ran out.
    pub(crate) fn prepare(&mut self, headroom: u32, whole: bool) -> Option<Shape> {
        let skb = self.raw();
        let len = self.len();
        if whole {
            // SAFETY: we own the skb; these helpers may reallocate its data, which no one else
            // points into (we hold no pointers across the calls).
            let ok = unsafe {
                (self.ip_summed() != CHECKSUM_PARTIAL || b::skb_checksum_help(skb) == 0)
                    && b::skb_linearize(skb) == 0
                    && b::skb_cow(skb, headroom) == 0
            };
            return ok.then(|| Shape::whole(len));
        }
        // SAFETY: as above. skb_cow_head makes the header area private (a clone shares it)
        // and leaves the paged payload alone. A GSO packet's shared info is written too (its
        // GSO type): a clone (TCP keeps the original for retransmission) gets its own.
        let ok = unsafe {
            if b::skb_is_nonlinear(skb) {
                b::pskb_may_pull(skb, len.min(HEADERS) as u32)
                    && (!b::skb_is_gso(skb) || b::skb_unclone(skb, kernel::bindings::GFP_ATOMIC) == 0)
                    && b::skb_cow_head(skb, headroom) == 0
            } else {
                b::skb_cow(skb, headroom) == 0
            }
        };
        if !ok {
            return None;
        }
        // SAFETY: we own a valid skb.
        let present = unsafe { b::skb_headlen(skb) } as usize;
        Some(Shape {
            len,
            present,
            partial_checksum: self.ip_summed() == CHECKSUM_PARTIAL,
            segment: self.gso().map(|(_, size)| usize::from(size)),
        })
    }

    /// The linear buffer from `head` to the end of the linear data, and where the data starts
    /// in it (the headroom).
    pub(crate) fn buffer(&mut self) -> (&mut [u8], usize) {
        // SAFETY: after prepare the linear part is ours: `head .. data + headlen` is one
        // allocation we may write, and `data` lies inside it.
        unsafe {
            let skb = &*self.raw();
            let headroom = skb.data.offset_from(skb.head) as usize;
            let total = headroom + b::skb_headlen(skb) as usize;
            (core::slice::from_raw_parts_mut(skb.head, total), headroom)
        }
    }

    /// Moves the data to start at `buffer()[start]` (inside the buffer: the translator only
    /// wrote there) and to be `len` bytes long, as a new network packet of `protocol`.
    /// Checksum offload carries over (the seed was updated); a checksum over the old bytes
    /// (CHECKSUM_COMPLETE) does not. False if trimming link padding failed.
    pub(crate) fn set_packet(&mut self, start: usize, len: usize, protocol: u16) -> bool {
        // SAFETY: we own the skb; start and len come from the translator, which keeps start
        // inside the linear part, so push/pull stay within head..tail.
        let trimmed = unsafe {
            let skb = self.raw();
            let headroom = (*skb).data.offset_from((*skb).head) as usize;
            if start < headroom {
                b::skb_push(skb, (headroom - start) as u32);
            } else if start > headroom {
                b::skb_pull(skb, (start - headroom) as u32);
            }
            let trimmed = (*skb).len as usize <= len || b::pskb_trim(skb, len as u32) == 0;
            (*skb).__bindgen_anon_4.__bindgen_anon_1.as_mut().protocol = protocol;
            b::skb_reset_mac_header(skb);
            b::skb_reset_network_header(skb);
            trimmed
        };
        if self.ip_summed() == CHECKSUM_COMPLETE {
            self.set_ip_summed(CHECKSUM_NONE);
        }
        trimmed
    }

    /// MAP-T: a GSO packet's segments are now of the other family.
    pub(crate) fn relabel_gso(&mut self, now_ipv6: bool) {
        if self.gso().is_none() {
            return;
        }
        let (from, to) = if now_ipv6 { (b::SKB_GSO_TCPV4, b::SKB_GSO_TCPV6) } else { (b::SKB_GSO_TCPV6, b::SKB_GSO_TCPV4) };
        // SAFETY: prepare gave a GSO packet a private shared info.
        let info = unsafe { &mut *self.shared_info() };
        if info.gso_type & from != 0 {
            // FIXEDID is a TCPv4 notion.
            info.gso_type = (info.gso_type & !(from | b::SKB_GSO_TCP_FIXEDID)) | to;
        }
    }

    /// MAP-E, before the outer header goes on: a GSO packet segments as IPv4-in-IPv6 (the
    /// inner headers are where the headers are now), as ip6tnl's does. False when memory ran
    /// out.
    pub(crate) fn mark_encapsulated(&mut self) -> bool {
        if self.gso().is_none() {
            return true;
        }
        // SAFETY: we own the skb, whose network and transport headers are the inner ones.
        unsafe {
            if b::iptunnel_handle_offloads(self.raw(), b::SKB_GSO_IPXIP6 as i32) != 0 {
                return false;
            }
            b::skb_set_inner_ipproto(self.raw(), IPPROTO_IPIP);
        }
        true
    }

    /// MAP-E, the outer header gone: the packet is no longer a tunnel packet. False when
    /// memory ran out.
    pub(crate) fn mark_decapsulated(&mut self) -> bool {
        // SAFETY: we own the skb.
        unsafe { b::iptunnel_pull_offloads(self.raw()) == 0 }
    }

    /// Cuts a GSO packet into its segments in software (keeping scatter-gather and checksum
    /// offload), consuming it. None on failure (the packet is freed).
    pub(crate) fn segment(self) -> Option<Segments> {
        let skb = self.raw();
        let features = (1u64 << b::NETIF_F_SG_BIT) | (1u64 << b::NETIF_F_HW_CSUM_BIT);
        // SAFETY: we own the skb; skb_gso_segment returns a list of new skbs we own, null
        // (nothing to do: it cannot be here, we checked it is GSO) or an error pointer.
        let segs = unsafe { b::skb_gso_segment(skb, features) };
        if segs.is_null() || (segs as usize) >= (-4095isize) as usize {
            drop(self);
            return None;
        }
        core::mem::forget(self);
        // SAFETY: the segments replace the original, which we still own.
        unsafe { b::consume_skb(skb) };
        Some(Segments(segs))
    }

    /// Hands the packet back to the stack as received on the device it was sent to, as a
    /// fresh packet: no conntrack entry, no route, no socket (skb_scrub_packet).
    pub(crate) fn receive(self) {
        let skb = self.raw();
        core::mem::forget(self);
        // SAFETY: we own `skb`; netif_rx takes ownership. A locally sent packet stops being
        // charged to its socket here, as when a packet crosses a veth.
        unsafe {
            b::skb_orphan(skb);
            b::skb_scrub_packet(skb, false);
            b::netif_rx(skb);
        }
    }

    /// Sends the packet out the way the host sends its own: a route lookup for its new
    /// header, then the output path (LOCAL_OUT, POSTROUTING, neighbours; fragmentation or an
    /// ICMP error to the source where the route's MTU is smaller). A fresh packet: no
    /// conntrack entry, no socket, no old route. False when there is no route (the packet
    /// is freed).
    pub(crate) fn send(self, ipv6: bool) -> bool {
        let skb = self.raw();
        core::mem::forget(self);
        // SAFETY: we own the skb, whose data starts at its (translated) network header of
        // the family given, all of it in the linear part. The route lookups take the flow
        // by pointer and return a held route or an error; skb_dst_set takes that reference
        // over, and the local_out functions take the skb.
        unsafe {
            b::skb_orphan(skb);
            b::skb_scrub_packet(skb, false);
            (*skb).cb = [0; 48];
            let dev = (*skb).__bindgen_anon_1.__bindgen_anon_1.__bindgen_anon_1.dev;
            let net = b::dev_net(dev);
            let header = (*skb).data;
            let mark = (*skb).__bindgen_anon_4.__bindgen_anon_1.as_ref().__bindgen_anon_4.mark;
            if ipv6 {
                let mut flow: b::flowi6 = core::mem::zeroed();
                flow.__fl_common.flowic_mark = mark;
                flow.__fl_common.flowic_proto = *header.add(6);
                ptr::copy_nonoverlapping(header.add(8), flow.saddr.in6_u.u6_addr8.as_mut_ptr(), 16);
                ptr::copy_nonoverlapping(header.add(24), flow.daddr.in6_u.u6_addr8.as_mut_ptr(), 16);
                let dst = b::ip6_route_output_flags(net, ptr::null(), &mut flow, 0);
                if (*dst).error != 0 {
                    b::dst_release(dst);
                    b::kfree_skb(skb);
                    return false;
                }
                b::skb_dst_set(skb, dst);
                b::ip6_local_out(net, ptr::null_mut(), skb);
            } else {
                let mut flow: b::flowi4 = core::mem::zeroed();
                flow.__fl_common.flowic_mark = mark;
                flow.__fl_common.flowic_tos = *header.add(1) & IPTOS_RT_MASK;
                flow.__fl_common.flowic_proto = *header.add(9);
                // The source is a mapped address, not one of this host's.
                flow.__fl_common.flowic_flags = FLOWI_FLAG_ANYSRC;
                flow.saddr = ptr::read_unaligned(header.add(12).cast::<u32>());
                flow.daddr = ptr::read_unaligned(header.add(16).cast::<u32>());
                let rt = b::ip_route_output_flow(net, &mut flow, ptr::null());
                if rt.is_null() || (rt as usize) >= (-4095isize) as usize {
                    b::kfree_skb(skb);
                    return false;
                }
                b::skb_dst_set(skb, rt.cast::<b::dst_entry>());
                b::ip_local_out(net, ptr::null_mut(), skb);
            }
        }
        true
    }

    /// The device the packet is being sent through.
    pub(crate) fn dev(&self) -> *mut b::net_device {
        // SAFETY: we own a valid skb; skb->dev is set on the transmit path.
        unsafe { (*self.raw()).__bindgen_anon_1.__bindgen_anon_1.__bindgen_anon_1.dev }
    }

    /// Splits this IPv4 packet (without DF) into fragments of at most `mtu` bytes and hands
    /// each to `output` (ip_do_fragment, as IPv4 output does); consumes the packet. The
    /// packet must carry an IPv4 route ([`route_family`](Self::route_family)): ip_do_fragment
    /// reads the MTU and the headroom from it.
    pub(crate) fn fragment_ipv4(
        self,
        mtu: u16,
        output: unsafe extern "C" fn(*mut b::net, *mut b::sock, *mut b::sk_buff) -> i32,
    ) {
        if self.route_family() != Some(AF_INET) {
            return;
        }
        let skb = self.raw();
        core::mem::forget(self);
        // SAFETY: we own the linear skb and hand it to ip_do_fragment, which frees or passes on
        // every piece; its IPv4 route is attached (checked above). The control buffer is
        // rebuilt rather than trusted: a qdisc, tc or a packet socket may have used it.
        // ip_options_fragment walks `opt.optlen` bytes of options in the header, which are
        // exactly the header's own; frag_max_size caps the fragments below the route's MTU.
        unsafe {
            let header_len = u32::from(*(*skb).data & 0x0f) * 4;
            let parm = (*skb).cb.as_mut_ptr().cast::<b::inet_skb_parm>();
            parm.write(b::inet_skb_parm::default());
            (*parm).opt.optlen = header_len.saturating_sub(20) as u8;
            (*parm).frag_max_size = mtu;
            let dev = (*skb).__bindgen_anon_1.__bindgen_anon_1.__bindgen_anon_1.dev;
            b::ip_do_fragment(b::dev_net(dev), ptr::null_mut(), skb, Some(output));
        }
    }

    /// Answers an ICMP error about this packet to its source, as seen before SNAT: ICMPv6
    /// for an IPv6 packet, ICMPv4 for an IPv4 one that carries an IPv4 route (icmp_send
    /// needs it and stays silent without one).
    pub(crate) fn icmp_reply(&self, ipv6: bool, (kind, code, info): (u8, u8, u32)) {
        if !ipv6 && self.route_family() != Some(AF_INET) {
            return;
        }
        // SAFETY: the skb is valid; the ndo_send helpers are for exactly this (a device's
        // transmit path, translating NATed addresses back) and only read the skb.
        unsafe {
            if ipv6 {
                b::icmpv6_ndo_send(self.raw(), kind, code, info);
            } else {
                b::icmp_ndo_send(self.raw(), i32::from(kind), i32::from(code), info.to_be());
            }
        }
    }
}

impl Drop for Skb {
    fn drop(&mut self) {
        // SAFETY: we own the skb.
        unsafe { b::kfree_skb(self.raw()) };
    }
}

/// The address families of `dst->ops->family`.
pub(crate) const AF_INET: u16 = 2;

/// `skb->ip_summed` values.
const CHECKSUM_NONE: u8 = 0;
const CHECKSUM_COMPLETE: u8 = 2;
const CHECKSUM_PARTIAL: u8 = 3;

const IPPROTO_IPIP: u8 = 4;
/// The TOS bits a route lookup uses (RT_TOS).
const IPTOS_RT_MASK: u8 = 0x1c;
const FLOWI_FLAG_ANYSRC: u8 = 1;

/// The segments a GSO packet was cut into, each owned, in order.
pub(crate) struct Segments(*mut b::sk_buff);

impl Iterator for Segments {
    type Item = Skb;

    fn next(&mut self) -> Option<Skb> {
        let skb = NonNull::new(self.0)?;
        // SAFETY: a segment of the list we own; taken off the list before it is handed on.
        unsafe {
            self.0 = (*skb.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.next;
            b::skb_mark_not_on_list(skb.as_ptr());
        }
        Some(Skb(skb))
    }
}

impl Drop for Segments {
    fn drop(&mut self) {
        // The segments not handed on are freed.
        for segment in self.by_ref() {
            drop(segment);
        }
    }
}
