// SPDX-License-Identifier: GPL-2.0
//! An owned socket buffer, with the few operations the transmit path needs: in-place header
//! rewriting that keeps GSO and checksum offload, software segmentation, fragmentation,
//! re-injection. All of the datapath's skb handling (and its `unsafe`) is here.

use crate::bindings as b;
use crate::mapcore::xlat::{Shape, Translated};
use crate::netdev::{Net, NetDevice};
use crate::rcu::PacketContext;
use crate::route::{PacketRoute, Route};
use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};
use kernel::error::code::{EINVAL, ENOMEM};
use kernel::error::{to_result, Error, Result};

/// The most header bytes pulled into the linear part for in-place translation: an IPv6
/// header with a few extension headers and a TCP header with options. A packet whose
/// headers go on further is translated whole.
const HEADERS: usize = 256;

/// How much of a packet [`Skb::prepare`] brings into the linear part.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extent {
    /// What is there already: a locally built or GRO packet has its headers there, and
    /// pulling payload after them would reallocate its head.
    Linear,
    /// The first [`HEADERS`] bytes.
    Headers,
    /// Everything, with real checksums (no offload seed): for work that reads every byte.
    Whole,
}

/// EtherType of IPv4 and IPv6, as `skb->protocol` holds them (network byte order).
pub(crate) const ETH_P_IP: u16 = 0x0800u16.to_be();
pub(crate) const ETH_P_IPV6: u16 = 0x86DDu16.to_be();

/// The transport protocols whose checksum a MAP-T translation updates.
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// An skb we own: freed on drop unless handed on.
pub(crate) struct Skb {
    raw: NonNull<b::sk_buff>,
    /// Set by `prepare`, which made the linear part private: how many bytes right in front
    /// of the data [`buffer`](Self::buffer) shows, headroom that `prepare` zeroed (Rust may
    /// not see uninitialised memory).
    shown_headroom: Option<usize>,
}

/// skb_orphan, called only where there is something to orphan: a destructor or a socket
/// (most packets the device translates have neither).
///
/// # Safety
/// The caller owns `skb`.
unsafe fn orphan(skb: *mut b::sk_buff) {
    // SAFETY: per the caller.
    unsafe {
        if (*skb).__bindgen_anon_3.__bindgen_anon_1.destructor.is_some() || !(*skb).sk.is_null() {
            b::skb_orphan(skb);
        }
    }
}

/// The low half of `skb_shared_info::dataref`: how many skbs hold the data (skbuff.h).
const SKB_DATAREF_MASK: i32 = (1 << 16) - 1;

/// What `prepare` zeroes of the headroom, at most: more than a header ever grows
/// (`datapath::MAX_GROWTH`), one cache line. It zeroes only what it was asked for: none for a
/// packet whose translation only shrinks it (every one from IPv6).
const SHOWN_HEADROOM: usize = 64;
const _: () = assert!(SHOWN_HEADROOM >= crate::datapath::MAX_GROWTH as usize);

impl Skb {
    /// Takes ownership of `skb`.
    ///
    /// # Safety
    /// `skb` is a valid skb whose ownership passes to the returned value.
    pub(crate) unsafe fn from_raw(skb: *mut b::sk_buff) -> Option<Self> {
        NonNull::new(skb).map(Skb::owning)
    }

    fn owning(raw: NonNull<b::sk_buff>) -> Self {
        Skb { raw, shown_headroom: None }
    }

    fn raw(&self) -> *mut b::sk_buff {
        self.raw.as_ptr()
    }

    /// The skb, to compare with another.
    pub(crate) fn as_ptr(&self) -> *const b::sk_buff {
        self.raw()
    }

    /// Gives the skb up without freeing it: whoever lent it to us (netfilter) goes on with it.
    pub(crate) fn into_raw(self) -> *mut b::sk_buff {
        let skb = self.raw();
        core::mem::forget(self);
        skb
    }

    /// Makes `dev` the device the packet is on (one the stack will receive it from).
    pub(crate) fn set_dev(&mut self, dev: &NetDevice) {
        // SAFETY: we own the skb; `dev` is a valid device, which the caller keeps alive while
        // the packet is in flight on it (as a device's own packets are).
        unsafe { (*self.raw()).__bindgen_anon_1.__bindgen_anon_1.__bindgen_anon_1.dev = dev.as_raw() };
    }

    /// Puts the data back at the network header, which the IPv6 layer pulled off to deliver
    /// the packet to its protocol (keeping a CHECKSUM_COMPLETE sum over the data, as
    /// skb_postpush_rcsum does): the whole IPv6 packet again. Returns the bytes pushed, for
    /// [`pull_after_push`](Self::pull_after_push).
    pub(crate) fn push_to_network_header(&mut self) -> u32 {
        // SAFETY: we own a valid skb; its network header lies in its linear part at or before
        // the data (the IPv6 layer pulled from it), so the push stays within head..tail.
        unsafe {
            let skb = self.raw();
            let network = (*skb).__bindgen_anon_4.__bindgen_anon_1.as_ref().network_header as usize;
            let pulled = self.headroom().saturating_sub(network) as u32;
            if pulled != 0 {
                let start = b::skb_push(skb, pulled);
                b::skb_postpush_rcsum(skb, start.cast(), pulled);
            }
            pulled
        }
    }

    /// Undoes [`push_to_network_header`](Self::push_to_network_header) on the unchanged packet.
    pub(crate) fn pull_after_push(&mut self, pushed: u32) {
        if pushed != 0 {
            // SAFETY: we own the skb, whose data was pushed by `pushed` linear bytes.
            unsafe { b::skb_pull_rcsum(self.raw(), pushed) };
        }
    }

    /// The bytes from the head of the buffer to the data.
    fn headroom(&self) -> usize {
        // SAFETY: we own a valid skb, whose data lies at or after its head.
        unsafe { (*self.raw()).data.offset_from((*self.raw()).head) as usize }
    }

    /// Puts the link-layer and the network header at the data and the transport header
    /// `network_len` bytes after it (skb_reset_mac_header, skb_reset_network_header,
    /// skb_set_transport_header: offsets from the head, in 16 bits as the kernel keeps them).
    fn set_header_offsets(&mut self, network_len: usize) {
        let data = self.headroom() as u16;
        // SAFETY: we own the skb.
        let headers = unsafe { (*self.raw()).__bindgen_anon_4.__bindgen_anon_1.as_mut() };
        headers.mac_header = data;
        headers.network_header = data;
        headers.transport_header = data.wrapping_add(network_len as u16);
    }

    /// The bytes of the linear part (skb_headlen; these accessors of the kernel's inline
    /// helpers are read here rather than called out of line on every packet).
    fn headlen(&self) -> usize {
        // SAFETY: we own a valid skb; its paged part (`data_len`) is part of `len`.
        unsafe { (*self.raw()).len.wrapping_sub((*self.raw()).data_len) as usize }
    }

    /// Whether part of the data lies in pages (skb_is_nonlinear).
    fn is_nonlinear(&self) -> bool {
        // SAFETY: we own a valid skb.
        unsafe { (*self.raw()).data_len != 0 }
    }

    /// Makes sure the skb itself (not only its data) is ours alone: a shared one (users > 1)
    /// is replaced by a clone. None when that clone cannot be allocated (the skb is freed).
    pub(crate) fn unshare(self) -> Option<Self> {
        // (nearly every packet is ours alone: skb_shared, without calling skb_share_check)
        // SAFETY: we own a valid skb; its reference count is read once (atomic_read).
        if unsafe { (&raw const (*self.raw()).users.refs.counter).read_volatile() } == 1 {
            return Some(self);
        }
        let skb = self.raw();
        core::mem::forget(self);
        // SAFETY: we own a reference to `skb`; skb_share_check consumes it and returns one
        // we own alone, or null. GFP_ATOMIC: the transmit path cannot sleep.
        NonNull::new(unsafe { b::skb_share_check(skb, kernel::bindings::GFP_ATOMIC) }).map(Skb::owning)
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

    /// Whether the link layer addressed the packet to this host (PACKET_HOST): a router
    /// forwards nothing else.
    pub(crate) fn is_for_this_host(&self) -> bool {
        // SAFETY: we own a valid skb.
        unsafe { (*self.raw()).__bindgen_anon_4.__bindgen_anon_1.as_ref().pkt_type() == PACKET_HOST }
    }

    /// Whether IPsec may judge the packet, received in `net`, if the stack forwards it: it
    /// came through an IPsec transformation, or the namespace has forward policies (which
    /// forwarding checks) or output policies (which it looks up for the packet as routed), or
    /// a default that blocks either.
    pub(crate) fn ipsec_judges_forwarding(&self, net: &Net) -> bool {
        // SAFETY: we own a valid skb; secpath_exists reads its extensions only.
        let transformed = unsafe { b::mapmint_secpath_exists(self.raw()) };
        transformed || net.has_ipsec_forward_policies() || net.has_ipsec_output_policies()
    }

    /// Whether IPsec's inbound policies accept this IPv6 packet, delivered locally to a
    /// tunnel end (see [`crate::tunnel`]): the check the stack leaves to tunnel handlers.
    pub(crate) fn ipsec_accepts_delivered(&mut self) -> bool {
        // SAFETY: we own a valid skb, received with its route and its network header at the
        // data; the policy check may read and reset its flow state only.
        unsafe { b::mapmint_ipsec_accepts_delivered(self.raw()) }
    }

    /// Writes into `flow` what IPsec's output policies select the packet by, read from its
    /// network header (IPv6 if `ipv6`): addresses, protocol, ports, ICMP type and code, mark,
    /// IPv4's TOS (what forwarding reads, xfrm_decode_session). False on an error (a security
    /// module's, or a kernel without IPsec).
    pub(crate) fn ipsec_output_flow(&self, net: &Net, flow: &mut b::flowi, ipv6: bool) -> bool {
        // SAFETY: we own a valid skb whose protocol and network header are those of its
        // (translated) header; the flow dissector only reads it. `net` is valid (borrowed).
        unsafe { b::mapmint_ipsec_output_flow(net.as_raw(), self.raw(), flow, ipv6) == 0 }
    }

    /// Whether the packet is a datagram the stack reassembled from fragments (conntrack's
    /// defragmentation at PREROUTING): the size of its largest fragment is noted in the IP
    /// layer's control block, and forwarding cuts it back to that size.
    pub(crate) fn is_reassembled(&self, ipv6: bool) -> bool {
        let cb = self.raw_cb();
        // SAFETY: the IP layers keep their control block (inet_skb_parm, inet6_skb_parm) in
        // skb->cb from their receive path on; the cb is large enough for either.
        unsafe {
            if ipv6 {
                (*cb.cast::<b::inet6_skb_parm>()).frag_max_size != 0
            } else {
                (*cb.cast::<b::inet_skb_parm>()).frag_max_size != 0
            }
        }
    }

    fn raw_cb(&self) -> *const u8 {
        // SAFETY: we own a valid skb.
        unsafe { (*self.raw()).cb.as_ptr().cast() }
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
        // SAFETY: every skb has its shared info at its end pointer, `end` bytes from its head
        // (skb_end_pointer; `end` is an offset, NET_SKBUFF_DATA_USES_OFFSET, on 64 bits).
        unsafe {
            let end: u32 = (*self.raw()).end;
            (*self.raw()).head.add(end as usize).cast::<b::skb_shared_info>()
        }
    }

    /// Whether another skb shares the data (skb_cloned: the clone bit, and more than one
    /// holder in the low half of the shared info's dataref).
    fn is_cloned(&self) -> bool {
        // SAFETY: we own a valid skb; its shared info's dataref is read once (atomic_read).
        unsafe {
            (*self.raw()).cloned() != 0
                && (&raw const (*self.shared_info()).dataref.counter).read_volatile() & SKB_DATAREF_MASK != 1
        }
    }

    /// Whether skb_cow or skb_cow_head would have to copy the head to give the packet
    /// `headroom` bytes in front and a header area of its own (__skb_cow's test; a packet
    /// that is not cloned is not header-cloned either).
    fn needs_cow(&self, headroom: u32) -> bool {
        self.headroom() < headroom as usize || self.is_cloned()
    }

    /// A GSO super-packet: (gso_type, gso_size).
    pub(crate) fn gso(&self) -> Option<(u32, u16)> {
        // SAFETY: we own a valid skb; its shared info is readable.
        let info = unsafe { &*self.shared_info() };
        // skb_is_gso, read here rather than called out of line on every packet.
        (info.gso_size != 0).then_some((info.gso_type, info.gso_size))
    }

    /// Whether the packet is encapsulated already (a tunnel's inner headers are set).
    pub(crate) fn is_encapsulated(&self) -> bool {
        // SAFETY: we own a valid skb.
        unsafe { (*self.raw()).__bindgen_anon_4.__bindgen_anon_1.as_ref().encapsulation() != 0 }
    }

    /// Whether a checksum left to offload (CHECKSUM_PARTIAL) is one the MAP-T translation
    /// may update as a seed: the TCP or UDP checksum right behind the network header. A
    /// tunnel's packet (VXLAN, FOU) leaves its inner checksum to offload, its outer UDP
    /// checksum then complete (local checksum offload); a packet socket may point the
    /// offload anywhere. True when nothing is left to offload. An IPv6 packet with extension
    /// headers (rare with an offload left) counts as another: its checksum is computed first.
    /// Inlined (forced): every MAP-T packet's.
    #[inline(always)]
    pub(crate) fn partial_checksum_is_transport(&self) -> bool {
        if self.ip_summed() != CHECKSUM_PARTIAL {
            return true;
        }
        let header = self.header();
        let (network_len, protocol) = match header.first().map(|b| b >> 4) {
            Some(4) => (usize::from(header[0] & 0xf) * 4, header.get(9)),
            Some(6) => (40, header.get(6)),
            _ => return false,
        };
        let field = match protocol {
            Some(&IPPROTO_TCP) => 16,
            Some(&IPPROTO_UDP) => 6,
            _ => return false,
        };
        let (start, offset, data) = self.partial_checksum_place();
        // (the network header lies at data)
        start == data + network_len && offset == field
    }

    /// Where a checksum left to offload lies, for a CHECKSUM_PARTIAL packet: its start and
    /// where `data` lies, both from `head`, and its field's offset from its start.
    fn partial_checksum_place(&self) -> (usize, u16, usize) {
        // SAFETY: we own a valid skb; on CHECKSUM_PARTIAL the union holds csum_start (from
        // head) and csum_offset (from csum_start); data lies in head's allocation, after head.
        unsafe {
            let skb = &*self.raw();
            let at = skb.__bindgen_anon_4.__bindgen_anon_1.as_ref().__bindgen_anon_1.__bindgen_anon_1;
            (usize::from(at.csum_start), at.csum_offset, skb.data.offset_from(skb.head) as usize)
        }
    }

    /// Computes the checksum left to offload now, into the packet (a clone's header area is
    /// made private first). ENOMEM when memory ran out; EINVAL when the offload points outside
    /// the headers, or for a GSO packet (its segments' are computed when it is segmented).
    pub(crate) fn resolve_partial_checksum(&mut self) -> Result<()> {
        if self.gso().is_some() {
            return Err(EINVAL);
        }
        // SAFETY: we own the skb; skb_checksum_help writes only a private header area (it
        // copies a clone's first) and never sees a GSO packet here.
        to_result(unsafe { b::skb_checksum_help(self.raw()) })
    }

    /// Prepares the packet for writing its headers in place, with at least `headroom` bytes
    /// in front (which [`buffer`](Self::buffer) shows, zeroed), and says how it lies in
    /// `buffer`: what of it the linear
    /// part holds (`extent`), made private; the paged payload stays where it is, shared or
    /// not. `received`: a packet the stack may go on with if it is not translated, whose
    /// link-layer header stays as it is. ENOMEM when memory ran out; EINVAL when a checksum
    /// to compute is offloaded outside the headers.
    pub(crate) fn prepare(&mut self, headroom: u32, extent: Extent, received: bool) -> Result<Shape> {
        let skb = self.raw();
        let len = self.len();
        if extent == Extent::Whole {
            if self.ip_summed() == CHECKSUM_PARTIAL {
                // SAFETY: as for resolve_partial_checksum; a GSO packet's offloaded checksum is
                // the segments' (skb_checksum_help refuses it): it never comes here whole.
                to_result(unsafe { b::skb_checksum_help(skb) })?;
            }
            // SAFETY: we own the skb; these helpers may reallocate its data, which no one else
            // points into (we hold no pointers across the calls).
            let ok = unsafe {
                (!self.is_nonlinear() || b::skb_linearize(skb) == 0)
                    && (!self.needs_cow(headroom) || b::skb_cow(skb, headroom) == 0)
            };
            if !ok {
                return Err(ENOMEM);
            }
            self.zero_shown_headroom(headroom as usize, received);
            return Ok(Shape::whole(len));
        }
        // SAFETY: as above. skb_cow_head makes the header area private (a clone shares it)
        // and leaves the paged payload alone. A GSO packet's shared info is written too (its
        // GSO type): a clone (TCP keeps the original for retransmission) gets its own.
        // Each helper is called only when it has work to do (its own first test, read here:
        // a packet that needs none of them, the usual one, makes no call).
        let ok = unsafe {
            if self.is_nonlinear() {
                (extent == Extent::Linear
                    || self.headlen() >= len.min(HEADERS)
                    || b::pskb_may_pull(skb, len.min(HEADERS) as u32))
                    && (self.gso().is_none() || !self.is_cloned() || b::skb_unclone(skb, kernel::bindings::GFP_ATOMIC) == 0)
                    && (!self.needs_cow(headroom) || b::skb_cow_head(skb, headroom) == 0)
            } else {
                !self.needs_cow(headroom) || b::skb_cow(skb, headroom) == 0
            }
        };
        if !ok {
            return Err(ENOMEM);
        }
        self.zero_shown_headroom(headroom as usize, received);
        let present = self.headlen();
        Ok(Shape {
            len,
            present,
            partial_checksum: self.ip_summed() == CHECKSUM_PARTIAL,
            segment: self.gso().map(|(_, size)| usize::from(size)),
        })
    }

    /// Zeroes the headroom `buffer` shows (`wanted` bytes, as far as there are), now that it
    /// is ours (after the copy-on-write); with `keep_link_header`, not the link-layer header
    /// of a received packet in front of its data, which the stack may still read when it goes
    /// on with the packet unchanged.
    fn zero_shown_headroom(&mut self, wanted: usize, keep_link_header: bool) {
        let room = self.headroom().min(wanted).min(SHOWN_HEADROOM);
        let link_header = if keep_link_header { self.link_header_len().min(room) } else { 0 };
        if room > link_header {
            // SAFETY: `data - room .. data` lies in the private head allocation (see prepare);
            // the bytes left alone are the link-layer header the driver (or the sending
            // device) wrote when it built the frame, initialised, and copied along by any
            // reallocation.
            unsafe { core::ptr::write_bytes((*self.raw()).data.sub(room), 0, room - link_header) };
        }
        self.shown_headroom = Some(room);
    }

    /// The bytes from the link-layer header to the data (0 when none is set).
    fn link_header_len(&self) -> usize {
        // SAFETY: we own a valid skb; header offsets are relative to its head.
        let (mac, data) = unsafe {
            let skb = &*self.raw();
            (skb.__bindgen_anon_4.__bindgen_anon_1.as_ref().mac_header, skb.data.offset_from(skb.head) as usize)
        };
        // (0xffff: unset, skb_mac_header_was_set)
        if mac == u16::MAX {
            return 0;
        }
        data.saturating_sub(usize::from(mac))
    }

    /// The linear data with the headroom `prepare` zeroed in front of it, and where the data
    /// starts in it; nothing before `prepare`.
    pub(crate) fn buffer(&mut self) -> (&mut [u8], usize) {
        let Some(room) = self.shown_headroom else {
            return (&mut [], 0);
        };
        // SAFETY: prepare made the linear part ours; `data - room .. data + headlen` lies in
        // its one allocation, initialised (the room zeroed by prepare).
        unsafe {
            let total = room + self.headlen();
            (core::slice::from_raw_parts_mut((*self.raw()).data.sub(room), total), room)
        }
    }

    /// Makes the translator's output, where it lies in [`buffer`](Self::buffer) (the
    /// translator only wrote inside it), the packet: a new network packet of `protocol`.
    /// Checksum offload carries over (the seed was updated); a checksum over the old bytes
    /// (CHECKSUM_COMPLETE) does not. False if trimming link padding failed.
    pub(crate) fn set_packet(&mut self, out: &Translated, protocol: u16) -> bool {
        let (start, len) = (out.start, out.len);
        // The data moves: what was shown before it is no longer known to be zeroed.
        let room = self.shown_headroom.take().unwrap_or(0);
        // SAFETY: we own the skb; start and len come from the translator, which keeps start
        // inside the buffer, so push/pull stay within head..tail.
        let trimmed = unsafe {
            let skb = self.raw();
            if start < room {
                b::skb_push(skb, (room - start) as u32);
            } else if start > room {
                b::skb_pull(skb, (start - room) as u32);
            }
            let trimmed = (*skb).len as usize <= len || b::pskb_trim(skb, len as u32) == 0;
            (*skb).__bindgen_anon_4.__bindgen_anon_1.as_mut().protocol = protocol;
            trimmed
        };
        // The transport header follows the new network header: the output path measures a GSO
        // packet's segments from it (skb_gso_validate_network_len). Left where it was, a
        // packet decapsulated at a BR would have it at its own IPv4 header.
        let network_len = if out.header_len <= self.header().len() { out.header_len } else { 0 };
        self.set_header_offsets(network_len);
        if self.ip_summed() == CHECKSUM_COMPLETE {
            self.set_ip_summed(CHECKSUM_NONE);
        }
        trimmed
    }

    /// After a decapsulation ([`set_packet`](Self::set_packet) pulled the outer header off): a
    /// checksum left to offload that started in the removed header (only a packet socket's
    /// writer asks for that) is forgotten, as the kernel's own decapsulation forgets it
    /// (`skb_postpull_rcsum`): the packet goes on with the checksums it carries. Left, it
    /// would point before the packet. False for a GSO packet, whose segmentation needs it.
    pub(crate) fn forget_offload_before_packet(&mut self) -> bool {
        if self.ip_summed() != CHECKSUM_PARTIAL {
            return true;
        }
        let (start, _, data) = self.partial_checksum_place();
        if start >= data {
            return true;
        }
        if self.gso().is_some() {
            return false;
        }
        self.set_ip_summed(CHECKSUM_NONE);
        true
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

    /// MAP-E, before the outer header goes on: a GSO packet segments as IPv4-in-IPv6, and a
    /// checksum left to offload is the inner packet's (the inner headers are where the
    /// headers are now), as ip6tnl marks its packets: a NIC then offloads by its features
    /// for tunnel packets. Any other packet keeps what it has (ip6tnl would turn a verified
    /// checksum into an unverified one). False when memory ran out.
    pub(crate) fn mark_encapsulated(&mut self) -> bool {
        if self.gso().is_none() && self.ip_summed() != CHECKSUM_PARTIAL {
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
    /// offload), consuming it. On failure the packet is freed: ENOMEM when memory ran out,
    /// another error (EINVAL, EPROTONOSUPPORT) when its headers do not fit its GSO type.
    pub(crate) fn segment(self) -> Result<Segmented> {
        let skb = self.raw();
        let features = (1u64 << b::NETIF_F_SG_BIT) | (1u64 << b::NETIF_F_HW_CSUM_BIT);
        // SAFETY: we own the skb; skb_gso_segment returns a list of new skbs we own, null
        // (nothing to cut: the skb is left as it was) or an error pointer.
        let segs = unsafe { b::skb_gso_segment(skb, features) };
        if let Some(errno) = b::err_ptr_errno(segs) {
            drop(self);
            return Err(Error::from_errno(errno));
        }
        if segs.is_null() {
            // One segment's worth (a TCP packet no longer than its MSS): what validate_xmit_skb
            // sends as it is, it goes on as a plain packet.
            let mut whole = self;
            whole.clear_gso()?;
            return Ok(Segmented::Whole(whole));
        }
        core::mem::forget(self);
        // SAFETY: the segments replace the original, which we still own.
        unsafe { b::consume_skb(skb) };
        Ok(Segmented::Segments(Segments(segs)))
    }

    /// Makes the packet a plain one (skb_gso_reset), with a shared info of its own first: a
    /// clone's is its sibling's too. ENOMEM when memory ran out.
    fn clear_gso(&mut self) -> Result {
        // SAFETY: we own the skb.
        if unsafe { b::skb_unclone(self.raw(), kernel::bindings::GFP_ATOMIC) } != 0 {
            return Err(ENOMEM);
        }
        // SAFETY: the shared info is ours alone now.
        let info = unsafe { &mut *self.shared_info() };
        info.gso_size = 0;
        info.gso_segs = 0;
        info.gso_type = 0;
        Ok(())
    }

    /// Hands the packet back to the stack as received on the device it was sent to, as a
    /// fresh packet: no conntrack entry, no route, no socket (skb_scrub_packet). It enters
    /// through the device's GRO cells: a NAPI context per CPU, where consecutive segments of
    /// a flow merge again before the stack forwards them.
    pub(crate) fn receive(self, cells: &GroCells) {
        let skb = self.raw();
        core::mem::forget(self);
        // SAFETY: we own `skb`, whose dev is the device `cells` belong to (the transmit path
        // of a device keeps skb->dev); gro_cells_receive takes ownership. A locally sent
        // packet stops being charged to its socket here, as when a packet crosses a veth.
        unsafe {
            orphan(skb);
            b::skb_scrub_packet(skb, false);
            b::gro_cells_receive(cells.0.get(), skb);
        }
    }

    /// The network header and what follows it in the linear part.
    pub(crate) fn header(&self) -> &[u8] {
        // SAFETY: `data .. data + headlen` is the linear data of the skb we own.
        unsafe { core::slice::from_raw_parts((*self.raw()).data, self.headlen()) }
    }

    /// The firewall mark.
    pub(crate) fn mark(&self) -> u32 {
        // SAFETY: we own a valid skb.
        unsafe { (*self.raw()).__bindgen_anon_4.__bindgen_anon_1.as_ref().__bindgen_anon_4.mark }
    }

    /// Sends the packet out along `route` (looked up for its new header in `net`) the way the host
    /// sends its own: the output path (LOCAL_OUT, POSTROUTING, neighbours; fragmentation or
    /// an ICMP error to the source where the route's MTU is smaller). A fresh packet: no
    /// conntrack entry, no socket, no old route.
    pub(crate) fn send(self, net: &Net, route: Route<'_>, ipv6: bool) {
        let net = net.as_raw();
        let skb = self.raw();
        core::mem::forget(self);
        // SAFETY: we own the skb, whose data starts at its (translated) network header of
        // the family given, and `net` is its device's namespace (the caller's); skb_dst_set
        // takes over a held route's reference, skb_dst_set_noref lends a borrowed one for
        // the packet context the caller is in (whatever keeps the packet longer takes a
        // reference), and the local_out functions take the skb.
        unsafe {
            orphan(skb);
            b::skb_scrub_packet(skb, false);
            (*skb).cb = [0; 48];
            match route.for_packet() {
                PacketRoute::Held(dst) => b::skb_dst_set(skb, dst),
                PacketRoute::Borrowed(dst) => b::skb_dst_set_noref(skb, dst),
            }
            if ipv6 {
                b::ip6_local_out(net, ptr::null_mut(), skb);
            } else {
                b::ip_local_out(net, ptr::null_mut(), skb);
            }
        }
    }

    /// Forgets a receive timestamp (a wall-clock time, which qdiscs such as fq would take
    /// for a departure time), as forwarding does; a delivery time set by a socket stays.
    pub(crate) fn clear_receive_timestamp(&mut self) {
        // SAFETY: we own the skb.
        unsafe { b::skb_clear_tstamp(self.raw()) };
    }

    /// The device the packet is being sent through.
    fn dev(&self) -> *mut b::net_device {
        // SAFETY: we own a valid skb; skb->dev is set on the transmit path.
        unsafe { (*self.raw()).__bindgen_anon_1.__bindgen_anon_1.__bindgen_anon_1.dev }
    }

    /// Splits this IPv4 packet (without DF), being sent through a device, into fragments of
    /// at most `mtu` bytes and hands each to `S` (ip_do_fragment, as IPv4 output does);
    /// consumes the packet. The packet must carry an IPv4 route
    /// ([`route_family`](Self::route_family)): ip_do_fragment reads the MTU and the headroom
    /// from it.
    pub(crate) fn fragment_ipv4<S: FragmentSink>(self, mtu: u16, ctx: &PacketContext<'_>) {
        if self.route_family() != Some(AF_INET) {
            return;
        }
        // SAFETY: skb->dev is the device the packet is being sent through, valid while it is.
        let net = unsafe { NetDevice::from_raw(self.dev()) }.net_rcu(ctx.reader()).as_raw();
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
            b::ip_do_fragment(net, ptr::null_mut(), skb, Some(fragment_output::<S>));
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

/// Where the fragments of a packet go (see [`Skb::fragment_ipv4`]).
pub(crate) trait FragmentSink {
    /// One fragment, on the device the packet was being sent through, on the same packet
    /// path.
    fn fragment(skb: Skb, dev: &NetDevice, ctx: &PacketContext<'_>);
}

/// ip_do_fragment's output callback: hands each fragment to `S` with its device.
unsafe extern "C" fn fragment_output<S: FragmentSink>(
    _net: *mut b::net,
    _sk: *mut b::sock,
    skb: *mut b::sk_buff,
) -> i32 {
    // SAFETY: ip_do_fragment hands over each fragment it built.
    let Some(skb) = (unsafe { Skb::from_raw(skb) }) else {
        return 0;
    };
    let dev = skb.dev();
    if dev.is_null() {
        return 0;
    }
    // SAFETY: ip_do_fragment calls this within `fragment_ipv4`, whose caller is on a packet
    // path (its context) until it returns; the fragments keep the device the packet was
    // being sent through, valid while it is.
    let (dev, ctx) = unsafe { (NetDevice::from_raw(dev), PacketContext::assume()) };
    S::fragment(skb, dev, &ctx);
    0
}

/// A device's GRO cells (a per-CPU queue and NAPI context each), through which the packets
/// it receives enter the stack, as tunnels' decapsulated packets do. Set up in `ndo_init`,
/// torn down with the device.
pub(crate) struct GroCells(UnsafeCell<b::gro_cells>);

// SAFETY: gro_cells_receive works on the calling CPU's cell only (bottom halves off); init
// and destroy run at registration and teardown, when no packet is in flight.
unsafe impl Sync for GroCells {}

impl GroCells {
    /// Not set up yet: until `init`, and after a failed one, packets go to netif_rx.
    pub(crate) const fn new() -> Self {
        // SAFETY: all-zero is gro_cells without cells.
        GroCells(UnsafeCell::new(unsafe { core::mem::MaybeUninit::zeroed().assume_init() }))
    }

    /// Allocates the cells and their NAPI contexts on `dev`.
    ///
    /// # Safety
    /// `dev` is the device whose private area holds `self`, being registered (`ndo_init`).
    pub(crate) unsafe fn init(&self, dev: *mut b::net_device) -> kernel::error::Result {
        // SAFETY: per the caller; nothing receives through the cells yet.
        let ret = unsafe { b::gro_cells_init(self.0.get(), dev) };
        if ret < 0 {
            return Err(kernel::error::Error::from_errno(ret));
        }
        Ok(())
    }

    /// Frees the cells (each queue's packets dropped). Idempotent.
    ///
    /// # Safety
    /// The device is unregistered: nothing receives through the cells any more.
    pub(crate) unsafe fn destroy(&self) {
        // SAFETY: per the caller; gro_cells_destroy does nothing without cells and clears
        // the pointer after freeing them.
        unsafe { b::gro_cells_destroy(self.0.get()) };
    }
}

/// The address families of `dst->ops->family`.
pub(crate) const AF_INET: u16 = 2;

/// `skb->pkt_type` of a packet the link layer addressed to this host.
const PACKET_HOST: u8 = 0;

/// `skb->ip_summed` values.
const CHECKSUM_NONE: u8 = 0;
const CHECKSUM_COMPLETE: u8 = 2;
const CHECKSUM_PARTIAL: u8 = 3;

const IPPROTO_IPIP: u8 = 4;

/// What software segmentation made of a GSO packet.
pub(crate) enum Segmented {
    /// Its segments; the original is gone.
    Segments(Segments),
    /// The packet itself, which had one segment's worth, now a plain packet.
    Whole(Skb),
}

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
        Some(Skb::owning(skb))
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
