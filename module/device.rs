// SPDX-License-Identifier: GPL-2.0
//! The `mapmint` netdevices: L3 devices without link-layer header that IPv4 and IPv6
//! routes point at. Each one is an instance with its own configuration. They are an
//! rtnetlink link kind, so `ip link add NAME type mapmint` creates more in any network
//! namespace, `ip link del` and namespace teardown remove them, and unloading the module
//! removes them all. The transmit path is `datapath`; the per-device state is `instance`.

use crate::bindings;
use crate::datapath;
use crate::instance::{fmr_table, Instance, TableVec};
use crate::mapcore::config::Config;
use crate::mapcore::domain::Derived;
use crate::mapcore::index::RuleIndex;
use crate::mapcore::rule::Rule;
use crate::netdev::{LinkKind, LinkKindRegistration, NetDevice, Rtnl};
use crate::netfilter;
use crate::skb::Skb;
use core::mem::size_of;
use core::ops::Deref;
use core::ptr::{self, NonNull};
use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::c_str;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::AlwaysRefCounted;

/// The default MTU, the largest packet on either side of the device: a 1500-byte IPv6 access
/// link. Full-size IPv4 packets get Fragmentation Needed with the MTU that fits after
/// translation (1480 for MAP-T, 1460 for MAP-E), so TCP settles on the right size by itself.
const DEFAULT_MTU: u32 = 1500;
/// IPv6 disables itself on a device below its minimum link MTU (RFC 8200 §5).
const MIN_MTU: u32 = 1280;
/// An IPv4 packet of this size still fits the 16-bit IPv6 payload length after MAP-E.
const MAX_MTU: u32 = 65535 - 40;

/// What the device takes: scatter-gather, any checksum offload, TCP and UDP segmentation
/// of either family, and IPv4-in-IPv6 tunnel segmentation (MAP-E at a BR).
const OFFLOADS: [u32; 9] = [
    bindings::NETIF_F_SG_BIT,
    bindings::NETIF_F_HW_CSUM_BIT,
    bindings::NETIF_F_HIGHDMA_BIT,
    bindings::NETIF_F_TSO_BIT,
    bindings::NETIF_F_TSO6_BIT,
    bindings::NETIF_F_TSO_ECN_BIT,
    bindings::NETIF_F_TSO_MANGLEID_BIT,
    bindings::NETIF_F_GSO_UDP_L4_BIT,
    bindings::NETIF_F_GSO_IPXIP6_BIT,
];

/// The rtnetlink link kind "mapmint".
static LINK_KIND: LinkKind = LinkKind::new(c_str!("mapmint"), size_of::<Instance>(), setup, newlink);

/// Registers the link kind; dropping the registration deletes every mapmint device in every
/// network namespace.
pub(crate) fn register() -> Result<LinkKindRegistration> {
    LINK_KIND.register()
}

/// Creates the device `name` in the initial network namespace, as `ip link add NAME type
/// mapmint` would, configured with `config` and the FMR `fmr`.
pub(crate) fn add_device(kind: &LinkKindRegistration, name: &CStr, config: Config, fmr: Option<Rule>) -> Result {
    let mtu = config.mtu.map(u32::from);
    if mtu.is_some_and(|mtu| mtu > MAX_MTU) {
        pr_err!("mtu {} is above the device's maximum of {}\n", mtu.unwrap_or(0), MAX_MTU);
        return Err(EINVAL);
    }
    let config = KBox::new(config, GFP_KERNEL)?;
    let mut rules = TableVec::new();
    if let Some(rule) = fmr {
        rules.push(rule, GFP_KERNEL)?;
    }
    let fmrs = fmr_table(rules).map_err(|_| ENOMEM)?;
    let mut new = kind.alloc_device(name)?;
    // setup made it a mapmint device; not registered yet, so nobody else sees it.
    let instance = MapmintDevice::of(new.device()).ok_or(EINVAL)?.instance();
    instance.set_initial_config(config, fmrs)?;
    if let Some(mtu) = mtu {
        new.set_initial_mtu(mtu);
    }
    let rtnl = Rtnl::lock();
    match new.register(&rtnl) {
        Ok(dev) => {
            after_register(dev, &rtnl);
            Ok(())
        }
        Err((e, new)) => {
            drop(rtnl);
            // SAFETY: registration failed, so no packet is in flight; release is idempotent,
            // for the failures where register_netdevice already ran the destructor.
            unsafe { MapmintDevice::of(new.device()).ok_or(EINVAL)?.instance().release() };
            Err(e)
        }
    }
}

/// A mapmint device: a net_device whose private area holds an `Instance`.
#[repr(transparent)]
pub(crate) struct MapmintDevice(NetDevice);

impl MapmintDevice {
    /// `dev`, if it is a mapmint device.
    pub(crate) fn of(dev: &NetDevice) -> Option<&MapmintDevice> {
        // `setup` gives a device these operations after it put an Instance in its private area.
        ptr::eq(dev.ops(), &NETDEV_OPS).then(|| {
            // SAFETY: a transparent wrapper of a mapmint device (see above).
            unsafe { &*ptr::from_ref(dev).cast::<MapmintDevice>() }
        })
    }

    /// # Safety
    /// `dev` is a mapmint device, valid for `'a`.
    unsafe fn from_raw<'a>(dev: *mut bindings::net_device) -> &'a MapmintDevice {
        // SAFETY: per the caller; a transparent wrapper.
        unsafe { &*dev.cast::<MapmintDevice>() }
    }

    /// The device's state.
    pub(crate) fn instance(&self) -> &Instance {
        // SAFETY: the private area of a mapmint device is an Instance (see `setup`), released
        // only by the destructor, after the last reference and RCU reader are gone.
        unsafe { &*instance_of(self.0.as_raw()) }
    }
}

impl Deref for MapmintDevice {
    type Target = NetDevice;

    fn deref(&self) -> &NetDevice {
        &self.0
    }
}

// SAFETY: the reference count is the net_device's.
unsafe impl AlwaysRefCounted for MapmintDevice {
    fn inc_ref(&self) {
        self.0.inc_ref();
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: per the caller; a transparent wrapper.
        unsafe { NetDevice::dec_ref(obj.cast()) };
    }
}

/// The `Instance` in `dev`'s private area.
///
/// # Safety
/// `dev` is a mapmint device (allocated with `Instance`-sized private area).
unsafe fn instance_of(dev: *mut bindings::net_device) -> *mut Instance {
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
        instance_of(dev).write(Instance::new());
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
    // GSO super-packets and checksum offload cross the translator whole (see datapath):
    // the stack need not segment or checksum before handing packets over.
    let features = OFFLOADS.iter().fold(0u64, |features, bit| features | 1u64 << bit);
    dev.features = features;
    dev.hw_features = features;
    dev.hw_enc_features = features;
    // unregister frees what alloc_netdev_mqs allocated, also for devices that
    // `ip link add` created.
    dev.needs_free_netdev = true;
    dev.priv_destructor = Some(destructor);
    // The transmit path takes no lock of its own (per-CPU counters, an atomic fragment
    // cache) and needs no queue in front: no qdisc, no TX lock, any number of TX queues.
    // SAFETY: struct_group's union: both members name the same bits.
    let fast_flags = unsafe { &mut dev.__bindgen_anon_1.__bindgen_anon_1 };
    fast_flags.set_lltx(1);
    fast_flags.set_priv_flags(fast_flags.priv_flags() | bindings::netdev_priv_flags_IFF_NO_QUEUE as usize);
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
    unsafe { register_instance(dev, &Rtnl::assume_held()) }
}

/// Registers a set-up mapmint device that `ip link add` created.
///
/// # Safety
/// `dev` was allocated with `setup` and is not registered; the RTNL is held.
unsafe fn register_instance(dev: *mut bindings::net_device, rtnl: &Rtnl) -> i32 {
    // SAFETY: per the caller.
    let ret = unsafe { bindings::register_netdevice(dev) };
    if ret == 0 {
        // SAFETY: registered just now, so valid while the RTNL is held.
        after_register(unsafe { NetDevice::from_raw(dev) }, rtnl);
    }
    ret
}

/// What a registered device needs before it can be brought up, which the RTNL, held, keeps
/// anyone from doing meanwhile. A translator has no use for an IPv6 link-local address: with
/// one, the stack would send router solicitations into the device, where they could only be
/// dropped. An administrator can still ask for one with `ip link set DEV addrgenmode random`.
fn after_register(dev: &NetDevice, rtnl: &Rtnl) {
    dev.disable_ipv6_addr_gen(rtnl);
}

/// ndo_init: allocates the per-CPU state (register_netdevice fails cleanly if it cannot).
unsafe extern "C" fn init(dev: *mut bindings::net_device) -> i32 {
    // SAFETY: called for a set-up mapmint device during registration.
    match unsafe { (*instance_of(dev)).init(dev) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

static NETDEV_OPS: bindings::net_device_ops = bindings::net_device_ops {
    ndo_init: Some(init),
    ndo_open: Some(open),
    ndo_stop: Some(stop),
    ndo_start_xmit: Some(start_xmit),
    ndo_get_stats64: Some(get_stats64),
    // SAFETY: all other operations are optional; all-zero means "not implemented".
    ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
};

/// ndo_open: the device comes up; with translate-on-receive, it takes its packets at
/// receipt from now on.
unsafe extern "C" fn open(dev: *mut bindings::net_device) -> i32 {
    // SAFETY: dev_open calls this under the RTNL for a registered mapmint device.
    let (dev, rtnl) = unsafe { (MapmintDevice::from_raw(dev), Rtnl::assume_held()) };
    match dev.update_prerouting_hook(&rtnl, true) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// ndo_stop: the device goes down (or away, or to another namespace, which it leaves down).
unsafe extern "C" fn stop(dev: *mut bindings::net_device) -> i32 {
    // SAFETY: dev_close calls this under the RTNL for a registered mapmint device.
    let (dev, rtnl) = unsafe { (MapmintDevice::from_raw(dev), Rtnl::assume_held()) };
    // Taking the hook out cannot fail.
    let _ = dev.update_prerouting_hook(&rtnl, false);
    0
}

impl MapmintDevice {
    /// Registers or unregisters the instance's PREROUTING hook to match its state: hooked
    /// while the device is `up` and its configuration asks for translate-on-receive, in the
    /// device's namespace (a move to another one takes the device down first).
    pub(crate) fn update_prerouting_hook(&self, rtnl: &Rtnl, up: bool) -> Result {
        let instance = self.instance();
        let hook = &instance.prerouting;
        let wanted = up && instance.translates_on_receive();
        if wanted == hook.is_registered(rtnl) {
            return Ok(());
        }
        if !wanted {
            hook.unregister(rtnl);
            return Ok(());
        }
        // SAFETY: the RTNL, held, keeps the device in its namespace (net()). The hook lives in the
        // device's private area and calls back into the device: it is unregistered before
        // the device goes (`stop` runs for every registered device that is up when
        // unregistered, before a grace period and the free), and the module waits for it.
        unsafe { hook.register(rtnl, self.net(), self) }
    }
}

impl netfilter::Handler for MapmintDevice {
    fn handle(&self, skb: Skb, ipv6: bool, input: &NetDevice) -> netfilter::Verdict {
        // Packets this or another mapmint device received back into the stack are done;
        // frames a bridge forwards (br_netfilter shows them to the IP hooks) are not ours.
        if MapmintDevice::of(input).is_some() || input.is_bridge_port() {
            return netfilter::Verdict::Accept(skb);
        }
        // A box that does not forward what comes in there translates none of it: the stack
        // refuses it as without translate-on-receive.
        // SAFETY: netfilter hooks run as RCU readers.
        if !unsafe { input.forwards(ipv6) } {
            return netfilter::Verdict::Accept(skb);
        }
        // SAFETY: netfilter hooks run as RCU readers with bottom halves off, and the device
        // outlives its hook's callbacks (see update_prerouting_hook).
        let path = unsafe { PacketPath::new(self) };
        match datapath::receive(&path, skb) {
            Some(skb) => netfilter::Verdict::Accept(skb),
            None => netfilter::Verdict::Stolen,
        }
    }
}

/// ndo_start_xmit: translate, or drop and count.
unsafe extern "C" fn start_xmit(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
) -> bindings::netdev_tx_t {
    // SAFETY: the stack hands us ownership of a valid skb for a valid mapmint device, in its
    // transmit path (an RCU reader with bottom halves off).
    let (skb, tx) = unsafe { (Skb::from_raw(skb), PacketPath::new(MapmintDevice::from_raw(dev))) };
    if let Some(skb) = skb {
        datapath::transmit(&tx, skb);
    }
    bindings::netdev_tx_NETDEV_TX_OK
}

/// A mapmint device on its packet path (its transmit, or its PREROUTING hook): what the
/// datapath may use there.
pub(crate) struct PacketPath<'a> {
    dev: &'a MapmintDevice,
}

impl<'a> PacketPath<'a> {
    /// # Safety
    /// The caller is on the device's packet path (its transmit, or its PREROUTING hook: an
    /// RCU reader with bottom halves off) for as long as the value lives.
    unsafe fn new(dev: &'a MapmintDevice) -> Self {
        PacketPath { dev }
    }

    pub(crate) fn instance(&self) -> &'a Instance {
        self.dev.instance()
    }

    /// The device MTU.
    pub(crate) fn mtu(&self) -> u32 {
        self.dev.mtu()
    }

    /// The published configuration, its FMRs' index and what is derived from them.
    pub(crate) fn published(&self) -> Option<(&Config, RuleIndex<'_>, &Derived)> {
        // SAFETY: the transmit path is an RCU reader and the device outlives it (see new).
        unsafe { self.dev.instance().published() }
    }

    /// Sends `skb`, whose (translated) header is IPv6 if `ipv6`, else IPv4, out along its
    /// route in the device's namespace (see [`Skb::send`]). False when there is no route
    /// (the packet is freed).
    pub(crate) fn send(&self, skb: Skb, ipv6: bool) -> bool {
        // SAFETY: the transmit path is an RCU reader (see new).
        let net = unsafe { self.dev.net() }.as_raw();
        // SAFETY: the transmit path of the device whose namespace `net` is (see new).
        let Some(route) = (unsafe { self.instance().routes.output(net, skb.header(), ipv6, skb.mark()) }) else {
            return false;
        };
        skb.send(net, route, ipv6);
        true
    }

    /// Hands `skb`, translated, to the stack as received on the device (see [`Skb::receive`]).
    pub(crate) fn receive(&self, mut skb: Skb) {
        skb.set_dev(self.dev);
        skb.receive(&self.instance().gro);
    }

    /// Counts a packet the device dropped (or answered with an ICMP error) in `tx_dropped`.
    pub(crate) fn count_drop(&self) {
        self.dev.count_tx_dropped();
    }
}

/// Where the fragments of a packet the device fragments go (see [`fragment_output`]).
pub(crate) trait FragmentSink {
    fn fragment(tx: &PacketPath<'_>, skb: Skb);
}

/// ip_do_fragment's output callback: hands each fragment to `S` with the device it is
/// being sent through.
pub(crate) unsafe extern "C" fn fragment_output<S: FragmentSink>(
    _net: *mut bindings::net,
    _sk: *mut bindings::sock,
    skb: *mut bindings::sk_buff,
) -> i32 {
    // SAFETY: ip_do_fragment hands over each fragment it built.
    let Some(skb) = (unsafe { Skb::from_raw(skb) }) else {
        return 0;
    };
    let dev = skb.dev();
    if dev.is_null() {
        return 0;
    }
    // SAFETY: an skb's device is valid while the skb is; the fragments of a packet a
    // mapmint device fragments in its transmit path keep that device, still in its transmit
    // path; anything else is dropped.
    let Some(dev) = MapmintDevice::of(unsafe { NetDevice::from_raw(dev) }) else {
        return 0;
    };
    // SAFETY: as above.
    S::fragment(&unsafe { PacketPath::new(dev) }, skb);
    0
}

/// ndo_get_stats64: what entered the device and was translated counts as transmitted, what
/// came out of the translator as received (the stack adds its own drop counters).
unsafe extern "C" fn get_stats64(dev: *mut bindings::net_device, stats: *mut bindings::rtnl_link_stats64) {
    // SAFETY: the stack passes a mapmint device and a zeroed stats structure to fill.
    let (totals, stats) = unsafe { (MapmintDevice::from_raw(dev).instance().totals(), &mut *stats) };
    let translated = totals.translated();
    stats.tx_packets = translated;
    stats.tx_bytes = totals.input_bytes;
    stats.rx_packets = translated;
    stats.rx_bytes = totals.translated_bytes();
}
