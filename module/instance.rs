// SPDX-License-Identifier: GPL-2.0
//! One mapmint device's state, kept in its net_device's private area: the published
//! configuration, per-CPU counters, and the fragment cache. The device (`device`) creates
//! and tears it down, the transmit path (`datapath`) counts into it, the control plane
//! (`netlink`) publishes configurations and reads the counters.

use crate::bindings;
use crate::genetlink::Sender;
use crate::mapcore::config::Config;
use crate::mapcore::domain::{Derived, FragmentCache};
use crate::mapcore::index::{slots_needed, Fmrs, IndexError, RuleIndex};
use crate::mapcore::rule::Rule;
use crate::mapcore::xlat::DropReason;
use crate::percpu::{PerCpu, Zeroable};
use crate::netdev::Net;
use crate::netfilter::PreroutingHook;
use crate::rcu::{RcuBox, RcuGuard, RcuReader, Ready};
use crate::route::Routes;
use crate::skb::GroCells;
use crate::tunnel;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::{size_of, MaybeUninit};
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{fence, AtomicU16, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use kernel::alloc::{
    flags::{GFP_KERNEL, GFP_KERNEL_ACCOUNT, __GFP_NOWARN},
    AllocError, Flags, KBox, KVVec, VVec,
};
use kernel::prelude::*;
use kernel::sync::Arc;

pub(crate) use crate::mapcore::genl::MAX_FMRS;

/// A vector of a rule table or of its index: kvmalloc'ed while it fits in a page (a CE's few
/// rules take no page of their own), vmalloc'ed past that, so that a big table takes its size
/// rounded up to pages. (kvmalloc's kmalloc path rounds a big one up to a power of two, up
/// to twice its size: 64 bytes per rule instead of 56 at 65,536 rules.)
pub(crate) enum TableVec<T> {
    Small(KVVec<T>),
    Big(VVec<T>),
}

/// A table's size is the user's choice and its allocation's failure the user's answer
/// (ENOMEM, the old table kept): no allocation warning and stack dump in the kernel log,
/// which anyone who may configure a device (a container's root, under a memory cgroup's
/// limit) could otherwise fill.
pub(crate) fn without_warning(flags: Flags) -> Flags {
    flags | __GFP_NOWARN
}

impl<T> TableVec<T> {
    /// The most bytes a small vector holds.
    const SMALL_BYTES: usize = kernel::page::PAGE_SIZE;

    pub(crate) const fn new() -> Self {
        TableVec::Small(KVVec::new())
    }

    pub(crate) fn with_capacity(capacity: usize, flags: Flags) -> core::result::Result<Self, AllocError> {
        let flags = without_warning(flags);
        Ok(if capacity.saturating_mul(size_of::<T>()) <= Self::SMALL_BYTES {
            TableVec::Small(KVVec::with_capacity(capacity, flags)?)
        } else {
            TableVec::Big(VVec::with_capacity(capacity, flags)?)
        })
    }

    pub(crate) fn push(&mut self, value: T, flags: Flags) -> core::result::Result<(), AllocError> {
        let flags = without_warning(flags);
        match self {
            TableVec::Small(v) => v.push(value, flags),
            TableVec::Big(v) => v.push(value, flags),
        }
    }
}

impl<T: Clone> TableVec<T> {
    pub(crate) fn from_elem(value: T, n: usize, flags: Flags) -> core::result::Result<Self, AllocError> {
        let flags = without_warning(flags);
        let mut vec = TableVec::with_capacity(n, flags)?;
        match &mut vec {
            TableVec::Small(v) => v.extend_with(n, value, flags)?,
            TableVec::Big(v) => v.extend_with(n, value, flags)?,
        }
        Ok(vec)
    }

    pub(crate) fn extend_from_slice(&mut self, other: &[T], flags: Flags) -> core::result::Result<(), AllocError> {
        let flags = without_warning(flags);
        match self {
            TableVec::Small(v) => v.extend_from_slice(other, flags),
            TableVec::Big(v) => v.extend_from_slice(other, flags),
        }
    }
}

impl<T> Deref for TableVec<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            TableVec::Small(v) => v,
            TableVec::Big(v) => v,
        }
    }
}

impl<T> DerefMut for TableVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            TableVec::Small(v) => v,
            TableVec::Big(v) => v,
        }
    }
}

/// An instance's FMRs and their index, in memory charged to the memory cgroup of whoever
/// configured them (a BR's domain may have many). Immutable once built, and shared by
/// the published configurations that differ only in other settings.
pub(crate) type FmrTable = Fmrs<TableVec<Rule>, TableVec<u32>>;

/// Why rules could not become an [`FmrTable`].
pub(crate) enum FmrError {
    /// More than [`MAX_FMRS`].
    TooMany(usize),
    NoMemory,
    /// Two rules conflict (positions in the table).
    Conflict(IndexError),
}

impl From<kernel::alloc::AllocError> for FmrError {
    fn from(_: kernel::alloc::AllocError) -> Self {
        FmrError::NoMemory
    }
}

/// A random number, for the index's hash seed.
fn random_u64() -> u64 {
    // SAFETY: get_random_u64 has no preconditions and may be called from any context.
    unsafe { bindings::get_random_u64() }
}

/// Indexes `rules` (kept in their order) into a table.
pub(crate) fn fmr_table(rules: TableVec<Rule>) -> core::result::Result<Arc<FmrTable>, FmrError> {
    if rules.len() > MAX_FMRS {
        return Err(FmrError::TooMany(rules.len()));
    }
    let slots = TableVec::from_elem(0u32, slots_needed(rules.len()), GFP_KERNEL_ACCOUNT)?;
    let table = Fmrs::build(rules, slots, random_u64()).map_err(FmrError::Conflict)?;
    Ok(Arc::new(table, GFP_KERNEL)?)
}

/// A new vector with room for `extra` more rules than `rules`, which it starts with.
pub(crate) fn rules_with_room(rules: &[Rule], extra: usize) -> core::result::Result<TableVec<Rule>, FmrError> {
    let total = rules.len().saturating_add(extra);
    if total > MAX_FMRS {
        return Err(FmrError::TooMany(total));
    }
    let mut copy = TableVec::with_capacity(total, GFP_KERNEL_ACCOUNT)?;
    copy.extend_from_slice(rules, GFP_KERNEL_ACCOUNT)?;
    Ok(copy)
}

/// A published configuration, its FMRs, and what the packet path derives from them, computed
/// once.
struct Published {
    config: KBox<Config>,
    fmrs: Arc<FmrTable>,
    derived: Derived,
    /// Names this publication among all of the module's (never 0), so that a dump spanning
    /// several messages can tell whether they all came from one, even if the device it names
    /// was replaced by another with its index in the meantime.
    generation: u32,
}

impl Published {
    fn new(config: KBox<Config>, fmrs: Arc<FmrTable>, generation: u32) -> Published {
        let derived = Derived::of(&config, fmrs.len());
        Published { config, fmrs, derived, generation }
    }
}

/// The generations handed out so far, module-wide (a counter per device would restart at 1
/// on a new device that took an old one's index).
static GENERATIONS: AtomicU32 = AtomicU32::new(0);

/// A generation no publication has had (until 2^32 publications later), never 0.
fn next_generation() -> u32 {
    loop {
        let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if generation != 0 {
            return generation;
        }
    }
}

/// A configuration ready to publish ([`Instance::ready`]).
pub(crate) struct Publication(Ready<Published>);

/// FMRs sent in several messages (`FMRS_STAGE`), kept aside until a CONFIG_SET takes them: by
/// the socket that started them, and ended when it closes. kvmalloc'ed: it grows by doubling
/// and is copied into the table's vector once complete.
pub(crate) struct Staging {
    pub(crate) owner: Sender,
    pub(crate) rules: KVVec<Rule>,
    /// The owner's namespace, where the device was (its identity only: never followed).
    net: usize,
}

/// How many stagings exist, on every instance: a closing socket looks for its own only
/// while there are some (every generic netlink socket's closing is reported to the module).
static STAGINGS: AtomicUsize = AtomicUsize::new(0);

impl Staging {
    pub(crate) fn new(owner: Sender, net: &Net) -> Staging {
        STAGINGS.fetch_add(1, Ordering::Relaxed);
        Staging { owner, rules: KVVec::new(), net: net.as_raw() as usize }
    }

    /// Whether any instance holds a staging.
    pub(crate) fn any() -> bool {
        STAGINGS.load(Ordering::Relaxed) != 0
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        STAGINGS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Proof that an instance's control mutex is held, handed out only inside a [`ControlGuard`]
/// of that instance: shared to read what the mutex protects, exclusive to change it (so that
/// nothing read under it is still borrowed when it changes).
pub(crate) struct ControlToken(());

/// What only the control plane touches, under the instance's control mutex.
struct ControlOnly<T>(UnsafeCell<T>);

// SAFETY: every access goes through `get`, which takes the control mutex's token
// exclusively, or happens in `Instance::release`, when nothing else can reach the device.
unsafe impl<T: Send> Sync for ControlOnly<T> {}

impl<T> ControlOnly<T> {
    fn get<'a>(&'a self, _control: &'a mut ControlToken) -> &'a mut T {
        // SAFETY: the instance's control mutex serialises it (the token comes from a guard of
        // the instance this belongs to), and the token is borrowed exclusively for as long as
        // the reference lives.
        unsafe { &mut *self.0.get() }
    }
}

/// An instance's control mutex: a kernel mutex in the device's private area, initialised by
/// the device's setup ([`Instance::init_in_place`]).
struct ControlMutex(UnsafeCell<MaybeUninit<bindings::mutex>>);

// SAFETY: a kernel mutex is made to be shared between threads.
unsafe impl Sync for ControlMutex {}

pub(crate) struct Instance {
    /// The published configuration, or none for a device nobody configured yet. It is
    /// immutable once published: a change publishes a new one and frees the old one after an
    /// RCU grace period, so the transmit path (an RCU reader) sees one or the other whole.
    /// Changes are serialised by the instance's control mutex.
    published: RcuBox<Published, ControlToken>,
    /// Counters and the IPv4 Identification source, one copy per CPU: transmits on
    /// different CPUs share no cache line.
    per_cpu: PerCpu<CpuState>,
    /// First fragments seen, for the later ones (a BR sending to shared addresses). Safe
    /// for concurrent transmits (the device is LLTX).
    pub(crate) fragments: FragmentCache,
    /// Where a CE's translated inbound packets enter the stack again.
    pub(crate) gro: GroCells,
    /// The routes of the packets the device sends out itself.
    pub(crate) routes: Routes,
    /// Where the device takes its packets at receipt, while it is up with
    /// translate-on-receive.
    pub(crate) prerouting: PreroutingHook,
    /// The device's entry in the list of those that take MAP-E tunnel packets delivered to
    /// another interface's address (listed while registered).
    pub(crate) tunnel_end: tunnel::Listed,
    /// FMRs staged in chunks for the next CONFIG_SET.
    staging: ControlOnly<Option<Staging>>,
    /// Serialises the control plane's changes of this instance ([`Instance::lock_control`]).
    control: ControlMutex,
    /// The netlink port of the socket whose staging is here (0: none), set as the control
    /// mutex is released: where a closing socket must look, without taking every
    /// instance's mutex.
    staging_portid: AtomicU32,
    /// The namespace the device last moved to (its address; 0: none), until a holder of the
    /// control mutex has ended any staging from another one ([`Instance::moved_to`]).
    move_note: AtomicUsize,
}

impl Instance {
    pub(crate) const fn new() -> Self {
        Instance {
            published: RcuBox::new(),
            per_cpu: PerCpu::new(),
            fragments: FragmentCache::new(),
            gro: GroCells::new(),
            routes: Routes::new(),
            prerouting: PreroutingHook::new(),
            tunnel_end: tunnel::Listed::new(),
            staging: ControlOnly(UnsafeCell::new(None)),
            control: ControlMutex(UnsafeCell::new(MaybeUninit::uninit())),
            staging_portid: AtomicU32::new(0),
            move_note: AtomicUsize::new(0),
        }
    }

    /// Initialises the control mutex where the instance lies for good.
    ///
    /// # Safety
    /// Called once, on the instance in a new device's private area, before anything else can
    /// reach the device.
    pub(crate) unsafe fn init_in_place(&self) {
        // SAFETY: per the caller, nobody can take the mutex yet, and it does not move.
        unsafe { bindings::mapmint_control_mutex_init(self.control.0.get().cast()) };
    }

    /// Allocates what cannot be allocated in the infallible setup callback (ndo_init).
    ///
    /// # Safety
    /// `dev` is the device whose private area holds `self`, being registered.
    pub(crate) unsafe fn init(&self, dev: *mut bindings::net_device) -> Result {
        let allocated = self
            .per_cpu
            .alloc()
            // SAFETY: per the caller.
            .and_then(|()| unsafe { self.gro.init(dev) })
            // SAFETY: per the caller.
            .and_then(|()| unsafe { self.routes.init() });
        if let Err(e) = allocated {
            // register_netdevice runs no destructor when ndo_init fails: undo it here.
            // SAFETY: the device is not registered, so no packet is in flight.
            unsafe { self.release() };
            return Err(e);
        }
        // Spread each CPU's IPv4 Identification sequence over the 16-bit space.
        let mut spread: u16 = 0;
        self.per_cpu.for_each(|state| {
            state.ipv4_ident.store(spread, Ordering::Relaxed);
            spread = spread.wrapping_add(40503);
        });
        Ok(())
    }

    /// This CPU's counters and state; None before `init`.
    pub(crate) fn this_cpu(&self) -> Option<&CpuState> {
        self.per_cpu.this_cpu()
    }

    /// Takes the instance's control mutex (may sleep), for a change or a consistent read of
    /// its configuration; released when the guard is dropped. The caller holds no lock that
    /// a holder of it takes (the RTNL), nor another instance's.
    pub(crate) fn lock_control(&self) -> ControlGuard<'_> {
        // SAFETY: initialised by `init_in_place`, which the device's setup runs on the
        // private area before the device exists for anyone (instances live only there: the
        // `Driver::new` value goes straight into it).
        unsafe { bindings::mapmint_control_lock(self.control.0.get().cast()) };
        ControlGuard { instance: self, token: ControlToken(()), _task: PhantomData }
    }

    /// The control mutex if no one holds it (never waits): for the RTNL's holders, since a
    /// change takes the RTNL under the mutex.
    pub(crate) fn try_lock_control(&self) -> Option<ControlGuard<'_>> {
        // SAFETY: as in `lock_control`.
        let locked = unsafe { bindings::mapmint_control_trylock(self.control.0.get().cast()) };
        locked.then(|| ControlGuard { instance: self, token: ControlToken(()), _task: PhantomData })
    }

    /// Whether the socket at `portid` may hold a staging here (false: it holds none).
    pub(crate) fn may_stage_for(&self, portid: u32) -> bool {
        self.staging_portid.load(Ordering::Relaxed) == portid
    }

    /// The device is now in `net` (registered there, the RTNL held): a staging begun by a
    /// socket of another namespace is ended, since no socket can finish it (none there
    /// reaches the device, none here has the owner's cookie). The RTNL's holder must not wait
    /// for the control mutex (a holder of it may be waiting for the RTNL): if it is held, its
    /// holder ends the staging as it lets the mutex go ([`ControlGuard`]'s drop). Either this
    /// try finds the mutex free or that holder finds the note: the note is stored before a
    /// full barrier and the try, the holder unlocks before a full barrier and the check.
    pub(crate) fn moved_to(&self, net: &Net) {
        self.move_note.store(net.as_raw() as usize, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if let Some(mut control) = self.try_lock_control() {
            control.end_staging_after_move();
        }
    }

    /// Whether the current configuration asks for translate-on-receive.
    pub(crate) fn translates_on_receive(&self) -> bool {
        let guard = RcuGuard::lock();
        self.published(&guard.reader()).is_some_and(|(config, _, _)| config.translate_on_receive)
    }

    /// The current configuration, its FMRs' index and what is derived from them, if any,
    /// for a reader (the packet path).
    pub(crate) fn published<'a>(&'a self, reader: &'a RcuReader<'_>) -> Option<(&'a Config, RuleIndex<'a>, &'a Derived)> {
        self.published.read(reader).map(|p| (&*p.config, p.fmrs.index(), &p.derived))
    }

    /// Installs the first configuration of a device nobody can reach yet; EBUSY if it has
    /// one already.
    pub(crate) fn set_initial_config(&self, config: KBox<Config>, fmrs: Arc<FmrTable>) -> Result {
        match self.published.publish_first(Published::new(config, fmrs, next_generation()))? {
            Ok(()) => Ok(()),
            Err(_) => Err(EBUSY),
        }
    }

    /// `config` and its FMRs with the memory their publication takes: a change allocates
    /// before it touches the device (its MTU), so that nothing fails between the two.
    pub(crate) fn ready(config: KBox<Config>, fmrs: Arc<FmrTable>) -> Result<Publication> {
        Ok(Publication(RcuBox::<Published, ControlToken>::ready(Published::new(config, fmrs, 0))?))
    }

    /// Frees the configuration and the per-CPU state at device teardown (no reader is left
    /// then). Idempotent.
    ///
    /// # Safety
    /// The device is not registered (any more): no packet is in flight.
    pub(crate) unsafe fn release(&self) {
        // (unlisted at NETDEV_UNREGISTER, which every registered device meets before this)
        if self.tunnel_end.is_listed() {
            pr_warn!("a device released while listed as a tunnel end\n");
        }
        // SAFETY: per the caller.
        unsafe {
            self.gro.destroy();
            self.routes.destroy();
        }
        // SAFETY: per the caller, no packet or control request reaches the device any more.
        unsafe { self.published.clear() };
        // SAFETY: the device is gone (per the caller), so no control request reaches it.
        drop(unsafe { (*self.staging.0.get()).take() });
        self.per_cpu.free();
    }

    /// The counters summed over every CPU.
    pub(crate) fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        self.per_cpu.for_each(|state| {
            let sum = |total: &mut u64, counter: &AtomicU64| {
                *total = total.wrapping_add(counter.load(Ordering::Relaxed));
            };
            sum(&mut totals.v4_to_v6_packets, &state.v4_to_v6_packets);
            sum(&mut totals.v4_to_v6_bytes, &state.v4_to_v6_bytes);
            sum(&mut totals.v6_to_v4_packets, &state.v6_to_v4_packets);
            sum(&mut totals.v6_to_v4_bytes, &state.v6_to_v4_bytes);
            sum(&mut totals.input_bytes, &state.input_bytes);
            sum(&mut totals.icmp_errors, &state.icmp_errors);
            sum(&mut totals.on_receive_packets, &state.on_receive_packets);
            for (total, counter) in totals.drops.iter_mut().zip(state.drops.iter()) {
                sum(total, counter);
            }
        });
        totals
    }
}

/// An instance's control mutex, held: what the control plane reads and changes of the
/// instance, serialised with every other change of it.
pub(crate) struct ControlGuard<'a> {
    instance: &'a Instance,
    token: ControlToken,
    /// Not Send: a kernel mutex is unlocked by the task that locked it.
    _task: PhantomData<*mut ()>,
}

impl ControlGuard<'_> {
    /// The current configuration and FMRs, if any: they stay valid while the guard is held.
    pub(crate) fn config(&self) -> Option<(&Config, &Arc<FmrTable>)> {
        self.instance.published.read_serialised(&self.token).map(|p| (&*p.config, &p.fmrs))
    }

    /// Which configuration is published: a number no other one had (0: none is).
    pub(crate) fn generation(&self) -> u32 {
        self.instance.published.read_serialised(&self.token).map_or(0, |p| p.generation)
    }

    /// Starts a staging for `owner`, a socket of `net`, dropping the one before (anyone's).
    pub(crate) fn start_staging(&mut self, owner: Sender, net: &Net) {
        *self.staging() = Some(Staging::new(owner, net));
    }

    /// The FMRs staged for the next CONFIG_SET.
    pub(crate) fn staging(&mut self) -> &mut Option<Staging> {
        self.instance.staging.get(&mut self.token)
    }

    /// Ends the staging of the socket at `portid`, which closed. (A socket bound to that port
    /// since then loses its own: it hears ENOENT on its next chunk.)
    pub(crate) fn end_staging_of(&mut self, portid: u32) {
        let staging = self.staging();
        if staging.as_ref().is_some_and(|s| s.owner.portid == portid) {
            *staging = None;
        }
    }

    /// Takes the note of [`Instance::moved_to`], if any, and ends a staging begun by a socket
    /// of another namespace than the one noted.
    fn end_staging_after_move(&mut self) {
        let net = self.instance.move_note.swap(0, Ordering::Relaxed);
        let staging = self.staging();
        if net != 0 && staging.as_ref().is_some_and(|s| s.net != net) {
            *staging = None;
        }
    }

    /// Publishes a configuration; the previous one is freed once no reader can see it. Does
    /// not wait for that (taking the token exclusively ends every borrow of the configuration
    /// it handed out).
    pub(crate) fn publish(&mut self, mut publication: Publication) {
        publication.0.value_mut().generation = next_generation();
        self.instance.published.replace(&mut self.token, publication.0);
    }
}

impl Drop for ControlGuard<'_> {
    fn drop(&mut self) {
        // The hint follows the staging, whatever the holder did with it (0: none).
        let portid = self.staging().as_ref().map_or(0, |s| s.owner.portid);
        self.instance.staging_portid.store(portid, Ordering::Relaxed);
        // SAFETY: taken in `Instance::lock_control`.
        unsafe { bindings::mapmint_control_unlock(self.instance.control.0.get().cast()) };
        // A move that found the mutex held left its note for us (see `Instance::moved_to`).
        // If the mutex is taken again meanwhile, its new holder does this at its own drop.
        fence(Ordering::SeqCst);
        if self.instance.move_note.load(Ordering::Relaxed) != 0 {
            if let Some(mut control) = self.instance.try_lock_control() {
                control.end_staging_after_move();
            }
        }
    }
}

/// One CPU's share of an instance's counters. Only its own CPU writes them, with bottom
/// halves disabled, so an increment is a plain load and store (no locked instruction);
/// readers on other CPUs sum them.
#[repr(C)]
pub(crate) struct CpuState {
    v4_to_v6_packets: AtomicU64,
    v4_to_v6_bytes: AtomicU64,
    v6_to_v4_packets: AtomicU64,
    v6_to_v4_bytes: AtomicU64,
    /// Bytes of the translated packets as they entered the device.
    input_bytes: AtomicU64,
    /// ICMP errors sent back instead of a translation (Time Exceeded, Fragmentation Needed...).
    icmp_errors: AtomicU64,
    /// Translated packets taken at receipt (translate-on-receive).
    on_receive_packets: AtomicU64,
    /// Drops by [`DropReason::index`].
    drops: [AtomicU64; DropReason::COUNT],
    /// IPv4 Identification for translated packets that need a fresh one.
    pub(crate) ipv4_ident: AtomicU16,
}

// SAFETY: atomics of all-zero bytes are zero-valued atomics.
unsafe impl Zeroable for CpuState {}

/// Adds `n` to a counter only this CPU writes.
fn add(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl CpuState {
    /// A packet of `input_len` bytes came out translated as `output_len` bytes; `from_ipv6`:
    /// it entered as IPv6.
    pub(crate) fn translated(&self, from_ipv6: bool, input_len: usize, output_len: usize) {
        let (packets, bytes) = if from_ipv6 {
            (&self.v6_to_v4_packets, &self.v6_to_v4_bytes)
        } else {
            (&self.v4_to_v6_packets, &self.v4_to_v6_bytes)
        };
        add(packets, 1);
        add(bytes, output_len as u64);
        add(&self.input_bytes, input_len as u64);
    }

    pub(crate) fn dropped(&self, reason: DropReason) {
        if let Some(counter) = self.drops.get(reason.index()) {
            add(counter, 1);
        }
    }

    pub(crate) fn icmp_error(&self) {
        add(&self.icmp_errors, 1);
    }

    pub(crate) fn translated_on_receive(&self) {
        add(&self.on_receive_packets, 1);
    }
}

/// An instance's counters summed over every CPU.
#[derive(Default)]
pub(crate) struct Totals {
    pub(crate) v4_to_v6_packets: u64,
    pub(crate) v4_to_v6_bytes: u64,
    pub(crate) v6_to_v4_packets: u64,
    pub(crate) v6_to_v4_bytes: u64,
    pub(crate) input_bytes: u64,
    pub(crate) icmp_errors: u64,
    pub(crate) on_receive_packets: u64,
    pub(crate) drops: [u64; DropReason::COUNT],
}

impl Totals {
    /// Packets translated in both directions.
    pub(crate) fn translated(&self) -> u64 {
        self.v4_to_v6_packets.wrapping_add(self.v6_to_v4_packets)
    }

    /// Bytes of translated packets, as they left the translator.
    pub(crate) fn translated_bytes(&self) -> u64 {
        self.v4_to_v6_bytes.wrapping_add(self.v6_to_v4_bytes)
    }
}
