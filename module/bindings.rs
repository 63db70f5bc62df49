// SPDX-License-Identifier: GPL-2.0
//! Bindings generated at build time (see Kbuild and bindings_helper.h) for the kernel
//! interfaces 6.12's kernel crate does not cover.

#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    missing_docs,
    unreachable_pub,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    clippy::all
)]

// The kernel's bindgen_parameters leave these to Rust, as rust/bindings does.
type __kernel_size_t = usize;
type __kernel_ssize_t = isize;
type __kernel_ptrdiff_t = isize;

include!("bindings_generated.rs");

/// The errno that a returned pointer carries (IS_ERR: the last page of the address space,
/// `-MAX_ERRNO..0`), or None for a real pointer or null.
pub(crate) fn err_ptr_errno<T>(pointer: *const T) -> Option<i32> {
    /// include/linux/err.h.
    const MAX_ERRNO: isize = 4095;
    let value = pointer as isize;
    (-MAX_ERRNO..0).contains(&value).then_some(value as i32)
}
