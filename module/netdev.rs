// SPDX-License-Identifier: GPL-2.0
//! Safe views of network namespaces and net_devices (6.12's kernel crate has none): the
//! `unsafe` of reading them, holding references and taking the RTNL lives here, so that the
//! device and the control plane read as safe Rust.

use crate::bindings as b;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::ControlFlow;
use core::ptr::NonNull;
use kernel::error::{code::ENOMEM, Error, Result};
use kernel::str::CStr;
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
    /// one, and the old one go.
    ///
    /// # Safety
    /// The caller is an RCU reader or holds the RTNL (a move takes the RTNL, and frees the
    /// old namespace after a grace period) for as long as it uses the reference.
    pub(crate) unsafe fn net(&self) -> &Net {
        // SAFETY: per the caller.
        unsafe { Net::from_raw(b::dev_net(self.as_raw())) }
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
    /// device, as its `forwarding` sysctls say.
    ///
    /// # Safety
    /// The caller is an RCU reader (the device's IPv4 state is freed after a grace period).
    pub(crate) unsafe fn forwards(&self, ipv6: bool) -> bool {
        // SAFETY: a valid device, per the caller inside an RCU read-side section.
        unsafe { b::mapmint_forwards(self.as_raw(), ipv6) }
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
        // SAFETY: a valid device; one field read.
        let flags = unsafe { (&raw const (*self.as_raw()).flags).read_volatile() };
        flags & b::net_device_flags_IFF_UP != 0
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

/// The C signature of rtnl_link_ops.setup (and alloc_netdev's setup).
pub(crate) type RawSetup = unsafe extern "C" fn(*mut b::net_device);
/// The C signature of rtnl_link_ops.newlink.
pub(crate) type RawNewlink = unsafe extern "C" fn(
    *mut b::net,
    *mut b::net_device,
    *mut *mut b::nlattr,
    *mut *mut b::nlattr,
    *mut b::netlink_ext_ack,
) -> i32;

/// An rtnetlink link kind, for `ip link add NAME type KIND`. The kernel links it into its
/// list of kinds on registration, hence the interior mutability.
pub(crate) struct LinkKind {
    ops: UnsafeCell<b::rtnl_link_ops>,
    /// What the ops hold too, for allocations (the ops are the kernel's once registered).
    priv_size: usize,
    setup: RawSetup,
}
// SAFETY: the kernel writes the ops (their list linkage) under the RTNL while registering and
// unregistering kinds; Rust code never reads or writes them after construction.
unsafe impl Sync for LinkKind {}

impl LinkKind {
    /// The kind `kind`, whose devices have a private area of `priv_size` bytes, set up by
    /// `setup`, and are registered by `newlink`.
    pub(crate) const fn new(kind: &'static CStr, priv_size: usize, setup: RawSetup, newlink: RawNewlink) -> Self {
        LinkKind {
            ops: UnsafeCell::new(b::rtnl_link_ops {
                kind: kind.as_char_ptr().cast(),
                priv_size,
                setup: Some(setup),
                newlink: Some(newlink),
                // SAFETY: every other field is optional; all-zero means "not used".
                ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
            }),
            priv_size,
            setup,
        }
    }

    fn as_raw(&self) -> *mut b::rtnl_link_ops {
        self.ops.get()
    }

    /// Registers the kind; unregistering it (on drop) deletes every device of the kind in
    /// every namespace.
    pub(crate) fn register(&'static self) -> Result<LinkKindRegistration> {
        // SAFETY: a static that outlives the registration, undone in drop. A second
        // registration of the same ops is refused by the kernel (EEXIST: same kind name).
        let ret = unsafe { b::rtnl_link_register(self.as_raw()) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(LinkKindRegistration(self))
    }
}

/// A registered link kind, unregistered on drop.
pub(crate) struct LinkKindRegistration(&'static LinkKind);

impl LinkKindRegistration {
    /// Allocates a device `name` of this kind, with one TX and one RX queue, set up by the
    /// kind's setup, not registered.
    pub(crate) fn alloc_device(&self, name: &CStr) -> Result<NewDevice> {
        let kind = self.0;
        // SAFETY: `name` is NUL-terminated and `setup` has the signature the kernel expects.
        let raw = unsafe {
            b::alloc_netdev_mqs(kind.priv_size as i32, name.as_char_ptr(), b::NET_NAME_USER as u8, Some(kind.setup), 1, 1)
        };
        let dev = NewDevice(NonNull::new(raw).ok_or(ENOMEM)?);
        // SAFETY: allocated just now, ours alone: as `ip link add` does, the device
        // belongs to its kind (the kind's unregistration deletes it).
        unsafe { (*dev.as_raw()).rtnl_link_ops = self.0.as_raw() };
        Ok(dev)
    }
}

impl Drop for LinkKindRegistration {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; this deletes all devices of the kind and waits
        // for their transmits to finish.
        unsafe { b::rtnl_link_unregister(self.0.as_raw()) };
    }
}

/// A device allocated and set up, not registered: ours alone. Freed on drop.
pub(crate) struct NewDevice(NonNull<b::net_device>);

impl NewDevice {
    pub(crate) fn as_raw(&self) -> *mut b::net_device {
        self.0.as_ptr()
    }

    /// The device, to read.
    pub(crate) fn device(&self) -> &NetDevice {
        // SAFETY: valid until freed in drop.
        unsafe { NetDevice::from_raw(self.as_raw()) }
    }

    /// Sets the MTU before registration.
    pub(crate) fn set_initial_mtu(&mut self, mtu: u32) {
        // SAFETY: not registered: nothing else reads the device yet.
        unsafe { (*self.as_raw()).mtu = mtu };
    }

    /// register_netdevice: the device becomes the kernel's, which frees it once it is
    /// unregistered (the setup must have set `needs_free_netdev`), or it comes back with the
    /// error.
    pub(crate) fn register<'r>(self, _rtnl: &'r Rtnl) -> core::result::Result<&'r NetDevice, (Error, NewDevice)> {
        // SAFETY: not registered: ours to read.
        if !unsafe { (*self.as_raw()).needs_free_netdev } {
            return Err((kernel::error::code::EINVAL, self));
        }
        // SAFETY: set up and not registered; the RTNL is held.
        let ret = unsafe { b::register_netdevice(self.as_raw()) };
        if ret < 0 {
            return Err((Error::from_errno(ret), self));
        }
        let dev = core::mem::ManuallyDrop::new(self);
        // SAFETY: registered: the kernel frees it, not before it is unregistered, which
        // needs the RTNL that the caller holds for `'r`.
        Ok(unsafe { NetDevice::from_raw(dev.as_raw()) })
    }
}

impl Drop for NewDevice {
    fn drop(&mut self) {
        // SAFETY: allocated by alloc_netdev_mqs and never registered (or its registration
        // failed): ours to free.
        unsafe { b::free_netdev(self.as_raw()) };
    }
}
