#!/bin/bash
# Scenario "instances": mapmint devices beyond the default one, in several namespaces.
#
#   init netns: mapmint (insmod), m1 (ip link add)
#   netns ns1:  m2 (ip link add inside ns1), route default -> m2
#   netns ns2:  m3 (created in init, moved into ns2)
#
# Checks: `ip link add/del NAME type mapmint` work anywhere; each device counts only its
# own drops; deleting a namespace deletes its devices; rmmod removes devices in every
# namespace with routes and traffic present.
. /tests/lib.sh

# namespaces_freed [SECONDS]: waits (up to SECONDS, 90 by default) until every deleted
# namespace is freed, which a work queue does some time after the last reference goes: until
# one more namespace than the named ones may be made under a limit of exactly that many (the
# count is released as it is freed).
namespaces_freed() {
	local limit named deadline=$((SECONDS + ${1:-90})) ok=1
	limit=$(cat /proc/sys/user/max_net_namespaces)
	named=$(ls /run/netns | wc -l)
	echo $((named + 1)) >/proc/sys/user/max_net_namespaces
	while :; do
		ip netns add freed-probe 2>/dev/null && { ok=0; break; }
		[ $SECONDS -lt $deadline ] || break
		sleep 0.2
	done
	echo "$limit" >/proc/sys/user/max_net_namespaces
	[ $ok = 0 ] && ip netns del freed-probe
	return $ok
}

ip link set lo up
check "insmod" insmod "$MODULE" ipv4_address=192.0.2.8/32
check "ip link add m1 type mapmint" ip link add m1 type mapmint
case "$(ip -d link show m1)" in
*"link/none"*"mapmint"*) pass "m1 is a mapmint link without link-layer header" ;;
*) fail "m1 is a mapmint link without link-layer header" "$(ip -d link show m1)" ;;
esac
check_eq "m1 has addrgenmode none" 1 "$(ip -d link show m1 | grep -c 'addrgenmode none')"
check_eq "the default device (insmod) has addrgenmode none" 1 "$(ip -d link show mapmint | grep -c 'addrgenmode none')"
check_fails "a second link named m1 is refused" ip link add m1 type mapmint

ip netns add ns1
ip netns add ns2
check "ip link add inside a namespace" ip -n ns1 link add m2 type mapmint
check_fails "m2 is not visible in the initial namespace" ip link show m2
check "ip link add m3, then move it to ns2" bash -c "ip link add m3 type mapmint && ip link set m3 netns ns2"
check "m3 is in ns2" ip -n ns2 link show m3
# (a namespace move sets up the device's IPv6 state afresh, from the new namespace's defaults)
check_eq "m3 moved to ns2 still has addrgenmode none" 1 "$(ip -n ns2 -d link show m3 | grep -c 'addrgenmode none')"

ip -n ns1 link set lo up
ip -n ns1 link set m2 up
ip -n ns1 addr add 192.0.2.9/32 dev m2
ip -n ns1 route add default dev m2
ip -n ns1 -6 route add 2001:db8:ce::/48 dev m2
ip -n ns1 -6 addr add 2001:db8:6::9/128 dev lo
ip netns exec ns1 ping -c 3 -i 0.2 -W 1 203.0.113.56 >/dev/null 2>&1
ip netns exec ns1 ping -6 -c 2 -i 0.2 -W 1 2001:db8:ce::1 >/dev/null 2>&1
check_eq "m2 in ns1 counted its 5 pings as drops" 5 "$(ip -n ns1 -s -j link show dev m2 | grep -o '"tx":{[^}]*}' | grep -o '"dropped":[0-9]*' | cut -d: -f2)"
check_eq "the default device counted nothing" 0 "$(link_stat mapmint tx dropped)"
check_eq "m1 counted nothing" 0 "$(link_stat m1 tx dropped)"

check "ip link del m1" ip link del m1
check_fails "m1 is gone" ip link show m1
check "ip netns del ns2 (holding m3)" ip netns del ns2
sleep 0.5
check_fails "m3 went with its namespace (not moved back)" bash -c "ip link show m3 || ip -n ns1 link show m3"

# Every namespace deleted before (ns2 here; in a boot that ran other scenarios first, theirs,
# which orphaned TCP sockets of theirs may hold for minutes) is freed first, so that the check
# below waits for namespace old alone.
check "namespaces deleted before freed (within 4 minutes)" namespaces_freed 240

# A device that sent translated packets remembers their routes (per CPU), and a route lives
# on its namespace's state. Moved out of that namespace, which is then deleted, the device
# must have let them go: releasing one afterwards would read the freed namespace (KASAN on the
# debug kernel reports it, and run-guest.sh fails the boot).
ip netns add old
ip -n old link set lo up
ip -n old link add m4 type mapmint
printf 'role ce\nmode t\nend-user-prefix 2001:db8:ce:11b::/64\nipv4-address 192.0.2.8/32\nbmr %s\ndmr 64:ff9b::/96\n' \
	"2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0" >/tmp/m4.conf
check "m4 in namespace old: a MAP-T CE" ip netns exec old mapminctl apply --config /tmp/m4.conf dev m4
ip -n old link add v0 type veth peer name v1
ip -n old -batch - <<-IP
	link set m4 up
	link set v0 up
	link set v1 up
	addr add 192.0.2.8/32 dev m4
	route add 203.0.113.0/24 dev m4
	route add 64:ff9b::/96 dev v0
IP
# (the CE's port set: ICMP identifiers too)
ip netns exec old nft -f - <<-NFT
	table ip nat {
		chain postrouting {
			type nat hook postrouting priority srcnat;
			oifname "m4" meta l4proto icmp snat to 192.0.2.8:55296-57343
		}
	}
NFT
ip netns exec old ping -c 2 -i 0.2 -W 1 203.0.113.56 >/dev/null 2>&1
check_eq "m4 translated its namespace's pings and sent them out (routed there)" 2 \
	"$(ip netns exec old mapminctl -j stats dev m4 | grep -o '"v4_to_v6_packets":[0-9]*' | cut -d: -f2)"
check "m4 moved to the initial namespace" ip -n old link set m4 netns 1
check "namespace old deleted, m4 living on" ip netns del old
check "namespace old freed" namespaces_freed
check "m4 deleted after the namespace it sent in is gone" ip link del m4
# (the routes' last references go after a grace period: time for KASAN to see a bad one)
sleep 2

# Unload with a device, routes and a flow still in ns1.
ip netns exec ns1 ping -i 0.05 203.0.113.56 >/dev/null 2>&1 &
pinger=$!
sleep 0.5
check "rmmod with devices in two namespaces and traffic" rmmod mapmint
kill "$pinger" 2>/dev/null
wait "$pinger" 2>/dev/null
check_fails "m2 is gone from ns1" ip -n ns1 link show m2
check_fails "the default device is gone" ip link show mapmint
check_eq "ns1's routes through m2 are gone" "" "$(ip -n ns1 route show default)"
ip netns del ns1
