/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel headers the module's generated bindings (bindings_generated.rs) come from. */
#include <linux/if_arp.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <net/addrconf.h>
#include <net/rtnetlink.h>
#include <net/genetlink.h>
#include <net/icmp.h>
#include <net/ip.h>
#include <net/gso.h>
#include <net/ip_tunnels.h>
#include <net/gro_cells.h>
#include <net/ip6_route.h>
#include <net/route.h>
#include <linux/icmpv6.h>
#include <linux/random.h>
#include <linux/sock_diag.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <net/xfrm.h>
#include "shim.h"
