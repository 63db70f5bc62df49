#!/bin/bash
# Scenario "long-prefix": a MAP domain carved out of one /64, each CE a /72 (RFC 7597 §6: an
# End-user prefix longer than 64 overwrites the interface identifier's leading bits). The
# tutorial's ISP, BR and server (lib-tutorial.sh), with two CEs of this domain instead of the
# tutorial's; MAP-T with nft, then MAP-E with iptables-legacy, in one boot.
#
#   c1 192.168.0.4 ── [ce8b] 2001:db8:ce:100:8b00::/72 ──┐
#                     192.0.2.24, PSID 11 (1728-1791 ...)  ├── [isp] ── [br] ── [server]
#   c2 192.168.1.4 ── [ce3e] 2001:db8:ce:100:3e00::/72 ──┘
#                     192.0.2.19, PSID 14 (1920-1983 ...)
#
# BMR = FMR 2001:db8:ce:100::/64 192.0.2.16/28 ea-len 8 psid-offset 6: 4 IPv4 suffix bits and
# a 4-bit PSID, the 8 EA bits in bits 64-71, the interface identifier's first byte. The MAP
# addresses are written here from the RFC's layout, not from mapminctl: CE 8b's is
# 2001:db8:ce:100:8b00:c000:218:b (EA 8b, then 00, IPv4 c000:0218, PSID 000b).
# guest-timeout: 300
. /tests/lib.sh
. /tests/lib-tutorial.sh

RULE="2001:db8:ce:100::/64 192.0.2.16/28 ea-len 8 psid-offset 6"
A_PREFIX=2001:db8:ce:100:8b00::/72
A_MAP=2001:db8:ce:100:8b00:c000:218:b
A_IP=192.0.2.24
A_PORTS=1728-1791
B_PREFIX=2001:db8:ce:100:3e00::/72
B_MAP=2001:db8:ce:100:3e00:c000:213:e
B_IP=192.0.2.19
B_PORTS=1920-1983
pids=()

# long_prefix_checks MODE FRONTEND
long_prefix_checks() {
	local mode=$1 frontend=$2 t="[$1/$2]" out before after ns
	tutorial_isp_br "$mode"
	ce ce8b $A_PREFIX $A_IP $A_PORTS 192.168.0 "$mode" "$frontend" c1
	ce ce3e $B_PREFIX $B_IP $B_PORTS 192.168.1 "$mode" "$frontend" c2

	check_eq "$t ce8b: the kernel derives the MAP address of the RFC's layout" "\"map_address\":\"$A_MAP\"" \
		"$(at ce8b mapminctl -j dev show mapmint | grep -o '"map_address":"[0-9a-f:]*"')"
	check_eq "$t ce3e: the kernel derives the MAP address of the RFC's layout" "\"map_address\":\"$B_MAP\"" \
		"$(at ce3e mapminctl -j dev show mapmint | grep -o '"map_address":"[0-9a-f:]*"')"

	check "$t ping c1 -> server" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	check "$t ping c2 -> server" at c2 ping -c 2 -i 0.2 -W 3 $SERVER

	mkdir -p /srv
	head -c 2000000 /dev/urandom >/srv/file
	at server httpd -p 80 -h /srv
	sleep 0.3
	rm -f /tmp/got
	check "$t HTTP download c1 <- server (2 MB)" at c1 timeout 60 wget -q -O /tmp/got http://$SERVER/file
	check_eq "$t download content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"

	rm -f /tmp/peers
	at server mapmint-probe tcp-log 7002 /tmp/peers &
	pids+=($!)
	wait_listening server tcp 7002
	check "$t 20 TCP connections from c2" at c2 mapmint-probe tcp-many $SERVER 7002 20
	local bad=0 ip port
	while read -r ip port; do
		[ "$ip" = $B_IP ] && in_range "$port" $B_PORTS || bad=$((bad + 1))
	done </tmp/peers
	check_eq "$t the server saw 20 connections, each from $B_IP and a port of its set" "20 0" "$(wc -l </tmp/peers) $bad"

	# The mesh: c1 to CE 3e's address straight across the ISP through the FMR.
	at ce3e mapmint-probe udp-echo $B_IP:1930 &
	pids+=($!)
	wait_listening ce3e udp 1930
	before=$(counter br v4_to_v6_packets)/$(counter br v6_to_v4_packets)
	check_eq "$t UDP c1 -> CE 3e ($B_IP:1930) through the mesh" "mesh" "$(at c1 mapmint-probe udp-ask $B_IP 1930 mesh)"
	after=$(counter br v4_to_v6_packets)/$(counter br v6_to_v4_packets)
	check_eq "$t the mesh traffic did not touch the BR" "$before" "$after"

	# Spoofing: CE 3e sends from CE 8b's MAP address with a port of its own set; the BR
	# refuses it (RFC 7597 §8.1), and CE 8b refuses what CE 3e's address sends from a port
	# of 8b's set.
	rm -f /tmp/spoofed
	at server mapmint-probe udp-log 7003 /tmp/spoofed &
	pids+=($!)
	wait_listening server udp 7003
	before=$(counter br source-mismatch)
	ip -n ce3e -6 addr add $A_MAP/128 dev wan nodad
	if [ "$mode" = t ]; then
		at ce3e mapmint-probe udp-ask --timeout 1 --bind "[$A_MAP]:1930" 64:ff9b::cb00:7138 7003 spoof >/dev/null 2>&1
	else
		ip -n ce3e link add spoof type ip6tnl mode ipip6 local $A_MAP remote 2001:db8:6::1
		ip -n ce3e link set spoof up
		ip -n ce3e addr add $A_IP/32 dev spoof
		ip -n ce3e route add $SERVER/32 dev spoof src $A_IP
		at ce3e mapmint-probe udp-ask --timeout 1 --bind $A_IP:1930 $SERVER 7003 spoof >/dev/null 2>&1
		ip -n ce3e link del spoof
	fi
	ip -n ce3e -6 addr del $A_MAP/128 dev wan
	check_eq "$t BR: CE 8b's address with a port of CE 3e's set counted as source-mismatch" 1 \
		$(($(counter br source-mismatch) - before))
	if [ "$mode" = t ]; then
		# An address of the /64 whose interface identifier disagrees with its EA bits (PSID
		# field c instead of b) belongs to no CE.
		before=$(counter br source-mismatch)
		ip -n ce3e -6 addr add 2001:db8:ce:100:8b00:c000:218:c/128 dev wan nodad
		at ce3e mapmint-probe udp-ask --timeout 1 --bind "[2001:db8:ce:100:8b00:c000:218:c]:1730" 64:ff9b::cb00:7138 7003 spoof >/dev/null 2>&1
		ip -n ce3e -6 addr del 2001:db8:ce:100:8b00:c000:218:c/128 dev wan
		check_eq "$t BR: a forged interface identifier counted as source-mismatch" 1 \
			$(($(counter br source-mismatch) - before))
	fi
	sleep 0.3
	check_eq "$t no spoofed datagram reached the server" 0 "$(wc -l </tmp/spoofed 2>/dev/null || echo 0)"

	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
	pids=()
	killall httpd 2>/dev/null
	check "$t rmmod mapmint" rmmod mapmint
	for ns in c1 c2 ce8b ce3e isp br server; do ip netns del "$ns"; done
}

# The module's parameters take such a rule too.
check "insmod with a /72 end-user prefix" insmod "$MODULE" end_user_prefix=$A_PREFIX \
	bmr=2001:db8:ce:100::/64,192.0.2.16/28,8,6 dmr=64:ff9b::/96
check_eq "insmod: the default device's MAP address" "\"map_address\":\"$A_MAP\"" \
	"$(mapminctl -j dev show mapmint | grep -o '"map_address":"[0-9a-f:]*"')"
check "rmmod after insmod" rmmod mapmint

long_prefix_checks t nft
long_prefix_checks e iptables
