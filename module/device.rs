// SPDX-License-Identifier: GPL-2.0
//! The `mapmint` netdevices: L3 devices without link-layer header that IPv4 and IPv6
//! routes point at. Each one is an instance with its own configuration. They are an
//! rtnetlink link kind, so `ip link add NAME type mapmint` creates more in any network
//! namespace, `ip link del` and namespace teardown remove them, and unloading the module
//! removes them all. Until translation exists, every packet handed to a device is dropped
//! and counted in the standard netdev statistics.

use crate::bindings;
use crate::datapath::{self, Counters, Outcome};
use crate::mapcore::config::Config;
use crate::mapcore::domain::FragmentCache;
use crate::skb::Skb;
use core::cell::UnsafeCell;
use core::mem::size_of;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU16, Ordering};
use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::prelude::*;
use kernel::str::CStr;

/// The default MTU, the largest packet on either side of the device: a 1500-byte IPv6 access
/// link. Full-size IPv4 packets get Fragmentation Needed with the MTU that fits after
/// translation (1480 for MAP-T, 1460 for MAP-E), so TCP settles on the right size by itself.
const DEFAULT_MTU: u32 = 1500;
/// IPv6 disables itself on a device below its minimum link MTU (RFC 8200 §5).
const MIN_MTU: u32 = 1280;
/// An IPv4 packet of this size still fits the 16-bit IPv6 payload length after MAP-E.
const MAX_MTU: u32 = 65535 - 40;

/// Per-device state, kept in the net_device's private area.
pub(crate) struct Instance {
    /// The published configuration, or null for a device nobody configured yet. It is
    /// immutable once published: a change publishes a new one and frees the old one after an
    /// RCU grace period, so the transmit path (an RCU reader) sees one or the other whole.
    config: AtomicPtr<Config>,
    /// Translation and drop counters.
    pub(crate) counters: Counters,
    /// IPv4 Identification for translated packets that need a fresh one.
    pub(crate) ipv4_ident: AtomicU16,
    /// First fragments seen, for the later ones (a BR sending to shared addresses). Used only
    /// by the transmit path, which the device's single transmit queue lock serialises (the
    /// device is not LLTX), so the cache's unsynchronised cells are never shared.
    pub(crate) fragments: FragmentCache,
}

impl Instance {
    /// The current configuration, if any.
    ///
    /// # Safety
    /// The caller is an RCU reader, or serialised with configuration changes (the genetlink
    /// mutex), and keeps the device alive, for as long as it uses the reference.
    pub(crate) unsafe fn config(&self) -> Option<&Config> {
        // SAFETY: a published configuration stays valid until a grace period after it is
        // replaced, which per the caller cannot end while the reference is used.
        unsafe { self.config.load(Ordering::Acquire).as_ref() }
    }

    /// Publishes `config`, waits for readers of the previous one, and frees it.
    ///
    /// # Safety
    /// The caller serialises configuration changes (the genetlink mutex) and may sleep.
    pub(crate) unsafe fn publish(&self, config: KBox<Config>) {
        let old = self.config.swap(KBox::into_raw(config), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: may sleep per the caller; afterwards no reader can still see `old`.
            unsafe { bindings::synchronize_rcu() };
            // SAFETY: `old` came from KBox::into_raw and nobody references it any more.
            drop(unsafe { KBox::from_raw(old) });
        }
    }

    /// Frees the configuration at device teardown (no reader is left then).
    fn release(&self) {
        let old = self.config.swap(ptr::null_mut(), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from KBox::into_raw; the device has no readers any more.
            drop(unsafe { KBox::from_raw(old) });
        }
    }
}

/// The rtnetlink link kind "mapmint". The kernel links it into its list of kinds on
/// registration, hence the interior mutability.
struct LinkOps(UnsafeCell<bindings::rtnl_link_ops>);
// SAFETY: the kernel only writes the ops (its list linkage) under the RTNL while
// registering and unregistering; Rust code never touches them after construction.
unsafe impl Sync for LinkOps {}

static LINK_OPS: LinkOps = LinkOps(UnsafeCell::new(bindings::rtnl_link_ops {
    kind: b"mapmint\0".as_ptr(),
    priv_size: size_of::<Instance>(),
    setup: Some(setup),
    newlink: Some(newlink),
    // SAFETY: every other field is optional; all-zero means "not used".
    ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
}));

/// The registered link kind; unregistering it deletes every mapmint device in every
/// network namespace.
pub(crate) struct LinkKind(());

impl LinkKind {
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: LINK_OPS is a static that outlives the registration, undone in drop.
        let ret = unsafe { bindings::rtnl_link_register(LINK_OPS.0.get()) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(LinkKind(()))
    }

    /// Creates the device `name` in the initial network namespace, as `ip link add NAME
    /// type mapmint` would, configured with `config`.
    pub(crate) fn add_device(&self, name: &CStr, config: Config) -> Result {
        let mtu = config.mtu.map(u32::from);
        if mtu.is_some_and(|mtu| mtu > MAX_MTU) {
            pr_err!("mtu {} is above the device's maximum of {}\n", mtu.unwrap_or(0), MAX_MTU);
            return Err(EINVAL);
        }
        let config = KBox::new(config, GFP_KERNEL)?;
        // SAFETY: `name` is NUL-terminated and `setup` has the signature the kernel expects;
        // one TX and one RX queue, the private area sized for an `Instance`.
        let raw = unsafe {
            bindings::alloc_netdev_mqs(
                size_of::<Instance>() as i32,
                name.as_char_ptr(),
                bindings::NET_NAME_USER as u8,
                Some(setup),
                1,
                1,
            )
        };
        let dev = NonNull::new(raw).ok_or(ENOMEM)?;
        // SAFETY: the device is not registered yet, so its private area is ours alone; setup
        // put an `Instance` there.
        unsafe {
            (*instance_of(dev.as_ptr())).config.store(KBox::into_raw(config), Ordering::Release);
            (*dev.as_ptr()).rtnl_link_ops = LINK_OPS.0.get();
            if let Some(mtu) = mtu {
                (*dev.as_ptr()).mtu = mtu;
            }
        }
        // SAFETY: the device is set up and not registered; register_instance needs the RTNL.
        let ret = unsafe {
            bindings::rtnl_lock();
            let ret = register_instance(dev.as_ptr());
            bindings::rtnl_unlock();
            ret
        };
        if ret < 0 {
            // SAFETY: registration failed, so nothing else holds the device; release is
            // idempotent, for the failures where register_netdevice already ran the destructor.
            unsafe {
                (*instance_of(dev.as_ptr())).release();
                bindings::free_netdev(dev.as_ptr());
            }
            return Err(Error::from_errno(ret));
        }
        Ok(())
    }
}

impl Drop for LinkKind {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; this deletes all devices of the kind and waits
        // for their transmits to finish.
        unsafe { bindings::rtnl_link_unregister(LINK_OPS.0.get()) };
    }
}

/// Whether `dev` is a mapmint device.
///
/// # Safety
/// `dev` is a valid net_device.
pub(crate) unsafe fn is_mapmint(dev: *const bindings::net_device) -> bool {
    // SAFETY: per the caller.
    ptr::eq(unsafe { (*dev).netdev_ops }, &NETDEV_OPS)
}

/// The `Instance` in `dev`'s private area.
///
/// # Safety
/// `dev` is a mapmint device (allocated with `Instance`-sized private area).
pub(crate) unsafe fn instance_of(dev: *mut bindings::net_device) -> *mut Instance {
    // SAFETY: per the caller, the private area is an `Instance`, suitably aligned
    // (netdev private areas are NETDEV_ALIGN-aligned).
    unsafe { bindings::netdev_priv(dev).cast::<Instance>() }
}

/// Called by alloc_netdev_mqs (for the default device and for `ip link add`) on the new,
/// not yet visible device.
unsafe extern "C" fn setup(dev: *mut bindings::net_device) {
    // SAFETY: alloc_netdev_mqs passes a valid device that nothing else references yet,
    // with a private area sized for an `Instance`.
    unsafe {
        instance_of(dev).write(Instance {
            config: AtomicPtr::new(ptr::null_mut()),
            counters: Counters::new(),
            ipv4_ident: AtomicU16::new(0),
            fragments: FragmentCache::new(),
        });
    }
    // SAFETY: as above.
    let dev = unsafe { &mut *dev };
    dev.netdev_ops = &NETDEV_OPS;
    dev.type_ = bindings::ARPHRD_NONE as u16;
    dev.flags = bindings::net_device_flags_IFF_NOARP | bindings::net_device_flags_IFF_POINTOPOINT;
    dev.hard_header_len = 0;
    dev.addr_len = 0;
    dev.mtu = DEFAULT_MTU;
    dev.min_mtu = MIN_MTU;
    dev.max_mtu = MAX_MTU;
    // Room for the longer IPv6 header, so locally sent packets need no reallocation.
    dev.needed_headroom = 40;
    // unregister frees what alloc_netdev_mqs allocated, also for devices that
    // `ip link add` created.
    dev.needs_free_netdev = true;
    dev.priv_destructor = Some(destructor);
    // SAFETY: `dev` is valid (see above). The transmit path answers ICMP errors
    // (icmp_ndo_send), which need the packet's route: the core must not drop it first.
    unsafe { bindings::netif_keep_dst(dev) };
}

/// priv_destructor: runs once the last reference to the device is gone.
unsafe extern "C" fn destructor(dev: *mut bindings::net_device) {
    // SAFETY: the kernel calls this for a mapmint device whose private area is still valid.
    unsafe { (*instance_of(dev)).release() };
}

/// rtnl_link_ops.newlink: `ip link add NAME type mapmint`.
unsafe extern "C" fn newlink(
    _src_net: *mut bindings::net,
    dev: *mut bindings::net_device,
    _tb: *mut *mut bindings::nlattr,
    _data: *mut *mut bindings::nlattr,
    _extack: *mut bindings::netlink_ext_ack,
) -> i32 {
    // SAFETY: rtnetlink calls newlink under the RTNL with a set-up, unregistered device.
    unsafe { register_instance(dev) }
}

/// Registers a set-up mapmint device, the default one and those `ip link add` creates alike.
///
/// # Safety
/// `dev` was allocated with `setup` and is not registered; the caller holds the RTNL, which
/// also keeps anyone from bringing the device up before IPv6 autoconfiguration is off.
unsafe fn register_instance(dev: *mut bindings::net_device) -> i32 {
    // SAFETY: per the caller.
    let ret = unsafe { bindings::register_netdevice(dev) };
    if ret == 0 {
        // SAFETY: registered just now, RTNL held.
        unsafe { disable_ipv6_autoconf(dev) };
    }
    ret
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
    ndo_get_stats64: Some(get_stats64),
    // SAFETY: all other operations are optional; all-zero means "not implemented".
    ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
};

/// ndo_start_xmit: translate, or drop and count.
unsafe extern "C" fn start_xmit(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
) -> bindings::netdev_tx_t {
    // SAFETY: the stack hands us ownership of a valid skb for a valid mapmint device.
    let (skb, instance, mtu) = unsafe { (Skb::from_raw(skb), &*instance_of(dev), (*dev).mtu) };
    let Some(skb) = skb else {
        return bindings::netdev_tx_NETDEV_TX_OK;
    };
    if let Outcome::Dropped = datapath::transmit(instance, mtu, skb) {
        // SAFETY: a valid device.
        unsafe { bindings::dev_core_stats_tx_dropped_inc(dev) };
    }
    bindings::netdev_tx_NETDEV_TX_OK
}

/// ndo_get_stats64: what entered the device and was translated counts as transmitted, what
/// came out of the translator as received (the stack adds its own drop counters).
unsafe extern "C" fn get_stats64(dev: *mut bindings::net_device, stats: *mut bindings::rtnl_link_stats64) {
    // SAFETY: the stack passes a mapmint device and a zeroed stats structure to fill.
    let (counters, stats) = unsafe { (&(*instance_of(dev)).counters, &mut *stats) };
    let translated = counters.translated();
    stats.tx_packets = translated;
    stats.tx_bytes = counters.input_bytes.load(Ordering::Relaxed);
    stats.rx_packets = translated;
    stats.rx_bytes = counters.translated_bytes();
}
