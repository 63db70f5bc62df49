#!/bin/bash
# Scenario "demo" (the README's first command): load mapmint as a CE would, route IPv4 and
# the end-user IPv6 prefix into it, send a few pings, and show the link and its counters.
# Translation does not exist yet, so the pings are dropped and counted as tx drops.
. /tests/lib.sh

show() { echo "\$ $*" >&3; "$@" >&3 2>&1; }

ip link set lo up
ip -6 addr add 2001:db8:6::2/128 dev lo
show mapminctl --version
show insmod "$MODULE" ipv4_address=192.0.2.8/32
show ip link set mapmint up
show ip addr add 192.0.2.8/32 dev mapmint
show ip route add default dev mapmint
show ip -6 route add 2001:db8:ce:11b::/64 dev mapmint
show ip -d link show mapmint
show ping -c 3 -i 0.2 -W 1 203.0.113.56
show ping -6 -c 2 -i 0.2 -W 1 2001:db8:ce:11b::99
show ip -s link show mapmint
check_eq "5 pings counted as tx drops" 5 "$(link_stat mapmint tx dropped)"
show rmmod mapmint
