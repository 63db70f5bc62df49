/* SPDX-License-Identifier: GPL-2.0 */
/* What the Rust side needs from shim.c: 6.12's module! macro has no module parameters, and
 * bindgen cannot wrap the per-CPU pointer macros. */
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
	char *port_mapping;
};

const struct mapmint_params *mapmint_module_params(void);

/*
 * Per-CPU memory: __alloc_percpu, this_cpu_ptr and per_cpu_ptr are macros, which bindgen
 * cannot wrap. The allocation is zeroed.
 * `mapmint_this_cpu_ptr` needs preemption disabled to stay meaningful (it always returns a
 * valid CPU's area).
 */
void __percpu *mapmint_alloc_percpu(size_t size, size_t align);
void *mapmint_this_cpu_ptr(void __percpu *ptr);
void *mapmint_per_cpu_ptr(void __percpu *ptr, unsigned int cpu);
/* The next possible CPU after `cpu` (-1 for the first), or a value >= nr_cpu_ids when none. */
unsigned int mapmint_next_possible_cpu(int cpu);
unsigned int mapmint_nr_cpu_ids(void);

/*
 * Whether the stack forwards packets received on `dev`: IPv4 by the device's `forwarding`
 * setting (ip_route_input's test), IPv6 by the namespace's (ip6_forward's). The caller is an
 * RCU reader.
 */
struct net_device;
bool mapmint_forwards(const struct net_device *dev, bool ipv6);

/*
 * Whether `skb` came through an IPsec transformation (secpath_exists: xfrm_policy_check
 * then judges it as forwarded, whatever the namespace's policies).
 */
struct sk_buff;
bool mapmint_secpath_exists(const struct sk_buff *skb);

/*
 * The flow IPsec selects `skb` by (xfrm_decode_session: addresses, protocol, ports, ICMP
 * type and code, mark, IPv4's TOS), read from its network header of the family given; a
 * negative errno where there is no IPsec (ENOSYS) or no IPv6 (EAFNOSUPPORT), or on a
 * security module's error.
 */
struct net;
struct flowi;
int mapmint_ipsec_output_flow(struct net *net, struct sk_buff *skb, struct flowi *flow, bool ipv6);

/*
 * The device holding the address a locally delivered IPv6 packet was addressed to (its
 * input route's inet6_dev), or NULL when the packet has no such route. The caller is an
 * RCU reader.
 */
struct net_device *mapmint_delivered_to(const struct sk_buff *skb);

/*
 * The devices (mapmint's, of every namespace) that tunnel6's handler walks for the one a
 * packet delivered to an address of another interface is for: changed under the RTNL, read
 * under RCU. An entry lives in its device's private area, listed while the device is
 * registered (unregistering waits for a grace period after NETDEV_UNREGISTER, where it is
 * unlisted, before the device is freed). mapmint_next_listed returns the device after
 * `*cursor` (NULL: the first) and moves the cursor to it, or NULL at the end; the caller is
 * an RCU reader.
 */
struct mapmint_listed {
	struct list_head node;
	struct net_device *dev;
	bool listed;
};
void mapmint_list_device(struct mapmint_listed *entry, struct net_device *dev);
void mapmint_unlist_device(struct mapmint_listed *entry);
bool mapmint_is_listed(const struct mapmint_listed *entry);
struct net_device *mapmint_next_listed(struct mapmint_listed **cursor);

/*
 * Whether IPsec's inbound policies accept an IPv6 packet delivered locally to a tunnel
 * end (xfrm6_policy_check, which tunnel6 leaves to its handlers, as ip6tnl calls it).
 */
bool mapmint_ipsec_accepts_delivered(struct sk_buff *skb);

/*
 * An instance's control mutex. The generic netlink family has parallel_ops, so that its
 * handlers do not hold genetlink's global mutex (which every family without parallel_ops
 * shares, across namespaces) while they build a big table; each instance's own serialises
 * the changes of that instance instead, so that one instance's big table delays no other's.
 * (mutex_lock and mutex_init are macros under lockdep.)
 */
struct mutex;
void mapmint_control_mutex_init(struct mutex *mutex);
void mapmint_control_lock(struct mutex *mutex);
bool mapmint_control_trylock(struct mutex *mutex);
void mapmint_control_unlock(struct mutex *mutex);

#endif
