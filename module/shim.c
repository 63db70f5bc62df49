// SPDX-License-Identifier: GPL-2.0
/* Module parameters: only C can declare them in 6.12. Parsing happens in Rust. */
#include <linux/moduleparam.h>
#include "shim.h"

static char *ipv4_address;
module_param(ipv4_address, charp, 0444);
MODULE_PARM_DESC(ipv4_address, "the CE's IPv4 address or prefix, e.g. 192.0.2.8/32");

const char *mapmint_param_ipv4_address(void)
{
	return ipv4_address;
}
