// SPDX-License-Identifier: GPL-2.0
//! The generic netlink family "mapmint": the control plane of `mapminctl`. Command and
//! attribute numbers and the byte forms of rules come from the MAP core (`genl`), shared with
//! mapminctl. The kernel validates every attribute against the policies below before a
//! handler runs (strict validation); handlers then read values with the core's bounds-checked
//! walker and refuse bad combinations with an extack message.
//!
//! Every change builds a new configuration from the published one, checks it with the MAP
//! core, and publishes it whole (see `instance::Instance::publish`). Handlers run under the
//! genetlink mutex (no parallel_ops), which serialises changes.

use crate::bindings as b;
use crate::device::{instance_of, is_mapmint};
use crate::mapcore::config::{Config, MAX_FMRS};
use crate::mapcore::genl::{self, attr, cmd, rule_attr, stats_attr};
use crate::mapcore::prefix::Ipv6Prefix;
use crate::mapcore::rfc6052::Rfc6052Prefix;
use crate::mapcore::rule::Rule;
use crate::mapcore::table::RuleTable;
use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::mem::MaybeUninit;
use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::error::code::{EEXIST, EINVAL, ENODEV, ENOENT, ENOMEM, ENOSPC};
use kernel::prelude::*;

type Outcome = core::result::Result<(), Refused>;

/// The reply or dump buffer is full.
fn emsgsize() -> Error {
    Error::from_errno(-(b::EMSGSIZE as i32))
}

/// A refusal whose message is already written into the request's extack.
struct Refused(Error);

/// One doit request.
struct Request {
    info: *mut b::genl_info,
}

impl Request {
    /// The validated attribute `kind`'s value, if present.
    fn attr(&self, kind: u16) -> Option<&[u8]> {
        // SAFETY: genetlink parsed the message into `attrs` (attr::MAX + 1 entries) against
        // POLICY before calling the handler; the message outlives the handler.
        unsafe { attr_value(*(*self.info).attrs.add(usize::from(kind))) }
    }

    fn u8_attr(&self, kind: u16) -> Option<u8> {
        match self.attr(kind)? {
            &[v] => Some(v),
            _ => None,
        }
    }

    fn u32_attr(&self, kind: u16) -> Option<u32> {
        let bytes: [u8; 4] = self.attr(kind)?.try_into().ok()?;
        Some(u32::from_ne_bytes(bytes))
    }

    /// Refuses with `errno`, telling the caller why (truncated to extack's 80 bytes).
    fn refuse(&self, errno: Error, args: fmt::Arguments<'_>) -> Refused {
        // SAFETY: `info` is valid during the handler; extack may be null.
        unsafe { set_extack((*self.info).extack, args) };
        Refused(errno)
    }

    /// The mapmint device named by IFINDEX, in the requester's network namespace.
    fn device(&self) -> core::result::Result<DevRef, Refused> {
        let Some(ifindex) = self.u32_attr(attr::IFINDEX) else {
            return Err(self.refuse(EINVAL, format_args!("IFINDEX is required")));
        };
        let Ok(ifindex) = i32::try_from(ifindex) else {
            return Err(self.refuse(ENODEV, format_args!("no interface with index {ifindex}")));
        };
        // SAFETY: `info` is valid; genl_info_net gives the requester's namespace.
        let dev = unsafe { b::dev_get_by_index(b::genl_info_net(self.info), ifindex) };
        if dev.is_null() {
            return Err(self.refuse(ENODEV, format_args!("no interface with index {ifindex}")));
        }
        let dev = DevRef(dev);
        // SAFETY: `dev` holds a reference.
        if !unsafe { is_mapmint(dev.0) } {
            return Err(self.refuse(ENODEV, format_args!("interface {ifindex} is not a mapmint device")));
        }
        Ok(dev)
    }
}

/// A held reference to a net_device, put on drop.
struct DevRef(*mut b::net_device);

impl Drop for DevRef {
    fn drop(&mut self) {
        // SAFETY: the reference was taken by dev_get_by_index.
        unsafe { b::dev_put(self.0) };
    }
}

impl DevRef {
    /// A copy of the device's configuration, to change and publish.
    fn config_copy(&self) -> Result<KBox<Config>> {
        // SAFETY: a mapmint device; we hold a reference and run under the genetlink mutex,
        // which serialises configuration changes.
        let current = unsafe { (*instance_of(self.0)).config() };
        let copy = current.cloned().unwrap_or_default();
        Ok(KBox::new(copy, GFP_KERNEL)?)
    }

    /// Sets the device MTU if `config` names a new one, then publishes `config`; a refused
    /// MTU publishes nothing.
    fn publish(&self, req: &Request, config: KBox<Config>) -> Outcome {
        // SAFETY: as in config_copy.
        let old_mtu = unsafe { (*instance_of(self.0)).config() }.and_then(|c| c.mtu);
        if let Some(mtu) = config.mtu.filter(|mtu| Some(*mtu) != old_mtu) {
            // SAFETY: dev_set_mtu needs the RTNL, under which reg_state is stable; the
            // reference keeps the device alive. `ip link del` may have unregistered it since
            // it was looked up: an MTU change then would reach addrconf for a dying device,
            // which would take a reference on it that nothing puts.
            let (registered, ret, min, max) = unsafe {
                b::rtnl_lock();
                let registered = u32::from((*self.0).reg_state) == b::netdev_reg_state_NETREG_REGISTERED;
                let ret = if registered { b::dev_set_mtu(self.0, i32::from(mtu)) } else { 0 };
                b::rtnl_unlock();
                (registered, ret, (*self.0).min_mtu, (*self.0).max_mtu)
            };
            if !registered {
                return Err(req.refuse(ENODEV, format_args!("the interface is being removed")));
            }
            if ret < 0 {
                return Err(req.refuse(
                    Error::from_errno(ret),
                    format_args!("mtu {mtu}: the device takes {min} to {max}"),
                ));
            }
        }
        // SAFETY: as in config_copy.
        unsafe { (*instance_of(self.0)).publish(config) }.map_err(|e| req.refuse(e, format_args!("out of memory")))
    }
}

/// The value of a validated attribute, or None for a missing one.
///
/// # Safety
/// `nla` is null or points to a netlink attribute that the kernel validated (its length
/// covers its header and lies inside the message), valid for the returned lifetime.
unsafe fn attr_value<'a>(nla: *const b::nlattr) -> Option<&'a [u8]> {
    if nla.is_null() {
        return None;
    }
    // SAFETY: per the caller, the header is readable and nla_len >= the header size.
    let len = usize::from(unsafe { (*nla).nla_len }).saturating_sub(genl::NLA_HDRLEN);
    // SAFETY: per the caller, the value follows the header, `len` bytes long.
    Some(unsafe { core::slice::from_raw_parts(nla.cast::<u8>().add(genl::NLA_HDRLEN), len) })
}

/// Writes `args` into extack's own message buffer (NL_SET_ERR_MSG_FMT), truncated.
///
/// # Safety
/// `extack` is null or valid for writes.
unsafe fn set_extack(extack: *mut b::netlink_ext_ack, args: fmt::Arguments<'_>) {
    // SAFETY: per the caller.
    let Some(extack) = (unsafe { extack.as_mut() }) else {
        return;
    };
    let buf = &mut extack._msg_buf;
    let mut writer = Truncating { buf: &mut buf[..], len: 0, cut: false };
    let _ = writer.write_fmt(args);
    let (len, cut) = (writer.len, writer.cut);
    let mut end = len.min(buf.len() - 1);
    if cut {
        // Say that the text goes on; cut on a character boundary (the text is UTF-8).
        end = end.saturating_sub(3);
        while end > 0 && (buf[end] & 0xc0) == 0x80 {
            end -= 1;
        }
        buf[end..end + 3].copy_from_slice(b"...");
        end += 3;
    }
    buf[end] = 0;
    extack._msg = buf.as_ptr();
}

/// A fmt::Write into a fixed buffer that keeps what fits, leaving room for a NUL.
struct Truncating<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// Some text did not fit.
    cut: bool,
}

impl Write for Truncating<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len().saturating_sub(1 + self.len);
        let take = s.len().min(room);
        self.cut |= take < s.len();
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// The rule in a nested attribute's value, validated by the MAP core.
fn rule_from(req: &Request, nested: &[u8]) -> core::result::Result<Rule, Refused> {
    let find = |kind| genl::attributes(nested).find(|(k, _)| *k == kind).map(|(_, v)| v);
    let params = genl::rule_params_from(find).map_err(|e| req.refuse(EINVAL, format_args!("{e}")))?;
    Rule::new(params).map_err(|e| req.refuse(EINVAL, format_args!("{e}")))
}

fn rule_kind(req: &Request) -> core::result::Result<u8, Refused> {
    req.u8_attr(attr::RULE_KIND).ok_or_else(|| req.refuse(EINVAL, format_args!("RULE_KIND is required")))
}

fn nested_rule<'a>(req: &'a Request) -> core::result::Result<&'a [u8], Refused> {
    req.attr(attr::RULE).ok_or_else(|| req.refuse(EINVAL, format_args!("RULE is required")))
}

/// Applies the settings attributes shared by DEV_SET and CONFIG_SET.
fn apply_settings(req: &Request, config: &mut Config) -> Outcome {
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
    Ok(())
}

/// Checks `config` with the MAP core and publishes it on `dev`.
fn check_and_publish(req: &Request, dev: &DevRef, config: KBox<Config>, complete: bool) -> Outcome {
    config.check().map_err(|e| req.refuse(EINVAL, format_args!("{e}")))?;
    if complete {
        if let Some(what) = config.missing() {
            return Err(req.refuse(EINVAL, format_args!("incomplete configuration: no {what}")));
        }
    }
    dev.publish(req, config)
}

fn dev_set(req: &Request) -> Outcome {
    let dev = req.device()?;
    let mut config = dev.config_copy().map_err(|e| req.refuse(e, format_args!("out of memory")))?;
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
    }
    apply_settings(req, &mut config)?;
    check_and_publish(req, &dev, config, false)
}

fn config_set(req: &Request) -> Outcome {
    let dev = req.device()?;
    if req.attr(attr::ROLE).is_none() || req.attr(attr::MODE).is_none() {
        return Err(req.refuse(EINVAL, format_args!("ROLE and MODE are required")));
    }
    let mut config = KBox::new(Config::default(), GFP_KERNEL).map_err(|_| req.refuse(ENOMEM, format_args!("out of memory")))?;
    apply_settings(req, &mut config)?;
    if let Some(bmr) = req.attr(attr::BMR) {
        config.bmr = Some(rule_from(req, bmr)?);
    }
    // FMR may repeat, which the parsed attribute table cannot hold: walk the message.
    for (kind, value) in genl::attributes(message_attributes(req)) {
        if kind == attr::FMR {
            let rule = rule_from(req, value)?;
            config.fmrs.insert(rule).map_err(|e| req.refuse(EINVAL, format_args!("fmr {rule}: {e}")))?;
        }
    }
    check_and_publish(req, &dev, config, true)
}

/// All attributes of the request message, after the genetlink header.
fn message_attributes(req: &Request) -> &[u8] {
    // SAFETY: `nlhdr` is the validated request; its nlmsg_len covers the whole message, which
    // starts with the netlink and genetlink headers (checked by genetlink before the handler).
    unsafe {
        let nlh = (*req.info).nlhdr;
        let total = (*nlh).nlmsg_len as usize;
        let start = NLMSG_HDRLEN + GENL_HDRLEN;
        if total <= start {
            return &[];
        }
        core::slice::from_raw_parts(nlh.cast::<u8>().add(start), total - start)
    }
}

const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;

fn rule_add(req: &Request) -> Outcome {
    let dev = req.device()?;
    let kind = rule_kind(req)?;
    let rule = rule_from(req, nested_rule(req)?)?;
    let mut config = dev.config_copy().map_err(|e| req.refuse(e, format_args!("out of memory")))?;
    match kind {
        genl::RULE_KIND_BMR => {
            if config.bmr.is_some() {
                return Err(req.refuse(EEXIST, format_args!("a BMR is set already; delete it first")));
            }
            config.bmr = Some(rule);
        }
        _ => {
            config.fmrs.insert(rule).map_err(|e| {
                let errno = match e {
                    crate::mapcore::table::TableError::Full { .. } => ENOSPC,
                    _ => EEXIST,
                };
                req.refuse(errno, format_args!("fmr: {e}"))
            })?;
        }
    }
    check_and_publish(req, &dev, config, false)
}

fn rule_del(req: &Request) -> Outcome {
    let dev = req.device()?;
    let kind = rule_kind(req)?;
    let nested = nested_rule(req)?;
    let prefix = genl::attributes(nested)
        .find(|(k, _)| *k == rule_attr::IPV6_PREFIX)
        .and_then(|(_, v)| genl::decode_ipv6_prefix(v))
        .ok_or_else(|| req.refuse(EINVAL, format_args!("the rule's IPv6 prefix is required")))?;
    let mut config = dev.config_copy().map_err(|e| req.refuse(e, format_args!("out of memory")))?;
    let not_found = || req.refuse(ENOENT, format_args!("no such rule with IPv6 prefix {prefix}"));
    match kind {
        genl::RULE_KIND_BMR => {
            if config.bmr.map(|r| r.ipv6_prefix()) != Some(prefix) {
                return Err(not_found());
            }
            config.bmr = None;
        }
        _ => {
            let mut kept = RuleTable::<MAX_FMRS>::new();
            for rule in config.fmrs.iter().filter(|r| r.ipv6_prefix() != prefix) {
                // The rules came from a valid table, so they fit again.
                let _ = kept.insert(*rule);
            }
            if kept.len() == config.fmrs.len() {
                return Err(not_found());
            }
            config.fmrs = kept;
        }
    }
    check_and_publish(req, &dev, config, false)
}

fn rule_flush(req: &Request) -> Outcome {
    let dev = req.device()?;
    let mut config = dev.config_copy().map_err(|e| req.refuse(e, format_args!("out of memory")))?;
    match req.u8_attr(attr::RULE_KIND) {
        Some(genl::RULE_KIND_BMR) => config.bmr = None,
        Some(_) => config.fmrs.clear(),
        None => {
            config.bmr = None;
            config.fmrs.clear();
        }
    }
    check_and_publish(req, &dev, config, false)
}

/// A reply message being built; cancelled (freed) unless sent.
struct Reply {
    skb: *mut b::sk_buff,
    header: *mut core::ffi::c_void,
}

impl Reply {
    /// Starts a message in `skb` (a dump's buffer, or a new one for a reply).
    ///
    /// # Safety
    /// `skb` is a valid netlink skb owned by the caller.
    unsafe fn start(skb: *mut b::sk_buff, portid: u32, seq: u32, flags: i32, command: u8) -> Option<Self> {
        // SAFETY: per the caller; FAMILY is registered while handlers run.
        let header = unsafe { b::genlmsg_put(skb, portid, seq, FAMILY.0.get(), flags, command) };
        (!header.is_null()).then_some(Reply { skb, header })
    }

    fn put(&mut self, kind: u16, value: &[u8]) -> Result {
        let len = i32::try_from(value.len()).map_err(|_| emsgsize())?;
        // SAFETY: `skb` is ours; nla_put copies `len` bytes from `value`.
        let ret = unsafe { b::nla_put(self.skb, i32::from(kind), len, value.as_ptr().cast()) };
        if ret < 0 {
            return Err(emsgsize());
        }
        Ok(())
    }

    fn nest(&mut self, kind: u16, fill: impl FnOnce(&mut Self) -> Result) -> Result {
        // SAFETY: `skb` is ours.
        let start = unsafe { b::nla_nest_start(self.skb, i32::from(kind)) };
        if start.is_null() {
            return Err(emsgsize());
        }
        fill(self)?;
        // SAFETY: `start` was returned by nla_nest_start on this skb.
        unsafe { b::nla_nest_end(self.skb, start) };
        Ok(())
    }

    fn put_rule(&mut self, kind: u16, rule: &Rule) -> Result {
        let params = rule.params();
        self.nest(kind, |reply| {
            let mut result = Ok(());
            genl::rule_attributes(&params, |k, v| {
                if result.is_ok() {
                    result = reply.put(k, v);
                }
            });
            result
        })
    }

    /// Finishes the message.
    fn end(self) {
        // SAFETY: `header` was returned by genlmsg_put on `skb`.
        unsafe { b::genlmsg_end(self.skb, self.header) };
    }

    /// Removes the unfinished message from `skb` (a full dump buffer).
    fn cancel(self) {
        // SAFETY: as in `end`.
        unsafe { b::genlmsg_cancel(self.skb, self.header) };
    }
}

/// The description of one instance (DEV_GET).
fn fill_dev(reply: &mut Reply, dev: *mut b::net_device) -> Result {
    // SAFETY: `dev` is a mapmint device kept alive by the caller (reference or RCU), and
    // configuration changes are serialised with this handler.
    let (ifindex, name, config) = unsafe { ((*dev).ifindex, &(*dev).name, (*instance_of(dev)).config()) };
    let default = Config::default();
    let config = config.unwrap_or(&default);
    reply.put(attr::IFINDEX, &(ifindex as u32).to_ne_bytes())?;
    let name_len = name.iter().position(|c| *c == 0).map_or(name.len(), |n| n + 1);
    reply.put(attr::IFNAME, &name[..name_len])?;
    reply.put(attr::ROLE, &[genl::role_to_u8(config.role)])?;
    reply.put(attr::MODE, &[genl::mode_to_u8(config.mode)])?;
    if let Some(prefix) = config.end_user_prefix {
        reply.put(attr::END_USER_PREFIX, &genl::encode_ipv6_prefix(prefix))?;
    }
    if let Some(prefix) = config.ipv4_address {
        reply.put(attr::IPV4_ADDRESS, &genl::encode_ipv4_prefix(prefix))?;
    }
    if let Some(bmr) = &config.bmr {
        reply.put_rule(attr::BMR, bmr)?;
    }
    reply.put(attr::FMR_COUNT, &(config.fmrs.len() as u32).to_ne_bytes())?;
    if let Some(dmr) = config.dmr {
        reply.put(attr::DMR, &genl::encode_ipv6_prefix(dmr.prefix()))?;
    }
    if let Some(br) = config.br_address {
        reply.put(attr::BR_ADDRESS, &br.octets())?;
    }
    if let Some(mtu) = config.mtu {
        reply.put(attr::MTU, &u32::from(mtu).to_ne_bytes())?;
    }
    if let Some(Ok(mapping)) = config.ce_mapping() {
        reply.put(attr::CE_IPV4, &genl::encode_ipv4_prefix(mapping.ipv4))?;
        reply.put(attr::CE_PSID, &mapping.psid().to_ne_bytes())?;
        reply.put(attr::CE_PSID_LEN, &[mapping.psid_len()])?;
        reply.put(attr::CE_MAP_ADDRESS, &mapping.map_address.octets())?;
    }
    if let Some(what) = config.missing() {
        let mut text = [0u8; 24];
        let len = what.len().min(text.len() - 1);
        text[..len].copy_from_slice(&what.as_bytes()[..len]);
        reply.put(attr::MISSING, &text[..=len])?;
    }
    Ok(())
}

/// DEV_GET doit: one instance.
fn dev_get(req: &Request) -> Outcome {
    let dev = req.device()?;
    send_reply(req, cmd::DEV_GET, |reply| fill_dev(reply, dev.0))
}

/// STATS_GET doit: the instance's counters.
fn stats_get(req: &Request) -> Outcome {
    let dev = req.device()?;
    send_reply(req, cmd::STATS_GET, |reply| {
        // SAFETY: a mapmint device, referenced.
        let totals = unsafe { (*instance_of(dev.0)).totals() };
        // SAFETY: as above.
        let ifindex = unsafe { (*dev.0).ifindex } as u32;
        reply.put(attr::IFINDEX, &ifindex.to_ne_bytes())?;
        reply.nest(attr::STATS, |reply| {
            reply.put(stats_attr::V4_TO_V6_PACKETS, &totals.v4_to_v6_packets.to_ne_bytes())?;
            reply.put(stats_attr::V4_TO_V6_BYTES, &totals.v4_to_v6_bytes.to_ne_bytes())?;
            reply.put(stats_attr::V6_TO_V4_PACKETS, &totals.v6_to_v4_packets.to_ne_bytes())?;
            reply.put(stats_attr::V6_TO_V4_BYTES, &totals.v6_to_v4_bytes.to_ne_bytes())?;
            reply.put(stats_attr::ICMP_ERRORS, &totals.icmp_errors.to_ne_bytes())?;
            reply.nest(stats_attr::DROPS, |reply| {
                for (index, count) in totals.drops.iter().enumerate() {
                    reply.put(index as u16 + 1, &count.to_ne_bytes())?;
                }
                Ok(())
            })
        })
    })
}

/// Builds a reply with `fill` and sends it to the requester.
fn send_reply(req: &Request, command: u8, fill: impl FnOnce(&mut Reply) -> Result) -> Outcome {
    // SAFETY: genlmsg_new allocates a fresh skb or returns null.
    let skb = unsafe { b::genlmsg_new(REPLY_SIZE, kernel::bindings::GFP_KERNEL) };
    if skb.is_null() {
        return Err(req.refuse(ENOMEM, format_args!("out of memory")));
    }
    // SAFETY: `info` is valid during the handler.
    let (portid, seq) = unsafe { ((*req.info).snd_portid, (*req.info).snd_seq) };
    // SAFETY: `skb` is ours.
    let filled = unsafe { Reply::start(skb, portid, seq, 0, command) }.ok_or_else(emsgsize).and_then(|mut reply| {
        fill(&mut reply)?;
        reply.end();
        Ok(())
    });
    if let Err(e) = filled {
        // SAFETY: the reply was not sent; the skb is still ours.
        unsafe { b::nlmsg_free(skb) };
        return Err(req.refuse(e, format_args!("reply does not fit")));
    }
    // SAFETY: genlmsg_reply consumes `skb`.
    let ret = unsafe { b::genlmsg_reply(skb, req.info) };
    if ret < 0 {
        return Err(Refused(Error::from_errno(ret)));
    }
    Ok(())
}

/// A reply's payload size: one instance without its FMRs fits easily.
const REPLY_SIZE: usize = 2048;

/// What a dump callback needs.
struct Dump {
    skb: *mut b::sk_buff,
    cb: *mut b::netlink_callback,
}

impl Dump {
    fn portid_seq(&self) -> (u32, u32) {
        // SAFETY: `cb` and its request are valid during the dump callback.
        unsafe {
            let cb = &*self.cb;
            // NETLINK_CB(skb): the netlink parameters live in the skb's control buffer.
            let portid = (*(*cb.skb).cb.as_ptr().cast::<b::netlink_skb_parms>()).portid;
            (portid, (*cb.nlh).nlmsg_seq)
        }
    }

    fn net(&self) -> *mut b::net {
        // SAFETY: `cb->skb` is the request skb, whose socket lives during the dump.
        unsafe { b::sock_net((*(*self.cb).skb).sk) }
    }

    /// The validated request attribute `kind` (genetlink parsed the dump request too).
    fn attr(&self, kind: u16) -> Option<&[u8]> {
        // SAFETY: for a family with a policy, genetlink parsed the dump request into the
        // dumpit info's attrs (attr::MAX + 1 entries).
        unsafe {
            let info = b::genl_dumpit_info(self.cb);
            let attrs = (*info).info.attrs;
            if attrs.is_null() {
                return None;
            }
            attr_value(*attrs.add(usize::from(kind)))
        }
    }

    /// The dump's cursor (netlink_callback.args[0]).
    fn cursor(&self) -> &mut isize {
        // SAFETY: `cb` is valid and ours during the callback.
        unsafe { &mut (*self.cb).__bindgen_anon_1.args[0] }
    }

    /// Refuses the dump with `errno`, telling the caller why.
    fn refuse(&self, errno: Error, args: fmt::Arguments<'_>) -> i32 {
        // SAFETY: `cb` is valid during the callback; its extack may be null.
        unsafe { set_extack((*self.cb).extack, args) };
        errno.to_errno()
    }

    /// The bytes of messages in the dump buffer: a dump callback's return value.
    fn len(&self) -> i32 {
        // SAFETY: `skb` is the dump buffer.
        unsafe { (*self.skb).len as i32 }
    }
}

/// DEV_GET dump: every mapmint device in the requester's namespace.
fn dev_dump(dump: &Dump) -> i32 {
    let (portid, seq) = dump.portid_seq();
    let net = dump.net();
    let mut index = *dump.cursor() as usize;
    // SAFETY: the device table is walked under RCU, and each device used only inside it.
    unsafe { b::rcu_read_lock() };
    loop {
        // SAFETY: `net` is valid (see Dump::net); xa_find updates `index` to the entry's.
        let dev = unsafe { b::xa_find(&mut (*net).dev_by_index, &mut index, usize::MAX, XA_PRESENT) }
            .cast::<b::net_device>();
        if dev.is_null() {
            break;
        }
        // SAFETY: a device found under RCU stays valid until rcu_read_unlock.
        if unsafe { is_mapmint(dev) } {
            // SAFETY: the dump buffer is ours.
            let Some(mut reply) = (unsafe { Reply::start(dump.skb, portid, seq, b::NLM_F_MULTI as i32, cmd::DEV_GET) })
            else {
                break;
            };
            if fill_dev(&mut reply, dev).is_err() {
                reply.cancel();
                break;
            }
            reply.end();
        }
        index += 1;
    }
    // SAFETY: paired with the rcu_read_lock above.
    unsafe { b::rcu_read_unlock() };
    *dump.cursor() = index as isize;
    dump.len()
}

/// xarray's XA_PRESENT mark (a cast macro bindgen cannot evaluate).
const XA_PRESENT: b::xa_mark_t = 8;

/// RULE_GET dump: the rules of the instance named by IFINDEX, BMR first.
fn rule_dump(dump: &Dump) -> i32 {
    let Some(ifindex) = dump.attr(attr::IFINDEX).and_then(|v| <[u8; 4]>::try_from(v).ok()) else {
        return dump.refuse(EINVAL, format_args!("IFINDEX is required"));
    };
    let ifindex = u32::from_ne_bytes(ifindex) as i32;
    // SAFETY: `net` is valid during the dump; the reference is put by DevRef.
    let dev = unsafe { b::dev_get_by_index(dump.net(), ifindex) };
    if dev.is_null() {
        return dump.refuse(ENODEV, format_args!("no interface with index {ifindex}"));
    }
    let dev = DevRef(dev);
    // SAFETY: we hold a reference.
    if !unsafe { is_mapmint(dev.0) } {
        return dump.refuse(ENODEV, format_args!("interface {ifindex} is not a mapmint device"));
    }
    // SAFETY: reference held; dumps of a family without parallel_ops run under the genetlink
    // mutex, serialised with changes.
    let Some(config) = (unsafe { (*instance_of(dev.0)).config() }) else {
        return 0;
    };
    let (portid, seq) = dump.portid_seq();
    let bmr = config.bmr.iter().map(|r| (genl::RULE_KIND_BMR, r));
    let rules = Iterator::chain(bmr, config.fmrs.iter().map(|r| (genl::RULE_KIND_FMR, r)));
    let start = *dump.cursor() as usize;
    let mut next = start;
    for (kind, rule) in rules.skip(start) {
        // SAFETY: the dump buffer is ours.
        let Some(mut reply) = (unsafe { Reply::start(dump.skb, portid, seq, b::NLM_F_MULTI as i32, cmd::RULE_GET) }) else {
            break;
        };
        let filled = reply
            .put(attr::IFINDEX, &(ifindex as u32).to_ne_bytes())
            .and_then(|_| reply.put(attr::RULE_KIND, &[kind]))
            .and_then(|_| reply.put_rule(attr::RULE, rule));
        if filled.is_err() {
            reply.cancel();
            break;
        }
        reply.end();
        next += 1;
    }
    *dump.cursor() = next as isize;
    dump.len()
}

// --- the family and its registration

/// Runs a doit handler: the errno, with the extack message already set.
///
/// # Safety
/// `info` is the genl_info genetlink passes to doit.
unsafe fn run(info: *mut b::genl_info, handler: fn(&Request) -> Outcome) -> i32 {
    match handler(&Request { info }) {
        Ok(()) => 0,
        Err(Refused(errno)) => errno.to_errno(),
    }
}

macro_rules! doit {
    ($name:ident, $handler:ident) => {
        unsafe extern "C" fn $name(_skb: *mut b::sk_buff, info: *mut b::genl_info) -> i32 {
            // SAFETY: genetlink calls doit with a valid, parsed request.
            unsafe { run(info, $handler) }
        }
    };
}
doit!(dev_get_doit, dev_get);
doit!(dev_set_doit, dev_set);
doit!(rule_add_doit, rule_add);
doit!(rule_del_doit, rule_del);
doit!(rule_flush_doit, rule_flush);
doit!(config_set_doit, config_set);
doit!(stats_get_doit, stats_get);

unsafe extern "C" fn dev_dumpit(skb: *mut b::sk_buff, cb: *mut b::netlink_callback) -> i32 {
    dev_dump(&Dump { skb, cb })
}

unsafe extern "C" fn rule_dumpit(skb: *mut b::sk_buff, cb: *mut b::netlink_callback) -> i32 {
    rule_dump(&Dump { skb, cb })
}

const fn op(
    command: u8,
    doit: Option<unsafe extern "C" fn(*mut b::sk_buff, *mut b::genl_info) -> i32>,
    dumpit: Option<unsafe extern "C" fn(*mut b::sk_buff, *mut b::netlink_callback) -> i32>,
    admin: bool,
) -> b::genl_small_ops {
    b::genl_small_ops {
        doit,
        dumpit,
        cmd: command,
        internal_flags: 0,
        flags: if admin { b::GENL_ADMIN_PERM as u8 } else { 0 },
        // Strict validation: unknown attributes, trailing data and bad sizes are refused.
        validate: 0,
    }
}

static OPS: [b::genl_small_ops; 8] = [
    op(cmd::DEV_GET, Some(dev_get_doit), Some(dev_dumpit), false),
    op(cmd::DEV_SET, Some(dev_set_doit), None, true),
    op(cmd::RULE_ADD, Some(rule_add_doit), None, true),
    op(cmd::RULE_DEL, Some(rule_del_doit), None, true),
    op(cmd::RULE_GET, None, Some(rule_dumpit), false),
    op(cmd::RULE_FLUSH, Some(rule_flush_doit), None, true),
    op(cmd::CONFIG_SET, Some(config_set_doit), None, true),
    op(cmd::STATS_GET, Some(stats_get_doit), None, false),
];

/// A policy table: raw pointers inside (nested policies), never written.
struct Policy<const N: usize>([b::nla_policy; N]);
// SAFETY: the tables are immutable and point only at other immutable statics.
unsafe impl<const N: usize> Sync for Policy<N> {}

const fn policy(kind: u32) -> b::nla_policy {
    b::nla_policy {
        type_: kind as u8,
        validation_type: 0,
        len: 0,
        // SAFETY: all-zero is "no further validation" for every member of the union.
        __bindgen_anon_1: unsafe { MaybeUninit::zeroed().assume_init() },
    }
}

/// NLA_POLICY_EXACT_LEN: a binary attribute of exactly `len` bytes.
const fn exact_len(len: usize) -> b::nla_policy {
    let mut p = policy(b::NLA_BINARY);
    p.validation_type = b::nla_policy_validation_NLA_VALIDATE_RANGE as u8;
    p.__bindgen_anon_1 = b::nla_policy__bindgen_ty_1 {
        __bindgen_anon_1: b::nla_policy__bindgen_ty_1__bindgen_ty_1 { min: len as i16, max: len as i16 },
    };
    p
}

/// NLA_POLICY_MAX: an integer no larger than `max`.
const fn max_value(kind: u32, max: i16) -> b::nla_policy {
    let mut p = policy(kind);
    p.validation_type = b::nla_policy_validation_NLA_VALIDATE_MAX as u8;
    p.__bindgen_anon_1 = b::nla_policy__bindgen_ty_1 {
        __bindgen_anon_1: b::nla_policy__bindgen_ty_1__bindgen_ty_1 { min: 0, max },
    };
    p
}

/// NLA_POLICY_NESTED: attributes checked against `nested`.
const fn nested<const N: usize>(nested: &'static Policy<N>) -> b::nla_policy {
    let mut p = policy(b::NLA_NESTED);
    p.len = (N - 1) as u16;
    p.__bindgen_anon_1 = b::nla_policy__bindgen_ty_1 { nested_policy: nested.0.as_ptr() };
    p
}

/// Replies-only attributes are refused in requests.
const REJECT: b::nla_policy = policy(b::NLA_REJECT);

static RULE_POLICY: Policy<{ rule_attr::MAX as usize + 1 }> = Policy([
    REJECT,
    exact_len(genl::IPV6_PREFIX_LEN),
    exact_len(genl::IPV4_PREFIX_LEN),
    policy(b::NLA_U8),
    policy(b::NLA_U8),
    policy(b::NLA_U8),
    policy(b::NLA_U16),
    policy(b::NLA_FLAG),
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
]);

/// The family; genetlink writes its id and list linkage on registration.
struct Family(UnsafeCell<b::genl_family>);
// SAFETY: written only before registration (in `register`) and by genetlink under its lock.
unsafe impl Sync for Family {}

static FAMILY: Family = Family(UnsafeCell::new(
    // SAFETY: all-zero is a valid, empty genl_family; `register` fills it in.
    unsafe { MaybeUninit::zeroed().assume_init() },
));

/// The registered family; unregistered on drop.
pub(crate) struct GenlFamily(());

impl GenlFamily {
    pub(crate) fn register(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: not registered yet, so nothing else reads the family; module init runs once.
        let family = unsafe { &mut *FAMILY.0.get() };
        for (dst, src) in family.name.iter_mut().zip(genl::FAMILY_NAME_NUL) {
            *dst = *src;
        }
        family.version = u32::from(genl::FAMILY_VERSION);
        family.maxattr = u32::from(attr::MAX);
        family.policy = POLICY.0.as_ptr();
        family.set_netnsok(1);
        family.resv_start_op = 1;
        family.small_ops = OPS.as_ptr();
        family.n_small_ops = OPS.len() as u8;
        family.module = module.as_ptr().cast();
        // SAFETY: the family and everything it points to are statics.
        let ret = unsafe { b::genl_register_family(family) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(GenlFamily(()))
    }
}

impl Drop for GenlFamily {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; waits for running handlers.
        unsafe { b::genl_unregister_family(FAMILY.0.get()) };
    }
}
