// SPDX-License-Identifier: GPL-2.0
//! Safe views of network namespaces and net_devices (6.12's kernel crate has none): the
//! `unsafe` of reading them, holding references and taking the RTNL lives here, so that the
//! device and the control plane read as safe Rust.

use crate::bindings as b;
use core::ops::ControlFlow;
use core::ptr::NonNull;
use kernel::error::{Error, Result};
use kernel::types::{ARef, AlwaysRefCounted, Opaque};

/// A network namespace, borrowed from whoever keeps it alive.
#[repr(transparent)]
pub(crate) struct Net(Opaque<b::net>);

impl Net {
    /// # Safety
    /// `net` is a valid namespace for `'a`.
    pub(crate) unsafe fn from_raw<'a>(net: *mut b::net) -> &'a Net {
        // SAFETY: per the caller; `Net` is a transparent wrapper of `struct net`.
        unsafe { &*net.cast::<Net>() }
    }

    pub(crate) fn as_raw(&self) -> *mut b::net {
        self.0.get()
    }

    /// The device with index `ifindex`, referenced.
    pub(crate) fn device_by_index(&self, ifindex: i32) -> Option<ARef<NetDevice>> {
        // SAFETY: the namespace is valid (type invariant); dev_get_by_index takes a reference
        // on the device it returns, which the ARef now owns.
        let dev = NonNull::new(unsafe { b::dev_get_by_index(self.as_raw(), ifindex) })?;
        // SAFETY: as above: one reference, handed over.
        Some(unsafe { ARef::from_raw(dev.cast::<NetDevice>()) })
    }

    /// Calls `visit` on the devices of the namespace in index order, from index `*next` on,
    /// under RCU, until it breaks; `*next` is then the index of the device it broke on, else
    /// one past the last device.
    pub(crate) fn for_each_device_from(&self, next: &mut usize, mut visit: impl FnMut(&NetDevice) -> ControlFlow<()>) {
        let _rcu = RcuReader::lock();
        loop {
            // SAFETY: the namespace is valid; dev_by_index is an xarray read under RCU, and
            // xa_find moves `next` to the index of the entry it returns.
            let dev = unsafe { b::xa_find(&raw mut (*self.as_raw()).dev_by_index, next, usize::MAX, XA_PRESENT) };
            if dev.is_null() {
                // Nothing at or after `next`: leave it past the end.
                *next = usize::MAX;
                return;
            }
            // SAFETY: a device found under RCU stays valid until the read lock is dropped,
            // after the last use of the reference.
            let dev = unsafe { NetDevice::from_raw(dev.cast()) };
            if visit(dev).is_break() {
                return;
            }
            *next += 1;
        }
    }
}

/// An RCU read-side critical section, until dropped.
struct RcuReader(());

impl RcuReader {
    fn lock() -> RcuReader {
        // SAFETY: always allowed; paired in drop.
        unsafe { b::rcu_read_lock() };
        RcuReader(())
    }
}

impl Drop for RcuReader {
    fn drop(&mut self) {
        // SAFETY: paired with `lock`.
        unsafe { b::rcu_read_unlock() };
    }
}

/// xarray's XA_PRESENT mark (a cast macro bindgen cannot evaluate).
const XA_PRESENT: b::xa_mark_t = 8;

/// A net_device, borrowed (for a callback, under RCU) or held by an [`ARef`].
#[repr(transparent)]
pub(crate) struct NetDevice(Opaque<b::net_device>);

// SAFETY: net_device is reference counted with dev_hold/dev_put, which keep it in memory.
unsafe impl AlwaysRefCounted for NetDevice {
    fn inc_ref(&self) {
        // SAFETY: the device is valid while borrowed.
        unsafe { b::dev_hold(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: per the caller, a reference taken before.
        unsafe { b::dev_put(obj.as_ptr().cast()) };
    }
}

// SAFETY: the fields read through `NetDevice` are the ones the kernel reads from any CPU.
unsafe impl Sync for NetDevice {}
// SAFETY: a reference may be put on any CPU.
unsafe impl Send for NetDevice {}

impl NetDevice {
    /// # Safety
    /// `dev` is a valid net_device for `'a`.
    pub(crate) unsafe fn from_raw<'a>(dev: *mut b::net_device) -> &'a NetDevice {
        // SAFETY: per the caller; `NetDevice` is a transparent wrapper of `struct net_device`.
        unsafe { &*dev.cast::<NetDevice>() }
    }

    pub(crate) fn as_raw(&self) -> *mut b::net_device {
        self.0.get()
    }

    fn raw(&self) -> &b::net_device {
        // SAFETY: valid while borrowed; the fields read through this are set before
        // registration or read racily by the kernel too (READ_ONCE where it matters).
        unsafe { &*self.as_raw() }
    }

    pub(crate) fn ifindex(&self) -> i32 {
        self.raw().ifindex
    }

    /// The name, NUL included.
    pub(crate) fn name(&self) -> &[u8] {
        let name = &self.raw().name;
        let len = name.iter().position(|c| *c == 0).map_or(name.len(), |n| n + 1);
        &name[..len]
    }

    /// The current MTU (READ_ONCE: dev_set_mtu may change it meanwhile).
    pub(crate) fn mtu(&self) -> u32 {
        // SAFETY: a valid device; an aligned u32 read.
        unsafe { (&raw const (*self.as_raw()).mtu).read_volatile() }
    }

    /// The MTUs the device takes.
    pub(crate) fn mtu_range(&self) -> (u32, u32) {
        (self.raw().min_mtu, self.raw().max_mtu)
    }

    /// The device's namespace.
    pub(crate) fn net(&self) -> &Net {
        // SAFETY: a device keeps its namespace alive (a namespace moves or removes its
        // devices before it goes).
        unsafe { Net::from_raw(b::dev_net(self.as_raw())) }
    }

    /// The driver operations, to tell devices of a kind.
    pub(crate) fn ops(&self) -> *const b::net_device_ops {
        self.raw().netdev_ops
    }

    /// Counts a packet the driver dropped in `tx_dropped`.
    pub(crate) fn count_tx_dropped(&self) {
        // SAFETY: a valid device.
        unsafe { b::dev_core_stats_tx_dropped_inc(self.as_raw()) };
    }

    /// Whether the device is registered (not being unregistered).
    pub(crate) fn is_registered(&self, _rtnl: &Rtnl) -> bool {
        // reg_state changes only under the RTNL, which the caller holds.
        u32::from(self.raw().reg_state) == b::netdev_reg_state_NETREG_REGISTERED
    }

    /// dev_set_mtu: changes the MTU and tells the stack (addrconf, routes).
    pub(crate) fn set_mtu(&self, _rtnl: &Rtnl, mtu: u32) -> Result {
        let mtu = i32::try_from(mtu).map_err(|_| kernel::error::code::EINVAL)?;
        // SAFETY: a valid device, the RTNL held.
        let ret = unsafe { b::dev_set_mtu(self.as_raw(), mtu) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }
}

/// The RTNL, held until dropped.
pub(crate) struct Rtnl(());

impl Rtnl {
    /// Takes the RTNL (may sleep).
    pub(crate) fn lock() -> Rtnl {
        // SAFETY: a mutex; callers are in process context, as the kernel crate's sleeping
        // functions assume.
        unsafe { b::rtnl_lock() };
        Rtnl(())
    }

    /// The RTNL a callback runs under (rtnl_link_ops.newlink, ...), for as long as it runs.
    ///
    /// # Safety
    /// The caller holds the RTNL for the lifetime of the reference.
    pub(crate) unsafe fn held<'a>() -> &'a Rtnl {
        static HELD: Rtnl = Rtnl(());
        &HELD
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        // SAFETY: taken in `lock`. (`held` hands out references only, never dropped.)
        unsafe { b::rtnl_unlock() };
    }
}
