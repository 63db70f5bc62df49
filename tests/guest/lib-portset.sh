# Port-set scenarios (portset-t, portset-e, portset-a0; sourced): a CE's whole port set through ONE NAPT rule, with `port-mapping
# contiguous` (issue 11). The tutorial topology of lib-tutorial.sh with psid-offset 6:
#
#   c1 192.168.0.4 ── lan [ce11b] wan ── [isp] ── [br] ── 203.0.113.56 [server]
#   CE 11b: 192.0.2.8, PSID 27: 63 ranges of 32 ports (1888-1919, 2912-2943, ..., 65376-65407),
#   2016 ports; the NAPT fills 1888-3903 (mapminctl calc's napt_ports) and the device maps
#   the k-th port of that range to the k-th port of the set, both ways.
#
# For MAP-T with nft (portset-t: TCP, UDP, ICMP) and MAP-E with iptables-legacy (portset-e:
# TCP; the mapping is the same IPv4-side code in both modes, MAP-E wraps what it made), each
# with its single NAPT rule (iptables: one per protocol, as a port range needs one), and with
# a = 0 (portset-a0: the tutorial's own rule, where the mapping is the identity; TCP):
# - fill: TCP connections, UDP sockets and ping identifiers from c1 to ONE server address and
#   port, each kept open, until the NAPT refuses (3 attempts in a row unanswered): at least
#   95 % of the set, and every port or identifier the server saw lies in the set;
# - uneven release: close the connections on every second range's ports, open new ones up to
#   the same fill: none fails;
# - the spread rules of before (nft numgen, iptables statistic over one rule per range, no
#   mapping) on the same release: they fail, the comparison stays visible;
# - a DNAT port forward of a real port of the set to a LAN host, from the server and from the
#   other CE's LAN (mesh: CE to CE by the FMR, both CEs map), traceroute, ICMP errors.
#
# Conntrack forgets a closed TCP connection after TIME_WAIT, 120 s by default; the CE's is
# set to 1 s so that "release" means the ports are free again (UDP and ICMP entries are kept
# for 10 minutes instead: the fill must not free its own ports while it runs).
# shellcheck shell=bash
. /tests/lib.sh
. /tests/lib-tutorial.sh

PREFIX_11B=2001:db8:ce:11b::/64
PORT=7100
pids=()

# json_range NAME: the value of "NAME":[A,B] of a mapminctl JSON object on stdin, as A-B.
json_range() {
	grep -o "\"$1\":\[[0-9]*,[0-9]*\]" | grep -o '[0-9]*,[0-9]*' | tr , -
}

# napt_range PREFIX: the NAPT range mapminctl calc gives the CE of PREFIX under $RULE.
napt_range() {
	mapminctl calc -j --rule "$RULE" --prefix "$1" | json_range napt_ports
}

# outside_set OFFSET PSID_LEN PSID PROTO: "SEEN OUTSIDE" of the PROTO lines "PROTO ADDR PORT"
# of the server log from 192.0.2.8. The set's arithmetic written here again, apart from the
# core's: port = A . PSID . j (m = 16 - a - k bits of j), A >= 1 when the offset a is above 0.
outside_set() {
	local a=$1 k=$2 lowest=0
	[ "$a" -eq 0 ] || lowest=$((1 << (16 - a)))
	awk -v lowest=$lowest -v unit=$((1 << (16 - a - k))) -v psids=$((1 << k)) -v psid="$3" -v proto="$4" '
		$1 == proto && $2 == "192.0.2.8" {
			p = $3 + 0
			if (p < lowest || int(p / unit) % psids != psid) bad++
			seen++
		}
		END { print seen + 0, bad + 0 }' /tmp/fill.log
}

# conntrack_settings: closed TCP connections forgotten at once, UDP and ICMP kept.
conntrack_settings() {
	at ce11b sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 \
		net.netfilter.nf_conntrack_udp_timeout=600 net.netfilter.nf_conntrack_udp_timeout_stream=600 \
		net.netfilter.nf_conntrack_icmp_timeout=600
}

# fill_checks T OFFSET PSID_LEN PSID SET_SIZE PROTO...: fills the set from c1 by each PROTO
# (tcp: with the uneven release when OFFSET > 0; udp; icmp).
fill_checks() {
	local t=$1 a=$2 k=$3 psid=$4 size=$5 proto out opened need seen bad refill attempts failed retried now
	shift 5
	need=$(((size * 95 + 99) / 100))
	for proto in "$@"; do
		: >/tmp/fill.log
		if [ "$proto" = tcp ] && [ "$a" -gt 0 ]; then
			out=$(at c1 mapmint-probe fill-client tcp $SERVER $PORT $((size + 16)) "$a" 3 $need $size 2>/tmp/refused)
		else
			out=$(at c1 mapmint-probe fill-client "$proto" $SERVER $PORT $((size + 16)) 2>/tmp/refused)
		fi
		opened=$(echo "$out" | sed -n 's/^opened \([0-9]*\) .*/\1/p')
		if [ "${opened:-0}" -ge "$need" ] && [ "$opened" -le "$size" ]; then
			pass "$t $proto: $opened of the set's $size ports filled through one NAPT rule (>= $need): $(echo "$out" | head -n 1)"
		else
			fail "$t $proto: at least $need of the set's $size ports filled" "$out $(cat /tmp/refused)"
		fi
		read -r seen bad <<<"$(outside_set "$a" "$k" "$psid" "$proto")"
		check_eq "$t $proto: every one of the $seen ports the server saw is in the set" 0 "$bad"
		if [ "$proto" = tcp ] && [ "$a" -gt 0 ]; then
			# "released R attempts A reopened K failed F retried T open N"
			refill=$(echo "$out" | tail -n 1)
			read -r _ _ _ attempts _ _ _ failed _ retried _ now <<<"$refill"
			if [ "$failed" = 0 ] && [ "$now" = "$need" ] && [ $((retried * 20)) -le "$attempts" ]; then
				pass "$t tcp: every second range released and the set filled to $need again, none refused, first SYN dropped for at most 5 %: $refill"
			else
				fail "$t tcp: every second range released and the set filled to $need again, none refused" "$refill $(cat /tmp/refused)"
			fi
		fi
	done
	sleep 2
}

# port_forward NS FRONTEND PORT TO: a DNAT of TCP PORT arriving through NS's mapmint device
# (the NAPT side's port) to TO (ADDR:PORT).
port_forward() {
	local ns=$1 frontend=$2 port=$3 to=$4
	if [ "$frontend" = nft ]; then
		at "$ns" nft -f - <<-NFT
			table ip mapmint_forward {
				chain prerouting {
					type nat hook prerouting priority dstnat;
					iifname "mapmint" tcp dport $port dnat to $to
				}
			}
		NFT
	else
		at "$ns" iptables-legacy -t nat -A PREROUTING -i mapmint -p tcp --dport "$port" -j DNAT --to-destination "$to"
	fi
}

# napt_checks MODE FRONTEND PROTO...: the psid-offset 6 topology with one NAPT rule, and its
# checks, the set filled by each PROTO.
napt_checks() {
	local mode=$1 frontend=$2 t="[$1/$2]" out n real napt before peer peer_port
	shift 2
	RULE="2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 6"
	CE11B_PORTS=$(napt_range $PREFIX_11B)
	CE774_PORTS=$(napt_range 2001:db8:ce:774::/64)
	check_eq "$t calc: ce11b's NAPT range" 1888-3903 "$CE11B_PORTS"
	TUTORIAL_PORT_MAPPING=contiguous tutorial "$mode" "$frontend"
	conntrack_settings
	out=$(at ce11b mapminctl -j dev show mapmint)
	check_eq "$t dev show: port-mapping contiguous, NAPT range $CE11B_PORTS" "contiguous $CE11B_PORTS" \
		"$(echo "$out" | grep -o '"port_mapping":"[a-z]*"' | cut -d'"' -f4) $(echo "$out" | json_range napt_ports)"
	if [ "$frontend" = nft ]; then
		n=$(at ce11b nft list ruleset | grep -c ' snat ')
		check_eq "$t ce11b: one nft NAPT rule" 1 "$n"
	else
		n=$(at ce11b iptables-legacy-save -t nat | grep -c -- '-j SNAT')
		check_eq "$t ce11b: one iptables NAPT rule per protocol" 3 "$n"
	fi

	at server mapmint-probe fill-server $PORT /tmp/fill.log &
	pids+=($!)
	# (it binds TCP, then UDP: both listen once UDP does)
	wait_listening server udp $PORT
	fill_checks "$t" 6 5 27 2016 "$@"
	check_eq "$t ce11b refused no port, the BR no source" "0/0/0" \
		"$(drops ce11b port-not-allowed)/$(drops br source-mismatch)/$(drops br port-not-allowed)"

	# --- a port forward: the server reaches c1's 8080 at 192.0.2.8 and a real port of the
	#     set, 2943, which the NAPT side sees as calc's napt_port
	real=2943
	napt=$(mapminctl calc -j --rule "$RULE" --prefix $PREFIX_11B --port $real | grep -o '"napt_port":[0-9]*' | cut -d: -f2)
	check_eq "$t calc: real port $real is NAPT port 1951" 1951 "$napt"
	port_forward ce11b "$frontend" "$napt" 192.168.0.4:8080
	rm -f /tmp/forwarded
	at c1 mapmint-probe tcp-log 8080 /tmp/forwarded &
	pids+=($!)
	wait_listening c1 tcp 8080
	check "$t the server connects to 192.0.2.8:$real, forwarded to c1:8080" at server mapmint-probe tcp-many 192.0.2.8 $real 1
	check_eq "$t c1 saw the server's connection" "$SERVER" "$(cut -d' ' -f1 /tmp/forwarded 2>/dev/null)"

	# --- mesh: c1 reaches c2 through a port forward at CE 774 (real port 2700 of its set),
	#     straight from CE to CE by the FMR; both CEs map, the BR sees nothing
	real=2700
	napt=$(mapminctl calc -j --rule "$RULE" --prefix 2001:db8:ce:774::/64 --port $real | grep -o '"napt_port":[0-9]*' | cut -d: -f2)
	port_forward ce774 "$frontend" "$napt" 192.168.1.4:8080
	rm -f /tmp/meshed
	at c2 mapmint-probe tcp-log 8080 /tmp/meshed &
	pids+=($!)
	wait_listening c2 tcp 8080
	before=$(counter br v4_to_v6_packets)/$(counter br v6_to_v4_packets)
	check "$t mesh: c1 connects to 192.0.2.59:$real (CE 774's NAPT port $napt), forwarded to c2:8080" \
		at c1 mapmint-probe tcp-many 192.0.2.59 $real 1
	read -r peer peer_port <<<"$(cat /tmp/meshed 2>/dev/null)"
	echo "tcp $peer $peer_port" >/tmp/fill.log
	check_eq "$t mesh: c2 saw CE 11b's address and a port of its set" "192.0.2.8 1 0" \
		"$peer $(outside_set 6 5 27 tcp)"
	check_eq "$t mesh: the BR carried none of it" "$before" "$(counter br v4_to_v6_packets)/$(counter br v6_to_v4_packets)"

	# --- ICMP errors about c1's packets come back through the mapping
	out=$(at c1 mapmint-probe udp-ask $SERVER 7009 closed 2>&1)
	case "$out" in
	*"refused"*) pass "$t ICMP port unreachable comes back to c1" ;;
	*) fail "$t ICMP port unreachable comes back to c1" "$out" ;;
	esac
	traceroute_check "$mode"
}

# spread_comparison FRONTEND: the rules of before (one per range, spread round robin, no
# mapping) on the same release; they refuse new connections while the set has free ports.
spread_comparison() {
	local frontend=$1 t="[spread/$1]" ranges out released attempts failed retried
	ranges=$(mapminctl calc -j --rule "$RULE" --prefix $PREFIX_11B | grep -o '"port_ranges":\[[][0-9,]*\]' |
		grep -o '[0-9][0-9]*,[0-9][0-9]*' | tr , - | tr '\n' , | sed 's/,$//')
	if [ "$frontend" = nft ]; then
		at ce11b nft delete table ip mapmint_nat
	else
		at ce11b iptables-legacy -t nat -F POSTROUTING
	fi
	snat_spread ce11b 192.0.2.8 "$ranges" "$frontend"
	at ce11b mapminctl dev set mapmint port-mapping off
	sleep 2
	: >/tmp/fill.log
	# (the round robin fills every range evenly: exactly the set, without a refusal)
	out=$(at c1 mapmint-probe fill-client tcp $SERVER $PORT 2016 6 3 2016 40 2>/tmp/refused)
	# "released R attempts A reopened K failed F retried T open N": a new connection whose
	# first SYN drew a full range is dropped although the set has free ports (its retried
	# SYN, a new connection for the NAT, draws the next range in this sequential test)
	read -r _ released _ attempts _ _ _ failed _ retried _ _ <<<"$(echo "$out" | tail -n 1)"
	if [ "${released:-0}" -gt 900 ] && [ $(((failed + retried) * 4)) -ge "${attempts:-1}" ]; then
		pass "$t comparison: with ${released} ports free the spread rules drop the first SYN of at least a quarter of new connections: $(echo "$out" | tr '\n' ' ')"
	else
		fail "$t comparison: with ports free the spread rules drop the first SYN of at least a quarter of new connections" "$out"
	fi
}


sysctl -qw net.netfilter.nf_conntrack_max=65536
