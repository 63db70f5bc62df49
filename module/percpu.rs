// SPDX-License-Identifier: GPL-2.0
//! Per-CPU storage, the way the packet path counts without sharing a cache line between
//! CPUs. 6.12's kernel crate has no per-CPU abstraction; this one is the little the module
//! needs: allocate zeroed, reach this CPU's copy, visit every copy, free.

use crate::bindings as b;
use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

/// Types for which all-zero bytes are a valid value (what `__alloc_percpu` hands out).
///
/// # Safety
/// An all-zero bit pattern must be a valid `Self`.
pub(crate) unsafe trait Zeroable: Sync {}

/// A per-CPU `T`, allocated later than it is constructed (a net_device's private area is
/// set up by a callback that cannot fail; allocation happens in `ndo_init`).
pub(crate) struct PerCpu<T: Zeroable> {
    /// The `__percpu` pointer, or null before `alloc` and after `free`.
    ptr: AtomicPtr<T>,
    _marker: PhantomData<T>,
}

// SAFETY: the per-CPU copies are `T: Sync`, reached through shared references only.
unsafe impl<T: Zeroable> Sync for PerCpu<T> {}
// SAFETY: as above; the allocation is not tied to a thread.
unsafe impl<T: Zeroable> Send for PerCpu<T> {}

impl<T: Zeroable> PerCpu<T> {
    /// Nothing allocated yet.
    pub(crate) const fn new() -> Self {
        PerCpu { ptr: AtomicPtr::new(ptr::null_mut()), _marker: PhantomData }
    }

    /// Allocates a zeroed `T` for every possible CPU.
    pub(crate) fn alloc(&self) -> Result {
        // SAFETY: plain allocation; the result is zeroed or null.
        let raw = unsafe { b::mapmint_alloc_percpu(size_of::<T>(), align_of::<T>()) };
        let raw = NonNull::new(raw.cast::<T>()).ok_or(ENOMEM)?;
        self.ptr.store(raw.as_ptr(), Ordering::Release);
        Ok(())
    }

    /// Frees the copies. The caller makes sure nobody uses them any more (device teardown).
    pub(crate) fn free(&self) {
        let raw = self.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
        if !raw.is_null() {
            // SAFETY: allocated by __alloc_percpu in `alloc`, swapped out so freed once.
            unsafe { b::free_percpu(raw.cast()) };
        }
    }

    /// This CPU's copy (None before allocation). Meant for contexts that cannot migrate
    /// (the transmit path runs with bottom halves disabled); elsewhere the copy is still a
    /// valid one, merely maybe another CPU's.
    pub(crate) fn this_cpu(&self) -> Option<&T> {
        let raw = self.ptr.load(Ordering::Acquire);
        if raw.is_null() {
            return None;
        }
        // SAFETY: a live per-CPU allocation (freed only at teardown, after the last user);
        // this_cpu_ptr gives a possible CPU's copy, a zero-initialised valid `T`.
        unsafe { b::mapmint_this_cpu_ptr(raw.cast()).cast::<T>().as_ref() }
    }

    /// Calls `f` with every possible CPU's copy.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&T)) {
        let raw = self.ptr.load(Ordering::Acquire);
        if raw.is_null() {
            return;
        }
        // SAFETY: reads globals the kernel set at boot.
        let nr_cpu_ids = unsafe { b::mapmint_nr_cpu_ids() };
        let mut cpu: i32 = -1;
        loop {
            // SAFETY: any value is a valid starting point for cpumask_next.
            let next = unsafe { b::mapmint_next_possible_cpu(cpu) };
            if next >= nr_cpu_ids {
                break;
            }
            // SAFETY: a possible CPU's copy of a live allocation, a valid `T`.
            if let Some(copy) = unsafe { b::mapmint_per_cpu_ptr(raw.cast(), next).cast::<T>().as_ref() } {
                f(copy);
            }
            cpu = next as i32;
        }
    }
}
