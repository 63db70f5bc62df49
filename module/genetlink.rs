// SPDX-License-Identifier: GPL-2.0
//! Safe generic netlink for the control plane (6.12's kernel crate has none): a family with
//! its policies and operations, the requests its handlers get, and the messages they send.
//! Every `unsafe` of the genetlink API lives here; `netlink` has the handlers.
//!
//! Families registered here have `parallel_ops`: genetlink's global mutex, which every family
//! without it shares (in every namespace), is not held while their handlers run. Handlers
//! serialise what they change themselves (each instance has its own mutex:
//! `instance::ControlGuard`).

use crate::bindings as b;
use crate::mapcore::genl as wire;
use crate::netdev::Net;
use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::prelude::*;

/// A handler's outcome: done, or refused with an errno whose message is in the extack.
pub(crate) type Outcome = core::result::Result<(), Refused>;

/// A refusal whose message is already written into the request's extack.
pub(crate) struct Refused(pub(crate) Error);

/// The reply or dump buffer is full.
pub(crate) fn emsgsize() -> Error {
    Error::from_errno(-(b::EMSGSIZE as i32))
}

/// Who sent a request: its socket's netlink port and the socket's cookie, which no other
/// socket has, before or after it (ports are taken again by the next socket bound to one,
/// and a socket's memory by the next socket: a staging that outlived its socket, on a
/// device moved to another namespace, is no later socket's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sender {
    pub(crate) portid: u32,
    cookie: u64,
}

/// The value of a validated attribute, or None for a missing one.
///
/// # Safety
/// `nla` is null or points to a netlink attribute that the kernel validated (its length
/// covers its header and lies inside the message), valid for `'a`.
unsafe fn attr_value<'a>(nla: *const b::nlattr) -> Option<&'a [u8]> {
    if nla.is_null() {
        return None;
    }
    // SAFETY: per the caller, the header is readable and nla_len >= the header size.
    let len = usize::from(unsafe { (*nla).nla_len }).saturating_sub(wire::NLA_HDRLEN);
    // SAFETY: per the caller, the value follows the header, `len` bytes long.
    Some(unsafe { core::slice::from_raw_parts(nla.cast::<u8>().add(wire::NLA_HDRLEN), len) })
}

/// Attribute `kind` of a parsed attribute table of family `family`, if present.
///
/// # Safety
/// `attrs` is null or the table genetlink parsed for `family` (maxattr + 1 entries) from a
/// message valid for `'a`.
unsafe fn parsed_attr<'a>(family: *const b::genl_family, attrs: *mut *mut b::nlattr, kind: u16) -> Option<&'a [u8]> {
    // SAFETY: per the caller, `family` is valid.
    let maxattr = unsafe { (*family).maxattr };
    if attrs.is_null() || u32::from(kind) > maxattr {
        return None;
    }
    // SAFETY: per the caller, `kind` <= maxattr indexes the table; its entries are null or
    // validated attributes of the message.
    unsafe { attr_value(*attrs.add(usize::from(kind))) }
}

/// Writes `args` into extack's own message buffer (NL_SET_ERR_MSG_FMT), truncated.
///
/// # Safety
/// `extack` is null or valid for writes, and unused by others meanwhile.
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

/// One doit request, parsed and validated against the family's policy by genetlink.
pub(crate) struct Request<'a> {
    info: &'a b::genl_info,
    /// The request's skb (its control buffer names the sending socket).
    skb: &'a b::sk_buff,
}

/// The netlink and genetlink headers before a request's attributes.
const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;

impl<'a> Request<'a> {
    /// # Safety
    /// `skb` and `info` are what genetlink passes to a doit of a family registered here,
    /// valid for `'a`, during which the extack is ours to write.
    pub(crate) unsafe fn from_raw(skb: *mut b::sk_buff, info: *mut b::genl_info) -> Self {
        // SAFETY: per the caller.
        unsafe { Request { info: &*info, skb: &*skb } }
    }

    /// The validated attribute `kind`'s value, if present.
    pub(crate) fn attr(&self, kind: u16) -> Option<&'a [u8]> {
        // SAFETY: genetlink parsed the message into `attrs` against the family's policy
        // before calling the handler; the message outlives it (see from_raw).
        unsafe { parsed_attr(self.info.family, self.info.attrs, kind) }
    }

    pub(crate) fn u8_attr(&self, kind: u16) -> Option<u8> {
        match self.attr(kind)? {
            &[v] => Some(v),
            _ => None,
        }
    }

    pub(crate) fn u32_attr(&self, kind: u16) -> Option<u32> {
        let bytes: [u8; 4] = self.attr(kind)?.try_into().ok()?;
        Some(u32::from_ne_bytes(bytes))
    }

    /// All attributes of the message, after the genetlink header (for attributes that may
    /// repeat, which the parsed table holds once).
    pub(crate) fn attributes(&self) -> &'a [u8] {
        let nlh = self.info.nlhdr;
        // SAFETY: `nlhdr` is the validated request; its nlmsg_len covers the whole message,
        // which starts with the netlink and genetlink headers (checked by genetlink).
        unsafe {
            let total = (*nlh).nlmsg_len as usize;
            let start = NLMSG_HDRLEN + GENL_HDRLEN;
            if total <= start {
                return &[];
            }
            core::slice::from_raw_parts(nlh.cast::<u8>().add(start), total - start)
        }
    }

    /// The requester's network namespace.
    pub(crate) fn net(&self) -> &'a Net {
        // SAFETY: the requesting socket's namespace lives while its request is handled.
        unsafe { Net::from_raw(b::genl_info_net(self.info)) }
    }

    /// The requesting socket.
    pub(crate) fn sender(&self) -> Sender {
        // SAFETY: NETLINK_CB(skb): a request skb's control buffer holds its netlink
        // parameters, `sk` the sending socket (alive while its request is handled).
        let socket = unsafe { (*self.skb.cb.as_ptr().cast::<b::netlink_skb_parms>()).sk };
        let mut cookie = [0u32; 2];
        // SAFETY: the socket is alive (above); sock_diag_save_cookie gives it its cookie if
        // it had none (atomically) and writes it as two halves, low first.
        unsafe { b::sock_diag_save_cookie(socket, cookie.as_mut_ptr()) };
        Sender { portid: self.info.snd_portid, cookie: u64::from(cookie[0]) | u64::from(cookie[1]) << 32 }
    }

    /// Refuses with `errno`, telling the caller why (truncated to extack's 80 bytes).
    pub(crate) fn refuse(&self, errno: Error, args: fmt::Arguments<'_>) -> Refused {
        // SAFETY: the extack is null or the request's, ours during the handler (from_raw).
        unsafe { set_extack(self.info.extack, args) };
        Refused(errno)
    }

    /// Builds a reply of `size` payload bytes with `fill` and sends it to the requester.
    pub(crate) fn reply(&self, size: usize, command: u8, fill: impl FnOnce(&mut Message) -> Result) -> Outcome {
        // SAFETY: genlmsg_new allocates a fresh skb or returns null.
        let skb = unsafe { b::genlmsg_new(size, kernel::bindings::GFP_KERNEL) };
        if skb.is_null() {
            return Err(self.refuse(ENOMEM, format_args!("out of memory")));
        }
        let (portid, seq) = (self.info.snd_portid, self.info.snd_seq);
        // SAFETY: `skb` is ours; the family is the registered one of the request.
        let filled = unsafe { Message::start(skb, self.info.family, portid, seq, 0, command) }
            .ok_or_else(emsgsize)
            .and_then(|mut message| {
                fill(&mut message)?;
                message.end();
                Ok(())
            });
        if let Err(e) = filled {
            // SAFETY: the reply was not sent; the skb is still ours.
            unsafe { b::nlmsg_free(skb) };
            return Err(self.refuse(e, format_args!("reply does not fit")));
        }
        // SAFETY: genlmsg_reply consumes `skb`; `info` is the request being handled.
        let ret = unsafe { b::genlmsg_reply(skb, core::ptr::from_ref(self.info).cast_mut()) };
        if ret < 0 {
            return Err(Refused(Error::from_errno(ret)));
        }
        Ok(())
    }
}

/// One call of a dump: its request, the buffer to fill and the cursor kept between calls.
pub(crate) struct Dump<'a> {
    skb: *mut b::sk_buff,
    cb: &'a mut b::netlink_callback,
}

impl<'a> Dump<'a> {
    /// # Safety
    /// `skb` and `cb` are what genetlink passes to a dumpit of a family registered here,
    /// valid and ours for `'a`.
    pub(crate) unsafe fn from_raw(skb: *mut b::sk_buff, cb: *mut b::netlink_callback) -> Self {
        // SAFETY: per the caller.
        Dump { skb, cb: unsafe { &mut *cb } }
    }

    fn info(&self) -> &b::genl_dumpit_info {
        // SAFETY: genetlink's dump context, set up before the first dumpit call.
        unsafe { &*b::genl_dumpit_info(core::ptr::from_ref(&*self.cb).cast_mut()) }
    }

    /// The validated request attribute `kind` (genetlink parses dump requests too).
    pub(crate) fn attr(&self, kind: u16) -> Option<&[u8]> {
        let info = self.info();
        // SAFETY: the dump request's attribute table, parsed against the family's policy,
        // valid during the dump.
        unsafe { parsed_attr(info.info.family, info.info.attrs, kind) }
    }

    pub(crate) fn u32_attr(&self, kind: u16) -> Option<u32> {
        let bytes: [u8; 4] = self.attr(kind)?.try_into().ok()?;
        Some(u32::from_ne_bytes(bytes))
    }

    /// The requester's network namespace.
    pub(crate) fn net(&self) -> &'a Net {
        // SAFETY: `cb->skb` is the request, whose socket (and its namespace) lives during
        // the dump.
        unsafe { Net::from_raw(b::sock_net((*self.cb.skb).sk)) }
    }

    /// Where the previous call stopped (0 on the first call).
    pub(crate) fn cursor(&self) -> usize {
        // SAFETY: args is the plain array member of the callback's union (no dump context
        // of ours uses the other member).
        unsafe { self.cb.__bindgen_anon_1.args[0] as usize }
    }

    pub(crate) fn set_cursor(&mut self, cursor: usize) {
        // SAFETY: as in `cursor`.
        unsafe { self.cb.__bindgen_anon_1.args[0] = cursor as isize };
    }

    /// Marks what the messages of this call come from (a configuration's generation): a
    /// message after one from another marks the dump interrupted (NLM_F_DUMP_INTR), for the
    /// requester to ask again.
    pub(crate) fn set_generation(&mut self, generation: u32) {
        self.cb.seq = generation;
    }

    /// Refuses the dump with `errno`, telling the caller why: the dumpit's return value.
    pub(crate) fn refuse(&self, errno: Error, args: fmt::Arguments<'_>) -> i32 {
        // SAFETY: the callback's extack is null or the dump's, ours during the call.
        unsafe { set_extack(self.cb.extack, args) };
        errno.to_errno()
    }

    /// Adds one message for `command` filled by `fill`; false (and nothing added) when the
    /// buffer is full, for the next call to go on from there.
    pub(crate) fn add(&mut self, command: u8, fill: impl FnOnce(&mut Message) -> Result) -> bool {
        // SAFETY: NETLINK_CB(skb): the netlink parameters live in the request skb's control
        // buffer.
        let portid = unsafe { (*(*self.cb.skb).cb.as_ptr().cast::<b::netlink_skb_parms>()).portid };
        // SAFETY: the request header is valid during the dump.
        let seq = unsafe { (*self.cb.nlh).nlmsg_seq };
        let family = self.info().info.family;
        // SAFETY: the dump buffer is ours during the call; the family is the dump's.
        let Some(mut message) = (unsafe { Message::start(self.skb, family, portid, seq, b::NLM_F_MULTI as i32, command) })
        else {
            return false;
        };
        if fill(&mut message).is_err() {
            message.cancel();
            return false;
        }
        // SAFETY: the callback is ours during the call; the header is the message's, just
        // put in the dump buffer.
        unsafe { b::genl_dump_check_consistent(&raw mut *self.cb, message.header) };
        message.end();
        true
    }

    /// The bytes of messages in the buffer: a dumpit's return value (0 ends the dump).
    pub(crate) fn len(&self) -> i32 {
        // SAFETY: `skb` is the dump buffer.
        unsafe { (*self.skb).len as i32 }
    }
}

/// A message being built in a netlink skb; cancelled unless ended.
pub(crate) struct Message {
    skb: *mut b::sk_buff,
    header: *mut kernel::ffi::c_void,
}

impl Message {
    /// Starts a message in `skb` (a dump's buffer, or a new one for a reply).
    ///
    /// # Safety
    /// `skb` is a netlink skb owned by the caller while the message lives; `family` is a
    /// registered family.
    unsafe fn start(
        skb: *mut b::sk_buff,
        family: *const b::genl_family,
        portid: u32,
        seq: u32,
        flags: i32,
        command: u8,
    ) -> Option<Self> {
        // SAFETY: per the caller.
        let header = unsafe { b::genlmsg_put(skb, portid, seq, family, flags, command) };
        (!header.is_null()).then_some(Message { skb, header })
    }

    pub(crate) fn put(&mut self, kind: u16, value: &[u8]) -> Result {
        let len = i32::try_from(value.len()).map_err(|_| emsgsize())?;
        // SAFETY: `skb` is ours; nla_put copies `len` bytes from `value`.
        let ret = unsafe { b::nla_put(self.skb, i32::from(kind), len, value.as_ptr().cast()) };
        if ret < 0 {
            return Err(emsgsize());
        }
        Ok(())
    }

    /// A nested attribute `kind` holding what `fill` puts.
    pub(crate) fn nest(&mut self, kind: u16, fill: impl FnOnce(&mut Self) -> Result) -> Result {
        // SAFETY: `skb` is ours.
        let start = unsafe { b::nla_nest_start(self.skb, i32::from(kind)) };
        if start.is_null() {
            return Err(emsgsize());
        }
        if let Err(e) = fill(self) {
            // SAFETY: `start` was returned by nla_nest_start on this skb; this trims what
            // `fill` added since.
            unsafe { b::nla_nest_cancel(self.skb, start) };
            return Err(e);
        }
        // SAFETY: as above; what `fill` added lies behind `start`.
        unsafe { b::nla_nest_end(self.skb, start) };
        Ok(())
    }

    fn end(self) {
        // SAFETY: `header` was returned by genlmsg_put on `skb`.
        unsafe { b::genlmsg_end(self.skb, self.header) };
    }

    /// Removes the unfinished message from `skb`.
    fn cancel(self) {
        // SAFETY: as in `end`.
        unsafe { b::genlmsg_cancel(self.skb, self.header) };
    }
}

// --- families, operations, policies

/// The C signature of a doit.
pub(crate) type RawDoit = unsafe extern "C" fn(*mut b::sk_buff, *mut b::genl_info) -> i32;
/// The C signature of a dumpit.
pub(crate) type RawDumpit = unsafe extern "C" fn(*mut b::sk_buff, *mut b::netlink_callback) -> i32;

/// Runs a doit handler: its errno, with the extack message already set.
///
/// # Safety
/// As for [`Request::from_raw`].
pub(crate) unsafe fn run_doit(skb: *mut b::sk_buff, info: *mut b::genl_info, handler: fn(&Request<'_>) -> Outcome) -> i32 {
    // SAFETY: per the caller.
    match handler(&unsafe { Request::from_raw(skb, info) }) {
        Ok(()) => 0,
        Err(Refused(errno)) => errno.to_errno(),
    }
}

/// Runs a dumpit handler.
///
/// # Safety
/// As for [`Dump::from_raw`].
pub(crate) unsafe fn run_dumpit(skb: *mut b::sk_buff, cb: *mut b::netlink_callback, handler: fn(&mut Dump<'_>) -> i32) -> i32 {
    // SAFETY: per the caller.
    handler(&mut unsafe { Dump::from_raw(skb, cb) })
}

/// The C doit for a `fn(&Request) -> Outcome` handler.
macro_rules! doit {
    ($handler:path) => {{
        unsafe extern "C" fn doit(skb: *mut $crate::bindings::sk_buff, info: *mut $crate::bindings::genl_info) -> i32 {
            // SAFETY: genetlink calls doit with a valid, parsed request of our family.
            unsafe { $crate::genetlink::run_doit(skb, info, $handler) }
        }
        Some(doit as $crate::genetlink::RawDoit)
    }};
}
pub(crate) use doit;

/// The C dumpit for a `fn(&mut Dump) -> i32` handler.
macro_rules! dumpit {
    ($handler:path) => {{
        unsafe extern "C" fn dumpit(skb: *mut $crate::bindings::sk_buff, cb: *mut $crate::bindings::netlink_callback) -> i32 {
            // SAFETY: genetlink calls dumpit with the dump buffer and callback of our family.
            unsafe { $crate::genetlink::run_dumpit(skb, cb, $handler) }
        }
        Some(dumpit as $crate::genetlink::RawDumpit)
    }};
}
pub(crate) use dumpit;

/// One operation: `command` with its handlers; `admin`: only for CAP_NET_ADMIN in the user
/// namespace that owns the request's network namespace (GENL_UNS_ADMIN_PERM), the same test
/// rtnetlink applies to `ip link add`: a container's root configures the devices it may
/// create, and nothing outside its namespace.
pub(crate) const fn op(command: u8, doit: Option<RawDoit>, dumpit: Option<RawDumpit>, admin: bool) -> b::genl_small_ops {
    b::genl_small_ops {
        doit,
        dumpit,
        cmd: command,
        internal_flags: 0,
        flags: if admin { b::GENL_UNS_ADMIN_PERM as u8 } else { 0 },
        // Strict validation: unknown attributes, trailing data and bad sizes are refused.
        validate: 0,
    }
}

/// A policy table: raw pointers inside (nested policies), never written.
pub(crate) struct Policy<const N: usize>(pub(crate) [b::nla_policy; N]);
// SAFETY: the tables are immutable and point only at other immutable statics.
unsafe impl<const N: usize> Sync for Policy<N> {}

/// An attribute of type `kind` (NLA_U8, ...) without further checks.
pub(crate) const fn policy(kind: u32) -> b::nla_policy {
    b::nla_policy {
        type_: kind as u8,
        validation_type: 0,
        len: 0,
        // SAFETY: all-zero is "no further validation" for every member of the union.
        __bindgen_anon_1: unsafe { MaybeUninit::zeroed().assume_init() },
    }
}

/// NLA_POLICY_EXACT_LEN: a binary attribute of exactly `len` bytes.
pub(crate) const fn exact_len(len: usize) -> b::nla_policy {
    let mut p = policy(b::NLA_BINARY);
    p.validation_type = b::nla_policy_validation_NLA_VALIDATE_RANGE as u8;
    p.__bindgen_anon_1 = b::nla_policy__bindgen_ty_1 {
        __bindgen_anon_1: b::nla_policy__bindgen_ty_1__bindgen_ty_1 { min: len as i16, max: len as i16 },
    };
    p
}

/// NLA_POLICY_MAX: an integer no larger than `max`.
pub(crate) const fn max_value(kind: u32, max: i16) -> b::nla_policy {
    let mut p = policy(kind);
    p.validation_type = b::nla_policy_validation_NLA_VALIDATE_MAX as u8;
    p.__bindgen_anon_1 = b::nla_policy__bindgen_ty_1 {
        __bindgen_anon_1: b::nla_policy__bindgen_ty_1__bindgen_ty_1 { min: 0, max },
    };
    p
}

/// NLA_POLICY_NESTED: attributes checked against `nested`.
pub(crate) const fn nested<const N: usize>(nested: &'static Policy<N>) -> b::nla_policy {
    let mut p = policy(b::NLA_NESTED);
    p.len = (N - 1) as u16;
    p.__bindgen_anon_1 = b::nla_policy__bindgen_ty_1 { nested_policy: nested.0.as_ptr() };
    p
}

/// Replies-only attributes are refused in requests.
pub(crate) const REJECT: b::nla_policy = policy(b::NLA_REJECT);

/// A family; genetlink writes its id and list linkage on registration.
pub(crate) struct Family {
    family: UnsafeCell<b::genl_family>,
    /// Set by the one `register` call that may fill the family in.
    claimed: AtomicBool,
}
// SAFETY: written only by the `register` call that claimed it, before registration, and by
// genetlink under its lock.
unsafe impl Sync for Family {}

impl Family {
    pub(crate) const fn new() -> Self {
        Family {
            // SAFETY: all-zero is a valid, empty genl_family; `register` fills it in.
            family: UnsafeCell::new(unsafe { MaybeUninit::zeroed().assume_init() }),
            claimed: AtomicBool::new(false),
        }
    }

    /// Registers the family `name` (NUL-terminated, as on the wire) with the attributes
    /// 1..=N-1 checked against `policy` (N entries, 0 unused) and the operations `ops`,
    /// visible in every namespace; unregistered when the registration is dropped. Once only:
    /// EBUSY after that.
    pub(crate) fn register<const N: usize>(
        &'static self,
        name: &[u8],
        version: u8,
        policy: &'static Policy<N>,
        ops: &'static [b::genl_small_ops],
        module: &'static ThisModule,
    ) -> Result<FamilyRegistration> {
        if self.claimed.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        // SAFETY: claimed just now by this call alone, and not registered: nothing else
        // reads or writes the family.
        let family = unsafe { &mut *self.family.get() };
        let name_fits = name.len() <= family.name.len() && name.last() == Some(&0);
        if !name_fits || N == 0 || ops.len() > usize::from(u8::MAX) {
            return Err(EINVAL);
        }
        family.name[..name.len()].copy_from_slice(name);
        family.version = u32::from(version);
        family.maxattr = (N - 1) as u32;
        family.policy = policy.0.as_ptr();
        family.set_netnsok(1);
        // Handlers serialise themselves (`run_doit`, `run_dumpit`).
        family.set_parallel_ops(1);
        family.resv_start_op = 1;
        family.small_ops = ops.as_ptr();
        family.n_small_ops = ops.len() as u8;
        family.module = module.as_ptr().cast();
        // SAFETY: the family and everything it points to are statics.
        let ret = unsafe { b::genl_register_family(family) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(FamilyRegistration(self))
    }
}

/// A registered family; unregistered on drop (which waits for running handlers).
pub(crate) struct FamilyRegistration(&'static Family);

impl Drop for FamilyRegistration {
    fn drop(&mut self) {
        // SAFETY: registered in `Family::register`.
        unsafe { b::genl_unregister_family(self.0.family.get()) };
    }
}

/// Tells `released` of every generic netlink socket that closes (NETLINK_URELEASE): its
/// namespace and port, so that what a socket left in the kernel ends with it.
#[repr(C)]
pub(crate) struct SocketRelease {
    /// First: the notifier chain hands the callback this block's address.
    block: UnsafeCell<b::notifier_block>,
    released: fn(&Net, u32),
    claimed: AtomicBool,
}
// SAFETY: the block is written only by the `register` call that claimed it, before
// registration, and by the notifier chain under its own lock.
unsafe impl Sync for SocketRelease {}

impl SocketRelease {
    pub(crate) const fn new(released: fn(&Net, u32)) -> Self {
        SocketRelease {
            // SAFETY: all-zero is a valid, unregistered notifier_block; `register` fills it in.
            block: UnsafeCell::new(unsafe { MaybeUninit::zeroed().assume_init() }),
            released,
            claimed: AtomicBool::new(false),
        }
    }

    /// Registers the callback; unregistered when the registration is dropped (which waits
    /// for a running call). Once only: EBUSY after that.
    pub(crate) fn register(&'static self) -> Result<SocketReleaseRegistration> {
        if self.claimed.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        // SAFETY: claimed just now by this call alone, and not registered.
        let block = unsafe { &mut *self.block.get() };
        block.notifier_call = Some(socket_released);
        // SAFETY: the block is a static, filled in above.
        let ret = unsafe { b::netlink_register_notifier(block) };
        if ret < 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(SocketReleaseRegistration(self))
    }
}

/// The notifier chain's callback: runs in the closing task's context (may sleep), from
/// netlink_release, with the socket's namespace still referenced.
unsafe extern "C" fn socket_released(
    block: *mut b::notifier_block,
    action: kernel::ffi::c_ulong,
    data: *mut kernel::ffi::c_void,
) -> kernel::ffi::c_int {
    if action != b::NETLINK_URELEASE as kernel::ffi::c_ulong {
        return b::NOTIFY_DONE as kernel::ffi::c_int;
    }
    // SAFETY: NETLINK_URELEASE comes with the closing socket's netlink_notify.
    let notice = unsafe { &*data.cast::<b::netlink_notify>() };
    if notice.protocol != b::NETLINK_GENERIC as i32 {
        return b::NOTIFY_DONE as kernel::ffi::c_int;
    }
    // SAFETY: the block is the first field of a registered (static) SocketRelease.
    let this = unsafe { &*block.cast::<SocketRelease>() };
    // SAFETY: the closing socket holds its namespace until it is freed, after this call.
    (this.released)(unsafe { Net::from_raw(notice.net) }, notice.portid);
    b::NOTIFY_DONE as kernel::ffi::c_int
}

/// A registered [`SocketRelease`]; unregistered on drop.
pub(crate) struct SocketReleaseRegistration(&'static SocketRelease);

impl Drop for SocketReleaseRegistration {
    fn drop(&mut self) {
        // SAFETY: registered in `SocketRelease::register`; unregistering waits for the chain's
        // running callbacks.
        unsafe { b::netlink_unregister_notifier(self.0.block.get()) };
    }
}
