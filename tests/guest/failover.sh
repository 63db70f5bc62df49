#!/bin/bash
# Scenario "failover": two BRs with the same rules behind an ECMP route at the ISP router,
# in MAP-T and in MAP-E (where both BRs answer the same anycast BR address). A download
# through one BR continues when that BR's mapmint device is deleted mid-transfer and its
# routes are withdrawn: MAP keeps no per-flow state at the BR, so the other BR carries the
# same connection on. This is what lets BRs scale out across machines.
#
#   c1 ── [ce11b] ── [isp] ══ECMP══ br1 (wan 2001:db8:100:6::2, srv 203.0.113.1) ──┐
#                          ╚═══════ br2 (wan 2001:db8:100:7::2, srv 203.0.113.2) ──┴─ [server]
#
# The server reaches 192.0.2.0/24 through one BR at a time (the test kernel has no IPv4
# multipath); the test points it at the BR the ISP's ECMP picked for the connection, so that
# the deleted BR carries both directions, and moves it with the ISP's route at the failover,
# as a routing protocol withdrawing the BR would.
. /tests/lib.sh
. /tests/lib-tutorial.sh

# add_br NAME INDEX MODE: a BR box linked to the ISP router and to the server.
add_br() {
	local name=$1 i=$2 mode=$3
	ip netns add "$name"
	batch isp <<-IP
		link add name $name type veth peer name wan netns $name
		link set dev $name up
		addr add 2001:db8:100:$((5 + i))::1/64 dev $name nodad
	IP
	batch "$name" <<-IP
		link set lo up
		link set dev wan up
		addr add 2001:db8:100:$((5 + i))::2/64 dev wan nodad
		route add default via 2001:db8:100:$((5 + i))::1
		link add name srv type veth peer name e$i netns server
		link set dev srv up
		addr add 203.0.113.$i/32 dev srv
		route add $SERVER/32 dev srv
	IP
	ip -n server link set dev "e$i" up
	br_translator "$name" "$mode"
}

# translated NS DIRECTION [bytes]: packets (or bytes) NS's mapmint device translated
# DIRECTION (v6-to-v4 or v4-to-v6).
translated() {
	at "$1" mapminctl stats dev mapmint | awk -v dir="$2" -v field="${3:-packets}" \
		'$1 == dir && $2 == "packets" { print (field == "bytes") ? $5 : $3 }'
}

failover() {
	local mode=${1^^} toward
	if [ "$mode" = T ]; then toward=64:ff9b::/96; else toward=2001:db8:6::1/128; fi
	ip link set lo up
	insmod "$MODULE"
	ip netns add isp
	at isp ip link set lo up
	at isp sysctl -qw net.ipv6.conf.all.forwarding=1
	ip netns add server
	at server ip link set lo up
	ip -n server addr add $SERVER/32 dev lo
	add_br br1 1 "$1"
	add_br br2 2 "$1"
	ip -n isp -6 route add $toward nexthop via 2001:db8:100:6::2 nexthop via 2001:db8:100:7::2
	check_eq "MAP-$mode: the ISP router has an ECMP route to both BRs" 2 \
		"$(ip -n isp -6 route show $toward | grep -c 'nexthop via')"
	ip -n server route add 192.0.2.0/24 via 203.0.113.1 dev e1 onlink
	ce ce11b 2001:db8:ce:11b::/64 $CE11B_IP $CE11B_PORTS 192.168.0 "$1" nft c1
	check "MAP-$mode: ping through the BRs" at c1 ping -c 2 -W 3 $SERVER

	mkdir -p /srv
	head -c 3000000 /dev/urandom >/srv/file
	# 3 MB at 300 kB/s: about 10 s (60 s at 50 kB/s on the debug kernel, whose stats requests
	# below take seconds). The server is paused (SIGSTOP) once the active BR is known, so the
	# device goes while the download is under way however slow the machine is; TCP's own
	# retransmissions carry on meanwhile, as they would.
	local rate=300000 limit=90
	if debug_kernel; then rate=50000 limit=400; fi
	# (`ip netns exec` itself, not `at`: its PID is the server's, which the signals must reach)
	ip netns exec server mapmint-probe tcp-serve 7040 /srv/file $rate &
	local server=$!
	wait_listening server tcp 7040
	rm -f /tmp/got
	at c1 timeout $limit mapmint-probe tcp-fetch $SERVER 7040 /tmp/got &
	local fetch=$!
	local waited=0
	while [ ! -s /tmp/got ] && [ $waited -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
	# The BR the ISP hashed the connection to translates its IPv6 packets (the client's
	# acknowledgements): the server's route goes there too, then that BR is the one to fail.
	local b1 b2 active standby
	b1=$(translated br1 v6-to-v4) b2=$(translated br2 v6-to-v4)
	sleep 1.5
	if [ $(($(translated br1 v6-to-v4) - b1)) -ge $(($(translated br2 v6-to-v4) - b2)) ]; then
		active=br1 standby=br2
	else
		active=br2 standby=br1
	fi
	ip -n server route replace 192.0.2.0/24 via 203.0.113.${active#br} dev e${active#br} onlink
	sleep 1.5
	kill -STOP $server
	# $active fails: its device goes; what c1 has by then came through it
	ip -n $active link del mapmint
	sleep 0.3
	local got_before=0 before
	[ -f /tmp/got ] && got_before=$(wc -c </tmp/got)
	before=$(translated $standby v4-to-v6 bytes)
	check "MAP-$mode: the download was under way through $active ($got_before bytes) when its device went" \
		test "$got_before" -gt 0 -a "$got_before" -lt 3000000
	# routing withdraws it
	ip -n isp -6 route replace $toward via 2001:db8:100:$((5 + ${standby#br}))::2
	ip -n server route replace 192.0.2.0/24 via 203.0.113.${standby#br} dev e${standby#br} onlink
	kill -CONT $server
	if wait $fetch; then
		check_eq "MAP-$mode: the download continued through $standby and arrived intact" \
			"$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
	else
		fail "MAP-$mode: the download continued through $standby" \
			"tcp-fetch failed after $(wc -c </tmp/got 2>/dev/null) bytes"
	fi
	wait $server
	# the rest of the download, in IPv6 packets at least as large
	local after
	after=$(translated $standby v4-to-v6 bytes)
	check "MAP-$mode: $standby carried the rest of the download ($((after - before)) bytes translated after the failover, $((3000000 - got_before)) were left)" \
		test $((after - before)) -ge $((3000000 - got_before))
	check_eq "MAP-$mode: $standby dropped nothing" 0 \
		"$(dropped $standby)"
	for ns in c1 ce11b isp br1 br2 server; do ip netns del $ns; done
	check "MAP-$mode: rmmod" rmmod mapmint
}

failover t
# (on the debug kernel MAP-T's failover takes several minutes already; device deletion under
# traffic in MAP-E runs there in smp-e, whose rmmod goes with transfers under way)
debug_kernel || failover e
