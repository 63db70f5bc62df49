/* SPDX-License-Identifier: GPL-2.0 */
/* What the Rust side needs from shim.c: 6.12's module! macro has no module parameters. */
#ifndef MAPMINT_SHIM_H
#define MAPMINT_SHIM_H

/*
 * The default device's configuration as given to insmod, each NULL when not given. The
 * values use the configuration file's syntax (parsed by the MAP core in Rust).
 */
struct mapmint_params {
	char *ipv4_address;
	char *role;
	char *mode;
	char *end_user_prefix;
	char *bmr;
	char *fmr;
	char *dmr;
	char *br;
	char *mtu;
};

const struct mapmint_params *mapmint_module_params(void);

#endif
