// SPDX-License-Identifier: GPL-2.0
//! Routes for the packets the device sends out itself: a lookup for the translated header,
//! remembered per CPU for the flow it was looked up for, as tunnels remember theirs
//! (`dst_cache`). A tunnel has one remote; a translator's destinations vary, so the route is
//! reused only while this CPU sends to the same (source, destination, mark, protocol, TOS)
//! in the same network namespace, and only while the kernel says it is still valid. IPsec's
//! output policies, which may select by ports, are looked up per packet over it.
//!
//! The remembered route holds the reference; a packet sent along it borrows it for the
//! packet context (`skb_dst_set_noref`, as a socket's cached route is lent to its packets),
//! so a packet costs no reference count taken and dropped. Whatever keeps the packet past
//! the RCU read-side section (a qdisc, a neighbour's queue, NFQUEUE) takes a reference
//! first (`skb_dst_force`), and a route released meanwhile is freed only after a grace period.

use crate::bindings as b;
use crate::netdev::{Net, NetDevice, Quiesced};
use crate::percpu::{PerCpu, Zeroable};
use crate::rcu::PacketContext;
use crate::skb::Skb;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use kernel::prelude::*;

/// What an output route lookup depends on (the device sends with no output interface).
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct FlowKey {
    /// The namespace, as an address: a device moved to another one looks up afresh.
    net: usize,
    saddr: [u8; 16],
    daddr: [u8; 16],
    mark: u32,
    proto: u8,
    tos: u8,
}

impl FlowKey {
    /// The key of the IPv6 packet starting at `header` (at least 40 bytes), or of the IPv4
    /// one (at least 20 bytes). None when `header` is shorter.
    fn of(net: *mut b::net, header: &[u8], ipv6: bool, mark: u32) -> Option<Self> {
        let mut key = FlowKey { net: net as usize, saddr: [0; 16], daddr: [0; 16], mark, proto: 0, tos: 0 };
        if ipv6 {
            key.proto = *header.get(6)?;
            key.saddr.copy_from_slice(header.get(8..24)?);
            key.daddr.copy_from_slice(header.get(24..40)?);
        } else {
            key.tos = *header.get(1)? & IPTOS_RT_MASK;
            key.proto = *header.get(9)?;
            key.saddr[..4].copy_from_slice(header.get(12..16)?);
            key.daddr[..4].copy_from_slice(header.get(16..20)?);
        }
        Some(key)
    }

    /// Whether [`FlowKey::of`] would build this key, a key of the same family (the other
    /// bytes of an IPv4 key's addresses are zero in both), for the packet at `header`:
    /// compared where it lies, so that a packet of the remembered flow builds no key.
    #[inline(always)]
    fn is_of(&self, net: *mut b::net, header: &[u8], ipv6: bool, mark: u32) -> bool {
        if self.net != net as usize || self.mark != mark {
            return false;
        }
        let word = |at: usize| header.get(at..at + 16).and_then(|b| b.try_into().ok()).map(u128::from_ne_bytes);
        let word4 = |at: usize| header.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_ne_bytes);
        let first4 = |addr: &[u8; 16]| u32::from_ne_bytes([addr[0], addr[1], addr[2], addr[3]]);
        if ipv6 {
            header.get(6) == Some(&self.proto)
                && word(8) == Some(u128::from_ne_bytes(self.saddr))
                && word(24) == Some(u128::from_ne_bytes(self.daddr))
        } else {
            header.get(1).map(|tos| tos & IPTOS_RT_MASK) == Some(self.tos)
                && header.get(9) == Some(&self.proto)
                && word4(12) == Some(first4(&self.saddr))
                && word4(16) == Some(first4(&self.daddr))
        }
    }
}

/// One CPU's last flow: its key, whether its route leaves the host, and the route, held
/// (null: none), with the cookie its validity check takes (IPv6: the routing tree's serial
/// number when it was looked up).
#[derive(Clone, Copy)]
struct Memo {
    key: FlowKey,
    leaves_host: bool,
    dst: *mut b::dst_entry,
    cookie: u32,
}

/// A CPU's [`Memo`]. Only its own CPU reads and writes it, with bottom halves off, and never
/// while a reference into it is held across a call out of this file; init, teardown and a
/// move to another namespace touch every CPU's while no packet is in flight.
struct LastFlow(UnsafeCell<Memo>);

// SAFETY: see above: each CPU touches only its own copy, one access at a time.
unsafe impl Sync for LastFlow {}
// SAFETY: all-zero is a valid FlowKey (integers and arrays), `false`, a null route and a
// zero cookie; a null `net` matches no device.
unsafe impl Zeroable for LastFlow {}

impl LastFlow {
    /// Lets go of the remembered route.
    ///
    /// # Safety
    /// This CPU's copy on a packet path, or any copy while no packet is in flight.
    unsafe fn release(&self) {
        // SAFETY: per the caller, nobody else touches the memo meanwhile.
        let memo = unsafe { &mut *self.0.get() };
        let dst = core::mem::replace(&mut memo.dst, ptr::null_mut());
        if !dst.is_null() {
            // SAFETY: the memo held this reference. A packet that borrowed the route is in
            // an RCU read-side section (or took a reference), and dst_release frees the
            // route after a grace period.
            unsafe { b::dst_release(dst) };
        }
    }
}

/// A route for a packet: held (a reference the value owns, released on drop unless handed
/// on) or borrowed from this CPU's memo for the packet context `'a`. A borrowed route is
/// used up (sent with its packet) before the next lookup on this CPU, which may let the
/// memo's reference go: [`Routes::output`] has one caller, which sends at once.
pub(crate) struct Route<'a> {
    dst: NonNull<b::dst_entry>,
    /// The plain route's verdict (see [`Route::leaves_host`]), kept with it: an IPsec
    /// bundle's device is its outer path's, which says nothing about the packet itself.
    leaves_host: bool,
    held: bool,
    _context: PhantomData<&'a ()>,
}

/// How a packet takes its route (see [`Route::for_packet`]).
pub(crate) enum PacketRoute {
    /// A reference passes to the packet (`skb_dst_set`).
    Held(*mut b::dst_entry),
    /// Borrowed for the packet context (`skb_dst_set_noref`).
    Borrowed(*mut b::dst_entry),
}

impl<'a> Route<'a> {
    /// Whether the route takes the packet it was looked up for out of the box as unicast: not
    /// to one of the host's own addresses (loopback, which would deliver it as if the host had
    /// sent it to itself, past every `-i` filter), nor to a broadcast or a multicast group.
    /// Translated destinations come from packets (a DMR's embedded address, a MAP-E packet's
    /// inner header): this is the check that routing a received packet would have made.
    pub(crate) fn leaves_host(&self) -> bool {
        self.leaves_host
    }

    /// Takes over the held route `dst`, looked up for the packet starting at `header` (IPv6
    /// if `ipv6`), and judges it by itself (before any IPsec bundle over it).
    fn plain(dst: NonNull<b::dst_entry>, header: &[u8], ipv6: bool) -> Route<'a> {
        let mut route = Route { dst, leaves_host: false, held: true, _context: PhantomData };
        // An IPv6 route has no flag for multicast: the destination says it (ff00::/8).
        route.leaves_host = if ipv6 {
            header.get(IPV6_DESTINATION).is_some_and(|first| *first != 0xff)
                && route.device().is_some_and(|dev| !dev.is_loopback())
        } else {
            // SAFETY: we hold a reference, which keeps the route valid; an IPv4 route is a
            // `struct rtable` around the dst_entry, as `dst_rtable` assumes.
            let flags = unsafe { (*dst.as_ptr().cast::<b::rtable>()).rt_flags };
            flags & (RTCF_LOCAL | RTCF_BROADCAST | RTCF_MULTICAST) == 0
        };
        route
    }

    /// The device the route leaves through (a route always has one: the loopback device for
    /// one that discards).
    fn device(&self) -> Option<&NetDevice> {
        // SAFETY: the route is held, or borrowed for the packet context: valid while `self`
        // is. Its device is valid in the packet context (an RCU read-side section), where we
        // are: a route whose device goes away gets another one (dst_dev_put) and releases the
        // old one after a grace period.
        unsafe {
            let dev = (*self.dst.as_ptr()).__bindgen_anon_1.dev;
            (!dev.is_null()).then(|| NetDevice::from_raw(dev))
        }
    }

    /// A held reference to the route, given up (taken first for a borrowed one).
    fn into_held(self) -> *mut b::dst_entry {
        let dst = self.dst.as_ptr();
        if !self.held {
            // SAFETY: the borrowed route is valid for the packet context, which we are in.
            unsafe { b::dst_hold(dst) };
        }
        core::mem::forget(self);
        dst
    }

    /// The route as the packet takes it: a held one's reference passes to the packet, a
    /// borrowed one is lent to it for the packet context.
    pub(crate) fn for_packet(self) -> PacketRoute {
        let (dst, held) = (self.dst.as_ptr(), self.held);
        core::mem::forget(self);
        if held {
            PacketRoute::Held(dst)
        } else {
            PacketRoute::Borrowed(dst)
        }
    }
}

impl Drop for Route<'_> {
    fn drop(&mut self) {
        if self.held {
            // SAFETY: we hold a reference.
            unsafe { b::dst_release(self.dst.as_ptr()) };
        }
    }
}

/// The routes of one address family, one remembered per CPU.
struct FamilyRoutes {
    last: PerCpu<LastFlow>,
}

impl FamilyRoutes {
    const fn new() -> Self {
        FamilyRoutes { last: PerCpu::new() }
    }

    /// # Safety
    /// Called once, before any packet (ndo_init).
    unsafe fn init(&self) -> Result {
        self.last.alloc()
    }

    /// Lets go of every CPU's remembered route.
    ///
    /// # Safety
    /// No packet is in flight on the device.
    unsafe fn release_all(&self) {
        // SAFETY: per the caller, no CPU uses its copy meanwhile.
        self.last.for_each(|last| unsafe { last.release() });
    }

    /// # Safety
    /// No packet is in flight any more (device teardown).
    unsafe fn destroy(&self) {
        // SAFETY: per the caller; `free` makes a second call do nothing.
        unsafe { self.release_all() };
        self.last.free();
    }

    /// This CPU's remembered route, borrowed for the packet context, if it was looked up
    /// for a key that `is_key` accepts and is still valid (one that is not is let go).
    #[inline(always)]
    fn remembered<'a>(&self, _ctx: &'a PacketContext<'_>, is_key: impl FnOnce(&FlowKey) -> bool) -> Option<Route<'a>> {
        let last = self.last.this_cpu()?;
        let (dst, cookie, leaves_host) = {
            // SAFETY: our CPU's copy, bottom halves off (the packet path); the reference ends
            // in this block, before any call out of this file.
            let memo = unsafe { &*last.0.get() };
            if !is_key(&memo.key) {
                return None;
            }
            (NonNull::new(memo.dst)?, memo.cookie, memo.leaves_host)
        };
        // SAFETY: the memo holds a reference. dst_check asks the route's own check (a
        // namespace's routes flushed, a device gone, an IPv6 tree changed since `cookie`)
        // unless the route can never go stale; it returns null or the route.
        let valid = unsafe { !b::dst_check(dst.as_ptr(), cookie).is_null() };
        if !valid {
            // SAFETY: our CPU's copy, on the packet path.
            unsafe { last.release() };
            return None;
        }
        Some(Route { dst, leaves_host, held: false, _context: PhantomData })
    }

    /// Remembers the held `route` for `key` on this CPU, letting go of the one before, and
    /// lends it back for the packet context.
    fn remember<'a>(&self, _ctx: &'a PacketContext<'_>, key: &FlowKey, route: Route<'a>, ipv6: bool) -> Route<'a> {
        let Some(last) = self.last.this_cpu() else {
            return route;
        };
        let (dst, leaves_host) = (route.dst, route.leaves_host);
        // SAFETY: a valid route; an IPv6 one is a `struct rt6_info` around its dst_entry
        // (dst_rt6_info), whose cookie rt6_get_cookie reads under its own RCU lock.
        let cookie = if ipv6 { unsafe { b::rt6_get_cookie(dst.as_ptr().cast::<b::rt6_info>()) } } else { 0 };
        // The memo takes over the route's reference (held, or taken for a borrowed one)
        // before it lets go of the one before.
        let held = route.into_held();
        // SAFETY: our CPU's copy, on the packet path.
        unsafe {
            last.release();
            *last.0.get() = Memo { key: *key, leaves_host, dst: held, cookie };
        }
        Route { dst, leaves_host, held: false, _context: PhantomData }
    }
}

/// A device's output routes, IPv6 and IPv4 (a BR sends both).
pub(crate) struct Routes {
    v6: FamilyRoutes,
    v4: FamilyRoutes,
}

impl Routes {
    pub(crate) const fn new() -> Self {
        Routes { v6: FamilyRoutes::new(), v4: FamilyRoutes::new() }
    }

    /// Allocates the per-CPU storage.
    ///
    /// # Safety
    /// Called once, before any packet (ndo_init).
    pub(crate) unsafe fn init(&self) -> Result {
        // SAFETY: per the caller.
        unsafe {
            self.v6.init()?;
            self.v4.init()
        }
    }

    /// Releases the remembered routes and the storage. Idempotent.
    ///
    /// # Safety
    /// No packet is in flight any more (device teardown).
    pub(crate) unsafe fn destroy(&self) {
        // SAFETY: per the caller.
        unsafe {
            self.v6.destroy();
            self.v4.destroy();
        }
    }

    /// Lets go of every CPU's remembered route (the device leaves the namespace they are
    /// of); the next packet looks up afresh.
    pub(crate) fn forget(&self, _quiesced: &Quiesced) {
        for family in [&self.v6, &self.v4] {
            // SAFETY: no packet is in flight on the device (`_quiesced`); storage never
            // allocated or freed already is visited by no one.
            unsafe { family.release_all() };
        }
    }

    /// The route for `skb`, whose (translated) header is IPv6 if `ipv6`, else IPv4, in
    /// namespace `net` (the device's): this CPU's remembered one when it was for the same flow
    /// and is still valid, else a fresh lookup (then remembered); then, for a packet that
    /// leaves, the IPsec bundle that transforms it where output policies exist. None when
    /// there is no route, or a policy blocks the packet.
    pub(crate) fn output<'a>(&self, ctx: &'a PacketContext<'_>, net: &Net, skb: &Skb, ipv6: bool) -> Option<Route<'a>> {
        let header = skb.header();
        let mark = skb.mark();
        let family = if ipv6 { &self.v6 } else { &self.v4 };
        let plain = match family.remembered(ctx, |key| key.is_of(net.as_raw(), header, ipv6, mark)) {
            Some(route) => route,
            None => {
                let key = FlowKey::of(net.as_raw(), header, ipv6, mark)?;
                family.remember(ctx, &key, look_up(net, &key, header, ipv6)?, ipv6)
            }
        };
        // A packet that stays in the host is received on the device (`leaves_host`), where
        // the input path applies the IPsec policies. One that leaves gets the output
        // policies, as a forwarded packet's route does (xfrm_route_forward) and ip6tnl's,
        // where the namespace has any (else xfrm_lookup returns the route as it is): looked
        // up per packet, as policies may select by ports and ICMP types, for the packet's own
        // flow with the route's device as its output interface. The result is a bundle that
        // transforms the packet, the route itself, or an error (a policy that blocks the
        // packet, or one whose security association is not there yet), on which the route
        // is released.
        if !plain.leaves_host || !net.has_ipsec_output_policies() {
            return Some(plain);
        }
        // A `flowi`, not a bare `flowi4`/`flowi6`: the IPsec lookup reads it as one.
        // SAFETY: all-zero is a valid flow (integers and addresses).
        let mut flow: b::flowi = unsafe { core::mem::zeroed() };
        if !skb.ipsec_output_flow(net, &mut flow, ipv6) {
            return None;
        }
        let oif = plain.device().map_or(0, NetDevice::ifindex);
        // SAFETY: the namespace is valid (borrowed); for IPv6 and IPv4 alike the common part
        // of the flow is its first member. xfrm_lookup takes over the route's reference and
        // returns a held route or an error.
        let dst = unsafe {
            flow.u.__fl_common.flowic_oif = oif;
            b::xfrm_lookup(net.as_raw(), plain.into_held(), &flow, ptr::null(), 0)
        };
        if b::err_ptr_errno(dst).is_some() {
            return None;
        }
        Some(Route { dst: NonNull::new(dst)?, leaves_host: true, held: true, _context: PhantomData })
    }
}

/// A fresh route lookup for the flow `key` of the packet starting at `header`.
fn look_up<'a>(net: &Net, key: &FlowKey, header: &[u8], ipv6: bool) -> Option<Route<'a>> {
    let net = net.as_raw();
    // SAFETY: `net` is a valid namespace (borrowed); all-zero is a valid flow (integers and
    // addresses), the lookups' default; they take the flow by pointer and return a held
    // route (IPv6: one whose error says whether it is usable) or an error.
    unsafe {
        if ipv6 {
            let mut flow6: b::flowi6 = core::mem::zeroed();
            flow6.__fl_common.flowic_mark = key.mark;
            flow6.__fl_common.flowic_proto = key.proto;
            flow6.saddr.in6_u.u6_addr8 = key.saddr;
            flow6.daddr.in6_u.u6_addr8 = key.daddr;
            let dst = b::ip6_route_output_flags(net, ptr::null(), &mut flow6, 0);
            if (*dst).error != 0 {
                b::dst_release(dst);
                return None;
            }
            Some(Route::plain(NonNull::new(dst)?, header, true))
        } else {
            let mut flow4: b::flowi4 = core::mem::zeroed();
            flow4.__fl_common.flowic_mark = key.mark;
            flow4.__fl_common.flowic_tos = key.tos;
            flow4.__fl_common.flowic_proto = key.proto;
            // The source is a mapped address, not one of this host's.
            flow4.__fl_common.flowic_flags = FLOWI_FLAG_ANYSRC;
            flow4.saddr = ipv4(&key.saddr);
            flow4.daddr = ipv4(&key.daddr);
            let rt = b::ip_route_output_key_hash(net, &mut flow4, ptr::null());
            if b::err_ptr_errno(rt).is_some() {
                return None;
            }
            Some(Route::plain(NonNull::new(rt.cast::<b::dst_entry>())?, header, false))
        }
    }
}

/// An IPv4 address kept in a key's first four bytes, as the kernel's `__be32`.
fn ipv4(bytes: &[u8; 16]) -> u32 {
    u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The TOS bits a route lookup uses (RT_TOS).
const IPTOS_RT_MASK: u8 = 0x1c;
const FLOWI_FLAG_ANYSRC: u8 = 1;
/// include/uapi/linux/in_route.h.
const RTCF_BROADCAST: u32 = 0x1000_0000;
const RTCF_MULTICAST: u32 = 0x2000_0000;
const RTCF_LOCAL: u32 = 0x8000_0000;
/// Where an IPv6 header's destination address starts.
const IPV6_DESTINATION: usize = 24;
