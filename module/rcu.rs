// SPDX-License-Identifier: GPL-2.0
//! RCU for the device (6.12's kernel crate has none): a proof of being on the packet path,
//! a read-side guard, and a box published by one pointer swap whose old value is freed after
//! a grace period. The `unsafe` of reading and retiring RCU-published memory lives here.

use crate::bindings as b;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::alloc::{flags::GFP_KERNEL, AllocError, KBox};

/// Proof that the holder is on a packet path for `'a`: an RCU read-side critical section
/// with bottom halves off on this CPU (a device's transmit, a netfilter hook, what they
/// call), so that RCU-published memory stays valid and per-CPU state is this CPU's alone.
/// Neither `Send` nor `Sync`: it belongs to the CPU it was made on.
pub(crate) struct PacketContext<'a> {
    reader: RcuReader<'a>,
}

impl<'a> PacketContext<'a> {
    /// # Safety
    /// The caller is an RCU reader with bottom halves off for as long as the value lives.
    pub(crate) unsafe fn assume() -> Self {
        PacketContext { reader: RcuReader(PhantomData) }
    }

    /// The read-side section this context is.
    pub(crate) fn reader(&self) -> &RcuReader<'a> {
        &self.reader
    }
}

/// Proof of an RCU read-side critical section for `'a`.
pub(crate) struct RcuReader<'a>(PhantomData<(&'a (), *mut ())>);

/// rcu_read_lock until dropped (on the task that took it: neither `Send` nor `Sync`).
pub(crate) struct RcuGuard(PhantomData<*mut ()>);

impl RcuGuard {
    pub(crate) fn lock() -> RcuGuard {
        // SAFETY: rcu_read_lock may be taken in any context; the guard unlocks it on drop.
        unsafe { b::rcu_read_lock() };
        RcuGuard(PhantomData)
    }

    pub(crate) fn reader(&self) -> RcuReader<'_> {
        RcuReader(PhantomData)
    }
}

impl Drop for RcuGuard {
    fn drop(&mut self) {
        // SAFETY: locked in `lock`, on this task (the guard is not Send).
        unsafe { b::rcu_read_unlock() };
    }
}

/// A value behind an RCU pointer, or none: readers see one published value whole; a writer
/// replaces it with one pointer swap, and the old value is dropped once no reader can see it
/// (call_rcu: nothing waits). Writers are serialised by the lock whose token is `W`: they
/// replace with the token held exclusively, and read with it shared. The module waits for
/// the pending frees before it goes (rcu_barrier).
pub(crate) struct RcuBox<T, W> {
    current: AtomicPtr<Node<T>>,
    _writer: PhantomData<fn(&W)>,
}

/// A value ready to be published by [`RcuBox::replace`].
pub(crate) struct Ready<T>(KBox<Node<T>>);

impl<T> Ready<T> {
    pub(crate) fn value_mut(&mut self) -> &mut T {
        &mut self.0.value
    }
}

#[repr(C)]
struct Node<T> {
    /// First, so that the RCU callback finds the node from it.
    rcu: b::callback_head,
    value: T,
}

// SAFETY: readers on any CPU get `&T` (so T: Sync); the value is dropped on whichever CPU
// runs the RCU callback or the writer (so T: Send).
unsafe impl<T: Send + Sync, W> Sync for RcuBox<T, W> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync, W> Send for RcuBox<T, W> {}

impl<T: Send + Sync, W> RcuBox<T, W> {
    /// Empty.
    pub(crate) const fn new() -> Self {
        RcuBox { current: AtomicPtr::new(ptr::null_mut()), _writer: PhantomData }
    }

    /// The published value, for a reader: valid for as long as its read-side section.
    pub(crate) fn read<'a>(&'a self, _reader: &'a RcuReader<'_>) -> Option<&'a T> {
        // SAFETY: a published node stays valid until a grace period after it is replaced,
        // which cannot end inside the reader's section; `self` outlives the borrow.
        unsafe { self.current.load(Ordering::Acquire).as_ref() }.map(|node| &node.value)
    }

    /// The published value, for a writer: only writers replace it, and they hold the token
    /// exclusively to do so.
    pub(crate) fn read_serialised<'a>(&'a self, _writer: &'a W) -> Option<&'a T> {
        // SAFETY: replacements need the token exclusively, so none happens while it is
        // borrowed here; the value lives until replaced.
        unsafe { self.current.load(Ordering::Acquire).as_ref() }.map(|node| &node.value)
    }

    /// Publishes `value` if nothing is published yet (before anyone can reach the box);
    /// else gives it back.
    pub(crate) fn publish_first(&self, value: T) -> Result<Result<(), T>, AllocError> {
        let new = KBox::into_raw(Self::ready(value)?.0);
        match self.current.compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(Ok(())),
            // SAFETY: `new` came from KBox::into_raw just now and was never published.
            Err(_) => Ok(Err(KBox::into_inner(unsafe { KBox::from_raw(new) }).value)),
        }
    }

    /// `value` with the memory its publication takes, so that publishing cannot fail: a
    /// writer allocates before it changes anything it would have to undo.
    pub(crate) fn ready(value: T) -> Result<Ready<T>, AllocError> {
        // SAFETY: all-zero is a valid, unqueued callback head.
        let rcu = unsafe { core::mem::zeroed() };
        Ok(Ready(KBox::new(Node { rcu, value }, GFP_KERNEL)?))
    }

    /// Publishes `value`; the previous one is dropped once no reader can see it. Does not
    /// wait for that (the caller may hold locks a grace period must not wait under).
    pub(crate) fn replace(&self, _writer: &mut W, value: Ready<T>) {
        let old = self.current.swap(KBox::into_raw(value.0), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from KBox::into_raw and new readers cannot find it; its
            // callback head is its own and not queued (each node is retired once).
            unsafe { b::call_rcu(&raw mut (*old).rcu, Some(free_node::<T>)) };
        }
    }

    /// Drops the published value at once. Idempotent.
    ///
    /// # Safety
    /// No reader or writer can reach the box any more (its owner is being torn down).
    pub(crate) unsafe fn clear(&self) {
        let old = self.current.swap(ptr::null_mut(), Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from KBox::into_raw; per the caller, nobody sees it.
            drop(unsafe { KBox::from_raw(old) });
        }
    }
}

/// call_rcu's callback: the grace period after a replacement has passed.
unsafe extern "C" fn free_node<T>(head: *mut b::callback_head) {
    // SAFETY: `head` is the first field of a Node<T> that came from KBox::into_raw and that
    // no reader can see any more.
    drop(unsafe { KBox::from_raw(head.cast::<Node<T>>()) });
}
