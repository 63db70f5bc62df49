//! The MAP core (see `map/mod.rs`). Everything lives under `map/` so the kernel module can
//! compile the very same source in with `#[path = "mapcore/src/map/mod.rs"] mod mapcore;`,
//! while this file only holds the attributes that belong to a crate root.
#![no_std]
#![forbid(unsafe_code)]

mod map;
pub use map::*;
