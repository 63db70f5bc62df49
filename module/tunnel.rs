// SPDX-License-Identifier: GPL-2.0
//! IPv4-in-IPv6 packets delivered to one of the host's own addresses (6.12's kernel crate
//! has no tunnel handlers): the kernel's chain of handlers for IPPROTO_IPIP over IPv6
//! (tunnel6's `xfrm6_tunnel_register` with AF_INET), where ip6tnl receives its packets too.
//! A MAP-E tunnel end that is an address of the host (of its mapmint device, or of another
//! interface such as the WAN link or lo, as ip6tnl's local end often is) receives here, as a
//! local delivery, instead of being forwarded into the device. The `unsafe` of registering
//! and of the handlers' C signatures lives here.

use crate::bindings as b;
use crate::netdev::{NetDevice, Rtnl};
use crate::rcu::PacketContext;
use crate::skb::{Skb, AF_INET};
use core::cell::UnsafeCell;
use core::ffi::c_int;
use core::ops::ControlFlow;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::error::{code::EBUSY, Error, Result};

/// What a receiver does with a packet delivered to an address of the host.
pub(crate) enum Delivery {
    /// Not for it: the next handler in the chain (ip6tnl's, xfrm6_tunnel's, ...) may take it,
    /// or the stack answers Port Unreachable. It must be the same skb, unchanged.
    NotMine(Skb),
    /// Taken: sent on, or dropped and counted.
    Taken,
}

/// What the handlers call.
pub(crate) trait Receiver {
    /// Whether `dev` is one of the receiver's devices.
    fn is_receiver(dev: &NetDevice) -> bool;

    /// Whether `dev` would take `skb` (as for [`deliver`](Self::deliver)), delivered to an
    /// address of another interface: by its destination, and with `by_peer` by the far
    /// tunnel end too. Asked where several devices may share one tunnel end.
    fn claims(skb: &Skb, dev: &NetDevice, ctx: &PacketContext<'_>, by_peer: bool) -> bool;

    /// `skb` (an IPv6 packet whose data starts at its IPv6 header, as received) was delivered
    /// to an address of the host, on the receive path (`ctx`): an IPv4-in-IPv6 packet, or a
    /// clone of an ICMPv6 error about one (the stack goes on with the original), for the
    /// receiver's device `dev` to take or drop.
    fn deliver(skb: Skb, dev: &NetDevice, ctx: &PacketContext<'_>) -> Delivery;
}

/// Calls `visit` on the receiver's devices that may take a packet delivered to an address
/// `to` holds: `to` alone if it is one (packets to one device's address are not offered to
/// another), else each listed device of `to`'s namespace ([`Listed`]).
fn for_each_receiver<'a, R: Receiver>(
    to: &'a NetDevice,
    ctx: &'a PacketContext<'_>,
    mut visit: impl FnMut(&'a NetDevice) -> ControlFlow<()>,
) {
    if R::is_receiver(to) {
        let _ = visit(to);
        return;
    }
    let net = to.net_rcu(ctx.reader()).as_raw();
    let mut cursor = core::ptr::null_mut();
    loop {
        // SAFETY: an RCU reader (the packet path) walks the list.
        let dev = unsafe { b::mapmint_next_listed(&mut cursor) };
        if dev.is_null() {
            return;
        }
        // SAFETY: a listed device is valid until a grace period after it was unlisted.
        let dev = unsafe { NetDevice::from_raw(dev) };
        if core::ptr::eq(dev.net_rcu(ctx.reader()).as_raw(), net) && R::is_receiver(dev) && visit(dev).is_break() {
            return;
        }
    }
}

/// A receiver device's entry in the list that the handlers walk for packets delivered to an
/// address of another interface (a tunnel end on lo or the WAN link): one list for every
/// namespace, of the few devices that may receive, rather than a walk of all of a namespace's
/// devices per packet (a BR has many interfaces). Lives in the device's private area.
pub(crate) struct Listed(UnsafeCell<b::mapmint_listed>);

// SAFETY: changed under the RTNL only; the list's walk reads it under RCU (rculist).
unsafe impl Sync for Listed {}

impl Listed {
    pub(crate) const fn new() -> Self {
        // SAFETY: all-zero is an entry not listed.
        Listed(UnsafeCell::new(unsafe { core::mem::MaybeUninit::zeroed().assume_init() }))
    }

    /// Lists `dev` (again, after a move between namespaces: listing twice does nothing).
    ///
    /// # Safety
    /// The entry lies in `dev`'s private area, and is unlisted ([`Listed::unlist`]) a grace
    /// period before the device is freed.
    pub(crate) unsafe fn list(&self, dev: &NetDevice, _rtnl: &Rtnl) {
        // SAFETY: the RTNL is held; the entry stays put while listed (per the caller).
        unsafe { b::mapmint_list_device(self.0.get(), dev.as_raw()) };
    }

    /// Takes the device off the list; walkers may still see it until a grace period passes.
    pub(crate) fn unlist(&self, _rtnl: &Rtnl) {
        // SAFETY: the RTNL is held.
        unsafe { b::mapmint_unlist_device(self.0.get()) };
    }

    /// Whether the device is listed (under the RTNL, or once nobody else can reach it).
    pub(crate) fn is_listed(&self) -> bool {
        // SAFETY: a valid entry; `listed` changes under the RTNL only.
        unsafe { b::mapmint_is_listed(self.0.get()) }
    }
}

/// The handler chain's priority: after ip6tnl (1), before xfrm6_tunnel (3).
const PRIORITY: c_int = 2;

/// One handler in tunnel6's chain for IPv4 inside IPv6.
pub(crate) struct Ipv4InIpv6 {
    handler: UnsafeCell<b::xfrm6_tunnel>,
    /// Whether a [`Registration`] of it exists.
    registered: AtomicBool,
}

// SAFETY: tunnel6 reads the handler from any CPU once registered and writes its `next` under
// its own mutex; this module writes it only while no registration exists (`registered`).
unsafe impl Sync for Ipv4InIpv6 {}

impl Ipv4InIpv6 {
    pub(crate) const fn new() -> Self {
        Ipv4InIpv6 {
            // SAFETY: all-zero is an xfrm6_tunnel without handlers, never registered as such.
            handler: UnsafeCell::new(unsafe { core::mem::MaybeUninit::zeroed().assume_init() }),
            registered: AtomicBool::new(false),
        }
    }

    /// Registers the handlers of `R`; they run until the registration is dropped. EBUSY if
    /// a registration exists, EEXIST if another handler holds the priority.
    pub(crate) fn register<R: Receiver>(&'static self) -> Result<Registration> {
        if self.registered.swap(true, Ordering::Acquire) {
            return Err(EBUSY);
        }
        // SAFETY: not registered (above), so nothing reads the handler while it is written.
        unsafe {
            let handler = &mut *self.handler.get();
            handler.handler = Some(receive::<R>);
            handler.err_handler = Some(error::<R>);
            handler.priority = PRIORITY;
        }
        // SAFETY: the handler is filled in and static.
        let ret = unsafe { b::xfrm6_tunnel_register(self.handler.get(), AF_INET) };
        if ret < 0 {
            self.registered.store(false, Ordering::Release);
            return Err(Error::from_errno(ret));
        }
        Ok(Registration(self))
    }
}

/// Deregisters on drop; no handler runs after that (tunnel6 waits for a grace period).
pub(crate) struct Registration(&'static Ipv4InIpv6);

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered by `register`; may sleep (synchronize_net), which module exit
        // allows.
        unsafe { b::xfrm6_tunnel_deregister(self.0.handler.get(), AF_INET) };
        self.0.registered.store(false, Ordering::Release);
    }
}

/// The device whose address an IPv6 packet was delivered to, if that was a local delivery.
///
/// # Safety
/// `skb` is valid, on the receive path (an RCU reader).
unsafe fn delivered_to<'a>(skb: *mut b::sk_buff) -> Option<&'a NetDevice> {
    // SAFETY: per the caller; the route's inet6_dev holds its device.
    let dev = unsafe { b::mapmint_delivered_to(skb) };
    // SAFETY: the device a local route's inet6_dev holds is valid while the route is, which
    // the packet holds (or RCU keeps, for a borrowed one) while it is delivered.
    (!dev.is_null()).then(|| unsafe { NetDevice::from_raw(dev) })
}

/// tunnel6's handler: 0 when the packet was taken, else the next handler's turn.
unsafe extern "C" fn receive<R: Receiver>(skb: *mut b::sk_buff) -> c_int {
    // SAFETY: tunnel6 passes a valid skb, delivered locally (ip6_input, an RCU reader).
    let Some(to) = (unsafe { delivered_to(skb) }) else {
        return -1;
    };
    with_packet_context(|ctx| {
        // SAFETY: the handler owns the skb while it runs: it takes it (0) or passes it on
        // unchanged (-1).
        let Some(mut owned) = (unsafe { Skb::from_raw(skb) }) else {
            return -1;
        };
        // The IPv6 layer pulled the headers up to the inner packet: `data` lies that many
        // bytes after the network header, in the linear part.
        let pulled = owned.push_to_network_header();
        let Some(dev) = receiver_of::<R>(to, &owned, ctx) else {
            owned.pull_after_push(pulled);
            owned.into_raw();
            return -1;
        };
        match R::deliver(owned, dev, ctx) {
            Delivery::Taken => 0,
            Delivery::NotMine(mut returned) if core::ptr::eq(returned.as_ptr(), skb) => {
                returned.pull_after_push(pulled);
                returned.into_raw();
                -1
            }
            // tunnel6 would go on with the skb it passed, which is gone: the next handler
            // must not see the replacement either.
            Delivery::NotMine(replacement) => {
                drop(replacement);
                0
            }
        }
    })
}

/// The device to offer `skb` (data at its IPv6 header), delivered to an address `to` holds:
/// `to` if it is a receiver's; else the listed device of `to`'s namespace if it is the only
/// one; else the one whose tunnel end it is, or of several such (one end shared by two
/// domains) the first whose rules know the far end (a tunnel packet's source, the destination
/// an ICMPv6 error quotes), the first of them all if none does (it drops and counts the
/// packet). The far end is looked up only when the end is shared.
fn receiver_of<'a, R: Receiver>(to: &'a NetDevice, skb: &Skb, ctx: &'a PacketContext<'_>) -> Option<&'a NetDevice> {
    // A lone candidate is asked nothing: its delivery checks what it would be asked, and the
    // configuration is read once per packet.
    let mut only = None;
    let mut several = false;
    for_each_receiver::<R>(to, ctx, |dev| {
        several = only.is_some();
        only = Some(dev);
        if several {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if !several {
        return only;
    }
    let mut first = None;
    let mut shared = false;
    for_each_receiver::<R>(to, ctx, |dev| {
        if !R::claims(skb, dev, ctx, false) {
            return ControlFlow::Continue(());
        }
        if first.is_some() {
            shared = true;
            return ControlFlow::Break(());
        }
        first = Some(dev);
        ControlFlow::Continue(())
    });
    if !shared {
        return first;
    }
    let mut knowing = None;
    for_each_receiver::<R>(to, ctx, |dev| {
        if R::claims(skb, dev, ctx, true) {
            knowing = Some(dev);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    knowing.or(first)
}

/// tunnel6's error handler: 0 when the error was taken, else the next handler's turn. The
/// skb stays the stack's: a copy goes to the receiver [`receiver_of`] picks, as for a tunnel
/// packet (where two instances share the end, the one that sent the quoted packet).
unsafe extern "C" fn error<R: Receiver>(
    skb: *mut b::sk_buff,
    _opt: *mut b::inet6_skb_parm,
    _kind: u8,
    _code: u8,
    _offset: c_int,
    _info: u32,
) -> c_int {
    // SAFETY: icmpv6_rcv delivered the message locally and calls this under RCU.
    let Some(to) = (unsafe { delivered_to(skb) }) else {
        return -1;
    };
    with_packet_context(|ctx| {
        // The receiver is chosen on the stack's skb, so that a message no instance takes
        // costs no clone.
        // SAFETY: a valid skb that the stack keeps: handed back below as it came, data and
        // all, before anything else can see it.
        let Some(mut stacks) = (unsafe { Skb::from_raw(skb) }) else {
            return -1;
        };
        let pushed = stacks.push_to_network_header();
        let receiver = receiver_of::<R>(to, &stacks, ctx);
        stacks.pull_after_push(pushed);
        stacks.into_raw();
        let Some(dev) = receiver else {
            return -1;
        };
        // SAFETY: a valid skb the stack keeps; the clone is ours (or null when out of memory).
        let Some(mut copy) = (unsafe { Skb::from_raw(b::skb_clone(skb, kernel::bindings::GFP_ATOMIC)) }) else {
            return -1;
        };
        copy.push_to_network_header();
        match R::deliver(copy, dev, ctx) {
            Delivery::Taken => 0,
            Delivery::NotMine(_) => -1,
        }
    })
}

/// Runs `f` on the packet path: local delivery runs as an RCU reader (ip6_input_finish),
/// with bottom halves off but where a queueing hook reinjected the packet.
fn with_packet_context<T>(f: impl FnOnce(&PacketContext<'_>) -> T) -> T {
    // SAFETY: paired below, on the same CPU and task.
    unsafe { b::local_bh_disable() };
    // SAFETY: an RCU reader (the IPv6 layer's) with bottom halves off (above) until the
    // context goes, at the end of the call.
    let ctx = unsafe { PacketContext::assume() };
    let result = f(&ctx);
    drop(ctx);
    // SAFETY: disabled above.
    unsafe { b::local_bh_enable() };
    result
}
