#!/bin/bash
# Scenario "tutorial-offset": the tutorial topology of lib-tutorial.sh with a rule whose port
# sets are made of several ranges (a = 6), and CE SNAT rules that spread new connections over
# all of them. Run twice in one boot: MAP-T with nft, then MAP-E with iptables-legacy.
#
#   c1 192.168.0.4 ── lan [ce11b] wan ──┐                   ┌── wan [br] srv ── 203.0.113.56 [server]
#                     192.0.2.8, PSID 27 │                   │
#                     63 ranges of 32:   ├── [isp] IPv6 ─────┘
#                     1888-1919 2912-2943 ... 65376-65407
#   c2 192.168.1.4 ── lan [ce774] wan ──┘
#                     192.0.2.59, PSID 20: 1664-1695 2688-2719 ... 65152-65183
#
# BMR = FMR 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 6: 8 IPv4 suffix bits and
# k = 5 PSID bits, so m = 16 - 6 - 5 = 5 bits of port inside a range. Port = A . PSID . M with
# A = 1..63 (A = 0, ports 0-1023, is excluded): 63 ranges of 2^5 = 32 ports per CE, 1024
# apart. The ranges come from `mapminctl calc -j` in the guest (and must equal what the
# kernel's `dev show -j` derives).
#
# SNAT into several ranges (NAT runs once per connection, so "every Nth packet" of a NAT
# chain is "every Nth connection"):
#   nft: one rule, a numgen round robin over a map whose values are address . port range:
#     oifname "mapmint" meta l4proto { tcp, udp, icmp } snat ip to numgen inc mod 63 map {
#         0 : 192.0.2.8 . 1888-1919, 1 : 192.0.2.8 . 2912-2943, ..., 62 : 192.0.2.8 . 65376-65407 }
#   iptables-legacy: per protocol a chain of statistic nth rules, rule i (0-based) taking
#     every (63 - i)th connection that reaches it, the last one the rest; an even spread:
#     -A POSTROUTING -o mapmint -p tcp -j MAPMINT_tcp
#     -A MAPMINT_tcp -p tcp -m statistic --mode nth --every 63 --packet 0 -j SNAT --to-source 192.0.2.8:1888-1919
#     -A MAPMINT_tcp -p tcp -m statistic --mode nth --every 62 --packet 0 -j SNAT --to-source 192.0.2.8:2912-2943
#     ...
#     -A MAPMINT_tcp -p tcp -j SNAT --to-source 192.0.2.8:65376-65407
#   (the same for udp and icmp, whose echo identifier takes the role of the port).
. /tests/lib.sh
. /tests/lib-tutorial.sh

RULE="2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 6"

# json_ranges: the "port_ranges" of a mapminctl JSON object on stdin, as FIRST-LAST,...
json_ranges() {
	local ranges
	ranges=$(grep -o '"port_ranges":\[[][0-9,]*\]' | grep -o '[0-9][0-9]*,[0-9][0-9]*' | tr , -)
	echo $ranges | tr ' ' ,
}

# ce_ranges VAR NAME PREFIX EXPECTED_IPV4: sets VAR to the CE's port set (FIRST-LAST,...)
# from mapminctl calc and writes "IPV4 FIRST LAST" lines to /tmp/NAME.ranges.
ce_ranges() {
	local var=$1 name=$2 prefix=$3 ipv4=$4 json ranges
	json=$(mapminctl calc --rule "$RULE" --prefix "$prefix" -j)
	check_eq "$name: mapminctl calc gives $ipv4" "\"ipv4\":\"$ipv4\"" "$(echo "$json" | grep -o '"ipv4":"[0-9.]*"')"
	ranges=$(echo "$json" | json_ranges)
	echo "$ranges" | tr , '\n' | tr - ' ' | sed "s/^/$ipv4 /" >"/tmp/$name.ranges"
	check_eq "$name: 63 ranges of 32 ports, none below 1024" "63 32 0" \
		"$(awk '{ n++; if ($3 - $2 + 1 != 32) bad++; if ($2 < 1024) low++ } END { print n, 32 + bad, low + 0 }' "/tmp/$name.ranges")"
	printf -v "$var" %s "$ranges"
}

# snat NS IP RANGES FRONTEND (replaces lib-tutorial's): spread over every range.
snat() { snat_spread "$@"; }

# offset_checks MODE FRONTEND: builds the topology and checks it.
offset_checks() {
	local mode=$1 frontend=$2 t="[$1/$2]" out i ok n
	tutorial "$mode" "$frontend"

	check_eq "$t ce11b: the kernel's port set equals mapminctl calc's" "$CE11B_PORTS" \
		"$(at ce11b mapminctl -j dev show mapmint | json_ranges)"
	check_eq "$t ce774: the kernel's port set equals mapminctl calc's" "$CE774_PORTS" \
		"$(at ce774 mapminctl -j dev show mapmint | json_ranges)"
	if [ "$frontend" = nft ]; then
		n=$(at ce11b nft list ruleset | grep -o ' : 192\.0\.2\.8 \. [0-9]*-[0-9]*' | wc -l)
	else
		n=$(at ce11b iptables-legacy-save -t nat | grep -c '^-A MAPMINT_tcp .*-j SNAT')
	fi
	check_eq "$t ce11b: one SNAT choice per range" 63 "$n"

	# --- ping: the echo identifier goes into the port set too (the BR and the CE would drop
	#     an identifier outside it); every ping process is a new identifier, a new range
	out=$(at c1 ping -c 3 -i 0.2 -W 3 $SERVER 2>&1)
	case "$out" in
	*"3 packets received"*) pass "$t ping c1 -> server" ;;
	*) fail "$t ping c1 -> server" "$out" ;;
	esac
	ok=0
	for i in 1 2 3 4 5; do at c1 ping -c 1 -W 3 $SERVER >/dev/null 2>&1 && ok=$((ok + 1)); done
	at c2 ping -c 1 -W 3 $SERVER >/dev/null 2>&1 && ok=$((ok + 1))
	check_eq "$t 6 more pings (new identifiers) from c1 and c2 answered" 6 "$ok"

	# --- UDP: several requests, each from a new source port
	at server mapmint-probe udp-echo 7001 &
	pids+=($!)
	wait_listening server udp 7001
	ok=0
	for i in 1 2 3 4 5; do
		[ "$(at c1 mapmint-probe udp-ask $SERVER 7001 "udp $i")" = "udp $i" ] && ok=$((ok + 1))
	done
	[ "$(at c2 mapmint-probe udp-ask $SERVER 7001 "udp c2")" = "udp c2" ] && ok=$((ok + 1))
	check_eq "$t UDP c1 and c2 -> server and back (6 requests)" 6 "$ok"

	# --- HTTP download, checked by its SHA-256
	mkdir -p /srv
	[ -f /srv/file ] || head -c 2000000 /dev/urandom >/srv/file
	at server httpd -f -p 80 -h /srv &
	pids+=($!)
	wait_listening server tcp 80
	rm -f /tmp/got
	# (busybox 1.35's wget crashes with -T: `timeout` bounds it instead)
	check "$t HTTP download c1 <- server (2 MB)" at c1 timeout 60 wget -q -O /tmp/got http://$SERVER/file
	check_eq "$t download content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got 2>/dev/null)"

	# --- TCP: the server sees each CE's address, every port in one of its ranges, many ranges
	rm -f /tmp/peers
	at server mapmint-probe tcp-log 7002 /tmp/peers &
	pids+=($!)
	wait_listening server tcp 7002
	check "$t 200 TCP connections from c1" at c1 mapmint-probe tcp-many $SERVER 7002 200
	check "$t 100 TCP connections from c2" at c2 mapmint-probe tcp-many $SERVER 7002 100
	sleep 0.3
	check_eq "$t the server saw 200 connections from $CE11B_IP" 200 "$(grep -c "^$CE11B_IP " /tmp/peers)"
	check_eq "$t the server saw 100 connections from $CE774_IP" 100 "$(grep -c "^$CE774_IP " /tmp/peers)"
	check_eq "$t the server saw no other address" 300 "$(wc -l </tmp/peers)"
	# "BAD DISTINCT-c1 DISTINCT-c2 [first bad peers]": a port is bad outside every range of its
	# address (which includes 0-1023).
	out=$(awk -v c1="$CE11B_IP" -v c2="$CE774_IP" '
		NF == 3 { k = ++n[$1]; lo[$1, k] = $2 + 0; hi[$1, k] = $3 + 0; next }
		NF == 2 {
			p = $2 + 0; r = 0
			for (i = 1; i <= n[$1]; i++) if (p >= lo[$1, i] && p <= hi[$1, i]) { r = i; break }
			if (r == 0 || p < 1024) { bad++; if (bad <= 5) which = which " " $1 ":" $2; next }
			if (!(($1, r) in used)) { used[$1, r] = 1; distinct[$1]++ }
		}
		END { print bad + 0, distinct[c1] + 0, distinct[c2] + 0 which }
	' /tmp/ce11b.ranges /tmp/ce774.ranges /tmp/peers)
	check_eq "$t every source port inside one of its CE's ranges" 0 "${out%% *}"
	n=$(echo "$out" | cut -d' ' -f2)
	if [ "$n" -ge 10 ]; then pass "$t c1's connections spread over $n ranges (>= 10)"; else
		fail "$t c1's connections spread over >= 10 ranges" "only $n: $out"; fi
	n=$(echo "$out" | cut -d' ' -f3)
	if [ "$n" -ge 10 ]; then pass "$t c2's connections spread over $n ranges (>= 10)"; else
		fail "$t c2's connections spread over >= 10 ranges" "only $n: $out"; fi

	# --- nothing was refused on the way: no port outside a set at the CEs, no wrong source
	#     at the BR
	check_eq "$t CEs and BR dropped nothing for the port set" "0/0/0/0" \
		"$(drops ce11b port-not-allowed)/$(drops ce774 port-not-allowed)/$(drops br source-mismatch)/$(drops br port-not-allowed)"
}


ce_ranges CE11B_PORTS ce11b 2001:db8:ce:11b::/64 $CE11B_IP
ce_ranges CE774_PORTS ce774 2001:db8:ce:774::/64 $CE774_IP
pids=()

offset_checks t nft
tutorial_teardown
offset_checks e iptables
tutorial_teardown
