/* SPDX-License-Identifier: GPL-2.0 */
/* What the Rust side needs from shim.c: 6.12's module! macro has no module parameters. */
#ifndef MAPMINT_SHIM_H
#define MAPMINT_SHIM_H

/* The ipv4_address= module parameter as given, or NULL when it was not given. */
const char *mapmint_param_ipv4_address(void);

#endif
