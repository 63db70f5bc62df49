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
use crate::netdev::{Device, DeviceOps, DeviceSetup, Driver, LinkKind, LinkKindRegistration, NetDevice, Quiesced, Rtnl};
use crate::netfilter;
use crate::tunnel;
use crate::rcu::PacketContext;
use crate::skb::Skb;
use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::c_str;
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

/// A mapmint device: a net_device whose private area holds an `Instance`.
pub(crate) type MapmintDevice = Device<Instance>;

/// The rtnetlink link kind "mapmint".
static LINK_KIND: LinkKind<Instance> = LinkKind::new(c_str!("mapmint"));

/// What the kernel calls on a mapmint device.
static DEVICE_OPS: DeviceOps = DeviceOps::new::<Instance>();

/// Registers the link kind; dropping the registration deletes every mapmint device in every
/// network namespace.
pub(crate) fn register() -> Result<LinkKindRegistration<Instance>> {
    LINK_KIND.register()
}

/// Creates the device `name` in the initial network namespace, as `ip link add NAME type
/// mapmint` would, configured with `config` and the FMR `fmr`.
pub(crate) fn add_device(kind: &LinkKindRegistration<Instance>, name: &CStr, config: Config, fmr: Option<Rule>) -> Result {
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
    // Not registered yet, so nobody else sees it; dropped (released and freed) on an error.
    let mut new = kind.alloc_device(name)?;
    new.device().instance().set_initial_config(config, fmrs)?;
    if let Some(mtu) = mtu {
        new.set_initial_mtu(mtu);
    }
    let rtnl = Rtnl::lock();
    match new.register(&rtnl) {
        Ok(_) => Ok(()),
        Err((e, new)) => {
            // Released and freed outside the RTNL.
            drop(rtnl);
            drop(new);
            Err(e)
        }
    }
}

impl MapmintDevice {
    /// The device's state.
    pub(crate) fn instance(&self) -> &Instance {
        self.private()
    }

    /// Registers or unregisters the instance's PREROUTING hook to match its state: hooked
    /// while the device is `up` and its configuration asks for translate-on-receive, in the
    /// device's namespace (a move to another one takes the device down first).
    pub(crate) fn update_prerouting_hook(&self, rtnl: &Rtnl, up: bool) -> Result {
        self.set_prerouting_hook(rtnl, up && self.instance().translates_on_receive())
    }

    /// Registers or unregisters the PREROUTING hook. (Hooked while the published
    /// configuration does not ask for it, the hook hands every packet back to the stack.)
    pub(crate) fn set_prerouting_hook(&self, rtnl: &Rtnl, wanted: bool) -> Result {
        let hook = &self.instance().prerouting;
        if wanted == hook.is_registered(rtnl) {
            return Ok(());
        }
        if !wanted {
            hook.unregister(rtnl);
            return Ok(());
        }
        // SAFETY: the hook lives in the device's private area and calls back into the
        // device: it is unregistered before the device goes (`stop` runs for every
        // registered device that is up when unregistered, before a grace period and the
        // free), and the module waits for it.
        unsafe { hook.register(rtnl, self.net_rtnl(rtnl), self) }
    }
}

impl Driver for Instance {
    fn ops() -> &'static DeviceOps {
        &DEVICE_OPS
    }

    fn new() -> Self {
        Instance::new()
    }

    unsafe fn placed(&self) {
        // SAFETY: per the caller.
        unsafe { self.init_in_place() }
    }

    fn setup(dev: &mut DeviceSetup<'_>) {
        dev.set_layer3();
        dev.set_mtu(DEFAULT_MTU, MIN_MTU, MAX_MTU);
        // Room for the longer headers and the link-layer header after them, so that what the
        // stack sends or forwards into the device needs no reallocation on its way through.
        dev.set_needed_headroom(datapath::MOST_HEADROOM_NEEDED as u16);
        // GSO super-packets and checksum offload cross the translator whole (see datapath):
        // the stack need not segment or checksum before handing packets over.
        dev.set_features(OFFLOADS.iter().fold(0u64, |features, bit| features | 1u64 << bit));
        // The transmit path takes no lock of its own (per-CPU counters, an atomic fragment
        // cache) and needs no queue in front.
        dev.set_lockless_without_queue();
        // (the transmit path runs with bottom halves off, never with interrupts off)
        dev.refuse_netpoll();
        // The transmit path answers ICMP errors (icmp_ndo_send), which need the packet's
        // route: the core must not drop it first.
        dev.keep_routes();
    }

    fn init(dev: &MapmintDevice) -> Result {
        // SAFETY: ndo_init of the device whose private area holds the instance.
        unsafe { dev.instance().init(dev.as_raw()) }
    }

    unsafe fn release(&self) {
        // SAFETY: per the caller.
        unsafe { Instance::release(self) }
    }

    /// A translator has no use for an IPv6 link-local address: with one, the stack would send
    /// router solicitations into the device, where they could only be dropped. An
    /// administrator can still ask for one with `ip link set DEV addrgenmode random`. The
    /// RTNL, held, keeps anyone from bringing the device up meanwhile.
    ///
    /// Listed, it takes MAP-E tunnel packets to its tunnel end on another interface.
    fn registered(dev: &MapmintDevice, rtnl: &Rtnl) {
        dev.disable_ipv6_addr_gen(rtnl);
        // SAFETY: the entry lies in the device's private area; `unregistering` unlists it,
        // and unregistering a device waits for a grace period after that before freeing it.
        unsafe { dev.instance().tunnel_end.list(dev, rtnl) };
        // Moved here from another namespace: FMRs a socket there staged on the device are
        // freed now, or by the request holding the control mutex as it ends.
        dev.instance().moved_to(dev.net_rtnl(rtnl));
    }

    /// The routes the device remembers were looked up in the namespace it leaves, and live
    /// on that namespace's state (an IPv6 route's operations are in it): freed after the
    /// namespace, they would read freed memory.
    fn unregistering(dev: &MapmintDevice, rtnl: &Rtnl, quiesced: &Quiesced) {
        dev.instance().tunnel_end.unlist(rtnl);
        dev.instance().routes.forget(quiesced);
    }

    /// The device comes up; with translate-on-receive, it takes its packets at receipt from
    /// now on.
    fn open(dev: &MapmintDevice, rtnl: &Rtnl) -> Result {
        dev.update_prerouting_hook(rtnl, true)
    }

    fn stop(dev: &MapmintDevice, rtnl: &Rtnl) {
        // Taking the hook out cannot fail.
        let _ = dev.update_prerouting_hook(rtnl, false);
    }

    /// Translate, or drop and count.
    fn start_xmit(dev: &MapmintDevice, skb: Skb, ctx: &PacketContext<'_>) {
        datapath::transmit(&PacketPath::new(dev, ctx), skb);
    }

    /// What entered the device and was translated counts as transmitted, what came out of the
    /// translator as received (the stack adds its own drop counters).
    fn get_stats64(dev: &MapmintDevice, stats: &mut bindings::rtnl_link_stats64) {
        let totals = dev.instance().totals();
        let translated = totals.translated();
        stats.tx_packets = translated;
        stats.tx_bytes = totals.input_bytes;
        stats.rx_packets = translated;
        stats.rx_bytes = totals.translated_bytes();
    }
}

impl netfilter::Handler for MapmintDevice {
    fn handle(&self, skb: Skb, ipv6: bool, input: &NetDevice, ctx: &PacketContext<'_>) -> netfilter::Verdict {
        // Packets this or another mapmint device received back into the stack are done;
        // frames a bridge forwards (br_netfilter shows them to the IP hooks) are not ours.
        if MapmintDevice::of(input).is_some() || input.is_bridge_port() {
            return netfilter::Verdict::Accept(skb);
        }
        // A box that does not forward what comes in there translates none of it: the stack
        // refuses it as without translate-on-receive.
        if !input.forwards(ctx.reader(), ipv6) {
            return netfilter::Verdict::Accept(skb);
        }
        // Where IPsec's policies may judge it as it is forwarded, the stack forwards it
        // (checking them) into the device, as without translate-on-receive.
        if skb.ipsec_judges_forwarding(input.net_rcu(ctx.reader())) {
            return netfilter::Verdict::Accept(skb);
        }
        match datapath::receive(&PacketPath::new(self, ctx), skb) {
            Some(skb) => netfilter::Verdict::Accept(skb),
            None => netfilter::Verdict::Stolen,
        }
    }
}

/// MAP-E tunnel ends that are addresses of the host: what tunnel6 delivers to an address of
/// a mapmint device goes to the device's instance, what it delivers to another interface's
/// to the instance of its namespace whose tunnel end it is (see `tunnel`).
pub(crate) struct TunnelEnds;

impl tunnel::Receiver for TunnelEnds {
    fn is_receiver(dev: &NetDevice) -> bool {
        MapmintDevice::of(dev).is_some()
    }

    fn claims(skb: &Skb, dev: &NetDevice, ctx: &PacketContext<'_>, by_peer: bool) -> bool {
        match PacketPath::of(dev, ctx) {
            Some(path) if dev.is_up_now(ctx.reader()) => datapath::claims(&path, skb, by_peer),
            _ => false,
        }
    }

    fn deliver(skb: Skb, dev: &NetDevice, ctx: &PacketContext<'_>) -> tunnel::Delivery {
        match PacketPath::of(dev, ctx) {
            // (a device that is down translates nothing, as it transmits nothing)
            Some(path) if dev.is_up_now(ctx.reader()) => match datapath::deliver(&path, skb) {
                Some(skb) => tunnel::Delivery::NotMine(skb),
                None => tunnel::Delivery::Taken,
            },
            _ => tunnel::Delivery::NotMine(skb),
        }
    }
}

/// A mapmint device on its packet path (its transmit, or its PREROUTING hook): what the
/// datapath may use there.
pub(crate) struct PacketPath<'a> {
    dev: &'a MapmintDevice,
    ctx: &'a PacketContext<'a>,
}

impl<'a> PacketPath<'a> {
    pub(crate) fn new(dev: &'a MapmintDevice, ctx: &'a PacketContext<'a>) -> Self {
        PacketPath { dev, ctx }
    }

    /// The packet path of the mapmint device `dev`, if it is one.
    pub(crate) fn of(dev: &'a NetDevice, ctx: &'a PacketContext<'a>) -> Option<Self> {
        MapmintDevice::of(dev).map(|dev| PacketPath { dev, ctx })
    }

    pub(crate) fn instance(&self) -> &'a Instance {
        self.dev.instance()
    }

    /// The packet path itself (for what must prove it is on one).
    pub(crate) fn context(&self) -> &'a PacketContext<'a> {
        self.ctx
    }

    /// The device MTU.
    pub(crate) fn mtu(&self) -> u32 {
        self.dev.mtu()
    }

    /// The published configuration, its FMRs' index and what is derived from them.
    pub(crate) fn published(&self) -> Option<(&'a Config, RuleIndex<'a>, &'a Derived)> {
        self.dev.instance().published(self.ctx.reader())
    }

    /// Sends `skb`, whose (translated) header is IPv6 if `ipv6`, else IPv4, out along its
    /// route in the device's namespace (see [`Skb::send`]). False when there is no route
    /// (the packet is freed). A packet for the host itself, a broadcast or a multicast group
    /// is received on the device instead, where routing judges it as any received packet
    /// (martians dropped, local delivery on the device, `-i` filters).
    pub(crate) fn send(&self, skb: Skb, ipv6: bool) -> bool {
        let net = self.dev.net_rcu(self.ctx.reader());
        let Some(route) = self.instance().routes.output(self.ctx, net, &skb, ipv6) else {
            return false;
        };
        if !route.leaves_host() {
            drop(route);
            self.receive(skb);
            return true;
        }
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
