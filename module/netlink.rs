// SPDX-License-Identifier: GPL-2.0
//! The generic netlink family "mapmint": the control plane of `mapminctl`. Command and
//! attribute numbers and the byte forms of rules come from the MAP core (`genl`), shared with
//! mapminctl. The kernel validates every attribute against the policies below before a
//! handler runs (strict validation); handlers then read values with the core's bounds-checked
//! walker and refuse bad combinations with an extack message. The genetlink plumbing is
//! `genetlink`'s: this file is safe Rust.
//!
//! Every change builds a new configuration from the published one, checks it with the MAP
//! core, and publishes it whole (see `instance::ControlGuard::publish`). A handler that
//! changes or reads an instance's configuration holds that instance's control mutex
//! (`instance::ControlGuard`; the family has parallel_ops, so genetlink's global mutex is not
//! held): changes of one instance are serialised, and one instance's big table delays no
//! other instance's commands. Dumps of every instance read under RCU.

use crate::bindings as b;
use crate::device::MapmintDevice;
use crate::instance::{
    fmr_table, without_warning, rules_with_room, ControlGuard, FmrError, FmrTable, Instance, Staging, TableVec, MAX_FMRS,
};
use crate::genetlink::{
    doit, dumpit, exact_len, max_value, nested, op, policy, Dump, Family, FamilyRegistration, Message, Outcome, Policy,
    Refused, Request, SocketRelease, SocketReleaseRegistration, REJECT,
};
use crate::mapcore::config::Config;
use crate::mapcore::genl::{self, attr, cmd, rule_attr, stats_attr};
use crate::mapcore::index::IndexError;
use crate::mapcore::prefix::Ipv6Prefix;
use crate::mapcore::rfc6052::Rfc6052Prefix;
use crate::mapcore::rule::Rule;
use crate::netdev::{IfName, Net, NetDevice, Rtnl};
use crate::rcu::RcuGuard;
use core::fmt;
use core::ops::ControlFlow;
use kernel::alloc::{
    flags::{GFP_KERNEL, GFP_KERNEL_ACCOUNT},
    AllocError, KBox,
};
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::ARef;

/// The mapmint device a request names, with its control mutex held.
struct Target<'a> {
    dev: &'a MapmintDevice,
    control: ControlGuard<'a>,
}

impl<'a> Target<'a> {
    /// Takes `dev`'s control mutex (may sleep, behind another change of the same device).
    fn lock(dev: &'a MapmintDevice) -> Self {
        Target { dev, control: dev.instance().lock_control() }
    }
}

/// The mapmint device named by IFINDEX, in the requester's network namespace, referenced.
fn target(req: &Request<'_>) -> core::result::Result<ARef<MapmintDevice>, Refused> {
    let Some(ifindex) = req.u32_attr(attr::IFINDEX) else {
        return Err(req.refuse(EINVAL, format_args!("IFINDEX is required")));
    };
    mapmint_device(req.net(), ifindex).map_err(|e| req.refuse(ENODEV, format_args!("{e}")))
}

/// An interface index that names no mapmint device.
struct NotFound {
    ifindex: u32,
    exists: bool,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.exists {
            false => write!(f, "no interface with index {}", self.ifindex),
            true => write!(f, "interface {} is not a mapmint device", self.ifindex),
        }
    }
}

/// The mapmint device with index `ifindex` in `net`, referenced.
fn mapmint_device(net: &Net, ifindex: u32) -> core::result::Result<ARef<MapmintDevice>, NotFound> {
    let dev = i32::try_from(ifindex).ok().and_then(|index| net.device_by_index(index));
    let dev = dev.ok_or(NotFound { ifindex, exists: false })?;
    MapmintDevice::of(&dev).map(ARef::from).ok_or(NotFound { ifindex, exists: true })
}

impl Target<'_> {
    /// A copy of the device's configuration, to change and publish, and its FMRs (shared:
    /// a change of them builds a new table).
    fn config_copy(&self, req: &Request<'_>) -> core::result::Result<(KBox<Config>, Arc<FmrTable>), Refused> {
        let (config, fmrs) = match self.control.config() {
            Some((config, fmrs)) => (config.clone(), fmrs.clone()),
            None => (Config::default(), fmr_table(TableVec::new()).map_err(|e| fmr_refusal(req, e))?),
        };
        let config = KBox::new(config, GFP_KERNEL).map_err(|_| req.refuse(ENOMEM, format_args!("out of memory")))?;
        Ok((config, fmrs))
    }

    /// Sets the device MTU to the one `config` names (if it differs), then publishes `config`
    /// and `fmrs`; a refused MTU publishes nothing, and memory for the publication, and the
    /// netfilter hook of translate-on-receive, run out before anything changes.
    fn publish(&mut self, req: &Request<'_>, config: KBox<Config>, fmrs: Arc<FmrTable>) -> Outcome {
        let new_mtu = config.mtu;
        let on_receive = config.translate_on_receive;
        let publication = Instance::ready(config, fmrs).map_err(|e| req.refuse(e, format_args!("out of memory")))?;
        if on_receive {
            // Hooked first: a hook that cannot be registered leaves the device as it was.
            let rtnl = Rtnl::lock();
            self.dev.set_prerouting_hook(&rtnl, self.dev.is_registered_and_up(&rtnl)).map_err(|e| {
                req.refuse(e, format_args!("translate-on-receive: its netfilter hook could not be registered"))
            })?;
        }
        if let Some(mtu) = new_mtu {
            let dev: &NetDevice = &self.dev;
            let rtnl = Rtnl::lock();
            // Against the device's MTU, not the configuration's last one: `ip link set mtu` may
            // have changed it since. `ip link del` may have unregistered the device since it
            // was looked up: an MTU change then would reach addrconf for a dying device, which
            // would take a reference on it that nothing puts.
            let set = if dev.mtu() == u32::from(mtu) {
                Ok(())
            } else if dev.is_registered(&rtnl) {
                dev.set_mtu(&rtnl, u32::from(mtu)).map_err(|e| {
                    let (min, max) = dev.mtu_range();
                    req.refuse(e, format_args!("mtu {mtu}: the device takes {min} to {max}"))
                })
            } else {
                Err(req.refuse(ENODEV, format_args!("the interface is being removed")))
            };
            if set.is_err() {
                // The hook registered above goes again with the refusal.
                let _ = self.dev.update_prerouting_hook(&rtnl, self.dev.is_registered_and_up(&rtnl));
            }
            set?;
        }
        self.control.publish(publication);
        // Unhooked after it, if the configuration no longer asks for it (which cannot fail).
        // Registering can fail only if the device came up since the first update (the
        // configuration is published by then): its packets are then translated as they are
        // routed into it, as without translate-on-receive.
        let rtnl = Rtnl::lock();
        if let Err(e) = self.dev.update_prerouting_hook(&rtnl, self.dev.is_registered_and_up(&rtnl)) {
            pr_warn!(
                "{}: translate-on-receive's netfilter hook could not be registered (error {}): packets are translated when routed into the device\n",
                self.dev.name(&rtnl).as_bstr(),
                e.to_errno()
            );
        }
        Ok(())
    }
}

/// The refusal for rules that could not become a table; positions are 1-based in the table.
fn fmr_refusal(req: &Request<'_>, e: FmrError) -> Refused {
    match e {
        FmrError::TooMany(n) => req.refuse(ENOSPC, format_args!("fmr: {n} rules are more than the {MAX_FMRS} an instance takes")),
        FmrError::NoMemory => req.refuse(ENOMEM, format_args!("out of memory for the FMR table")),
        FmrError::Conflict(e) => req.refuse(EINVAL, format_args!("fmr: {e}")),
    }
}

/// Hands the message's FMR attributes to `push`, refusing one that is not a rule by its
/// position in the table, where `before` rules precede them.
fn push_fmrs(
    req: &Request<'_>,
    before: usize,
    mut push: impl FnMut(Rule) -> core::result::Result<(), AllocError>,
) -> Outcome {
    let fmrs = genl::attributes(req.attributes()).filter(|(kind, _)| *kind == attr::FMR);
    for (index, (_, value)) in fmrs.enumerate() {
        let position = before + index + 1;
        if position > MAX_FMRS {
            return Err(fmr_refusal(req, FmrError::TooMany(position)));
        }
        let rule = rule_from(req, value, format_args!("fmr {position}: "))?;
        push(rule).map_err(|_| fmr_refusal(req, FmrError::NoMemory))?;
    }
    Ok(())
}

/// How many FMR attributes the message carries.
fn fmr_count(req: &Request<'_>) -> usize {
    genl::attributes(req.attributes()).filter(|(kind, _)| *kind == attr::FMR).count()
}

/// The rule in a nested attribute's value, validated by the MAP core; a refusal says why,
/// after `label` (which rule, where there are many).
fn rule_from(req: &Request<'_>, nested: &[u8], label: fmt::Arguments<'_>) -> core::result::Result<Rule, Refused> {
    let table = genl::rule_attr_table(nested);
    let params = genl::rule_params_from(|kind| table.get(usize::from(kind)).copied().flatten()).map_err(|e| req.refuse(EINVAL, format_args!("{label}{e}")))?;
    Rule::new(params).map_err(|e| req.refuse(EINVAL, format_args!("{label}{e}")))
}

fn rule_kind(req: &Request<'_>) -> core::result::Result<u8, Refused> {
    req.u8_attr(attr::RULE_KIND).ok_or_else(|| req.refuse(EINVAL, format_args!("RULE_KIND is required")))
}

fn nested_rule<'a>(req: &'a Request<'_>) -> core::result::Result<&'a [u8], Refused> {
    req.attr(attr::RULE).ok_or_else(|| req.refuse(EINVAL, format_args!("RULE is required")))
}

/// Applies the settings attributes shared by DEV_SET and CONFIG_SET.
fn apply_settings(req: &Request<'_>, config: &mut Config) -> Outcome {
    if let Some(role) = req.u8_attr(attr::ROLE) {
        config.role = genl::role_from_u8(role).ok_or_else(|| req.refuse(EINVAL, format_args!("bad role {role}")))?;
    }
    if let Some(mode) = req.u8_attr(attr::MODE) {
        config.mode = genl::mode_from_u8(mode).ok_or_else(|| req.refuse(EINVAL, format_args!("bad mode {mode}")))?;
    }
    if let Some(bytes) = req.attr(attr::END_USER_PREFIX) {
        let prefix = genl::decode_ipv6_prefix(bytes)
            .ok_or_else(|| req.refuse(EINVAL, format_args!("malformed end-user prefix")))?;
        config.end_user_prefix = Some(prefix);
    }
    if let Some(bytes) = req.attr(attr::IPV4_ADDRESS) {
        let prefix = genl::decode_ipv4_prefix(bytes)
            .ok_or_else(|| req.refuse(EINVAL, format_args!("malformed IPv4 address")))?;
        config.ipv4_address = Some(prefix);
    }
    if let Some(bytes) = req.attr(attr::DMR) {
        let prefix: Ipv6Prefix =
            genl::decode_ipv6_prefix(bytes).ok_or_else(|| req.refuse(EINVAL, format_args!("malformed DMR")))?;
        let dmr = Rfc6052Prefix::new(prefix).map_err(|e| req.refuse(EINVAL, format_args!("dmr: {e}")))?;
        config.dmr = Some(dmr);
    }
    if let Some(bytes) = req.attr(attr::BR_ADDRESS) {
        let addr = genl::decode_ipv6_addr(bytes).ok_or_else(|| req.refuse(EINVAL, format_args!("malformed BR address")))?;
        config.br_address = Some(addr);
    }
    if let Some(mtu) = req.u32_attr(attr::MTU) {
        let mtu = u16::try_from(mtu).map_err(|_| req.refuse(EINVAL, format_args!("mtu {mtu} is above 65535")))?;
        config.mtu = Some(mtu);
    }
    if let Some(bytes) = req.attr(attr::ICMP_SOURCE_POOL) {
        let pool = genl::decode_ipv4_prefix(bytes)
            .ok_or_else(|| req.refuse(EINVAL, format_args!("malformed ICMP source pool")))?;
        config.icmp_source_pool = Some(pool);
    }
    if let Some(mapping) = req.u8_attr(attr::PORT_MAPPING) {
        config.port_mapping = genl::port_mapping_from_u8(mapping)
            .ok_or_else(|| req.refuse(EINVAL, format_args!("bad port mapping {mapping}")))?;
    }
    if let Some(on) = req.u8_attr(attr::TRANSLATE_ON_RECEIVE) {
        config.translate_on_receive = on != 0;
    }
    Ok(())
}

/// Checks `config` with the MAP core and publishes it on `dev` with `fmrs`.
fn check_and_publish(
    req: &Request<'_>,
    dev: &mut Target<'_>,
    config: KBox<Config>,
    fmrs: Arc<FmrTable>,
    complete: bool,
) -> Outcome {
    config.check().map_err(|e| req.refuse(EINVAL, format_args!("{e}")))?;
    if complete {
        if let Some(what) = config.missing(fmrs.len()) {
            return Err(req.refuse(EINVAL, format_args!("incomplete configuration: no {what}")));
        }
    }
    dev.publish(req, config, fmrs)
}

fn dev_set(req: &Request<'_>) -> Outcome {
    let dev = target(req)?;
    let mut dev = Target::lock(&dev);
    let (mut config, fmrs) = dev.config_copy(req)?;
    if let Some(clear) = req.u8_attr(attr::CLEAR) {
        if clear & genl::CLEAR_END_USER_PREFIX != 0 {
            config.end_user_prefix = None;
        }
        if clear & genl::CLEAR_IPV4_ADDRESS != 0 {
            config.ipv4_address = None;
        }
        if clear & genl::CLEAR_DMR != 0 {
            config.dmr = None;
        }
        if clear & genl::CLEAR_BR_ADDRESS != 0 {
            config.br_address = None;
        }
        if clear & genl::CLEAR_MTU != 0 {
            config.mtu = None;
        }
        if clear & genl::CLEAR_ICMP_SOURCE_POOL != 0 {
            config.icmp_source_pool = None;
        }
    }
    apply_settings(req, &mut config)?;
    check_and_publish(req, &mut dev, config, fmrs, false)
}

fn config_set(req: &Request<'_>) -> Outcome {
    let dev = target(req)?;
    let mut dev = Target::lock(&dev);
    if req.attr(attr::ROLE).is_none() || req.attr(attr::MODE).is_none() {
        return Err(req.refuse(EINVAL, format_args!("ROLE and MODE are required")));
    }
    let mut config = KBox::new(Config::default(), GFP_KERNEL).map_err(|_| req.refuse(ENOMEM, format_args!("out of memory")))?;
    apply_settings(req, &mut config)?;
    if let Some(bmr) = req.attr(attr::BMR) {
        config.bmr = Some(rule_from(req, bmr, format_args!(""))?);
    }
    // The staged FMRs first (taken: a failure below drops them), then the message's own.
    let staged = match req.attr(attr::FMRS_STAGED) {
        // Another socket's staging stays where it is.
        Some(_) => match dev.control.staging() {
            staging if staging.as_ref().is_some_and(|s| s.owner == req.sender()) => staging.take(),
            _ => return Err(req.refuse(ENOENT, format_args!("FMRS_STAGED: this socket staged no FMRs on the device"))),
        },
        None => None,
    };
    // Copied to a vector of the exact size (staging grew by doubling); FMR may repeat, which
    // the parsed attribute table cannot hold: walk the message.
    let staged = staged.as_ref().map_or(&[][..], |s| &s.rules[..]);
    let mut rules = rules_with_room(staged, fmr_count(req)).map_err(|e| fmr_refusal(req, e))?;
    push_fmrs(req, rules.len(), |rule| rules.push(rule, GFP_KERNEL_ACCOUNT))?;
    let fmrs = fmr_table(rules).map_err(|e| fmr_refusal(req, e))?;
    check_and_publish(req, &mut dev, config, fmrs, true)
}

/// FMRS_STAGE: FMRs for the next CONFIG_SET from this socket, in chunks.
fn fmrs_stage(req: &Request<'_>) -> Outcome {
    let dev = target(req)?;
    let mut dev = Target::lock(&dev);
    if req.attr(attr::FMRS_STAGE_START).is_some() {
        dev.control.start_staging(req.sender(), req.net());
    }
    let staging = dev.control.staging();
    let Some(stage) = staging.as_mut().filter(|s| s.owner == req.sender()) else {
        return Err(req.refuse(ENOENT, format_args!("no FMRs staged by this socket: start with FMRS_STAGE_START")));
    };
    let total = stage.rules.len().saturating_add(fmr_count(req));
    let pushed = if total > MAX_FMRS {
        Err(fmr_refusal(req, FmrError::TooMany(total)))
    } else {
        match stage.rules.reserve(total - stage.rules.len(), without_warning(GFP_KERNEL_ACCOUNT)) {
            Ok(()) => push_fmrs(req, stage.rules.len(), |rule| stage.rules.push(rule, without_warning(GFP_KERNEL_ACCOUNT))),
            Err(_) => Err(fmr_refusal(req, FmrError::NoMemory)),
        }
    };
    if pushed.is_err() {
        // A refused chunk ends the staging: the caller starts again.
        *staging = None;
    }
    pushed
}

fn rule_add(req: &Request<'_>) -> Outcome {
    let dev = target(req)?;
    let mut dev = Target::lock(&dev);
    let kind = rule_kind(req)?;
    let rule = rule_from(req, nested_rule(req)?, format_args!(""))?;
    let (mut config, mut fmrs) = dev.config_copy(req)?;
    match kind {
        genl::RULE_KIND_BMR => {
            if config.bmr.is_some() {
                return Err(req.refuse(EEXIST, format_args!("a BMR is set already; delete it first")));
            }
            config.bmr = Some(rule);
        }
        _ => {
            let mut rules = rules_with_room(fmrs.rules(), 1).map_err(|e| fmr_refusal(req, e))?;
            rules.push(rule, GFP_KERNEL_ACCOUNT).map_err(|_| fmr_refusal(req, FmrError::NoMemory))?;
            // The table was legal: a conflict is the new rule's.
            fmrs = fmr_table(rules).map_err(|e| match e {
                FmrError::Conflict(IndexError::SameIpv6Prefix { .. }) => {
                    req.refuse(EEXIST, format_args!("fmr: a rule with the same IPv6 prefix exists"))
                }
                FmrError::Conflict(IndexError::SameIpv4Prefix { .. }) => {
                    req.refuse(EEXIST, format_args!("fmr: a rule with the same IPv4 prefix and overlapping ports exists"))
                }
                e => fmr_refusal(req, e),
            })?;
        }
    }
    check_and_publish(req, &mut dev, config, fmrs, false)
}

fn rule_del(req: &Request<'_>) -> Outcome {
    let dev = target(req)?;
    let mut dev = Target::lock(&dev);
    let kind = rule_kind(req)?;
    let nested = nested_rule(req)?;
    let prefix = genl::attributes(nested)
        .find(|(k, _)| *k == rule_attr::IPV6_PREFIX)
        .and_then(|(_, v)| genl::decode_ipv6_prefix(v))
        .ok_or_else(|| req.refuse(EINVAL, format_args!("the rule's IPv6 prefix is required")))?;
    let (mut config, mut fmrs) = dev.config_copy(req)?;
    let not_found = || req.refuse(ENOENT, format_args!("no such rule with IPv6 prefix {prefix}"));
    match kind {
        genl::RULE_KIND_BMR => {
            if config.bmr.map(|r| r.ipv6_prefix()) != Some(prefix) {
                return Err(not_found());
            }
            config.bmr = None;
        }
        _ => {
            let Some((position, _)) = fmrs.index().find_ipv6_prefix(prefix) else {
                return Err(not_found());
            };
            let (before, after) = (&fmrs.rules()[..position], &fmrs.rules()[position + 1..]);
            let mut rules = rules_with_room(before, after.len()).map_err(|e| fmr_refusal(req, e))?;
            rules.extend_from_slice(after, GFP_KERNEL_ACCOUNT).map_err(|_| fmr_refusal(req, FmrError::NoMemory))?;
            fmrs = fmr_table(rules).map_err(|e| fmr_refusal(req, e))?;
        }
    }
    check_and_publish(req, &mut dev, config, fmrs, false)
}

fn rule_flush(req: &Request<'_>) -> Outcome {
    let dev = target(req)?;
    let mut dev = Target::lock(&dev);
    let (mut config, mut fmrs) = dev.config_copy(req)?;
    let kind = req.u8_attr(attr::RULE_KIND);
    if kind != Some(genl::RULE_KIND_FMR) {
        config.bmr = None;
    }
    if kind != Some(genl::RULE_KIND_BMR) {
        fmrs = fmr_table(TableVec::new()).map_err(|e| fmr_refusal(req, e))?;
    }
    check_and_publish(req, &mut dev, config, fmrs, false)
}

/// The description of one instance (DEV_GET).
/// `published`: the device's configuration and how many FMRs it has, if it has one.
fn fill_dev(reply: &mut Message, dev: &MapmintDevice, name: &IfName, published: Option<(&Config, usize)>) -> Result {
    let default = Config::default();
    let (config, fmr_count) = published.unwrap_or((&default, 0));
    reply.put(attr::IFINDEX, &(dev.ifindex() as u32).to_ne_bytes())?;
    reply.put(attr::IFNAME, name.as_bytes())?;
    reply.put(attr::ROLE, &[genl::role_to_u8(config.role)])?;
    reply.put(attr::MODE, &[genl::mode_to_u8(config.mode)])?;
    if let Some(prefix) = config.end_user_prefix {
        reply.put(attr::END_USER_PREFIX, &genl::encode_ipv6_prefix(prefix))?;
    }
    if let Some(prefix) = config.ipv4_address {
        reply.put(attr::IPV4_ADDRESS, &genl::encode_ipv4_prefix(prefix))?;
    }
    if let Some(bmr) = &config.bmr {
        put_rule(reply, attr::BMR, bmr)?;
    }
    reply.put(attr::FMR_COUNT, &(fmr_count as u32).to_ne_bytes())?;
    if let Some(dmr) = config.dmr {
        reply.put(attr::DMR, &genl::encode_ipv6_prefix(dmr.prefix()))?;
    }
    if let Some(br) = config.br_address {
        reply.put(attr::BR_ADDRESS, &br.octets())?;
    }
    if let Some(mtu) = config.mtu {
        reply.put(attr::MTU, &u32::from(mtu).to_ne_bytes())?;
    }
    reply.put(attr::PORT_MAPPING, &[genl::port_mapping_to_u8(config.port_mapping)])?;
    if let Some(pool) = config.icmp_source_pool {
        reply.put(attr::ICMP_SOURCE_POOL, &genl::encode_ipv4_prefix(pool))?;
    }
    reply.put(attr::TRANSLATE_ON_RECEIVE, &[u8::from(config.translate_on_receive)])?;
    if let Some(Ok(mapping)) = config.ce_mapping() {
        reply.put(attr::CE_IPV4, &genl::encode_ipv4_prefix(mapping.ipv4))?;
        reply.put(attr::CE_PSID, &mapping.psid().to_ne_bytes())?;
        reply.put(attr::CE_PSID_LEN, &[mapping.psid_len()])?;
        reply.put(attr::CE_MAP_ADDRESS, &mapping.map_address.octets())?;
    }
    if let Some(what) = config.missing(fmr_count) {
        let mut text = [0u8; 24];
        let len = what.len().min(text.len() - 1);
        text[..len].copy_from_slice(&what.as_bytes()[..len]);
        reply.put(attr::MISSING, &text[..=len])?;
    }
    Ok(())
}

/// DEV_GET doit: one instance.
fn dev_get(req: &Request<'_>) -> Outcome {
    let dev = target(req)?;
    let name = dev.name(&Rtnl::lock());
    let control = dev.instance().lock_control();
    let published = control.config().map(|(config, fmrs)| (config, fmrs.len()));
    req.reply(REPLY_SIZE, cmd::DEV_GET, |reply| fill_dev(reply, &dev, &name, published))
}

/// STATS_GET doit: the instance's counters.
fn stats_get(req: &Request<'_>) -> Outcome {
    let dev = target(req)?;
    req.reply(REPLY_SIZE, cmd::STATS_GET, |reply| {
        let totals = dev.instance().totals();
        reply.put(attr::IFINDEX, &(dev.ifindex() as u32).to_ne_bytes())?;
        reply.nest(attr::STATS, |reply| {
            reply.put(stats_attr::V4_TO_V6_PACKETS, &totals.v4_to_v6_packets.to_ne_bytes())?;
            reply.put(stats_attr::V4_TO_V6_BYTES, &totals.v4_to_v6_bytes.to_ne_bytes())?;
            reply.put(stats_attr::V6_TO_V4_PACKETS, &totals.v6_to_v4_packets.to_ne_bytes())?;
            reply.put(stats_attr::V6_TO_V4_BYTES, &totals.v6_to_v4_bytes.to_ne_bytes())?;
            reply.put(stats_attr::ICMP_ERRORS, &totals.icmp_errors.to_ne_bytes())?;
            reply.put(stats_attr::ON_RECEIVE_PACKETS, &totals.on_receive_packets.to_ne_bytes())?;
            reply.nest(stats_attr::DROPS, |reply| {
                for (index, count) in totals.drops.iter().enumerate() {
                    reply.put(index as u16 + 1, &count.to_ne_bytes())?;
                }
                Ok(())
            })
        })
    })
}

/// A reply's payload size: one instance without its FMRs fits easily.
const REPLY_SIZE: usize = 2048;

/// A rule as the nested attribute `kind`.
fn put_rule(message: &mut Message, kind: u16, rule: &Rule) -> Result {
    let params = rule.params();
    message.nest(kind, |message| {
        let mut result = Ok(());
        genl::rule_attributes(&params, |k, v| {
            if result.is_ok() {
                result = message.put(k, v);
            }
        });
        result
    })
}

/// DEV_GET dump: every mapmint device in the requester's namespace.
fn dev_dump(dump: &mut Dump<'_>) -> i32 {
    let mut next = dump.cursor();
    let net = dump.net();
    // Each device's configuration as published, read under RCU: taking the devices' control
    // mutexes under the RTNL would invert their order (a change takes the RTNL under one).
    let rtnl = Rtnl::lock();
    let rcu = RcuGuard::lock();
    let reader = rcu.reader();
    net.for_each_device_from(&rtnl, &mut next, |dev| {
        let Some(dev) = MapmintDevice::of(dev) else {
            return ControlFlow::Continue(());
        };
        let name = dev.name(&rtnl);
        let published = dev.instance().published(&reader).map(|(config, index, _)| (config, index.len()));
        if dump.add(cmd::DEV_GET, |message| fill_dev(message, dev, &name, published)) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    });
    dump.set_cursor(next);
    dump.len()
}

/// RULE_GET dump: the rules of the instance named by IFINDEX, BMR first.
fn rule_dump(dump: &mut Dump<'_>) -> i32 {
    let Some(ifindex) = dump.u32_attr(attr::IFINDEX) else {
        return dump.refuse(EINVAL, format_args!("IFINDEX is required"));
    };
    let dev = match mapmint_device(dump.net(), ifindex) {
        Ok(dev) => dev,
        Err(e) => return dump.refuse(ENODEV, format_args!("{e}")),
    };
    // A table replaced between two calls, or a device replaced by another with its index,
    // shows in the messages' flags (NLM_F_DUMP_INTR; on NLMSG_DONE too, if it has no table).
    let control = dev.instance().lock_control();
    dump.set_generation(control.generation());
    let Some((config, fmrs)) = control.config() else {
        return 0;
    };
    // The cursor counts rules, BMR first: a big table takes many messages, each resuming
    // where the last one ended.
    let bmr = config.bmr.as_slice();
    let mut next = dump.cursor();
    let fmrs = fmrs.rules().get(next.saturating_sub(bmr.len())..).unwrap_or(&[]);
    let bmr = bmr.get(next..).unwrap_or(&[]).iter().map(|r| (genl::RULE_KIND_BMR, r));
    for (kind, rule) in Iterator::chain(bmr, fmrs.iter().map(|r| (genl::RULE_KIND_FMR, r))) {
        let added = dump.add(cmd::RULE_GET, |message| {
            message.put(attr::IFINDEX, &ifindex.to_ne_bytes())?;
            message.put(attr::RULE_KIND, &[kind])?;
            put_rule(message, attr::RULE, rule)
        });
        if !added {
            break;
        }
        next += 1;
    }
    dump.set_cursor(next);
    dump.len()
}

// --- the family

static OPS: [b::genl_small_ops; 9] = [
    op(cmd::DEV_GET, doit!(dev_get), dumpit!(dev_dump), false),
    op(cmd::DEV_SET, doit!(dev_set), None, true),
    op(cmd::RULE_ADD, doit!(rule_add), None, true),
    op(cmd::RULE_DEL, doit!(rule_del), None, true),
    op(cmd::RULE_GET, None, dumpit!(rule_dump), false),
    op(cmd::RULE_FLUSH, doit!(rule_flush), None, true),
    op(cmd::CONFIG_SET, doit!(config_set), None, true),
    op(cmd::STATS_GET, doit!(stats_get), None, false),
    op(cmd::FMRS_STAGE, doit!(fmrs_stage), None, true),
];

static RULE_POLICY: Policy<{ rule_attr::MAX as usize + 1 }> = Policy([
    REJECT,
    exact_len(genl::IPV6_PREFIX_LEN),
    exact_len(genl::IPV4_PREFIX_LEN),
    policy(b::NLA_U8),
    policy(b::NLA_U8),
    policy(b::NLA_U8),
    policy(b::NLA_U16),
    policy(b::NLA_FLAG), // FORWARDING
    policy(b::NLA_FLAG), // LEGACY
]);

static POLICY: Policy<{ attr::MAX as usize + 1 }> = Policy([
    REJECT,                                     // 0
    policy(b::NLA_U32),                         // IFINDEX
    REJECT,                                     // IFNAME
    max_value(b::NLA_U8, 1),                    // ROLE
    max_value(b::NLA_U8, 1),                    // MODE
    exact_len(genl::IPV6_PREFIX_LEN),           // END_USER_PREFIX
    exact_len(genl::IPV6_PREFIX_LEN),           // DMR
    exact_len(16),                              // BR_ADDRESS
    policy(b::NLA_U32),                         // MTU
    nested(&RULE_POLICY),                       // BMR
    nested(&RULE_POLICY),                       // FMR
    max_value(b::NLA_U8, 1),                    // RULE_KIND
    nested(&RULE_POLICY),                       // RULE
    REJECT,                                     // STATS
    REJECT,                                     // MISSING
    REJECT,                                     // CE_IPV4
    REJECT,                                     // CE_PSID
    REJECT,                                     // CE_PSID_LEN
    REJECT,                                     // CE_MAP_ADDRESS
    REJECT,                                     // FMR_COUNT
    max_value(b::NLA_U8, genl::CLEAR_ALL as i16), // CLEAR
    exact_len(genl::IPV4_PREFIX_LEN),           // IPV4_ADDRESS
    max_value(b::NLA_U8, 1),                    // PORT_MAPPING
    policy(b::NLA_FLAG),                        // FMRS_STAGE_START
    policy(b::NLA_FLAG),                        // FMRS_STAGED
    exact_len(genl::IPV4_PREFIX_LEN),           // ICMP_SOURCE_POOL
    max_value(b::NLA_U8, 1),                    // TRANSLATE_ON_RECEIVE
]);

static FAMILY: Family = Family::new();

/// A closing socket's staged FMRs are freed with it: nothing else would take them.
static SOCKET_RELEASE: SocketRelease = SocketRelease::new(socket_released);

/// Ends what the socket at `portid` of `net` staged on the instances of `net`. (An instance
/// moved to another namespace since ended it on arrival, or if a request held its control
/// mutex then, keeps it until its next FMRS_STAGE_START or CONFIG_SET: no other socket can
/// take it, as none has the closed one's cookie.)
fn socket_released(net: &Net, portid: u32) {
    // (a staging is made under the instance's control mutex by the socket's own request,
    // which has returned before its socket closes: none of this socket's can be missed here)
    if !Staging::any() {
        return;
    }
    // One device at a time, found under the RTNL and referenced, then locked without it
    // (a change takes the RTNL under its device's control mutex).
    let mut from = 0;
    loop {
        let mut found = None;
        net.for_each_device_from(&Rtnl::lock(), &mut from, |dev| match MapmintDevice::of(dev) {
            Some(dev) if dev.instance().may_stage_for(portid) => {
                found = Some(ARef::from(dev));
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        });
        let Some(dev) = found else {
            return;
        };
        dev.instance().lock_control().end_staging_of(portid);
        from += 1;
    }
}

/// Registers the release notifier for staged FMRs; unregistered when the result is dropped.
pub(crate) fn register_socket_release() -> Result<SocketReleaseRegistration> {
    SOCKET_RELEASE.register()
}

/// Registers the family; unregistered when the result is dropped.
pub(crate) fn register(module: &'static ThisModule) -> Result<FamilyRegistration> {
    FAMILY.register(genl::FAMILY_NAME_NUL, genl::FAMILY_VERSION, &POLICY, &OPS, module)
}
