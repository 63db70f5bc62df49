// SPDX-License-Identifier: GPL-2.0
//! Module parameters (declared in shim.c), parsed with the MAP core.

use crate::bindings;
use crate::mapcore::prefix::Ipv4Prefix;
use kernel::prelude::*;
use kernel::str::CStr;

/// The configuration given on the insmod command line.
pub(crate) struct Params {
    /// `ipv4_address=`: the CE's shared IPv4 address (or prefix).
    pub(crate) ipv4_address: Option<Ipv4Prefix>,
}

impl Params {
    /// Reads and validates every parameter; a bad one fails the load with EINVAL and a
    /// one-line reason in the kernel log.
    pub(crate) fn from_module_parameters() -> Result<Self> {
        // SAFETY: the getter only reads the parameter's pointer, which the module loader set
        // before init and nothing changes afterwards (the parameter is read-only in sysfs).
        let raw = unsafe { bindings::mapmint_param_ipv4_address() };
        let ipv4_address = if raw.is_null() {
            None
        } else {
            // SAFETY: a charp module parameter is a NUL-terminated string owned by the module
            // loader for the module's lifetime.
            let text = unsafe { CStr::from_char_ptr(raw) };
            Some(parse_ipv4_address(text)?)
        };
        Ok(Params { ipv4_address })
    }
}

fn parse_ipv4_address(text: &CStr) -> Result<Ipv4Prefix> {
    let Ok(text) = text.to_str() else {
        pr_err!("ipv4_address: not valid UTF-8, expected an IPv4 prefix such as 192.0.2.8/32\n");
        return Err(EINVAL);
    };
    Ipv4Prefix::parse(text).map_err(|reason| {
        pr_err!("ipv4_address=\"{}\": {}, expected an IPv4 prefix such as 192.0.2.8/32\n", text, reason);
        EINVAL
    })
}
