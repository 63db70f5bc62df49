// SPDX-License-Identifier: GPL-2.0
//! mapmint: a MAP-E / MAP-T (RFC 7597, RFC 7599) translator as a virtual netdevice.
//!
//! The kernel layer is kept thin: the device in `device`, its state in `instance`, its
//! packet path in `datapath` (skbs in `skb`), the control plane in `netlink`, the module
//! parameters in `params`; safe wrappers of what the kernel crate lacks in `netdev`,
//! `genetlink`, `rcu`, `netfilter`, `skb`, `route` and `percpu`; all MAP arithmetic and
//! packet logic in the MAP core, compiled in from the same source cargo builds and tests in
//! userspace.

use kernel::c_str;
use kernel::prelude::*;

mod bindings;
mod datapath;
mod device;
mod genetlink;
mod instance;
mod netdev;
mod netfilter;
mod netlink;
mod params;
mod percpu;
mod rcu;
mod route;
mod skb;
mod tunnel;

// The MAP core: the kernel builds the very files cargo tests. Not every item is used here yet.
#[allow(dead_code, unused_imports, unreachable_pub, missing_docs)]
#[path = "mapcore/src/map/mod.rs"]
mod mapcore;

module! {
    type: Mapmint,
    name: "mapmint",
    author: "mapmint developers",
    description: "MAP-E/MAP-T (RFC 7597/7599) translator netdevice",
    license: "GPL",
}

struct Mapmint {
    // Dropped in this order: the control plane goes first (the socket release notifier,
    // which takes the control plane's mutex, then the family), then every device, then the
    // configurations still waiting for their RCU grace period.
    _socket_release: genetlink::SocketReleaseRegistration,
    _genl: genetlink::FamilyRegistration,
    // (before the devices: no packet is delivered to one after this goes)
    _tunnel_ends: Option<tunnel::Registration>,
    _link_kind: netdev::LinkKindRegistration<instance::Instance>,
    _rcu_callbacks: RcuCallbacks,
}

/// The handler of IPv4-in-IPv6 packets delivered to a mapmint device's addresses.
static TUNNEL_ENDS: tunnel::Ipv4InIpv6 = tunnel::Ipv4InIpv6::new();

/// Waits on drop for every RCU callback the module queued (they run module code).
struct RcuCallbacks;

impl Drop for RcuCallbacks {
    fn drop(&mut self) {
        // SAFETY: may sleep; module exit runs in process context without locks held.
        unsafe { bindings::rcu_barrier() };
    }
}

impl kernel::Module for Mapmint {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let (config, fmr) = params::default_config()?;
        let ipv4_address = config.ipv4_address;
        let link_kind = device::register()?;
        // On failure, dropping `link_kind` unregisters the kind again.
        device::add_device(&link_kind, c_str!("mapmint"), config, fmr)?;
        let tunnel_ends = match TUNNEL_ENDS.register::<device::TunnelEnds>() {
            Ok(registration) => Some(registration),
            Err(e) => {
                pr_warn!("no IPv4-in-IPv6 handler ({:?}): MAP-E tunnel ends assigned to a device as addresses receive nothing\n", e);
                None
            }
        };
        let genl = netlink::register(module)?;
        let socket_release = netlink::register_socket_release()?;
        match ipv4_address {
            Some(prefix) => pr_info!("device mapmint registered, IPv4 address {}\n", prefix),
            None => pr_info!("device mapmint registered, no IPv4 address\n"),
        }
        Ok(Mapmint {
            _socket_release: socket_release,
            _genl: genl,
            _tunnel_ends: tunnel_ends,
            _link_kind: link_kind,
            _rcu_callbacks: RcuCallbacks,
        })
    }
}
