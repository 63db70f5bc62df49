// SPDX-License-Identifier: GPL-2.0
//! Safe views of network namespaces and net_devices (6.12's kernel crate has none): the
//! `unsafe` of reading them, holding references and taking the RTNL lives here, so that the
//! device and the control plane read as safe Rust.

use crate::bindings as b;
use crate::rcu::{PacketContext, RcuReader};
use crate::skb::Skb;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::ControlFlow;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::error::{code::{EBUSY, EINVAL, ENOMEM}, Error, Result};
use kernel::str::CStr;
use kernel::types::{ARef, AlwaysRefCounted, Opaque};

/// include/uapi/linux/xfrm.h: the output and forward directions' indices in a namespace's
/// policy counts and defaults, and the default that lets packets pass.
#[cfg(CONFIG_XFRM)]
const XFRM_POLICY_OUT: usize = 1;
#[cfg(CONFIG_XFRM)]
const XFRM_POLICY_FWD: usize = 2;
#[cfg(CONFIG_XFRM)]
const XFRM_USERPOLICY_ACCEPT: u8 = 2;

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

    /// Whether the namespace has IPsec output policies, or a default that blocks output
    /// (read here, as every packet that leaves asks).
    pub(crate) fn has_ipsec_output_policies(&self) -> bool {
        #[cfg(CONFIG_XFRM)]
        return self.has_ipsec_policies(XFRM_POLICY_OUT);
        #[cfg(not(CONFIG_XFRM))]
        false
    }

    /// Whether the namespace has IPsec forward policies, or a default that blocks forwarding.
    pub(crate) fn has_ipsec_forward_policies(&self) -> bool {
        #[cfg(CONFIG_XFRM)]
        return self.has_ipsec_policies(XFRM_POLICY_FWD);
        #[cfg(not(CONFIG_XFRM))]
        false
    }

    #[cfg(CONFIG_XFRM)]
    fn has_ipsec_policies(&self, direction: usize) -> bool {
        // SAFETY: the namespace is valid (type invariant); the direction's policy count and
        // default are read once each (READ_ONCE), as the kernel's lockless readers do.
        unsafe {
            let xfrm = &raw const (*self.as_raw()).xfrm;
            (&raw const (*xfrm).policy_count[direction]).read_volatile() != 0
                || (&raw const (*xfrm).policy_default[direction]).read_volatile() != XFRM_USERPOLICY_ACCEPT
        }
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
    /// until it breaks; `*next` is then the index of the device it broke on, else one past
    /// the last device. Under the RTNL, which keeps the devices registered meanwhile.
    pub(crate) fn for_each_device_from(
        &self,
        _rtnl: &Rtnl,
        next: &mut usize,
        mut visit: impl FnMut(&NetDevice) -> ControlFlow<()>,
    ) {
        loop {
            // SAFETY: the namespace is valid; xa_find reads dev_by_index under RCU itself and
            // moves `next` to the index of the entry it returns.
            let dev = unsafe { b::xa_find(&raw mut (*self.as_raw()).dev_by_index, next, usize::MAX, XA_PRESENT) };
            if dev.is_null() {
                // Nothing at or after `next`: leave it past the end.
                *next = usize::MAX;
                return;
            }
            // SAFETY: devices leave the table only under the RTNL, which the caller holds
            // while it uses the reference.
            let dev = unsafe { NetDevice::from_raw(dev.cast()) };
            if visit(dev).is_break() {
                return;
            }
            *next += 1;
        }
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

    pub(crate) fn ifindex(&self) -> i32 {
        // SAFETY: a valid device; the index is set at registration and never changes after.
        // One field read, no reference to the device, which other CPUs write.
        unsafe { (&raw const (*self.as_raw()).ifindex).read() }
    }

    /// The name, NUL included. Renames happen under the RTNL, which the caller holds.
    pub(crate) fn name(&self, _rtnl: &Rtnl) -> IfName {
        // SAFETY: a valid device; the name field is written only under the RTNL.
        let name = unsafe { &(*self.as_raw()).name };
        let mut copy = IfName { bytes: [0; IFNAMSIZ], len: 0 };
        copy.len = name.iter().position(|c| *c == 0).map_or(name.len(), |n| n + 1).min(IFNAMSIZ);
        copy.bytes[..copy.len].copy_from_slice(&name[..copy.len]);
        copy
    }

    /// The current MTU (READ_ONCE: dev_set_mtu may change it meanwhile).
    pub(crate) fn mtu(&self) -> u32 {
        // SAFETY: a valid device; an aligned u32 read.
        unsafe { (&raw const (*self.as_raw()).mtu).read_volatile() }
    }

    /// The MTUs the device takes (set up before registration, fixed after).
    pub(crate) fn mtu_range(&self) -> (u32, u32) {
        // SAFETY: a valid device; two field reads.
        unsafe { ((&raw const (*self.as_raw()).min_mtu).read(), (&raw const (*self.as_raw()).max_mtu).read()) }
    }

    /// The device's namespace, which a device does not keep alive: it may move to another
    /// one, and the old one go. Outside this file through `net_rtnl` and `net_rcu`, which
    /// prove the condition.
    ///
    /// # Safety
    /// The caller is an RCU reader or holds the RTNL (a move takes the RTNL, and frees the
    /// old namespace after a grace period) for as long as it uses the reference.
    unsafe fn net(&self) -> &Net {
        // SAFETY: per the caller; dev_net's read of `nd_net` (CONFIG_NET_NS), here rather
        // than called out of line on every packet.
        unsafe { Net::from_raw((&raw const (*self.as_raw()).nd_net.net).read_volatile()) }
    }

    /// The device's namespace, while the RTNL is held (a move takes it).
    pub(crate) fn net_rtnl<'a>(&'a self, _rtnl: &'a Rtnl) -> &'a Net {
        // SAFETY: the RTNL, held for the borrow, keeps the device in its namespace.
        unsafe { self.net() }
    }

    /// The device's namespace, for an RCU reader (the old one of a move is freed after a
    /// grace period).
    pub(crate) fn net_rcu<'a>(&'a self, _reader: &'a RcuReader<'_>) -> &'a Net {
        // SAFETY: an RCU reader for the borrow.
        unsafe { self.net() }
    }

    /// The driver operations, to tell devices of a kind.
    pub(crate) fn ops(&self) -> *const b::net_device_ops {
        // SAFETY: a valid device; set up before registration, fixed after.
        unsafe { (&raw const (*self.as_raw()).netdev_ops).read() }
    }

    /// Counts a packet the driver dropped in `tx_dropped`.
    pub(crate) fn count_tx_dropped(&self) {
        // SAFETY: a valid device.
        unsafe { b::dev_core_stats_tx_dropped_inc(self.as_raw()) };
    }

    /// Whether the stack forwards packets of the family (IPv6 if `ipv6`) received on the
    /// device, as its `forwarding` sysctls say (read under RCU: the device's IPv4 state is
    /// freed after a grace period).
    pub(crate) fn forwards(&self, _reader: &RcuReader<'_>, ipv6: bool) -> bool {
        // SAFETY: a valid device, inside an RCU read-side section.
        unsafe { b::mapmint_forwards(self.as_raw(), ipv6) }
    }

    /// The device's flags (`IFF_*`), read once: they change under the RTNL, and a reader
    /// without it (the packet path) must not tear the read (READ_ONCE).
    fn flags(&self) -> u32 {
        // SAFETY: a valid device; one field read.
        unsafe { (&raw const (*self.as_raw()).flags).read_volatile() }
    }

    /// Whether the device is a loopback device (`IFF_LOOPBACK`, set when it is created).
    pub(crate) fn is_loopback(&self) -> bool {
        self.flags() & b::net_device_flags_IFF_LOOPBACK != 0
    }

    /// Whether the device is a bridge's port (frames received on it are bridged; with
    /// br_netfilter they cross the IP hooks as well, with this device as their input).
    pub(crate) fn is_bridge_port(&self) -> bool {
        // SAFETY: a valid device; one read of the private flags (READ_ONCE, as the kernel's
        // lockless readers do: they change under the RTNL).
        let flags = unsafe { (&raw const (*self.as_raw()).__bindgen_anon_1.__bindgen_anon_1).read_volatile() };
        flags.priv_flags() & b::netdev_priv_flags_IFF_BRIDGE_PORT as usize != 0
    }

    /// Whether the device is up (`IFF_UP`; it changes under the RTNL, which the caller holds).
    pub(crate) fn is_up(&self, _rtnl: &Rtnl) -> bool {
        self.flags() & b::net_device_flags_IFF_UP != 0
    }

    /// Whether the device is up, read on a packet path (`IFF_UP` may change meanwhile, as
    /// the stack's own lockless readers of it allow).
    pub(crate) fn is_up_now(&self, _reader: &RcuReader<'_>) -> bool {
        self.flags() & b::net_device_flags_IFF_UP != 0
    }

    /// Whether the device is registered and up.
    pub(crate) fn is_registered_and_up(&self, rtnl: &Rtnl) -> bool {
        self.is_registered(rtnl) && self.is_up(rtnl)
    }

    /// Whether the device is registered (not being unregistered).
    pub(crate) fn is_registered(&self, _rtnl: &Rtnl) -> bool {
        // SAFETY: a valid device. It becomes or stops being registered only under the RTNL,
        // which the caller holds; netdev_run_todo's later UNREGISTERING -> UNREGISTERED
        // write (WRITE_ONCE, outside the RTNL) does not change the answer.
        let state = unsafe { (&raw const (*self.as_raw()).reg_state).read_volatile() };
        u32::from(state) == b::netdev_reg_state_NETREG_REGISTERED
    }

    /// Gives the device no IPv6 link-local address (addr_gen_mode none), as `ip link set DEV
    /// addrgenmode none` would; for a device registered just now, before it is up.
    pub(crate) fn disable_ipv6_addr_gen(&self, _rtnl: &Rtnl) {
        // SAFETY: the RTNL, held, keeps the device's inet6_dev alive (__in6_dev_get's rule).
        let idev = unsafe { b::__in6_dev_get(self.as_raw()) };
        if idev.is_null() {
            return;
        }
        // SAFETY: as above; addrconf changes this field under the RTNL too, and readers
        // outside it use READ_ONCE: a WRITE_ONCE of one u32 field, no reference to the
        // shared inet6_dev.
        unsafe {
            (&raw mut (*idev).cnf.addr_gen_mode).write_volatile(b::in6_addr_gen_mode_IN6_ADDR_GEN_MODE_NONE as _)
        };
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

/// IFNAMSIZ: a device name with its NUL.
const IFNAMSIZ: usize = 16;

/// A copy of a device's name, NUL included.
pub(crate) struct IfName {
    bytes: [u8; IFNAMSIZ],
    len: usize,
}

impl IfName {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The name without its NUL, printable (`{}` escapes what is not ASCII).
    pub(crate) fn as_bstr(&self) -> &kernel::str::BStr {
        kernel::str::BStr::from_bytes(&self.bytes[..self.len.saturating_sub(1)])
    }
}

/// The RTNL, held until dropped; like the kernel crate's lock guards, neither Send nor Sync
/// (the task that took it unlocks it).
pub(crate) struct Rtnl(PhantomData<*mut ()>);

impl Rtnl {
    /// Takes the RTNL (may sleep).
    pub(crate) fn lock() -> Rtnl {
        // SAFETY: a mutex; callers are in process context, as the kernel crate's sleeping
        // functions assume.
        unsafe { b::rtnl_lock() };
        Rtnl(PhantomData)
    }

    /// The RTNL a callback runs under (rtnl_link_ops.newlink, ...), not unlocked on drop.
    ///
    /// # Safety
    /// The caller holds the RTNL for as long as the value lives.
    pub(crate) unsafe fn assume_held() -> ManuallyDrop<Rtnl> {
        ManuallyDrop::new(Rtnl(PhantomData))
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        // SAFETY: taken in `lock` (`assume_held`'s value is never dropped).
        unsafe { b::rtnl_unlock() };
    }
}

/// A kind of netdevice whose private area holds a `Self`: what the kernel asks of its
/// devices, as safe functions (the C callbacks below call them).
pub(crate) trait Driver: Sized + Sync + 'static {
    /// The operations of this kind's devices ([`DeviceOps::new`], in a static): they tell
    /// its devices from others.
    fn ops() -> &'static DeviceOps;

    /// The private area of a new device (its allocation cannot fail).
    fn new() -> Self;

    /// Initialises, where `new`'s value now lies for good (the private area), what must not
    /// move once initialised (a kernel mutex).
    ///
    /// # Safety
    /// Called once, by the device's setup, before anything else can reach the device.
    unsafe fn placed(&self);

    /// Sets up a new device, which nobody else sees yet.
    fn setup(dev: &mut DeviceSetup<'_>);

    /// ndo_init, during registration: allocates what `new` could not. On an error, the
    /// device is not registered and its private area not released: `init` undoes itself.
    fn init(dev: &Device<Self>) -> Result;

    /// Frees what the private area holds, when the device goes or never made it. May run
    /// more than once.
    ///
    /// # Safety
    /// No packet is in flight on the device, and nobody else can reach it.
    unsafe fn release(&self);

    /// NETDEV_REGISTER: the device was registered (`ip link add`, [`NewDevice::register`]),
    /// or arrived from another namespace; after the IPv6 stack set it up, the RTNL held.
    fn registered(dev: &Device<Self>, rtnl: &Rtnl);

    /// NETDEV_UNREGISTER: the device leaves its namespace, for another one or for good.
    /// Nothing of that namespace may stay referenced (it can be freed while the device lives
    /// on in another), and no packet is in flight (`quiesced`).
    fn unregistering(dev: &Device<Self>, rtnl: &Rtnl, quiesced: &Quiesced);

    /// ndo_open.
    fn open(dev: &Device<Self>, rtnl: &Rtnl) -> Result;

    /// ndo_stop (the device goes down, away, or to another namespace).
    fn stop(dev: &Device<Self>, rtnl: &Rtnl);

    /// ndo_start_xmit: `skb` is the driver's to send on or free.
    fn start_xmit(dev: &Device<Self>, skb: Skb, ctx: &PacketContext<'_>);

    /// ndo_get_stats64: fills `stats`, zeroed.
    fn get_stats64(dev: &Device<Self>, stats: &mut b::rtnl_link_stats64);
}

/// The operations the kernel calls on the devices of a [`Driver`].
#[repr(transparent)]
pub(crate) struct DeviceOps(b::net_device_ops);

impl DeviceOps {
    pub(crate) const fn new<D: Driver>() -> Self {
        DeviceOps(b::net_device_ops {
            ndo_init: Some(init::<D>),
            ndo_open: Some(open::<D>),
            ndo_stop: Some(stop::<D>),
            ndo_start_xmit: Some(start_xmit::<D>),
            ndo_get_stats64: Some(get_stats64::<D>),
            // SAFETY: all other operations are optional; all-zero means "not implemented".
            ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
        })
    }
}

/// A device of the driver `D`: a net_device whose private area holds a `D`.
#[repr(transparent)]
pub(crate) struct Device<D: Driver>(NetDevice, PhantomData<D>);

impl<D: Driver> Device<D> {
    /// `dev`, if it is a device of this driver.
    pub(crate) fn of(dev: &NetDevice) -> Option<&Device<D>> {
        // `setup` gives a device these operations after it put a `D` in its private area.
        core::ptr::eq(dev.ops(), &D::ops().0).then(|| {
            // SAFETY: a transparent wrapper of a device of this driver (see above).
            unsafe { &*core::ptr::from_ref(dev).cast::<Device<D>>() }
        })
    }

    /// # Safety
    /// `dev` is a device of this driver, valid for `'a`.
    unsafe fn from_raw<'a>(dev: *mut b::net_device) -> &'a Device<D> {
        // SAFETY: per the caller; a transparent wrapper.
        unsafe { &*dev.cast::<Device<D>>() }
    }

    /// The private area.
    pub(crate) fn private(&self) -> &D {
        // SAFETY: the private area of a device of this driver is a `D` (see `setup`),
        // released only once the device is gone; netdev private areas are aligned for it
        // (NETDEV_ALIGN, checked in LinkKind::new).
        unsafe { &*private_area(self.as_raw()).cast::<D>() }
    }
}

impl<D: Driver> core::ops::Deref for Device<D> {
    type Target = NetDevice;

    fn deref(&self) -> &NetDevice {
        &self.0
    }
}

// SAFETY: the reference count is the net_device's.
unsafe impl<D: Driver> AlwaysRefCounted for Device<D> {
    fn inc_ref(&self) {
        self.0.inc_ref();
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: per the caller; a transparent wrapper.
        unsafe { NetDevice::dec_ref(obj.cast()) };
    }
}

/// A new device in its setup: what a [`Driver`] may set before anyone sees it.
pub(crate) struct DeviceSetup<'a>(&'a mut b::net_device);

impl DeviceSetup<'_> {
    /// A layer-3 point-to-point device: no link-layer header or address, no ARP.
    pub(crate) fn set_layer3(&mut self) {
        let dev = &mut *self.0;
        dev.type_ = b::ARPHRD_NONE as u16;
        dev.flags = b::net_device_flags_IFF_NOARP | b::net_device_flags_IFF_POINTOPOINT;
        dev.hard_header_len = 0;
        dev.addr_len = 0;
    }

    /// The MTU, and the range `ip link set DEV mtu` may set.
    pub(crate) fn set_mtu(&mut self, mtu: u32, min: u32, max: u32) {
        (self.0.mtu, self.0.min_mtu, self.0.max_mtu) = (mtu, min, max);
    }

    /// Headroom the stack leaves in front of the packets it builds for the device.
    pub(crate) fn set_needed_headroom(&mut self, bytes: u16) {
        self.0.needed_headroom = bytes;
    }

    /// The offloads the device takes (NETIF_F_* bits), also for encapsulated packets.
    pub(crate) fn set_features(&mut self, features: u64) {
        self.0.features = features;
        self.0.hw_features = features;
        self.0.hw_enc_features = features;
    }

    /// A transmit path that takes no lock and needs no queue in front: no qdisc, no TX lock
    /// (LLTX), any number of TX queues.
    pub(crate) fn set_lockless_without_queue(&mut self) {
        self.fast_flags().set_lltx(1);
        self.add_priv_flags(b::netdev_priv_flags_IFF_NO_QUEUE);
    }

    /// No netpoll (netconsole) through the device: netpoll calls the transmit path with
    /// interrupts off, where a packet sent on through the stack (ip_local_out, GRO cells)
    /// cannot go, as veth's cannot.
    pub(crate) fn refuse_netpoll(&mut self) {
        self.add_priv_flags(b::netdev_priv_flags_IFF_DISABLE_NETPOLL);
    }

    fn add_priv_flags(&mut self, flags: b::netdev_priv_flags) {
        let fast_flags = self.fast_flags();
        fast_flags.set_priv_flags(fast_flags.priv_flags() | flags as usize);
    }

    /// The bit fields of the device's hot-path group (`priv_flags_fast`).
    fn fast_flags(&mut self) -> &mut b::net_device__bindgen_ty_1__bindgen_ty_1 {
        // SAFETY: struct_group's union: both members name the same bits.
        unsafe { &mut self.0.__bindgen_anon_1.__bindgen_anon_1 }
    }

    /// Packets keep their route into the transmit path (netif_keep_dst).
    pub(crate) fn keep_routes(&mut self) {
        // SAFETY: a device in its setup, ours alone.
        unsafe { b::netif_keep_dst(&raw mut *self.0) };
    }
}

/// The device's private area: netdev_priv, where its `priv` field starts (computed here
/// rather than called out of line on every packet).
///
/// # Safety
/// `dev` is a valid device.
unsafe fn private_area(dev: *mut b::net_device) -> *mut u8 {
    // SAFETY: per the caller; the address of a field, nothing read.
    unsafe { (&raw mut (*dev).priv_).cast::<u8>() }
}

/// Called by alloc_netdev_mqs (for a device of `alloc_device` and of `ip link add`) on the
/// new, not yet visible device.
unsafe extern "C" fn setup<D: Driver>(dev: *mut b::net_device) {
    // SAFETY: alloc_netdev_mqs passes a valid device that nothing else references yet, with
    // a private area of LinkKind::<D>'s priv_size, aligned for a `D` (LinkKind::new).
    unsafe { b::netdev_priv(dev).cast::<D>().write(D::new()) };
    // SAFETY: just written, in the private area that holds it until the destructor; the
    // device is not visible yet.
    unsafe { (*b::netdev_priv(dev).cast::<D>()).placed() };
    // SAFETY: as above.
    let dev = unsafe { &mut *dev };
    dev.netdev_ops = &D::ops().0;
    // unregister frees what alloc_netdev_mqs allocated, also for devices that `ip link
    // add` created, after the destructor released the private area.
    dev.needs_free_netdev = true;
    dev.priv_destructor = Some(destructor::<D>);
    D::setup(&mut DeviceSetup(dev));
}

/// priv_destructor: runs once the last reference to the device is gone, or when its
/// registration failed after ndo_init.
unsafe extern "C" fn destructor<D: Driver>(dev: *mut b::net_device) {
    // SAFETY: the kernel calls this for a device of this driver whose private area is still
    // valid, with no packet in flight and nobody else holding it.
    unsafe { (*b::netdev_priv(dev).cast::<D>()).release() };
}

/// rtnl_link_ops.newlink: `ip link add NAME type KIND`.
unsafe extern "C" fn newlink<D: Driver>(
    _src_net: *mut b::net,
    dev: *mut b::net_device,
    _tb: *mut *mut b::nlattr,
    _data: *mut *mut b::nlattr,
    _extack: *mut b::netlink_ext_ack,
) -> i32 {
    // SAFETY: rtnetlink calls newlink under the RTNL, with a device set up by `setup::<D>`
    // and not registered; on an error it frees the device itself. (The kind's notifier calls
    // `D::registered` from within.)
    let ret = unsafe { b::register_netdevice(dev) };
    // Not a tail call: this frame stays on the stack while the device registers, so that what
    // registering allocates for a device of this driver is under the module's code (where the
    // faults scenario's failslab filter makes allocations fail).
    core::hint::black_box(ret)
}

/// ndo_init.
unsafe extern "C" fn init<D: Driver>(dev: *mut b::net_device) -> i32 {
    // The packet path finds the private area by the bindings' layout of a net_device
    // (`private_area`); setup and the destructor ask the kernel (netdev_priv). A device
    // they disagree on is refused before anything reads its area the first way.
    // SAFETY: a valid device.
    if unsafe { private_area(dev) != b::netdev_priv(dev).cast::<u8>() } {
        return EINVAL.to_errno();
    }
    // SAFETY: called during registration for a device set up by `setup::<D>`.
    match D::init(unsafe { Device::<D>::from_raw(dev) }) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// ndo_open.
unsafe extern "C" fn open<D: Driver>(dev: *mut b::net_device) -> i32 {
    // SAFETY: dev_open calls this under the RTNL for a registered device of this driver.
    let (dev, rtnl) = unsafe { (Device::<D>::from_raw(dev), Rtnl::assume_held()) };
    match D::open(dev, &rtnl) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// ndo_stop.
unsafe extern "C" fn stop<D: Driver>(dev: *mut b::net_device) -> i32 {
    // SAFETY: dev_close calls this under the RTNL for a registered device of this driver.
    let (dev, rtnl) = unsafe { (Device::<D>::from_raw(dev), Rtnl::assume_held()) };
    D::stop(dev, &rtnl);
    0
}

/// ndo_start_xmit.
unsafe extern "C" fn start_xmit<D: Driver>(skb: *mut b::sk_buff, dev: *mut b::net_device) -> b::netdev_tx_t {
    // SAFETY: the stack hands over a valid skb for a valid device of this driver, on its
    // transmit path: an RCU reader with bottom halves off (__dev_queue_xmit's
    // rcu_read_lock_bh, or __dev_direct_xmit's local_bh_disable).
    let (skb, dev, ctx) = unsafe { (Skb::from_raw(skb), Device::<D>::from_raw(dev), PacketContext::assume()) };
    if let Some(skb) = skb {
        D::start_xmit(dev, skb, &ctx);
    }
    b::netdev_tx_NETDEV_TX_OK
}

/// ndo_get_stats64.
unsafe extern "C" fn get_stats64<D: Driver>(dev: *mut b::net_device, stats: *mut b::rtnl_link_stats64) {
    // SAFETY: the stack passes a device of this driver and a zeroed structure to fill.
    let (dev, stats) = unsafe { (Device::<D>::from_raw(dev), &mut *stats) };
    D::get_stats64(dev, stats);
}

/// NETDEV_ALIGN: how netdev_priv aligns a private area.
const NETDEV_ALIGN: usize = 32;

/// An rtnetlink link kind, for `ip link add NAME type KIND`, whose devices are of the driver
/// `D`. The kernel links it into its list of kinds on registration, hence the interior
/// mutability.
pub(crate) struct LinkKind<D: Driver> {
    ops: UnsafeCell<b::rtnl_link_ops>,
    /// Tells the driver of its devices' registrations and unregistrations, namespace moves
    /// included (no device operation sees those).
    notifier: UnsafeCell<b::notifier_block>,
    /// Registered (once only: the notifier chain would warn about a second registration).
    claimed: AtomicBool,
    _driver: PhantomData<D>,
}
// SAFETY: the kernel writes the ops and the notifier block (their list linkage) under the
// RTNL while registering and unregistering them; Rust code never reads or writes them after
// construction.
unsafe impl<D: Driver> Sync for LinkKind<D> {}

/// Proof that a device is down, out of its namespace's list of devices, and that a grace
/// period has passed since (what the kernel guarantees at NETDEV_UNREGISTER, on a namespace
/// move as on unregistration): no packet is in flight on it, and none can start.
pub(crate) struct Quiesced(());

/// The kind's netdevice notifier, for every device of every namespace: acts on this kind's.
unsafe extern "C" fn device_event<D: Driver>(
    _block: *mut b::notifier_block,
    event: kernel::ffi::c_ulong,
    info: *mut kernel::ffi::c_void,
) -> kernel::ffi::c_int {
    let done = b::NOTIFY_DONE as kernel::ffi::c_int;
    let (registered, unregistering) =
        (b::netdev_cmd_NETDEV_REGISTER as kernel::ffi::c_ulong, b::netdev_cmd_NETDEV_UNREGISTER as kernel::ffi::c_ulong);
    if event != registered && event != unregistering {
        return done;
    }
    // SAFETY: netdevice events come with a netdev_notifier_info naming a valid device, under
    // the RTNL (call_netdevice_notifiers asserts it).
    let (dev, rtnl) = unsafe { (NetDevice::from_raw((*info.cast::<b::netdev_notifier_info>()).dev), Rtnl::assume_held()) };
    let Some(dev) = Device::<D>::of(dev) else {
        return done;
    };
    if event == registered {
        D::registered(dev, &rtnl);
    } else {
        // NETDEV_UNREGISTER of a device of this kind comes after dev_close, unlist_netdevice
        // and synchronize_net (unregister_netdevice_many_notify, __dev_change_net_namespace,
        // and netdev_run_todo's repeats for a device already gone). The kind's unregistration
        // also replays it for listed devices, but only once none of this kind is left.
        D::unregistering(dev, &rtnl, &Quiesced(()));
    }
    done
}

/// The notifier's priority: after addrconf's (ADDRCONF_NOTIFY_PRIORITY, 0), which sets up a
/// registered device's IPv6 state that `registered` may change.
const NOTIFIER_PRIORITY: i32 = -1;

impl<D: Driver> LinkKind<D> {
    /// The kind `kind`.
    pub(crate) const fn new(kind: &'static CStr) -> Self {
        assert!(core::mem::align_of::<D>() <= NETDEV_ALIGN);
        LinkKind {
            ops: UnsafeCell::new(b::rtnl_link_ops {
                kind: kind.as_char_ptr().cast(),
                priv_size: core::mem::size_of::<D>(),
                setup: Some(setup::<D>),
                newlink: Some(newlink::<D>),
                // SAFETY: every other field is optional; all-zero means "not used".
                ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
            }),
            notifier: UnsafeCell::new(b::notifier_block {
                notifier_call: Some(device_event::<D>),
                next: core::ptr::null_mut(),
                priority: NOTIFIER_PRIORITY,
            }),
            claimed: AtomicBool::new(false),
            _driver: PhantomData,
        }
    }

    fn as_raw(&self) -> *mut b::rtnl_link_ops {
        self.ops.get()
    }

    /// Registers the kind and its notifier; unregistering them (on drop) deletes every device
    /// of the kind in every namespace. Once only: EBUSY after that.
    pub(crate) fn register(&'static self) -> Result<LinkKindRegistration<D>> {
        if self.claimed.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        // SAFETY: a static that outlives the registration, undone in drop or below, and
        // registered by this call alone (claimed above). No device of the kind exists yet: the
        // events the registration replays for existing devices are not ours.
        let ret = unsafe { b::register_netdevice_notifier(self.notifier.get()) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        // SAFETY: as above. Another kind of the same name is refused by the kernel (EEXIST).
        let ret = unsafe { b::rtnl_link_register(self.as_raw()) };
        if ret < 0 {
            // SAFETY: registered above.
            unsafe { b::unregister_netdevice_notifier(self.notifier.get()) };
            return Err(Error::from_errno(ret));
        }
        Ok(LinkKindRegistration(self))
    }
}

/// A registered link kind, unregistered on drop.
pub(crate) struct LinkKindRegistration<D: Driver>(&'static LinkKind<D>);

impl<D: Driver> LinkKindRegistration<D> {
    /// Allocates a device `name` of this kind, with one TX and one RX queue, set up by the
    /// driver, not registered.
    pub(crate) fn alloc_device(&self, name: &CStr) -> Result<NewDevice<D>> {
        // SAFETY: `name` is NUL-terminated; the private area is sized for a `D`, which
        // `setup::<D>` puts there.
        let raw = unsafe {
            b::alloc_netdev_mqs(
                core::mem::size_of::<D>() as i32,
                name.as_char_ptr(),
                b::NET_NAME_USER as u8,
                Some(setup::<D>),
                1,
                1,
            )
        };
        let dev = NewDevice(NonNull::new(raw).ok_or(ENOMEM)?, PhantomData);
        // SAFETY: allocated just now, ours alone: as `ip link add` does, the device
        // belongs to its kind (the kind's unregistration deletes it).
        unsafe { (*dev.as_raw()).rtnl_link_ops = self.0.as_raw() };
        Ok(dev)
    }
}

impl<D: Driver> Drop for LinkKindRegistration<D> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; this deletes all devices of the kind and waits
        // for their transmits to finish. Then the notifier goes: what it replays for the
        // devices left (as if they went) concerns none of this kind.
        unsafe {
            b::rtnl_link_unregister(self.0.as_raw());
            b::unregister_netdevice_notifier(self.0.notifier.get());
        }
    }
}

/// A device allocated and set up, not registered: ours alone. Released and freed on drop.
pub(crate) struct NewDevice<D: Driver>(NonNull<b::net_device>, PhantomData<D>);

impl<D: Driver> NewDevice<D> {
    fn as_raw(&self) -> *mut b::net_device {
        self.0.as_ptr()
    }

    /// The device, to read and to set up its private area.
    pub(crate) fn device(&self) -> &Device<D> {
        // SAFETY: a device of this driver (alloc_device), valid until freed in drop.
        unsafe { Device::from_raw(self.as_raw()) }
    }

    /// Sets the MTU before registration.
    pub(crate) fn set_initial_mtu(&mut self, mtu: u32) {
        // SAFETY: not registered: nothing else reads the device yet.
        unsafe { (*self.as_raw()).mtu = mtu };
    }

    /// register_netdevice (the driver's `registered` runs within), as for `ip link add`: the
    /// device becomes the kernel's, which releases and frees it once it is unregistered, or it
    /// comes back with the error.
    pub(crate) fn register<'r>(self, _rtnl: &'r Rtnl) -> core::result::Result<&'r Device<D>, (Error, NewDevice<D>)> {
        // SAFETY: set up and not registered; the RTNL is held.
        let ret = unsafe { b::register_netdevice(self.as_raw()) };
        if ret < 0 {
            return Err((Error::from_errno(ret), self));
        }
        let dev = core::mem::ManuallyDrop::new(self);
        // SAFETY: registered: the kernel frees it, not before it is unregistered, which
        // needs the RTNL that the caller holds for `'r`.
        Ok(unsafe { Device::from_raw(dev.as_raw()) })
    }
}

impl<D: Driver> Drop for NewDevice<D> {
    fn drop(&mut self) {
        // SAFETY: never registered, or its registration failed: no packet was ever in flight
        // and nobody else holds it. Release may run twice (when register_netdevice ran the
        // destructor before it failed). Then the device is ours to free (free_netdev runs
        // no destructor).
        unsafe {
            self.device().private().release();
            b::free_netdev(self.as_raw());
        }
    }
}
