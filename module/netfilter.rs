// SPDX-License-Identifier: GPL-2.0
//! A netfilter hook at PREROUTING of both IPv4 and IPv6 (6.12's kernel crate has no
//! netfilter): where a device with translate-on-receive takes its packets before the stack
//! routes them. The `unsafe` of registering and of the hook's C signature lives here.

use crate::bindings as b;
use crate::netdev::{Net, NetDevice, Rtnl};
use crate::rcu::PacketContext;
use crate::skb::Skb;
use core::cell::{Cell, UnsafeCell};
use core::ffi::c_void;
use core::ptr;
use kernel::error::{Error, Result};

/// What a hook does with a packet.
pub(crate) enum Verdict {
    /// The stack goes on with it (`NF_ACCEPT`).
    Accept(Skb),
    /// The hook took it: sent on, or freed (`NF_STOLEN`).
    Stolen,
}

/// What a hook calls for each packet.
pub(crate) trait Handler: Sync {
    /// `skb`, IPv6 if `ipv6` else IPv4, received on `input`, on the receive path (an RCU
    /// reader with bottom halves off: `ctx`). A packet handed back must be the same skb.
    fn handle(&self, skb: Skb, ipv6: bool, input: &NetDevice, ctx: &PacketContext<'_>) -> Verdict;
}

/// One hook, registered in one namespace at a time for PREROUTING of IPv4 and IPv6 (an
/// NFPROTO_INET hook), right after conntrack's defragmentation, before conntrack and the
/// raw table. Registered and unregistered under the RTNL.
pub(crate) struct PreroutingHook {
    ops: UnsafeCell<b::nf_hook_ops>,
    /// Where it is registered (null: nowhere); only touched under the RTNL.
    net: Cell<*mut b::net>,
}

// SAFETY: `ops` and `net` change only under the RTNL (see register/unregister); netfilter
// reads `ops` from any CPU once registered, which a shared reference allows.
unsafe impl Sync for PreroutingHook {}
// SAFETY: nothing in it is tied to a CPU or task.
unsafe impl Send for PreroutingHook {}

impl PreroutingHook {
    pub(crate) const fn new() -> Self {
        PreroutingHook {
            // SAFETY: all-zero is an nf_hook_ops without a hook, never registered as such.
            ops: UnsafeCell::new(unsafe { core::mem::MaybeUninit::zeroed().assume_init() }),
            net: Cell::new(ptr::null_mut()),
        }
    }

    /// Whether the hook is registered somewhere.
    pub(crate) fn is_registered(&self, _rtnl: &Rtnl) -> bool {
        !self.net.get().is_null()
    }

    /// Registers the hook in `net`, calling `handler` for each packet.
    ///
    /// # Safety
    /// `handler` stays valid, and this value in place, until a grace period after
    /// `unregister` (netfilter readers may still call the hook until then).
    pub(crate) unsafe fn register<T: Handler>(&self, _rtnl: &Rtnl, net: &Net, handler: &T) -> Result {
        if !self.net.get().is_null() {
            return Ok(());
        }
        // SAFETY: not registered (checked above; the RTNL serialises this), so netfilter
        // does not read the ops meanwhile.
        unsafe {
            self.ops.get().write(b::nf_hook_ops {
                hook: Some(trampoline::<T>),
                priv_: ptr::from_ref(handler).cast_mut().cast(),
                pf: b::NFPROTO_INET as u8,
                hooknum: b::nf_inet_hooks_NF_INET_PRE_ROUTING,
                priority: b::nf_ip_hook_priorities_NF_IP_PRI_CONNTRACK_DEFRAG + 1,
                ..core::mem::MaybeUninit::zeroed().assume_init()
            });
        }
        // SAFETY: the ops are filled in, stay in place (per the caller) and `net` is valid.
        let ret = unsafe { b::nf_register_net_hook(net.as_raw(), self.ops.get()) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        self.net.set(net.as_raw());
        Ok(())
    }

    /// Unregisters the hook; it may still run on other CPUs until a grace period has passed.
    pub(crate) fn unregister(&self, _rtnl: &Rtnl) {
        let net = self.net.replace(ptr::null_mut());
        if net.is_null() {
            return;
        }
        // SAFETY: registered in `net` with these ops, which a namespace outlives: a
        // namespace's devices (and their hooks' owners) go before its netfilter state.
        unsafe { b::nf_unregister_net_hook(net, self.ops.get()) };
    }
}

/// The hook as netfilter calls it.
unsafe extern "C" fn trampoline<T: Handler>(
    handler: *mut c_void,
    skb: *mut b::sk_buff,
    state: *const b::nf_hook_state,
) -> u32 {
    // SAFETY: netfilter passes the `priv_` of `register`, a `T` valid until a grace period
    // after unregistering (per register's caller), and a valid state; hooks run as RCU
    // readers. PREROUTING sees packets the stack received, each on its input device.
    let (handler, state) = unsafe { (&*handler.cast::<T>(), &*state) };
    if state.in_.is_null() {
        return b::NF_ACCEPT;
    }
    // SAFETY: the input device of a packet being received is valid while it is.
    let input = unsafe { NetDevice::from_raw(state.in_) };
    // SAFETY: the hook owns the skb while it runs: it hands it back in place (NF_ACCEPT) or
    // consumes it (NF_STOLEN). ip_rcv and ipv6_rcv made it unshared.
    let Some(owned) = (unsafe { Skb::from_raw(skb) }) else {
        return b::NF_ACCEPT;
    };
    // Hooks run with bottom halves off, except after a queueing hook (nf_reinject, from
    // process context): the packet path needs them off (per-CPU state, GRO cells).
    // SAFETY: paired below, on the same CPU and task.
    unsafe { b::local_bh_disable() };
    // SAFETY: an RCU reader (netfilter's) with bottom halves off (above) until the context
    // goes, at the end of the call.
    let ctx = unsafe { PacketContext::assume() };
    let verdict = handler.handle(owned, u32::from(state.pf) == b::NFPROTO_IPV6, input, &ctx);
    drop(ctx);
    // SAFETY: disabled above.
    unsafe { b::local_bh_enable() };
    match verdict {
        // Back to netfilter, which goes on with it.
        Verdict::Accept(returned) if ptr::eq(returned.as_ptr(), skb) => {
            returned.into_raw();
            b::NF_ACCEPT
        }
        // Netfilter would go on with the skb it passed, which is gone: the stack must not
        // see the replacement either.
        Verdict::Accept(replacement) => {
            drop(replacement);
            b::NF_STOLEN
        }
        Verdict::Stolen => b::NF_STOLEN,
    }
}
