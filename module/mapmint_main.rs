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
    _link_kind: netdev::LinkKindRegistration<instance::Instance>,
    _rcu_callbacks: RcuCallbacks,
}

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
        let genl = netlink::register(module)?;
        let socket_release = netlink::register_socket_release()?;
        match ipv4_address {
            Some(prefix) => pr_info!("device mapmint registered, IPv4 address {}\n", prefix),
            None => pr_info!("device mapmint registered, no IPv4 address\n"),
        }
        Ok(Mapmint { _socket_release: socket_release, _genl: genl, _link_kind: link_kind, _rcu_callbacks: RcuCallbacks })
    }
}
