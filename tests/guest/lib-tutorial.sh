# The seed's Jool tutorial topology, one network namespace per box (sourced by scenarios):
#
#   c1 192.168.0.4 ── lan [ce11b] wan ──┐                   ┌── wan [br] srv ── 203.0.113.56 [server]
#                     192.168.0.1       │                   │         203.0.113.1
#                     192.0.2.8:55296-57343 (SNAT)          │   2001:db8:6::1 (the BR's MAP-E address)
#                     2001:db8:ce:11b::/64                  │
#                                       ├── [isp] IPv6 router
#   c2 192.168.1.4 ── lan [ce774] wan ──┘
#                     192.168.1.1
#                     192.0.2.59:40960-43007 (SNAT; mapminctl calc's range for its BMR)
#                     2001:db8:ce:774::/64
#
# BMR = FMR 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0, DMR 64:ff9b::/96.
# IPv6 links: isp–ce11b 2001:db8:100:11b::/64, isp–ce774 2001:db8:100:774::/64,
# isp–br 2001:db8:100:6::/64 (the isp side is ::1). Each CE and the BR is one box with one
# mapmint device named mapmint: SNAT and translation in the same namespace.
# shellcheck shell=bash

RULE="2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0"
SERVER=203.0.113.56
CE11B_IP=192.0.2.8
CE11B_PORTS=55296-57343
CE774_IP=192.0.2.59
CE774_PORTS=40960-43007

# at NS CMD...: runs CMD in the namespace NS.
at() { ip netns exec "$@"; }

# batch NS: runs the ip commands on stdin (one per line, without "ip") in the namespace NS, in
# one process: on the debug kernel each ip process costs about a second.
batch() { ip -n "$1" -batch -; }

# link NS1 IF1 NS2 IF2: a veth pair between two namespaces, both ends up.
link() {
	# "name" and "dev" spelled out: iproute2 would read a bare "br" as "broadcast".
	ip -n "$1" link add name "$2" type veth peer name "$4" netns "$3"
	ip -n "$1" link set dev "$2" up
	ip -n "$3" link set dev "$4" up
}

# ce_config NAME MODE: the CE's configuration file (the syntax of mapminctl apply).
ce_config() {
	local prefix=$1 mode=$2 ipv4=$3
	echo "role ce"
	echo "mode $mode"
	echo "end-user-prefix $prefix"
	echo "ipv4-address $ipv4/32"
	echo "bmr $RULE"
	echo "fmr $RULE"
	if [ "$mode" = t ]; then echo "dmr 64:ff9b::/96"; else echo "br 2001:db8:6::1"; fi
	# (TUTORIAL_PORT_MAPPING=contiguous: the NAPT fills one range, the device maps it)
	[ -z "${TUTORIAL_PORT_MAPPING:-}" ] || echo "port-mapping $TUTORIAL_PORT_MAPPING"
	# (TUTORIAL_ON_RECEIVE=on: translate-on-receive)
	[ -z "${TUTORIAL_ON_RECEIVE:-}" ] || echo "translate-on-receive $TUTORIAL_ON_RECEIVE"
}

br_config() {
	echo "role br"
	echo "mode $1"
	echo "fmr $RULE"
	if [ "$1" = t ]; then echo "dmr 64:ff9b::/96"; else echo "br 2001:db8:6::1"; fi
	[ -z "${TUTORIAL_ON_RECEIVE:-}" ] || echo "translate-on-receive $TUTORIAL_ON_RECEIVE"
}

# snat NS IP PORTS FRONTEND [OIF]: the CE's NAPT into its port set, for TCP, UDP and ICMP
# (whose echo identifier takes the role of a port), with nft or iptables-legacy, on packets
# leaving through OIF (default: the mapmint device).
snat() {
	local ns=$1 ip=$2 ports=$3 frontend=$4 oif=${5:-mapmint}
	case "$frontend" in
	nft)
		at "$ns" nft -f - <<-NFT
			table ip mapmint_nat {
				chain postrouting {
					type nat hook postrouting priority srcnat;
					oifname "$oif" meta l4proto { tcp, udp, icmp } snat to $ip:$ports
				}
			}
		NFT
		;;
	iptables)
		for proto in tcp udp icmp; do
			at "$ns" iptables-legacy -t nat -A POSTROUTING -o "$oif" -p $proto -j SNAT --to-source "$ip:$ports"
		done
		;;
	esac
}

# snat_spread NS IP RANGES FRONTEND: NAPT spread round robin over every range of RANGES
# (FIRST-LAST,...), for TCP, UDP and ICMP, without port mapping: one nft rule with a numgen
# map, or per protocol a chain of iptables statistic nth rules (rule i of n takes every
# (n - i)th connection that reaches it, the last one the rest: an even spread).
snat_spread() {
	local ns=$1 ip=$2 frontend=$4 ranges i n proto elems=
	IFS=, read -r -a ranges <<<"$3"
	n=${#ranges[@]}
	case "$frontend" in
	nft)
		for i in "${!ranges[@]}"; do elems+="${elems:+, }$i : $ip . ${ranges[$i]}"; done
		at "$ns" nft -f - <<-NFT
			table ip mapmint_nat {
				chain postrouting {
					type nat hook postrouting priority srcnat;
					oifname "mapmint" meta l4proto { tcp, udp, icmp } snat ip to numgen inc mod $n map { $elems }
				}
			}
		NFT
		;;
	iptables)
		{
			echo "*nat"
			for proto in tcp udp icmp; do
				echo ":MAPMINT_$proto - [0:0]"
				echo "-A POSTROUTING -o mapmint -p $proto -j MAPMINT_$proto"
				for i in "${!ranges[@]}"; do
					if [ $((n - i)) -gt 1 ]; then
						echo "-A MAPMINT_$proto -p $proto -m statistic --mode nth --every $((n - i)) --packet 0 -j SNAT --to-source $ip:${ranges[$i]}"
					else
						echo "-A MAPMINT_$proto -p $proto -j SNAT --to-source $ip:${ranges[$i]}"
					fi
				done
			done
			echo "COMMIT"
		} | at "$ns" iptables-legacy-restore --noflush
		;;
	esac
}

# add_device NS: NS's mapmint device, by mapminctl, or with TUTORIAL_LINK_ARGS set (e.g.
# "numtxqueues 8") by `ip link add mapmint ARGS type mapmint`.
add_device() {
	if [ -n "${TUTORIAL_LINK_ARGS:-}" ]; then
		# shellcheck disable=SC2086 # the arguments are words
		ip -n "$1" link add name mapmint $TUTORIAL_LINK_ARGS type mapmint
	else
		at "$1" mapminctl dev add mapmint
	fi
}

# br_translator NS MODE: NS forwards, and its mapmint device is a BR in MODE (t or e), its
# configuration in /tmp/NS.conf, up, with the routes into it (with TUTORIAL_TUNNEL_ENDS=device
# in MAP-E, the BR's tunnel end an address of the device instead of a route into it; with
# TUTORIAL_TUNNEL_ENDS=interfaces, an address of lo).
br_translator() {
	local ns=$1 mode=$2 map_route="route add 64:ff9b::/96 dev mapmint"
	[ "$mode" = t ] || map_route="route add 2001:db8:6::1/128 dev mapmint"
	if [ "$mode" = e ] && [ -n "${TUTORIAL_TUNNEL_ENDS:-}" ]; then
		map_route="addr add 2001:db8:6::1/128 dev $(tunnel_end_device br "$TUTORIAL_TUNNEL_ENDS") nodad"
	fi
	at "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	add_device "$ns"
	br_config "$mode" >"/tmp/$ns.conf"
	at "$ns" mapminctl apply --config "/tmp/$ns.conf" dev mapmint >/dev/null
	batch "$ns" <<-IP
		link set mapmint up
		route add 192.0.2.0/24 dev mapmint
		$map_route
	IP
}

# map_address CE: the CE's MAP IPv6 address (RFC 7597 §5.2, interface identifier of RFC 7597
# §6: the IPv4 address and PSID), the MAP-E tunnel end.
map_address() {
	case $1 in
	ce11b) echo 2001:db8:ce:11b:0:c000:208:1b ;;
	ce774) echo 2001:db8:ce:774:0:c000:23b:14 ;;
	esac
}

# ce_box NAME PREFIX LAN_NET CLIENT: a CE box (without its translator) and its LAN client,
# linked to the ISP router, which routes PREFIX to it.
ce_box() {
	local name=$1 prefix=$2 lan=$3 client=$4
	local wan=2001:db8:100:${name#ce}
	ip netns add "$name"
	ip netns add "$client"
	batch isp <<-IP
		link add name $name type veth peer name wan netns $name
		link set dev $name up
		addr add $wan::1/64 dev $name nodad
		route add $prefix via $wan::2
	IP
	batch "$name" <<-IP
		link set lo up
		link add name lan type veth peer name eth0 netns $client
		link set dev lan up
		addr add $lan.1/24 dev lan
		link set dev wan up
		addr add $wan::2/64 dev wan nodad
		route add default via $wan::1
	IP
	batch "$client" <<-IP
		link set lo up
		link set dev eth0 up
		addr add $lan.4/24 dev eth0
		route add default via $lan.1
	IP
	at "$name" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# ce NAME PREFIX IPV4 PORTS LAN_NET MODE FRONTEND CLIENT: a CE box, its translator and NAPT,
# and its LAN client (with TUTORIAL_TUNNEL_ENDS=device in MAP-E, its MAP address an address
# of the device as well; with TUTORIAL_TUNNEL_ENDS=interfaces, of its WAN link).
ce() {
	local name=$1 prefix=$2 ipv4=$3 ports=$4 lan=$5 mode=$6 frontend=$7 client=$8
	ce_box "$name" "$prefix" "$lan" "$client"
	add_device "$name"
	ce_config "$prefix" "$mode" "$ipv4" >"/tmp/$name.conf"
	at "$name" mapminctl apply --config "/tmp/$name.conf" dev mapmint >/dev/null
	batch "$name" <<-IP
		link set mapmint up
		addr add $ipv4/32 dev mapmint
		route add default dev mapmint
		route add $prefix dev mapmint
	IP
	if [ "$mode" = e ] && [ -n "${TUTORIAL_TUNNEL_ENDS:-}" ]; then
		ip -n "$name" -6 addr add "$(map_address "$name")/128" dev "$(tunnel_end_device ce "$TUTORIAL_TUNNEL_ENDS")" nodad
	fi
	snat "$name" "$ipv4" "$ports" "$frontend"
}

# big_br_config POSITION [COUNT]: a MAP-T BR's configuration with COUNT (65,536) FMRs: the
# tutorial's domain rule at POSITION (0-based), and other domains around it (IPv4
# 10.X.Y.0/24, each with its own IPv6 /48 under fd00::/16, 8 EA bits).
big_br_config() {
	awk -v at="$1" -v count="${2:-65536}" -v rule="$RULE" 'BEGIN {
		print "role br"; print "mode t"; print "dmr 64:ff9b::/96"
		g = 0
		for (i = 0; i < count; i++) {
			if (i == at) { print "fmr " rule; continue }
			printf "fmr fd00:%x:%x::/48 10.%d.%d.0/24 ea-len 8\n", int(g / 65536), g % 65536, int(g / 256) % 256, g % 256
			g++
		}
	}'
}

# tutorial MODE FRONTEND: builds the whole topology with mapmint in MODE (t or e) and the
# CEs' SNAT through FRONTEND (nft or iptables).
tutorial() {
	local mode=$1 frontend=$2
	tutorial_isp_br "$mode"
	ce ce11b 2001:db8:ce:11b::/64 $CE11B_IP $CE11B_PORTS 192.168.0 "$mode" "$frontend" c1
	ce ce774 2001:db8:ce:774::/64 $CE774_IP $CE774_PORTS 192.168.1 "$mode" "$frontend" c2
}

# tutorial_isp_br MODE: the module, the ISP router, the BR in MODE and the server.
tutorial_isp_br() {
	local mode=$1
	ip link set lo up
	insmod "$MODULE"
	ip netns add isp
	ip netns add br
	ip netns add server
	batch isp <<-IP
		link set lo up
		link add name br type veth peer name wan netns br
		link set dev br up
		addr add 2001:db8:100:6::1/64 dev br nodad
		route add 64:ff9b::/96 via 2001:db8:100:6::2
		route add 2001:db8:6::1/128 via 2001:db8:100:6::2
	IP
	at isp sysctl -qw net.ipv6.conf.all.forwarding=1
	batch br <<-IP
		link set lo up
		link set dev wan up
		addr add 2001:db8:100:6::2/64 dev wan nodad
		route add default via 2001:db8:100:6::1
		link add name srv type veth peer name eth0 netns server
		link set dev srv up
		addr add 203.0.113.1/24 dev srv
	IP
	batch server <<-IP
		link set lo up
		link set dev eth0 up
		addr add $SERVER/24 dev eth0
		route add default via 203.0.113.1
	IP
	br_translator br "$mode"
}

# tutorial_teardown: the processes in the array pids, the module and the tutorial topology's
# namespaces go, so that the next topology of the boot starts afresh.
tutorial_teardown() {
	local pid ns
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
	pids=()
	check "rmmod mapmint" rmmod mapmint
	for ns in c1 c2 ce11b ce774 isp br server; do ip netns del "$ns"; done
}

# counter NS KEY [DEV]: a counter of `mapminctl -j stats` on NS's mapmint device (or DEV;
# drop reasons too).
counter() {
	at "$1" mapminctl -j stats dev "${3:-mapmint}" | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2
}

# dropped NS [DEV]: every packet NS's mapmint device (or DEV) dropped, whatever the reason.
dropped() {
	at "$1" mapminctl stats dev "${2:-mapmint}" | awk '$1 == "drops" { print $2 }'
}

# drops NS REASON: a drop counter of NS's mapmint device (0 when not listed).
drops() {
	local n
	n=$(counter "$1" "$2")
	echo "${n:-0}"
}

# in_range PORT LO-HI
in_range() {
	local lo=${2%-*} hi=${2#*-}
	[ "$1" -ge "$lo" ] && [ "$1" -le "$hi" ]
}

# tutorial_checks MODE: everything the tutorial topology must do, in MODE (t or e).
tutorial_checks() {
	local mode=$1 out ttl before after

	# --- ping from the LAN through CE and BR; one box costs one hop
	out=$(at c1 ping -c 3 -i 0.2 -W 3 $SERVER 2>&1)
	case "$out" in
	*"3 packets received"*) pass "ping c1 -> server through ce11b and br" ;;
	*) fail "ping c1 -> server through ce11b and br" "$out" ;;
	esac
	# The server answers with TTL 64. br and ce11b take one hop each; in MAP-T the ISP's IPv6
	# router takes one too (its hop limit becomes the TTL), in MAP-E it only sees the tunnel.
	ttl=$(echo "$out" | grep -o 'ttl=[0-9]*' | head -n 1 | cut -d= -f2)
	if [ "$mode" = t ]; then
		check_eq "each box costs one hop (reply TTL 64 - br - isp - ce11b)" 61 "$ttl"
	else
		check_eq "each box costs one hop (reply TTL 64 - br - ce11b; isp is inside the tunnel)" 62 "$ttl"
	fi

	# --- HTTP download of several MB, checked by its SHA-256
	mkdir -p /srv
	head -c 6000000 /dev/urandom >/srv/file
	at server httpd -p 80 -h /srv
	sleep 0.3
	rm -f /tmp/got
	# (busybox 1.35's wget crashes with -T: `timeout` bounds it instead)
	check "HTTP download c1 <- server (6 MB)" at c1 timeout 120 wget -q -O /tmp/got http://$SERVER/file
	check_eq "download content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
	offload_checks "$mode"

	# --- UDP request/response
	at server mapmint-probe udp-echo 7001 &
	wait_listening server udp 7001
	check_eq "UDP c1 -> server and back" "hello $mode" "$(at c1 mapmint-probe udp-ask $SERVER 7001 "hello $mode")"
	out=$(at c1 mapmint-probe udp-ask $SERVER 7009 closed 2>&1)
	case "$out" in
	*"refused"*) pass "ICMP port unreachable comes back translated" ;;
	*) fail "ICMP port unreachable comes back translated" "$out" ;;
	esac

	# --- the server sees each CE's shared address and only ports of its set
	rm -f /tmp/peers
	at server mapmint-probe tcp-log 7002 /tmp/peers &
	wait_listening server tcp 7002
	check "100 TCP connections from c1" at c1 mapmint-probe tcp-many $SERVER 7002 100
	check "50 TCP connections from c2" at c2 mapmint-probe tcp-many $SERVER 7002 50
	check_eq "the server saw 100 connections from 192.0.2.8" 100 "$(grep -c "^$CE11B_IP " /tmp/peers)"
	check_eq "the server saw 50 connections from 192.0.2.59" 50 "$(grep -c "^$CE774_IP " /tmp/peers)"
	check_eq "the server saw no other address" 150 "$(wc -l </tmp/peers)"
	local bad=0 ip port
	while read -r ip port; do
		case "$ip" in
		$CE11B_IP) in_range "$port" $CE11B_PORTS || bad=$((bad + 1)) ;;
		$CE774_IP) in_range "$port" $CE774_PORTS || bad=$((bad + 1)) ;;
		esac
	done </tmp/peers
	check_eq "every source port inside its CE's port set" 0 "$bad"

	# --- CE to CE through the FMR: straight across the ISP, not through the BR
	at ce774 mapmint-probe udp-echo $CE774_IP:41000 &
	wait_listening ce774 udp 41000
	before=$(counter br v4_to_v6_packets)/$(counter br v6_to_v4_packets)
	check_eq "UDP c1 -> CE 774 (192.0.2.59:41000) through the mesh" "mesh" \
		"$(at c1 mapmint-probe udp-ask $CE774_IP 41000 mesh)"
	after=$(counter br v4_to_v6_packets)/$(counter br v6_to_v4_packets)
	if [[ $before =~ ^[0-9]+/[0-9]+$ ]]; then
		check_eq "the mesh traffic did not touch the BR" "$before" "$after"
	else
		fail "the mesh traffic did not touch the BR" "no BR counters: '$before'"
	fi

	# --- spoofed packets are dropped, counted by reason, and reach nobody
	rm -f /tmp/spoofed
	at server mapmint-probe udp-log 7003 /tmp/spoofed &
	wait_listening server udp 7003
	spoof_tests "$mode"
	sleep 0.5
	check_eq "no spoofed datagram reached the server" 0 "$(wc -l </tmp/spoofed 2>/dev/null || echo 0)"
	br_local_destination_tests "$mode"

	# --- an IPv4 datagram without DF larger than the device MTU: the CE fragments it as
	# IPv4 to the size that fits after translation, and the server gets it whole
	check "a 4000-byte UDP datagram from c1" at c1 mapmint-probe udp-send $SERVER 7003 4000
	local tries=50
	while [ ! -s /tmp/spoofed ] && [ $tries -gt 0 ]; do
		tries=$((tries - 1))
		sleep 0.2
	done
	check_eq "the server got the 4000-byte datagram whole, from the CE's address" \
		"$CE11B_IP 4000" "$(cut -d' ' -f1,3 /tmp/spoofed)"
	# and back: the server's answer leaves it in fragments, of which only the first has a
	# port; the BR sends the others to the same CE (RFC 7597 §8.3.3)
	local big
	big=$(head -c 4000 /dev/zero | tr '\0' x)
	check_eq "a 4000-byte UDP echo both ways, fragmented" 4000 \
		"$(at c1 mapmint-probe udp-ask --timeout 3 $SERVER 7001 "$big" | tr -d '\n' | wc -c)"
}

# spoof_tests MODE: forged sources and destinations at the BR and at a CE.
spoof_tests() {
	local mode=$1 before
	# 1. CE 774 pretends to be 192.0.2.8 with a port of its own set: the address the rules
	#    give 192.0.2.8:41000 is not the source, so the BR refuses it.
	before=$(counter br source-mismatch)
	if [ "$mode" = t ]; then
		ip -n ce774 -6 addr add 2001:db8:ce:11b:0:c000:208:1b/128 dev wan nodad
		at ce774 mapmint-probe udp-ask --timeout 1 --bind "[2001:db8:ce:11b:0:c000:208:1b]:41000" 64:ff9b::cb00:7138 7003 spoof >/dev/null 2>&1
		ip -n ce774 -6 addr del 2001:db8:ce:11b:0:c000:208:1b/128 dev wan
	else
		# An IPv4-in-IPv6 tunnel from CE 11b's MAP-E address, carrying 192.0.2.8:41000.
		ip -n ce774 -6 addr add 2001:db8:ce:11b:0:c000:208:1b/128 dev wan nodad
		ip -n ce774 link add spoof type ip6tnl mode ipip6 local 2001:db8:ce:11b:0:c000:208:1b remote 2001:db8:6::1
		ip -n ce774 link set spoof up
		ip -n ce774 addr add 192.0.2.8/32 dev spoof
		ip -n ce774 route add $SERVER/32 dev spoof src 192.0.2.8
		at ce774 mapmint-probe udp-ask --timeout 1 --bind 192.0.2.8:41000 $SERVER 7003 spoof >/dev/null 2>&1
		ip -n ce774 link del spoof
		ip -n ce774 -6 addr del 2001:db8:ce:11b:0:c000:208:1b/128 dev wan
	fi
	check_eq "BR: wrong IPv6 source for 192.0.2.8:41000 counted as source-mismatch" 1 \
		$(($(counter br source-mismatch) - before))

	# 2. CE 774's own address with a port outside its set: refused by the BR as well.
	before=$(counter br source-mismatch)
	if [ "$mode" = t ]; then
		ip -n ce774 -6 addr add 2001:db8:ce:774:0:c000:23b:14/128 dev wan nodad
		at ce774 mapmint-probe udp-ask --timeout 1 --bind "[2001:db8:ce:774:0:c000:23b:14]:1234" 64:ff9b::cb00:7138 7003 spoof >/dev/null 2>&1
		ip -n ce774 -6 addr del 2001:db8:ce:774:0:c000:23b:14/128 dev wan
		check_eq "BR: a port outside the CE's set counted as source-mismatch" 1 $(($(counter br source-mismatch) - before))
	fi

	# 3. At CE 11b, from the ISP: a port outside its set, and an address of its prefix that
	#    is not its MAP address.
	local ce_map=2001:db8:ce:11b:0:c000:208:1b
	before=$(counter ce11b port-not-allowed)/$(counter ce11b no-mapping)
	if [ "$mode" = t ]; then
		ip -n isp -6 addr add 64:ff9b::cb00:7138/128 dev lo
		at isp mapmint-probe udp-ask --timeout 1 --bind "[64:ff9b::cb00:7138]:80" $ce_map 40960 spoof >/dev/null 2>&1
		at isp mapmint-probe udp-ask --timeout 1 --bind "[64:ff9b::cb00:7138]:80" 2001:db8:ce:11b::99 55300 spoof >/dev/null 2>&1
		ip -n isp -6 addr del 64:ff9b::cb00:7138/128 dev lo
	else
		ip -n isp -6 addr add 2001:db8:6::1/128 dev lo
		for dst in $ce_map 2001:db8:ce:11b::99; do
			ip -n isp link add spoof type ip6tnl mode ipip6 local 2001:db8:6::1 remote $dst
			ip -n isp link set spoof up
			ip -n isp addr add $SERVER/32 dev spoof
			ip -n isp route add 192.0.2.8/32 dev spoof src $SERVER
			if [ $dst = $ce_map ]; then port=40960; else port=55300; fi
			at isp mapmint-probe udp-ask --timeout 1 --bind $SERVER:80 192.0.2.8 $port spoof >/dev/null 2>&1
			ip -n isp link del spoof
		done
		ip -n isp -6 addr del 2001:db8:6::1/128 dev lo
	fi
	check_eq "CE: a port outside its set, and not its MAP address, counted by reason" \
		"$(($(echo "$before" | cut -d/ -f1) + 1))/$(($(echo "$before" | cut -d/ -f2) + 1))" \
		"$(counter ce11b port-not-allowed)/$(counter ce11b no-mapping)"
}

# br_local_destination_tests MODE: a CE's packet whose translated IPv4 destination is the BR
# itself (its own address, or loopback's) is received by the BR on its device, as a packet for
# a router arrives on an interface: never looped back as if the BR had sent it to itself,
# which would pass `-i lo` filters and reach loopback-only services. The BR allows port 7011
# on loopback only; CE 11b's MAP address (forged at CE 774, with a port of 11b's own set, so
# the BR accepts the source) sends to the BR's 203.0.113.1:7011, and in MAP-T to 127.0.0.1.
br_local_destination_tests() {
	local mode=$1 dropped translated ce_map=2001:db8:ce:11b:0:c000:208:1b
	rm -f /tmp/br-local
	at br mapmint-probe udp-log 0.0.0.0:7011 /tmp/br-local &
	pids+=($!)
	at br iptables-legacy -A INPUT -i lo -p udp --dport 7011 -j ACCEPT
	at br iptables-legacy -A INPUT -p udp --dport 7011 -j DROP
	wait_listening br udp 7011
	translated=$(counter br v6_to_v4_packets)
	ip -n ce774 -6 addr add $ce_map/128 dev wan nodad
	if [ "$mode" = t ]; then
		at ce774 mapmint-probe udp-ask --timeout 1 --bind "[$ce_map]:55300" 64:ff9b::cb00:7101 7011 local >/dev/null 2>&1
		at ce774 mapmint-probe udp-ask --timeout 1 --bind "[$ce_map]:55301" 64:ff9b::7f00:1 7011 loopback >/dev/null 2>&1
	else
		ip -n ce774 link add spoof type ip6tnl mode ipip6 local $ce_map remote 2001:db8:6::1
		ip -n ce774 link set spoof up
		ip -n ce774 addr add 192.0.2.8/32 dev spoof
		ip -n ce774 route add 203.0.113.1/32 dev spoof src 192.0.2.8
		at ce774 mapmint-probe udp-ask --timeout 1 --bind 192.0.2.8:55300 203.0.113.1 7011 local >/dev/null 2>&1
		ip -n ce774 link del spoof
	fi
	ip -n ce774 -6 addr del $ce_map/128 dev wan
	sleep 0.5
	local sent=1
	[ "$mode" = t ] && sent=2
	check_eq "BR: the CE's datagrams to the BR's own addresses were translated" $sent \
		$(($(counter br v6_to_v4_packets) - translated))
	check_eq "BR: none reached the loopback-only service" 0 "$(wc -l </tmp/br-local 2>/dev/null || echo 0)"
	dropped=$(at br iptables-legacy -nvxL INPUT | awk '$3 == "DROP" { print $1 }')
	check_eq "BR: the one to its own address arrived on its device, not on loopback (INPUT's DROP counted it)" 1 "$dropped"
	at br iptables-legacy -F INPUT
}

# route_change_check: the routes the devices remember per CPU (route.rs) follow route
# changes. While the CE's IPv6 default route, then the BR's IPv4 route to the server, is
# unreachable, c1's pings are dropped there as no-route (not sent along the remembered
# route), and they pass again once the route is back.
route_change_check() {
	local before
	check "ping before the routes change" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	before=$(counter ce11b no-route)
	ip -n ce11b -6 route replace unreachable default
	check_fails "CE: no ping while its IPv6 default route is unreachable" at c1 ping -c 3 -i 0.2 -W 1 $SERVER
	check_eq "CE: those pings counted as no-route" 3 $(($(counter ce11b no-route) - before))
	ip -n ce11b -6 route replace default via 2001:db8:100:11b::1
	check "CE: ping again once its route is back" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	before=$(counter br no-route)
	ip -n br route add unreachable $SERVER/32
	check_fails "BR: no ping while the server's IPv4 address is unreachable" at c1 ping -c 3 -i 0.2 -W 1 $SERVER
	check_eq "BR: those pings counted as no-route" 3 $(($(counter br no-route) - before))
	ip -n br route del unreachable $SERVER/32
	check "BR: ping again once the route is gone" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
}

# xfrm_packets NS: the packets NS's IPsec states have carried (ip -s xfrm state), summed.
xfrm_packets() {
	ip -s -n "$1" xfrm state | grep -o '[0-9]*(packets)' | awk -F'(' '{ n += $1 } END { print n + 0 }'
}

# ipsec_check MODE: the packets the devices send out themselves obey the namespace's IPsec
# policies, as ip6tnl's and routed ones do: a policy that blocks them stops them (counted as
# no-route), and an ESP tunnel from ce11b's WAN address to the BR's carries the CE's translated
# (MAP-T) or encapsulated (MAP-E) packets, which the BR decrypts and then translates; the
# BR's forward policy refuses them in clear.
ipsec_check() {
	local mode=$1 before ns sink mapped=2001:db8:ce:11b::/64
	local ce_wan=2001:db8:100:11b::2 br_wan=2001:db8:100:6::2
	before=$(counter ce11b no-route)
	ip -n ce11b xfrm policy add src $mapped dst ::/0 dir out action block
	check_fails "IPsec ($mode): no ping while a policy on ce11b blocks its IPv6 output" at c1 ping -c 3 -i 0.2 -W 1 $SERVER
	check_eq "IPsec ($mode): those pings counted as no-route on ce11b" 3 $(($(counter ce11b no-route) - before))
	ip -n ce11b xfrm policy flush
	check "IPsec ($mode): ping again once ce11b's policy is gone" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	# A policy whose security association is not there yet (no key manager here): dropped
	# and counted (larval_drop), not handed to the kernel's discarding route.
	local state="src $ce_wan dst $br_wan proto esp spi 0x11b mode tunnel"
	local tmpl="tmpl src $ce_wan dst $br_wan proto esp mode tunnel"
	before=$(counter ce11b no-route)
	ip -n ce11b xfrm policy add src $mapped dst ::/0 dir out $tmpl
	check_fails "IPsec ($mode): no ping while ce11b's ESP policy has no security association" \
		at c1 ping -c 3 -i 0.2 -W 1 $SERVER
	check_eq "IPsec ($mode): those pings counted as no-route on ce11b, too" 3 $(($(counter ce11b no-route) - before))
	ip -n ce11b xfrm policy flush
	before=$(counter br no-route)
	ip -n br xfrm policy add src ::/0 dst $mapped dir out action block
	check_fails "IPsec ($mode): no ping while a policy on the BR blocks its IPv6 output to ce11b" at c1 ping -c 3 -i 0.2 -W 1 $SERVER
	check_eq "IPsec ($mode): those replies counted as no-route on the BR" 3 $(($(counter br no-route) - before))
	ip -n br xfrm policy flush
	before=$(counter br no-route)
	ip -n br xfrm policy add dst $SERVER/32 dir out action block
	check_fails "IPsec ($mode): no ping while a policy on the BR blocks its IPv4 output to the server" at c1 ping -c 3 -i 0.2 -W 1 $SERVER
	check_eq "IPsec ($mode): those pings counted as no-route on the BR" 3 $(($(counter br no-route) - before))
	ip -n br xfrm policy flush
	check "IPsec ($mode): ping again once the BR's policies are gone" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	ipsec_selector_check "$mode"

	# An output policy that blocks the server's replies as routed into the BR's device: the
	# BR's forwarding drops them before the device (at receipt too: translate-on-receive
	# leaves them to it).
	before=$(counter br v4_to_v6_packets)
	ip -n br xfrm policy add dst 192.0.2.0/24 dir out action block
	check_fails "IPsec ($mode): no ping while a policy on the BR blocks what it would route into its device" \
		at c1 ping -c 3 -i 0.2 -W 1 $SERVER
	check_eq "IPsec ($mode): the BR translated none of those replies" "$before" "$(counter br v4_to_v6_packets)"
	ip -n br xfrm policy flush

	# ESP with the null cipher, from ce11b to the BR only (the replies come back in clear).
	ip -n ce11b xfrm state add $state enc cipher_null ""
	ip -n ce11b xfrm policy add src $mapped dst ::/0 dir out $tmpl
	ip -n br xfrm state add $state enc cipher_null ""
	ip -n br xfrm policy add src $mapped dst ::/0 dir in $tmpl
	ip -n br xfrm policy add src $mapped dst ::/0 dir fwd $tmpl
	check "IPsec ($mode): ping c1 -> server through an ESP tunnel from ce11b to the BR" \
		at c1 ping -c 3 -i 0.2 -W 3 $SERVER
	check_eq "IPsec ($mode): ce11b's ESP state carried the 3 requests" 3 "$(xfrm_packets ce11b)"
	check_eq "IPsec ($mode): the BR's ESP state took the 3 requests" 3 "$(xfrm_packets br)"
	# TCP: the CE's GSO packets and partial checksums, translated, then transformed. (1 s on
	# the test kernel; 50 s and more on the debug kernel)
	rm -f /tmp/up
	at server timeout 210 mapmint-probe tcp-sink 7030 /tmp/up &
	sink=$!
	wait_listening server tcp 7030
	check "IPsec ($mode): upload c1 -> server through the ESP tunnel" \
		at c1 timeout 180 mapmint-probe tcp-source $SERVER 7030 /srv/file
	wait $sink
	check_eq "IPsec ($mode): upload content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/up)"
	check "IPsec ($mode): the upload crossed ce11b's ESP state" test "$(xfrm_packets ce11b)" -gt 1000
	# The BR's forward policy asks for ESP: what ce11b sends in clear is not forwarded, nor
	# translated (at receipt too: translate-on-receive leaves it to the stack's check).
	ip -n ce11b xfrm policy flush
	before=$(counter br v6_to_v4_packets)
	check_fails "IPsec ($mode): no ping while the BR asks for ESP and ce11b sends in clear" \
		at c1 ping -c 3 -i 0.2 -W 1 $SERVER
	check_eq "IPsec ($mode): the BR translated none of those requests" "$before" "$(counter br v6_to_v4_packets)"
	for ns in ce11b br; do
		ip -n $ns xfrm policy flush
		ip -n $ns xfrm state flush
	done
	check "IPsec ($mode): ping in clear once the tunnel is gone" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
}

# ipsec_selector_check MODE: the output policies see the ports and ICMP types of what the
# devices send, as they see a forwarded packet's: a policy for one ICMP type or one TCP port
# blocks that and nothing else (before, the flow had none: type 0, port 0). MAP-E's IPv6
# output is IPIP, without ports, as ip6tnl's. (Protocols by number: the guest may have no
# /etc/protocols.)
ipsec_selector_check() {
	local mode=$1 before sink
	if [ "$mode" = t ]; then
		before=$(counter ce11b no-route)
		check "IPsec ($mode): a policy on ce11b for ICMPv6 echo requests" ip -n ce11b xfrm policy add \
			src 2001:db8:ce:11b::/64 dst ::/0 proto 58 type 128 dir out action block
		check_fails "IPsec ($mode): no ping while a policy on ce11b blocks ICMPv6 echo requests" \
			at c1 ping -c 3 -i 0.2 -W 1 $SERVER
		check_eq "IPsec ($mode): those requests counted as no-route on ce11b" 3 $(($(counter ce11b no-route) - before))
		ip -n ce11b xfrm policy flush
		check "IPsec ($mode): a policy on ce11b for ICMPv6 type 0" ip -n ce11b xfrm policy add \
			src 2001:db8:ce:11b::/64 dst ::/0 proto 58 type 0 dir out action block
		check "IPsec ($mode): ping through a policy on ce11b that blocks ICMPv6 type 0 (reserved)" \
			at c1 ping -c 2 -i 0.2 -W 3 $SERVER
		ip -n ce11b xfrm policy flush
	fi
	before=$(counter br no-route)
	check "IPsec ($mode): a policy on the BR for echo requests" ip -n br xfrm policy add \
		dst $SERVER/32 proto 1 type 8 dir out action block
	check_fails "IPsec ($mode): no ping while a policy on the BR blocks echo requests to the server" \
		at c1 ping -c 3 -i 0.2 -W 1 $SERVER
	check_eq "IPsec ($mode): those requests counted as no-route on the BR" 3 $(($(counter br no-route) - before))
	ip -n br xfrm policy flush
	check "IPsec ($mode): a policy on the BR for echo replies" ip -n br xfrm policy add \
		dst $SERVER/32 proto 1 type 0 dir out action block
	check "IPsec ($mode): ping through a policy on the BR that blocks echo replies to the server" \
		at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	ip -n br xfrm policy flush

	rm -f /tmp/up
	at server timeout 210 mapmint-probe tcp-sink 7031 /tmp/up &
	sink=$!
	wait_listening server tcp 7031
	before=$(counter br no-route)
	check "IPsec ($mode): a policy on the BR for TCP port 7031" ip -n br xfrm policy add \
		dst $SERVER/32 proto 6 dport 7031 dir out action block
	check_fails "IPsec ($mode): no connection to the server's port 7031 while a policy on the BR blocks that port" \
		at c1 timeout 4 mapmint-probe tcp-source $SERVER 7031 /srv/file
	check "IPsec ($mode): those SYNs counted as no-route on the BR" test $(($(counter br no-route) - before)) -ge 2
	check "IPsec ($mode): ping through the BR's policy for TCP port 7031" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	ip -n br xfrm policy flush
	check "IPsec ($mode): upload to port 7031 once the BR's policy is gone" \
		at c1 timeout 180 mapmint-probe tcp-source $SERVER 7031 /srv/file
	wait $sink
	check_eq "IPsec ($mode): upload to port 7031, content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/up)"
}

# transfer_while_applying: rules replaced with mapminctl apply while a download runs.
transfer_while_applying() {
	rm -f /tmp/got
	at c1 timeout 120 wget -q -O /tmp/got http://$SERVER/file &
	local wget=$! i
	for i in 1 2 3 4 5; do
		at br mapminctl apply --config /tmp/br.conf dev mapmint >/dev/null
		at ce11b mapminctl apply --config /tmp/ce11b.conf dev mapmint >/dev/null
	done
	if wait $wget; then
		check_eq "a download during mapminctl apply completes intact" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
	else
		# Failing is allowed (cleanly); the kernel log check covers the rest.
		pass "a download during mapminctl apply failed cleanly"
	fi
}

# rmmod_under_traffic: unloading with traffic through every box.
rmmod_under_traffic() {
	at c1 ping -i 0.05 $SERVER >/dev/null 2>&1 &
	local pinger=$!
	at c1 timeout 20 wget -q -O /dev/null http://$SERVER/file >/dev/null 2>&1 &
	local wget=$!
	sleep 0.5
	check "rmmod while traffic flows" rmmod mapmint
	kill $pinger 2>/dev/null
	wait $wget 2>/dev/null
	check_fails "no mapmint device left at ce11b" ip -n ce11b link show mapmint
	check_fails "no mapmint device left at br" ip -n br link show mapmint
}

# traceroute_check MODE: TTL expiry on every hop comes back to the LAN host, translated.
traceroute_check() {
	local mode=$1 out hops expected
	out=$(at c1 traceroute -n -q 1 -w 2 -m 6 $SERVER 2>&1)
	hops=$(echo "$out" | awk '/^ *[0-9]+ / { print $2 }' | tr '\n' ' ')
	# MAP-T: the ISP router and the BR answer in IPv6 from addresses without an IPv4 form,
	# which arrive from the RFC 7600 dummy address. MAP-E: the ISP router is inside the
	# tunnel, and the BR answers in IPv4 itself.
	if [ "$mode" = t ]; then
		expected="192.168.0.1 192.0.0.8 192.0.0.8 $SERVER "
	else
		expected="192.168.0.1 203.0.113.1 $SERVER "
	fi
	check_eq "traceroute c1 -> server: every hop answers" "$expected" "$hops"
}

# icmp_pool_check: MAP-T, with an RFC 6791 pool on CE 11b the hops without an IPv4 form (the
# ISP router, the BR) answer from addresses of the pool, not all from one; without it from
# the dummy address again.
icmp_pool_check() {
	local out addrs outside
	check "ce11b: dev set icmp-source-pool" at ce11b mapminctl dev set mapmint icmp-source-pool 198.51.100.16/28
	check_eq "ce11b: dev show lists the pool" "icmp-source-pool 198.51.100.16/28" \
		"$(at ce11b mapminctl dev show mapmint | grep -o 'icmp-source-pool [0-9./]*')"
	# Hops 2 and 3, three probes each (traceroute prints a probe's address when it differs
	# from the one before).
	out=$(at c1 traceroute -n -q 3 -w 2 -m 3 $SERVER 2>&1)
	addrs=$(echo "$out" | awk '$1 == 2 || $1 == 3' | grep -o '[0-9]*\.[0-9]*\.[0-9]*\.[0-9]*' | sort -u)
	outside=$(echo "$addrs" | grep -v '^198\.51\.100\.\(1[6-9]\|2[0-9]\|3[01]\)$')
	if [ -n "$addrs" ] && [ -z "$outside" ] && [ "$(echo "$addrs" | wc -l)" -ge 2 ]; then
		pass "traceroute through CE 11b: the IPv6 hops answer from several addresses of the pool"
	else
		fail "traceroute through CE 11b: the IPv6 hops answer from several addresses of the pool" "$out"
	fi
	check "ce11b: dev set no-icmp-source-pool" at ce11b mapminctl dev set mapmint no-icmp-source-pool
	out=$(at c1 traceroute -n -q 1 -w 2 -m 2 $SERVER 2>&1)
	check_eq "without the pool, the ISP router answers from 192.0.0.8 again" 192.0.0.8 \
		"$(echo "$out" | awk '$1 == 2 { print $2 }')"
}

# average_size NS DIRECTION BEFORE_PACKETS BEFORE_BYTES: the average size of what NS's mapmint
# device translated in DIRECTION (v4_to_v6 or v6_to_v4) since the counts given.
average_size() {
	local packets bytes
	packets=$(($(counter "$1" "$2_packets") - $3))
	bytes=$(($(counter "$1" "$2_bytes") - $4))
	[ "$packets" -gt 0 ] && echo $((bytes / packets)) || echo 0
}

# gso_transfer NAME NS1 DIR1 NS2 DIR2 CMD...: runs the transfer CMD, then checks that the
# mapmint devices of NS1 and NS2 translated GSO super-packets whole in directions DIR1 and
# DIR2: their average size is above the 1500-byte MTU, which no single packet can be.
gso_transfer() {
	local name=$1 ns1=$2 dir1=$3 ns2=$4 dir2=$5
	shift 5
	local p1 b1 p2 b2 avg1 avg2
	p1=$(counter "$ns1" "${dir1}_packets") b1=$(counter "$ns1" "${dir1}_bytes")
	p2=$(counter "$ns2" "${dir2}_packets") b2=$(counter "$ns2" "${dir2}_bytes")
	check "$name" "$@"
	avg1=$(average_size "$ns1" "$dir1" "$p1" "$b1")
	avg2=$(average_size "$ns2" "$dir2" "$p2" "$b2")
	if [ "$avg1" -gt 1500 ] && [ "$avg2" -gt 1500 ]; then
		pass "$name: GSO packets crossed whole ($ns1 $dir1 $avg1 bytes on average, $ns2 $dir2 $avg2)"
	else
		fail "$name: GSO packets crossed whole" "average sizes $ns1 $dir1 $avg1, $ns2 $dir2 $avg2 (not above the MTU)"
	fi
}

# offload_checks MODE: TSO/GSO super-packets and CHECKSUM_PARTIAL packets through both boxes,
# in both directions, from a LAN host and from a socket on the CE itself; contents checked.
offload_checks() {
	# Download (above): the server's TSO super-packets; again with counters watched.
	rm -f /tmp/got
	gso_transfer "download c1 <- server, GSO through br and ce11b" br v4_to_v6 ce11b v6_to_v4 \
		at c1 timeout 120 wget -q -O /tmp/got http://$SERVER/file
	check_eq "download c1 <- server with GSO: content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
	# Upload: c1's TSO super-packets, forwarded and SNATed by the CE.
	gso_upload "upload c1 -> server" c1 7010
	# A socket on the CE itself: CHECKSUM_PARTIAL super-packets straight from TCP. A receiver
	# behind a veth takes a checksum left to offload as right, so the links are watched too.
	rm -f /tmp/got
	checksums_start ce11b wan tcp 80
	gso_transfer "download to a socket on ce11b" br v4_to_v6 ce11b v6_to_v4 \
		at ce11b timeout 120 wget -q -O /tmp/got http://$SERVER/file
	check_eq "download to a socket on ce11b: content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
	checksums_check "download to a socket on ce11b, at its wan link" ce11b wan 80 offloaded
	checksums_start br wan tcp 7011
	checksums_start server eth0 tcp 7011
	gso_upload "upload from a socket on ce11b" ce11b 7011
	checksums_check "upload from a socket on ce11b, at the BR's wan link" br wan 7011 offloaded
	checksums_check "upload from a socket on ce11b, at the server" server eth0 7011 offloaded
	offloaded_write_checks
	[ "${1:-}" != e ] || outer_offload_check
}

# outer_offload_check: a MAP-E packet sent to the BR from the ISP's router with a checksum left
# to offload inside its outer header (a veth keeps the offload, and forwarding into the device
# too), which decapsulation removes: the packet leaves the BR with its own checksums,
# complete. A leftover offload would point before the packet (a NIC without checksum offload
# would warn and drop it, one with it would be told a negative offset).
outer_offload_check() {
	checksums_start br wan udp 7042
	checksums_start br srv udp 7042
	at isp mapmint-probe inject-offloaded "br@$(at br cat /sys/class/net/wan/address)" $CE11B_IP:55300 $SERVER:7042 \
		"outer-header:2001:db8:ce:11b:0:c000:208:1b,2001:db8:6::1"
	sleep 1
	checksums_check "an offload in a MAP-E packet's outer header, at the BR's wan link" br wan 7042 offloaded
	checksums_check "the same packet decapsulated, at the BR's srv link" br srv 7042
}

# offloaded_write_checks: UDP packets written into the CE's device with their checksum left to
# offload (a packet socket's virtio-net header), from the CE's address and port set: a
# socket's (the UDP checksum, a seed that translation updates) and a UDP tunnel's (FOU, its
# inner checksum left to offload, its outer one complete): every checksum right behind the
# CE and behind the BR.
offloaded_write_checks() {
	local kind port want
	for kind in transport tunnel; do
		# (a socket's seed is kept to the end; a tunnel's packet is the CE's to finish in MAP-T)
		case $kind in transport) port=7040 want=offloaded ;; tunnel) port=7041 want= ;; esac
		checksums_start br wan udp $port
		checksums_start server eth0 udp $port
		at ce11b mapmint-probe inject-offloaded mapmint $CE11B_IP:55300 $SERVER:$port $kind
		sleep 1
		checksums_check "a $kind checksum left to offload, at the BR's wan link" br wan $port $want
		checksums_check "a $kind checksum left to offload, at the server" server eth0 $port $want
	done
}

# checksums_start NS DEV tcp|udp PORT: checks the checksums of a flow's packets on DEV (the
# probe's offload.rs) until checksums_check NAME NS DEV PORT; returns once it sees them all.
declare -gA CHECKSUM_CAPTURES
checksums_start() {
	local out=/tmp/checksums-$1-$2-$4 waited=0
	ip netns exec "$1" mapmint-probe checksums "$2" "$3" "$4" 600 >"$out" 2>&1 &
	CHECKSUM_CAPTURES[$1-$2-$4]=$!
	until grep -q '^ready$' "$out" || [ $waited -ge 200 ]; do
		sleep 0.05
		waited=$((waited + 1))
	done
	check "a capture of $3 port $4 on $1's $2 started" grep -q '^ready$' "$out"
}

# checksums_check NAME NS DEV PORT [offloaded]: the capture saw the flow, every checksum it
# read right (and, with offloaded, some left to offload: the check saw the offload's path).
checksums_check() {
	local name=$1 key=$2-$3-$4 want=${5:-} report
	kill -INT "${CHECKSUM_CAPTURES[$key]}"
	wait "${CHECKSUM_CAPTURES[$key]}"
	report=$(grep -m 1 '^packets ' "/tmp/checksums-$key")
	# "packets N offloaded O gso G bad B dropped D", then what was bad
	local -a field
	read -ra field <<<"$report"
	check "$name: every checksum right ($report$(grep -m 1 '^mapmint-probe' "/tmp/checksums-$key" | sed 's/^/; /'))" \
		test "${field[1]:-0}" -gt 0 -a "${field[7]:-1}" -eq 0
	[ "$want" != offloaded ] || check "$name: some left to offload ($report)" test "${field[3]:-0}" -gt 0
}

# gso_upload NAME NS PORT: /srv/file from NS to the server over TCP port PORT, through ce11b and
# br with GSO; the server's copy checked.
gso_upload() {
	local name=$1 ns=$2 port=$3 server
	rm -f /tmp/up
	at server timeout 90 mapmint-probe tcp-sink "$port" /tmp/up &
	server=$!
	wait_listening server tcp "$port"
	gso_transfer "$name, GSO through ce11b and br" ce11b v4_to_v6 br v6_to_v4 \
		at "$ns" timeout 60 mapmint-probe tcp-source $SERVER "$port" /srv/file
	wait $server
	check_eq "$name: content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/up)"
}

# pmtu_check MODE: full-size TCP across a 1280-byte IPv6 link between the ISP and CE 11b,
# after the BR's device refused the server's super-packets (device_mtu_check).
pmtu_check() {
	local mode=$1
	device_mtu_check
	ip -n isp link set dev ce11b mtu 1280
	ip -n ce11b link set dev wan mtu 1280
	rm -f /tmp/got
	check "HTTP download over a 1280-byte IPv6 link" at c1 timeout 120 wget -q -O /tmp/got http://$SERVER/file
	check_eq "download content over a 1280-byte IPv6 link" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got 2>/dev/null)"
	local route
	route=$(at server ip route get $CE11B_IP)
	case "$mode:$route" in
	t:*"mtu 1260"*) pass "the server learnt the path MTU 1260 (Packet Too Big -> Fragmentation Needed)" ;;
	e:*"mtu 1240"*) pass "the server learnt the path MTU 1240 (the tunnel's Packet Too Big -> Fragmentation Needed)" ;;
	*) fail "the server learnt the path MTU" "$route" ;;
	esac
	ip -n isp link set dev ce11b mtu 1500
	ip -n ce11b link set dev wan mtu 1500
}

# device_mtu_check: a download while the BR's device has an MTU of 1400, under what the
# server's segments make once translated: the device answers each super-packet that does not
# fit with one Fragmentation Needed, as forwarding does (ip_forward), not one per segment
# (every refusal is counted once in the link's tx_dropped, every answer in icmp_errors); the
# server learns the MTU and the download completes.
device_mtu_check() {
	local errors drops tx refused
	errors=$(counter br icmp_errors)
	drops=$(dropped br)
	tx=$(at br cat /sys/class/net/mapmint/statistics/tx_dropped)
	ip -n br link set mapmint mtu 1400
	rm -f /tmp/got
	check "download through a BR device of MTU 1400" at c1 timeout 120 wget -q -O /tmp/got http://$SERVER/file
	check_eq "download through a BR device of MTU 1400: content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got 2>/dev/null)"
	errors=$(($(counter br icmp_errors) - errors))
	refused=$(($(at br cat /sys/class/net/mapmint/statistics/tx_dropped) - tx - ($(dropped br) - drops)))
	check "the BR's device answered packets over its MTU ($errors ICMP errors)" test "$errors" -gt 0
	check_eq "the BR's device answered each packet it refused once, super-packets too ($refused refused)" "$refused" "$errors"
	ip -n br link set mapmint mtu 1500
}

# decapsulated_gso_mtu_check: MAP-E GSO packets decapsulated at the BR and sent towards the
# server on a route of a smaller MTU: the BR measures their segments as any router does, from
# the transport header, which must follow the decapsulated IPv4 header. The server advertises
# an MSS of 1000 and c1 sends without TCP options, so each segment is a 1040-byte packet.
# Left at the IPv4 header, the transport header would make a segment look 1048 bytes long
# (the source address's first byte, 192, read as a TCP data offset of 48 bytes): a route of
# 1044 would have the BR refuse segments that fit it.
decapsulated_gso_mtu_check() {
	local unreachable
	at c1 sysctl -qw net.ipv4.tcp_timestamps=0
	ip -n server route change default via 203.0.113.1 advmss 1000
	ip -n br route add $SERVER/32 dev srv mtu lock 1044
	unreachable=$(snmp br Icmp OutDestUnreachs)
	gso_upload "upload c1 -> server, 1040-byte segments on the BR's route of 1044" c1 7012
	check_eq "the BR refused none of the segments that fit its route" "$unreachable" "$(snmp br Icmp OutDestUnreachs)"
	check_eq "c1 learnt no path MTU of 1044" "" "$(at c1 ip route get $SERVER | grep -o 'mtu 1044')"
	# and with less than a segment, the BR must answer (Fragmentation Needed: DF)
	ip -n br route change $SERVER/32 dev srv mtu lock 1036
	gso_upload "upload c1 -> server, 1040-byte segments on the BR's route of 1036" c1 7013
	check "the BR answered Destination Unreachable" test "$(snmp br Icmp OutDestUnreachs)" -gt "$unreachable"
	check_eq "c1 learnt the path MTU 1036" "mtu 1036" "$(at c1 ip route get $SERVER | grep -o 'mtu 1036')"
	ip -n br route del $SERVER/32 dev srv
	ip -n server route change default via 203.0.113.1
	at c1 sysctl -qw net.ipv4.tcp_timestamps=1
}

# concurrency_checks MODE: transfers from both LAN hosts at once, both ways, while 3000-byte
# UDP datagrams are echoed in fragments (the BR follows the replies' fragments to the right CE
# with its fragment cache), on a guest with 2 vCPUs and devices of 8 transmit queues: every
# copy intact, every echo right, nothing dropped.
concurrency_checks() {
	local ns queues
	check_eq "the guest has 2 CPUs" 2 "$(nproc)"
	for ns in ce11b ce774 br; do
		queues=$(at "$ns" sh -c 'ls /sys/class/net/mapmint/queues | grep -c "^tx-"')
		check_eq "$ns's mapmint device has 8 transmit queues" 8 "$queues"
	done
	mkdir -p /srv
	# 2 MB: four at once take about a minute on the debug kernel, where these run
	head -c 2000000 /dev/urandom >/srv/file
	at server httpd -p 80 -h /srv
	at server timeout 120 mapmint-probe tcp-sink 7020 /tmp/up1 &
	local sink1=$!
	at server timeout 120 mapmint-probe tcp-sink 7021 /tmp/up2 &
	local sink2=$!
	at server mapmint-probe udp-echo 7022 &
	local echo=$!
	wait_listening server tcp 7020
	wait_listening server tcp 7021
	wait_listening server udp 7022
	local message pids=() i
	message=$(head -c 3000 /dev/zero | tr '\0' m)
	at c1 timeout 120 wget -q -O /tmp/down1 http://$SERVER/file & pids+=($!)
	at c2 timeout 120 wget -q -O /tmp/down2 http://$SERVER/file & pids+=($!)
	at c1 timeout 120 mapmint-probe tcp-source $SERVER 7020 /srv/file & pids+=($!)
	at c2 timeout 120 mapmint-probe tcp-source $SERVER 7021 /srv/file & pids+=($!)
	for host in c1 c2; do
		(for i in $(seq 1 10); do
			[ "$(at $host mapmint-probe udp-ask $SERVER 7022 "$message")" = "$message" ] && echo ok
		done >"/tmp/echoes-$host") &
		pids+=($!)
	done
	local failed=0
	for i in "${pids[@]}"; do wait "$i" || failed=$((failed + 1)); done
	wait $sink1 $sink2
	kill $echo 2>/dev/null
	check_eq "4 transfers and 2 echo loops at once all finished" 0 "$failed"
	local want
	want=$(sha256sum </srv/file)
	check_eq "download to c1 intact" "$want" "$(sha256sum </tmp/down1)"
	check_eq "download to c2 intact" "$want" "$(sha256sum </tmp/down2)"
	check_eq "upload from c1 intact" "$want" "$(sha256sum </tmp/up1)"
	check_eq "upload from c2 intact" "$want" "$(sha256sum </tmp/up2)"
	check_eq "c1's 10 fragmented 3000-byte echoes came back right" 10 "$(grep -c ok /tmp/echoes-c1)"
	check_eq "c2's 10 fragmented 3000-byte echoes came back right" 10 "$(grep -c ok /tmp/echoes-c2)"
	# (Fragmentation Needed answers count as the link's tx drops; the translator's own drops
	# are these.)
	check_eq "the BR dropped nothing" 0 "$(dropped br)"
}


# reassembled_on_receive_check: with conntrack in the BR's and CE 11b's namespaces (an nft
# ct rule, as a firewall has: the stack then reassembles fragments at PREROUTING, before the
# device's hook sees them), a 4000-byte UDP echo from c1 to the server, fragmented both ways,
# still comes back whole. A reassembled datagram is the stack's to send on: it cuts it again
# to its fragments' size on the way into the device, which translates the fragments. (Taken at
# receipt whole, it would leave as one packet over the MTU, with DF in MAP-T, and be refused.)
reassembled_on_receive_check() {
	local ns big
	for ns in br ce11b; do
		at $ns nft -f - <<-NFT
			table inet mapmint_ct {
				chain prerouting {
					type filter hook prerouting priority 0;
					ct state invalid drop
				}
			}
		NFT
	done
	big=$(head -c 4000 /dev/zero | tr '\0' y)
	check_eq "with conntrack reassembling at the BR and the CE, a 4000-byte UDP echo both ways" 4000 \
		"$(at c1 mapmint-probe udp-ask --timeout 3 $SERVER 7001 "$big" | tr -d '\n' | wc -c)"
	for ns in br ce11b; do at $ns nft delete table inet mapmint_ct; done
}

# snmp NS GROUP FIELD: FIELD of GROUP (Ip, Icmp, ...) in NS's /proc/net/snmp (a line of names,
# then a line of values).
snmp() {
	at "$1" awk -v group="$2:" -v field="$3" \
		'$1 == group { if (!col) { for (i = 2; i <= NF; i++) if ($i == field) col = i } else print $col }' /proc/net/snmp
}

# forwarded NS: the packets NS's stack forwarded so far, IPv4 and IPv6 together.
forwarded() {
	local v4 v6
	v4=$(snmp "$1" Ip ForwDatagrams)
	v6=$(at "$1" awk '$1 == "Ip6OutForwDatagrams" { print $2 }' /proc/net/snmp6)
	echo $((v4 + v6))
}

# translated NS: the packets NS's mapmint device translated so far, both ways.
translated() {
	echo $(($(counter "$1" v4_to_v6_packets) + $(counter "$1" v6_to_v4_packets)))
}

# snmp6 NS FIELD: FIELD of NS's /proc/net/snmp6.
snmp6() {
	at "$1" awk -v field="$2" '$1 == field { print $2 }' /proc/net/snmp6
}

# delivered_download WHERE: c1 downloads through tunnel ends that are addresses of the BR and
# CE 11b (on WHERE): intact, and each box decapsulated the tunnel packets as deliveries to
# itself without forwarding any IPv6 (the BR decapsulates c1's ACKs, CE 11b the download).
delivered_download() {
	local where=$1 ns v6_br v6_ce f_br f_ce d_br d_ce dv df dd
	v6_br=$(counter br v6_to_v4_packets) v6_ce=$(counter ce11b v6_to_v4_packets)
	f_br=$(snmp6 br Ip6OutForwDatagrams) f_ce=$(snmp6 ce11b Ip6OutForwDatagrams)
	d_br=$(snmp6 br Ip6InDelivers) d_ce=$(snmp6 ce11b Ip6InDelivers)
	rm -f /tmp/got
	check "e: download to c1 through tunnel ends on $where" at c1 timeout 120 wget -q -O /tmp/got http://$SERVER/file
	check_eq "e: download through tunnel ends on $where: content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
	for ns in br ce11b; do
		if [ $ns = br ]; then
			dv=$(($(counter br v6_to_v4_packets) - v6_br)) df=$(($(snmp6 br Ip6OutForwDatagrams) - f_br))
			dd=$(($(snmp6 br Ip6InDelivers) - d_br))
		else
			dv=$(($(counter ce11b v6_to_v4_packets) - v6_ce)) df=$(($(snmp6 ce11b Ip6OutForwDatagrams) - f_ce))
			dd=$(($(snmp6 ce11b Ip6InDelivers) - d_ce))
		fi
		if [ "$dv" -gt 20 ] && [ "$df" -eq 0 ] && [ "$dd" -ge "$dv" ]; then
			pass "e: $ns delivered the tunnel packets to itself on $where and forwarded no IPv6 ($dv decapsulated, $dd delivered, $df forwarded)"
		else
			fail "e: $ns delivered the tunnel packets to itself on $where and forwarded no IPv6" "$dv decapsulated, $dd delivered, $df forwarded"
		fi
	done
}

# tunnel_end_device BOX WHERE: the interface that holds a MAP-E tunnel end address where
# TUTORIAL_TUNNEL_ENDS=WHERE puts it: the device itself, or (interfaces) the BR's lo and a
# CE's WAN link, as ip6tnl users put theirs.
tunnel_end_device() {
	case "$2" in
	device) echo mapmint ;;
	interfaces) if [ "$1" = br ]; then echo lo; else echo wan; fi ;;
	*) fail "tunnel_end_device: no place $2" ;;
	esac
}

# move_tunnel_ends FROM TO: the BR's and CE 11b's tunnel end addresses from where
# TUTORIAL_TUNNEL_ENDS=FROM put them to where TO would.
move_tunnel_ends() {
	local ce_end
	ce_end=$(map_address ce11b)
	ip -n br -6 addr del 2001:db8:6::1/128 dev "$(tunnel_end_device br "$1")"
	ip -n br -6 addr add 2001:db8:6::1/128 dev "$(tunnel_end_device br "$2")" nodad
	ip -n ce11b -6 addr del "$ce_end/128" dev "$(tunnel_end_device ce "$1")"
	ip -n ce11b -6 addr add "$ce_end/128" dev "$(tunnel_end_device ce "$2")" nodad
}

# tunnel_end_checks: with the MAP-E tunnel ends assigned to the devices as addresses (the
# topology built with TUTORIAL_TUNNEL_ENDS=device), the tunnel packets to them are delivered
# to the host, as ip6tnl receives its own, and the device decapsulates them there: a download
# crosses the BR and CE 11b without their stacks forwarding any IPv6 (they deliver it); the
# device's other checks hold there too (the rest of the scenario). So it goes with the tunnel
# ends on other interfaces (lo, the WAN link), where ip6tnl users put them. Once the address
# is gone, the tunnel packets are the stack's: it answers Port Unreachable and the device sees
# none.
tunnel_end_checks() {
	local v6_br
	check_eq "br: the tunnel end is an address of the device" "2001:db8:6::1/128" \
		"$(ip -n br -6 -o addr show dev mapmint | grep -o '2001:db8:6::1/128')"
	delivered_download "the devices"
	# The BR's tunnel end on lo, CE 11b's on its WAN link: each device finds the packets to
	# its tunnel end among its namespace's deliveries.
	move_tunnel_ends device interfaces
	delivered_download "lo and the WAN link"
	shared_tunnel_end_check
	# Down, the BR's device takes none of them there either; up, it does again.
	ip -n br link set mapmint down
	v6_br=$(counter br v6_to_v4_packets)
	check_fails "e: no ping while the BR's device is down, its tunnel end on lo" at c1 ping -c 2 -i 0.2 -W 1 $SERVER
	check_eq "e: the BR's device, down, decapsulated none of it" "$v6_br" "$(counter br v6_to_v4_packets)"
	batch br <<-IP
		link set mapmint up
		route add 192.0.2.0/24 dev mapmint
	IP
	check "e: ping once the BR's device is up again, its tunnel end on lo" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	move_tunnel_ends interfaces device
	# An ip6tnl tunnel beside the BR's tunnel end, in the same namespace (its end on lo): its
	# packets stay ip6tnl's (its handler comes first in tunnel6's chain), the device's stay
	# the device's.
	ip -n isp -6 route add 2001:db8:6::2/128 via 2001:db8:100:6::2
	batch br <<-IP
		addr add 2001:db8:6::2/128 dev lo
		link add tnl type ip6tnl mode ipip6 local 2001:db8:6::2 remote 2001:db8:100:774::2
		link set tnl up
		addr add 10.99.0.1/30 dev tnl
	IP
	batch ce774 <<-IP
		link add tnl type ip6tnl mode ipip6 local 2001:db8:100:774::2 remote 2001:db8:6::2
		link set tnl up
		addr add 10.99.0.2/30 dev tnl
	IP
	v6_br=$(counter br v6_to_v4_packets)
	check "e: ping through an ip6tnl tunnel beside the BR's tunnel end" at ce774 ping -c 2 -i 0.2 -W 3 10.99.0.1
	check_eq "e: the BR's device took none of the ip6tnl tunnel's packets" "$v6_br" "$(counter br v6_to_v4_packets)"
	check "e: ping through the BR's tunnel end beside it" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	ip -n br link del tnl
	ip -n ce774 link del tnl
	ip -n br -6 addr del 2001:db8:6::2/128 dev lo
	ip -n isp -6 route del 2001:db8:6::2/128
	# Without the address the stack has no tunnel there: a ping's request is delivered to
	# the BR and answered Port Unreachable (tunnel6, as with an ip6tnl that matches none).
	ip -n br -6 addr del 2001:db8:6::1/128 dev mapmint
	v6_br=$(counter br v6_to_v4_packets)
	check_fails "e: no ping once the BR's tunnel end is no address of it" at c1 ping -c 2 -i 0.2 -W 1 $SERVER
	check_eq "e: the BR's device decapsulated none of it" "$v6_br" "$(counter br v6_to_v4_packets)"
	ip -n br -6 addr add 2001:db8:6::1/128 dev mapmint nodad
	check "e: ping once the tunnel end is the BR device's address again" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	# Down, the device takes nothing at its addresses (and IPv6 takes them away); up with the
	# address again, it does.
	ip -n ce11b link set mapmint down
	check_fails "e: no ping while ce11b's device is down" at c1 ping -c 2 -i 0.2 -W 1 $SERVER
	batch ce11b <<-IP
		link set mapmint up
		route add default dev mapmint
		route add 2001:db8:ce:11b::/64 dev mapmint
		addr add $(map_address ce11b)/128 dev mapmint nodad
	IP
	check "e: ping once ce11b's device is up with its tunnel end" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
}

# shared_tunnel_end_check: a second BR instance with the same tunnel end (on lo), as one BR
# address serving two domains: each instance takes the tunnel packets of its own domain's
# CEs, and the ICMPv6 errors about the packets it sent them, wherever it lies in the order
# the devices are tried in. The tutorial's device, tried first, gets another domain's rule;
# a new device, tried after it, the tutorial's.
shared_tunnel_end_check() {
	local first second drops route
	at br mapminctl dev add mapmint2
	at br mapminctl apply --config /tmp/br.conf dev mapmint2 >/dev/null
	printf '%s\n' "role br" "mode e" "fmr 2001:db8:99::/51 198.51.100.0/24 ea-len 13 psid-offset 0" \
		"br 2001:db8:6::1" >/tmp/br-other.conf
	at br mapminctl apply --config /tmp/br-other.conf dev mapmint >/dev/null
	batch br <<-IP
		link set mapmint2 up
		route replace 192.0.2.0/24 dev mapmint2
	IP
	first=$(counter br v6_to_v4_packets) second=$(counter br v6_to_v4_packets mapmint2)
	drops=$(dropped br)
	check "e: ping through a tunnel end on lo that two BR instances share" at c1 ping -c 3 -i 0.2 -W 3 $SERVER
	check_eq "e: the instance of the other domain, tried first, decapsulated none of it" "$first" \
		"$(counter br v6_to_v4_packets)"
	check_eq "e: ... and dropped none of it" "$drops" "$(dropped br)"
	check "e: the instance of ce11b's domain decapsulated it" \
		test "$(counter br v6_to_v4_packets mapmint2)" -ge $((second + 3))
	# A download over a 1400-byte link between the ISP and CE 11b: the ISP's Packet Too Big
	# about the BR's tunnel packets (to the shared end) goes to the instance that sent them,
	# which tells the server the MTU less the tunnel's 40 bytes.
	ip -n isp link set dev ce11b mtu 1400
	ip -n ce11b link set dev wan mtu 1400
	first=$(counter br v6_to_v4_packets)
	# (path MTUs that earlier checks left, c1's to the server among them, would make the
	# server's packets fit)
	ip -n server route flush cache
	ip -n c1 route flush cache
	rm -f /tmp/got
	check "e: download over a 1400-byte link behind the shared tunnel end" \
		at c1 timeout 120 wget -q -O /tmp/got http://$SERVER/file
	check_eq "e: ... its content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got 2>/dev/null)"
	route=$(at server ip route get $CE11B_IP)
	case "$route" in
	*"mtu 1360"*) pass "e: the server learnt the path MTU 1360 from the shared tunnel end's Packet Too Big" ;;
	*) fail "e: the server learnt the path MTU 1360 from the shared tunnel end's Packet Too Big" "$route" ;;
	esac
	check_eq "e: the instance of the other domain translated none of the Packets Too Big" "$first" \
		"$(counter br v6_to_v4_packets)"
	ip -n isp link set dev ce11b mtu 1500
	ip -n ce11b link set dev wan mtu 1500
	at br mapminctl apply --config /tmp/br.conf dev mapmint >/dev/null
	ip -n br route replace 192.0.2.0/24 dev mapmint
	ip -n br link del mapmint2
	check "e: ping through the tutorial's instance alone again" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
}

# tunnel_ends_on_devices: in a MAP-E tutorial topology built without them, each tunnel end
# becomes an address of its device (the BR's route into its device goes).
tunnel_ends_on_devices() {
	local ns
	ip -n br -6 route del 2001:db8:6::1/128 dev mapmint
	ip -n br -6 addr add 2001:db8:6::1/128 dev mapmint nodad
	for ns in ce11b ce774; do ip -n $ns -6 addr add "$(map_address $ns)/128" dev mapmint nodad; done
}

# churn_under_traffic WHAT ROUND: the function ROUND 10 times while c1 pings and downloads:
# every round's commands done, the download intact (or failed cleanly: the BR's device may go
# down under it), and a ping and a download after the churn.
churn_under_traffic() {
	local what=$1 round=$2 i pinger wget failed=0
	at c1 ping -i 0.02 $SERVER >/dev/null 2>&1 &
	pinger=$!
	rm -f /tmp/churn
	at c1 timeout 120 wget -q -O /tmp/churn http://$SERVER/file >/dev/null 2>&1 &
	wget=$!
	for i in $(seq 1 10); do "$round" || failed=$((failed + 1)); done
	kill $pinger 2>/dev/null
	check_eq "10 rounds of $what under traffic: every command done" 0 "$failed"
	# (the download may stall while the BR's device is down, but what arrives is intact)
	if wait $wget; then
		check_eq "the download during the churn: content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/churn)"
	else
		pass "the download during the churn failed cleanly (the BR's device went down under it)"
	fi
	check "ping after the churn" at c1 ping -c 3 -i 0.2 -W 3 $SERVER
	rm -f /tmp/got
	check "download after the churn" at c1 timeout 120 wget -q -O /tmp/got http://$SERVER/file
	check_eq "download after the churn: content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
}

# tunnel_end_churn_under_traffic: the BR's tunnel end taken off its device and given back,
# and the device down and up, under traffic (churn_under_traffic): the packets delivered
# meanwhile meet a device with or without its address, up or down; afterwards its tunnel end
# has packets delivered again.
tunnel_end_churn_under_traffic() {
	local delivered
	churn_under_traffic "the BR's tunnel end off and on, device down and up" tunnel_end_churn_round
	delivered=$(snmp6 br Ip6InDelivers)
	check "ping after the churn, again" at c1 ping -c 3 -i 0.2 -W 3 $SERVER
	check "the BR's tunnel end had the pings delivered after the churn" test "$(snmp6 br Ip6InDelivers)" -ge $((delivered + 3))
}

tunnel_end_churn_round() {
	batch br <<-IP
		addr del 2001:db8:6::1/128 dev mapmint
		addr add 2001:db8:6::1/128 dev mapmint nodad
		link set mapmint down
		link set mapmint up
		route add 192.0.2.0/24 dev mapmint
		addr add 2001:db8:6::1/128 dev mapmint nodad
	IP
}

# tunnel_end_on_lo_churn_under_traffic: the BR's tunnel end moved to lo, where its device
# finds the packets by walking the namespace's devices, while other mapmint devices are
# added and deleted beside it and it goes down and up, under traffic (churn_under_traffic):
# the walk meets devices as they come and go. Afterwards the tunnel end on lo has packets
# delivered and decapsulated again.
tunnel_end_on_lo_churn_under_traffic() {
	local delivered decapsulated
	batch br <<-IP
		addr del 2001:db8:6::1/128 dev mapmint
		addr add 2001:db8:6::1/128 dev lo
	IP
	churn_under_traffic "mapmint devices added and deleted beside the BR's, its tunnel end on lo" \
		tunnel_end_on_lo_churn_round
	delivered=$(snmp6 br Ip6InDelivers) decapsulated=$(counter br v6_to_v4_packets)
	check "ping after the churn, the BR's tunnel end on lo" at c1 ping -c 3 -i 0.2 -W 3 $SERVER
	check "the BR's device decapsulated the pings delivered to lo after the churn" \
		test "$(counter br v6_to_v4_packets)" -ge $((decapsulated + 3)) -a "$(snmp6 br Ip6InDelivers)" -ge $((delivered + 3))
}

tunnel_end_on_lo_churn_round() {
	batch br <<-IP
		link add name spare type mapmint
		link set spare up
		link set mapmint down
		link set mapmint up
		route add 192.0.2.0/24 dev mapmint
		link del spare
	IP
}

# on_receive_checks MODE: with translate-on-receive on at the CEs and the BR (the topology
# built with TUTORIAL_ON_RECEIVE=on), a download crosses the BR both ways, and CE 11b
# inbound, taken where it enters the box: counted as such, and no longer forwarded by the
# stack into the device (the second trip through the stack is gone); off again, or after the
# device went down and up, the setting does what it says.
on_receive_checks() {
	local mode=$1 t_br t_ce o_ce r_br r_ce f_br f_ce dt_br dr_br df_br dt_ce do_ce dr_ce df_ce
	check_eq "br: dev show lists translate-on-receive" "translate-on-receive on" \
		"$(at br mapminctl dev show mapmint | grep -o 'translate-on-receive on')"
	t_br=$(translated br) r_br=$(counter br translated_on_receive) f_br=$(forwarded br)
	t_ce=$(counter ce11b v6_to_v4_packets) o_ce=$(counter ce11b v4_to_v6_packets)
	r_ce=$(counter ce11b translated_on_receive) f_ce=$(forwarded ce11b)
	rm -f /tmp/got
	check "$mode: download with translate-on-receive" at c1 timeout 120 wget -q -O /tmp/got http://$SERVER/file
	check_eq "$mode: download with translate-on-receive: content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
	dt_br=$(($(translated br) - t_br)) dr_br=$(($(counter br translated_on_receive) - r_br))
	df_br=$(($(forwarded br) - f_br))
	dt_ce=$(($(counter ce11b v6_to_v4_packets) - t_ce)) do_ce=$(($(counter ce11b v4_to_v6_packets) - o_ce))
	dr_ce=$(($(counter ce11b translated_on_receive) - r_ce))
	df_ce=$(($(forwarded ce11b) - f_ce))
	# (a few go the device's way: the first full-size packets meet the MTU, which the stack
	# answers)
	if [ "$dt_br" -gt 20 ] && [ $((dr_br * 10)) -ge $((dt_br * 9)) ]; then
		pass "$mode: br took the download's packets at receipt, both ways ($dr_br of $dt_br)"
	else
		fail "$mode: br took the download's packets at receipt" "$dr_br of $dt_br"
	fi
	if [ "$dt_ce" -gt 20 ] && [ $((dr_ce * 10)) -ge $((dt_ce * 9)) ]; then
		pass "$mode: ce11b took the download's inbound packets at receipt ($dr_ce of $dt_ce)"
	else
		fail "$mode: ce11b took the download's inbound packets at receipt" "$dr_ce of $dt_ce"
	fi
	# The BR forwards nothing itself any more; the CE forwards each packet once: inbound as
	# IPv4 to the LAN after the translation, outbound as IPv4 into the device, which sends
	# the IPv6 packet out itself (before: inbound twice, as IPv6 into the device too).
	if [ $((df_br * 10)) -le "$dt_br" ]; then
		pass "$mode: br's stack forwarded almost none of them ($df_br forwarded, $dt_br translated)"
	else
		fail "$mode: br's stack forwarded almost none of them" "$df_br forwarded, $dt_br translated"
	fi
	if [ "$df_ce" -le $((dt_ce + do_ce)) ]; then
		pass "$mode: ce11b's stack forwarded each packet once ($df_ce forwarded, $dt_ce inbound, $do_ce outbound)"
	else
		fail "$mode: ce11b's stack forwarded each packet once" "$df_ce forwarded, $dt_ce inbound, $do_ce outbound"
	fi

	# A box that does not forward IPv6 translates none of it at receipt either.
	at br sysctl -qw net.ipv6.conf.all.forwarding=0
	r_br=$(counter br translated_on_receive)
	check_fails "$mode: no ping through a BR that does not forward IPv6" at c1 ping -c 2 -i 0.2 -W 1 $SERVER
	check_eq "$mode: a BR that does not forward IPv6 takes none of it at receipt" "$r_br" "$(counter br translated_on_receive)"
	at br sysctl -qw net.ipv6.conf.all.forwarding=1
	check "$mode: ping once the BR forwards IPv6 again" at c1 ping -c 2 -i 0.2 -W 3 $SERVER

	# Off: the device's way again.
	check "br: dev set translate-on-receive off" at br mapminctl dev set mapmint translate-on-receive off
	r_br=$(counter br translated_on_receive) t_br=$(translated br)
	check "$mode: ping with translate-on-receive off at br" at c1 ping -c 3 -i 0.2 -W 3 $SERVER
	check_eq "$mode: br took nothing at receipt when off" "$r_br" "$(counter br translated_on_receive)"
	check "$mode: br still translated the pings" test "$(translated br)" -ge $((t_br + 6))
	# On, then the device down and up (routes through it added again): hooked again.
	check "br: dev set translate-on-receive on" at br mapminctl dev set mapmint translate-on-receive on
	ip -n br link set mapmint down
	batch br <<-IP
		link set mapmint up
		route add 192.0.2.0/24 dev mapmint
		route add $([ "$mode" = t ] && echo 64:ff9b::/96 || echo 2001:db8:6::1/128) dev mapmint
	IP
	r_br=$(counter br translated_on_receive)
	check "$mode: ping after br's device went down and up" at c1 ping -c 3 -i 0.2 -W 3 $SERVER
	check "$mode: br takes packets at receipt again" test "$(counter br translated_on_receive)" -ge $((r_br + 6))
}

# hook_churn_under_traffic: with translate-on-receive at the CEs and the BR, the hooks are
# unregistered and registered again (the setting off and on at ce11b and the BR, the BR's
# device down and up) 10 times while pings and a download run; afterwards the path works, and
# takes packets at receipt again.
hook_churn_under_traffic() {
	local r_br
	churn_under_traffic "hooks off and on, device down and up" hook_churn_round
	r_br=$(counter br translated_on_receive)
	check "ping after the churn, again" at c1 ping -c 3 -i 0.2 -W 3 $SERVER
	check "the BR takes packets at receipt after the churn" test "$(counter br translated_on_receive)" -ge $((r_br + 6))
}

hook_churn_round() {
	at br mapminctl dev set mapmint translate-on-receive off &&
		at ce11b mapminctl dev set mapmint translate-on-receive off &&
		at ce11b mapminctl dev set mapmint translate-on-receive on &&
		at br mapminctl dev set mapmint translate-on-receive on &&
		batch br <<-IP
			link set mapmint down
			link set mapmint up
			route add 192.0.2.0/24 dev mapmint
			route add 64:ff9b::/96 dev mapmint
		IP
}
