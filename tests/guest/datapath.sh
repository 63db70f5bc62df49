#!/bin/bash
# Scenario "datapath": one MAP-T CE configured entirely by insmod parameters (the design
# card's one-liner), talking to an IPv6-only server that owns the DMR address of
# 203.0.113.56, so the CE's translation is checked both ways on a real kernel without a BR.
#
#   [ping/nc 203.0.113.56] -> SNAT 192.0.2.8:55296-57343 -> mapmint (CE, MAP-T)
#        -> IPv6 2001:db8:ce:11b:0:c000:208:1b -> 64:ff9b::cb00:7138 -> v0 ==== v1 [ns srv]
#   replies: ns srv -> v0 -> route 2001:db8:ce:11b::/64 dev mapmint -> IPv4 -> un-SNAT
#
# BMR 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0 gives 2001:db8:ce:11b::/64
# the address 192.0.2.8, PSID 27, ports 55296-57343 (the seed's Jool tutorial CE "11b").
. /tests/lib.sh

CE_MAP=2001:db8:ce:11b:0:c000:208:1b
SERVER6=64:ff9b::cb00:7138

ip link set lo up
check "insmod with a whole CE configuration" insmod "$MODULE" role=ce mode=t \
	end_user_prefix=2001:db8:ce:11b::/64 ipv4_address=192.0.2.8/32 \
	bmr=2001:db8:ce::/51,192.0.2.0/24,13,0 dmr=64:ff9b::/96
ip link set mapmint up
ip addr add 192.0.2.8/32 dev mapmint
ip route add default dev mapmint
ip -6 route add 2001:db8:ce:11b::/64 dev mapmint
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

ip netns add srv
ip link add v0 type veth peer name v1 netns srv
ip link set v0 up
ip -n srv link set v1 up
ip -n srv link set lo up
ip -6 addr add 2001:db8:1::1/64 dev v0 nodad
ip -n srv -6 addr add 2001:db8:1::2/64 dev v1 nodad
ip -n srv -6 addr add $SERVER6/128 dev lo
ip -6 route add 64:ff9b::/96 via 2001:db8:1::2
ip -n srv -6 route add 2001:db8:ce::/48 via 2001:db8:1::1

nft -f - <<'NFT'
table ip mapmint_nat {
	chain postrouting {
		type nat hook postrouting priority srcnat;
		oifname "mapmint" meta l4proto { tcp, udp, icmp } snat to 192.0.2.8:55296-57343
	}
}
NFT

check "ping 203.0.113.56 through the translator" ping -c 3 -i 0.2 -W 2 203.0.113.56
# The device sees both directions: 3 echo requests (IPv4 in) and 3 replies (IPv6 in).
check_eq "6 packets translated (tx)" 6 "$(link_stat mapmint tx packets)"
check_eq "6 translated packets handed back (rx)" 6 "$(link_stat mapmint rx packets)"
check_eq "nothing dropped" 0 "$(link_stat mapmint tx dropped)"

# TCP both ways: the server echoes what it gets.
ip netns exec srv nc -l -p 7000 -e cat &
server=$!
wait_listening srv tcp 7000
reply=$( (echo "hello over MAP-T"; sleep 1) | nc -w 3 203.0.113.56 7000)
check_eq "TCP echo through the translator" "hello over MAP-T" "$reply"
kill $server 2>/dev/null

# UDP both ways (the server answers from the address it is asked at, its DMR address).
ip netns exec srv mapmint-probe udp-echo "[$SERVER6]:7001" &
server=$!
wait_listening srv udp 7001
check_eq "UDP echo through the translator" "hello over MAP-T" "$(mapmint-probe udp-ask 203.0.113.56 7001 'hello over MAP-T')"
kill $server 2>/dev/null

# Without SNAT (the table and its hook gone), a local source port is outside the port set:
# the translator refuses the datagram.
check "the NAT table is deleted" nft delete table ip mapmint_nat
before=$(link_stat mapmint tx dropped)
mapmint-probe udp-ask --timeout 1 --bind 192.0.2.8:1234 203.0.113.56 7001 refused >/dev/null 2>&1
after=$(link_stat mapmint tx dropped)
if [ $((after - before)) -ge 1 ]; then
	pass "a source port outside the port set is dropped"
else
	fail "a source port outside the port set is dropped" "tx dropped went from $before to $after"
fi

# mapminctl stats after that traffic (ping 3, TCP, UDP, the refused port): both directions
# counted, agreeing with the link's counters, and the refusal counted by its reason.
stats=$(mapminctl -j stats)
from_stats() { echo "$stats" | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }
v46=$(from_stats v4_to_v6_packets)
v64=$(from_stats v6_to_v4_packets)
if [ "${v46:-0}" -ge 3 ] && [ "${v64:-0}" -ge 3 ]; then
	pass "stats: at least 3 packets translated each way"
else
	fail "stats: at least 3 packets translated each way" "$stats"
fi
check_eq "stats: the translated packets are the link's tx packets" "$(link_stat mapmint tx packets)" "$((v46 + v64))"
check_eq "stats: and the link's rx packets" "$(link_stat mapmint rx packets)" "$((v46 + v64))"
check_eq "stats: the translated bytes are the link's rx bytes" "$(link_stat mapmint rx bytes)" \
	"$(($(from_stats v4_to_v6_bytes) + $(from_stats v6_to_v4_bytes)))"
refusals=$(from_stats port-not-allowed)
if [ "${refusals:-0}" -ge 1 ]; then
	pass "stats: the refused source port counts as port-not-allowed"
else
	fail "stats: the refused source port counts as port-not-allowed" "$stats"
fi
drops=0
for n in $(echo "$stats" | grep -o '"drops":{[^}]*}' | grep -o ':[0-9]*' | tr -d :); do drops=$((drops + n)); done
check_eq "stats: drops and ICMP errors are the link's tx dropped" "$(link_stat mapmint tx dropped)" "$((drops + $(from_stats icmp_errors)))"
text=$(mapminctl stats)
echo "$text"
case "$text" in
*"v4-to-v6 packets $v46 "*"v6-to-v4 packets $v64 "*"        port-not-allowed $refusals"*) pass "stats in text: the same counts" ;;
*) fail "stats in text: the same counts" "$text" ;;
esac
check_eq "stats in text lists only the reasons that happened" "" \
	"$(echo "$text" | tail -n +6 | grep ' 0$')"

check "rmmod after traffic" rmmod mapmint
