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
