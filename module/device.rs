// SPDX-License-Identifier: GPL-2.0
//! The `mapmint` netdevice: an L3 device without link-layer header that IPv4 and IPv6
//! routes point at. Until translation exists, every packet handed to it is dropped and
//! counted in the standard netdev statistics.

use crate::bindings;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::str::CStr;

/// The default MTU: a 1500-byte IPv6 access link less the 40 bytes MAP-E's outer header
/// adds (MAP-T adds only 20), so both modes fit without fragmentation.
const DEFAULT_MTU: u32 = 1460;
/// IPv6 disables itself on a device below its minimum link MTU (RFC 8200 §5).
const MIN_MTU: u32 = 1280;
/// An IPv4 packet of this size still fits the 16-bit IPv6 payload length after MAP-E.
const MAX_MTU: u32 = 65535 - 40;

/// A registered mapmint netdevice; unregistered and freed on drop.
pub(crate) struct Device {
    ndev: NonNull<bindings::net_device>,
}

// SAFETY: the net_device is only reached through kernel APIs that do their own locking
// (register/unregister take the RTNL); the pointer itself is never shared mutably.
unsafe impl Send for Device {}
// SAFETY: `Device` has no `&self` methods touching the net_device.
unsafe impl Sync for Device {}

impl Device {
    /// Allocates and registers a device called `name` in the initial network namespace.
    pub(crate) fn register(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated and `setup` has the signature the kernel expects;
        // one TX and one RX queue, no private area.
        let raw = unsafe {
            bindings::alloc_netdev_mqs(
                0,
                name.as_char_ptr(),
                bindings::NET_NAME_USER as u8,
                Some(setup),
                1,
                1,
            )
        };
        let ndev = NonNull::new(raw).ok_or(ENOMEM)?;
        // SAFETY: `ndev` was just allocated and set up, and is not registered yet; the RTNL
        // keeps anyone from bringing it up before IPv6 autoconfiguration is turned off.
        let ret = unsafe {
            bindings::rtnl_lock();
            let ret = bindings::register_netdevice(ndev.as_ptr());
            if ret == 0 {
                disable_ipv6_autoconf(ndev.as_ptr());
            }
            bindings::rtnl_unlock();
            ret
        };
        if ret < 0 {
            // SAFETY: registration failed, so nothing else holds the device.
            unsafe { bindings::free_netdev(ndev.as_ptr()) };
            return Err(Error::from_errno(ret));
        }
        Ok(Device { ndev })
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: the device was registered by `register` and is unregistered only here;
        // unregister_netdev waits for in-flight transmits and drops routes through it.
        unsafe {
            bindings::unregister_netdev(self.ndev.as_ptr());
            bindings::free_netdev(self.ndev.as_ptr());
        }
    }
}

/// A translator has no use for an IPv6 link-local address: with one, the stack would send
/// router solicitations into the device, where they could only be dropped. An administrator
/// can still ask for one with `ip link set mapmint addrgenmode random`.
///
/// # Safety
/// `dev` is registered and the caller holds the RTNL.
unsafe fn disable_ipv6_autoconf(dev: *mut bindings::net_device) {
    // SAFETY: the caller holds the RTNL, which __in6_dev_get requires.
    let idev = unsafe { bindings::__in6_dev_get(dev) };
    // SAFETY: under the RTNL the inet6_dev stays alive, and addrconf reads this field under
    // the RTNL too, on NETDEV_UP.
    if let Some(idev) = unsafe { idev.as_mut() } {
        idev.cnf.addr_gen_mode = bindings::in6_addr_gen_mode_IN6_ADDR_GEN_MODE_NONE;
    }
}

static NETDEV_OPS: bindings::net_device_ops = bindings::net_device_ops {
    ndo_start_xmit: Some(start_xmit),
    // SAFETY: all other operations are optional; all-zero means "not implemented".
    ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
};

/// Called by alloc_netdev_mqs on the new, not yet visible device.
unsafe extern "C" fn setup(dev: *mut bindings::net_device) {
    // SAFETY: alloc_netdev_mqs passes a valid device that nothing else references yet.
    let dev = unsafe { &mut *dev };
    dev.netdev_ops = &NETDEV_OPS;
    dev.type_ = bindings::ARPHRD_NONE as u16;
    dev.flags = bindings::net_device_flags_IFF_NOARP | bindings::net_device_flags_IFF_POINTOPOINT;
    dev.hard_header_len = 0;
    dev.addr_len = 0;
    dev.mtu = DEFAULT_MTU;
    dev.min_mtu = MIN_MTU;
    dev.max_mtu = MAX_MTU;
}

/// ndo_start_xmit: for now every packet is dropped and counted.
unsafe extern "C" fn start_xmit(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
) -> bindings::netdev_tx_t {
    // SAFETY: the stack hands us ownership of a valid skb for a valid device.
    unsafe {
        bindings::dev_core_stats_tx_dropped_inc(dev);
        bindings::kfree_skb(skb);
    }
    bindings::netdev_tx_NETDEV_TX_OK
}
