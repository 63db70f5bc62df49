// SPDX-License-Identifier: GPL-2.0
//! Module parameters (declared in shim.c): the default device's configuration, in the
//! configuration file's syntax, parsed and checked by the MAP core.

use crate::bindings;
use crate::mapcore::config::Config;
use crate::mapcore::rule::Rule;
use kernel::prelude::*;
use kernel::str::CStr;

/// Builds the default device's configuration and its FMR (`fmr=`, one at most) from the
/// insmod command line. A bad value fails the load with EINVAL and a one-line reason in the
/// kernel log.
pub(crate) fn default_config() -> Result<(Config, Option<Rule>)> {
    // SAFETY: the module loader set the parameters before init; nothing changes them after
    // (they are read-only in sysfs), and the struct lives as long as the module.
    let p = unsafe { &*bindings::mapmint_module_params() };
    // (parameter name, configuration keyword, value)
    let given = [
        ("role", "role", p.role),
        ("mode", "mode", p.mode),
        ("end_user_prefix", "end-user-prefix", p.end_user_prefix),
        ("ipv4_address", "ipv4-address", p.ipv4_address),
        ("bmr", "bmr", p.bmr),
        ("fmr", "fmr", p.fmr),
        ("dmr", "dmr", p.dmr),
        ("br", "br", p.br),
        ("mtu", "mtu", p.mtu),
        ("port_mapping", "port-mapping", p.port_mapping),
    ];
    let mut config = Config::default();
    let mut fmr = None;
    for (param, keyword, raw) in given {
        if raw.is_null() {
            continue;
        }
        // SAFETY: a charp module parameter is a NUL-terminated string owned by the module
        // loader for the module's lifetime.
        let text = unsafe { CStr::from_char_ptr(raw) };
        let Ok(text) = text.to_str() else {
            pr_err!("{}: not valid UTF-8\n", param);
            return Err(EINVAL);
        };
        match config.set(keyword, text.trim()) {
            Ok(rule) => fmr = fmr.or(rule),
            Err(e) => {
                pr_err!("{}=\"{}\": {}\n", param, text, e);
                return Err(EINVAL);
            }
        }
    }
    if let Err(e) = config.check() {
        pr_err!("module parameters: {}\n", e);
        return Err(EINVAL);
    }
    Ok((config, fmr))
}
