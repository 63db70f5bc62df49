// SPDX-License-Identifier: GPL-2.0
//! An owned socket buffer, with the few operations the transmit path needs. All of the
//! datapath's skb handling (and its `unsafe`) is here.

use crate::bindings as b;
use core::ptr::{self, NonNull};

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

    /// Makes the packet linear, private (not shared with clones) and gives it at least
    /// `headroom` bytes in front: what writing headers in place needs.
    pub(crate) fn make_writable(&mut self, headroom: u32) -> bool {
        // SAFETY: we own the skb; both helpers may reallocate its data, which no one else
        // points into (we hold no pointers across this call).
        unsafe { b::skb_linearize(self.raw()) == 0 && b::skb_cow(self.raw(), headroom) == 0 }
    }

    /// The whole linear buffer from `head` to the end of the data, and where the data starts
    /// in it (the headroom).
    pub(crate) fn buffer(&mut self) -> (&mut [u8], usize) {
        // SAFETY: after make_writable the skb is linear and ours: `head .. data + len` is one
        // allocation we may write, and `data` lies inside it.
        unsafe {
            let skb = &*self.raw();
            let headroom = skb.data.offset_from(skb.head) as usize;
            let total = headroom + skb.len as usize;
            (core::slice::from_raw_parts_mut(skb.head, total), headroom)
        }
    }

    /// Moves the data to `buffer()[start .. start + len]` (inside the buffer: the translator
    /// only wrote there), as a new network packet of `protocol`.
    pub(crate) fn set_packet(&mut self, start: usize, len: usize, protocol: u16) {
        // SAFETY: we own the linear skb; start and len come from the translator, which keeps
        // them inside `buffer()`, so push/pull/trim stay within head..end.
        unsafe {
            let skb = self.raw();
            let headroom = (*skb).data.offset_from((*skb).head) as usize;
            if start < headroom {
                b::skb_push(skb, (headroom - start) as u32);
            } else if start > headroom {
                b::skb_pull(skb, (start - headroom) as u32);
            }
            if ((*skb).len as usize) > len {
                b::skb_trim(skb, len as u32);
            }
            let headers = (*skb).__bindgen_anon_4.__bindgen_anon_1.as_mut();
            headers.protocol = protocol;
            // The translator rewrote checksums; let the receiving stack check them afresh.
            headers.set_ip_summed(CHECKSUM_NONE);
            b::skb_reset_mac_header(skb);
            b::skb_reset_network_header(skb);
        }
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

    /// The device the packet is being sent through.
    pub(crate) fn dev(&self) -> *mut b::net_device {
        // SAFETY: we own a valid skb; skb->dev is set on the transmit path.
        unsafe { (*self.raw()).__bindgen_anon_1.__bindgen_anon_1.__bindgen_anon_1.dev }
    }

    /// Splits this IPv4 packet (without DF) into fragments of at most `mtu` bytes and hands
    /// each to `output` (ip_do_fragment, as IPv4 output does); consumes the packet.
    pub(crate) fn fragment_ipv4(
        self,
        mtu: u16,
        output: unsafe extern "C" fn(*mut b::net, *mut b::sock, *mut b::sk_buff) -> i32,
    ) {
        let skb = self.raw();
        core::mem::forget(self);
        // SAFETY: we own the skb and hand it to ip_do_fragment, which frees or passes on every
        // piece. It sizes fragments by the route's MTU, capped by IPCB(skb)->frag_max_size,
        // which the control buffer holds while the packet is in the IPv4 output path; the
        // route is still attached (the device keeps it, see netif_keep_dst).
        unsafe {
            let parm = (*skb).cb.as_mut_ptr().cast::<b::inet_skb_parm>();
            (*parm).frag_max_size = mtu;
            let dev = (*skb).__bindgen_anon_1.__bindgen_anon_1.__bindgen_anon_1.dev;
            b::ip_do_fragment(b::dev_net(dev), ptr::null_mut(), skb, Some(output));
        }
    }

    /// Answers an ICMPv4 error about this packet to its source, as seen before SNAT.
    pub(crate) fn icmp_reply(&self, ipv6: bool, (kind, code, info): (u8, u8, u32)) {
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

/// `skb->ip_summed`: no checksum information.
const CHECKSUM_NONE: u8 = 0;
