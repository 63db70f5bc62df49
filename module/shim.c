// SPDX-License-Identifier: GPL-2.0
/* Module parameters (only C can declare them in 6.12; parsing happens in Rust), and the
 * per-CPU pointer and devconf macros as functions, the namespace's IPsec state (absent from
 * struct net without CONFIG_XFRM), the control plane's mutexes. */
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/cpumask.h>
#include <linux/inetdevice.h>
#include <linux/rculist.h>
#include <linux/rtnetlink.h>
#include <net/ipv6.h>
#include <net/xfrm.h>
#include <net/ip6_fib.h>
#include "shim.h"

static struct mapmint_params params;

#define MAPMINT_PARAM(name, desc)                               \
	module_param_named(name, params.name, charp, 0444);     \
	MODULE_PARM_DESC(name, desc)

MAPMINT_PARAM(ipv4_address, "the CE's IPv4 address or prefix, e.g. 192.0.2.8/32 (checked against the BMR)");
MAPMINT_PARAM(role, "ce or br");
MAPMINT_PARAM(mode, "t (MAP-T) or e (MAP-E)");
MAPMINT_PARAM(end_user_prefix, "the CE's End-user IPv6 prefix, e.g. 2001:db8:ce:11b::/64");
MAPMINT_PARAM(bmr, "Basic Mapping Rule: \"IPV6-PREFIX IPV4-PREFIX ea-len N [psid-offset A]\"");
MAPMINT_PARAM(fmr, "one Forwarding Mapping Rule, same syntax as bmr");
MAPMINT_PARAM(dmr, "MAP-T Default Mapping Rule (RFC 6052 prefix), e.g. 64:ff9b::/96");
MAPMINT_PARAM(br, "MAP-E: the BR's IPv6 address");
MAPMINT_PARAM(mtu, "the device MTU");
MAPMINT_PARAM(port_mapping, "CE: off (default) or contiguous: the NAPT fills one range as large as the port set, mapped to the set's ports");

const struct mapmint_params *mapmint_module_params(void)
{
	return &params;
}

void __percpu *mapmint_alloc_percpu(size_t size, size_t align)
{
	return __alloc_percpu(size, align);
}

void *mapmint_this_cpu_ptr(void __percpu *ptr)
{
	return this_cpu_ptr(ptr);
}

void *mapmint_per_cpu_ptr(void __percpu *ptr, unsigned int cpu)
{
	return per_cpu_ptr(ptr, cpu);
}

unsigned int mapmint_next_possible_cpu(int cpu)
{
	return cpumask_next(cpu, cpu_possible_mask);
}

unsigned int mapmint_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

bool mapmint_forwards(const struct net_device *dev, bool ipv6)
{
	struct in_device *in_dev;

	if (ipv6)
		return READ_ONCE(dev_net(dev)->ipv6.devconf_all->forwarding) != 0;
	in_dev = __in_dev_get_rcu(dev);
	return in_dev && IN_DEV_FORWARD(in_dev);
}

bool mapmint_secpath_exists(const struct sk_buff *skb)
{
	return secpath_exists(skb);
}

int mapmint_ipsec_output_flow(struct net *net, struct sk_buff *skb, struct flowi *flow, bool ipv6)
{
#ifdef CONFIG_XFRM
	return xfrm_decode_session(net, skb, flow, ipv6 ? AF_INET6 : AF_INET);
#else
	return -ENOSYS;
#endif
}

struct net_device *mapmint_delivered_to(const struct sk_buff *skb)
{
	const struct dst_entry *dst = skb_dst(skb);
	struct inet6_dev *idev;

	if (!dst || dst->ops->family != AF_INET6 || !(dst_rt6_info(dst)->rt6i_flags & RTF_LOCAL))
		return NULL;
	idev = ip6_dst_idev(dst);
	return idev ? idev->dev : NULL;
}

static LIST_HEAD(mapmint_listed_devices);

void mapmint_list_device(struct mapmint_listed *entry, struct net_device *dev)
{
	ASSERT_RTNL();
	if (entry->listed)
		return;
	entry->dev = dev;
	list_add_tail_rcu(&entry->node, &mapmint_listed_devices);
	entry->listed = true;
}

void mapmint_unlist_device(struct mapmint_listed *entry)
{
	ASSERT_RTNL();
	if (!entry->listed)
		return;
	list_del_rcu(&entry->node);
	entry->listed = false;
}

bool mapmint_is_listed(const struct mapmint_listed *entry)
{
	return entry->listed;
}

struct net_device *mapmint_next_listed(struct mapmint_listed **cursor)
{
	struct list_head *next =
		rcu_dereference(list_next_rcu(*cursor ? &(*cursor)->node : &mapmint_listed_devices));

	if (next == &mapmint_listed_devices)
		return NULL;
	*cursor = list_entry(next, struct mapmint_listed, node);
	return (*cursor)->dev;
}

bool mapmint_ipsec_accepts_delivered(struct sk_buff *skb)
{
	return xfrm6_policy_check(NULL, XFRM_POLICY_IN, skb);
}

void mapmint_control_mutex_init(struct mutex *mutex)
{
	/* one lock class for every instance's: none is taken inside another */
	mutex_init(mutex);
}

void mapmint_control_lock(struct mutex *mutex)
{
	mutex_lock(mutex);
}

bool mapmint_control_trylock(struct mutex *mutex)
{
	return mutex_trylock(mutex);
}

void mapmint_control_unlock(struct mutex *mutex)
{
	mutex_unlock(mutex);
}
