//! MAP core root. No `std`, no `alloc`, no dependencies: compiled by cargo for userspace and
//! compiled into the kernel module from this same file.

pub mod prefix;
