#!/bin/bash
# Scenario "bench" (scripts/bench.sh boots it on the benchmark kernel; a measurement, not a
# test: tests/run.sh skips it). Ways to carry the LAN host c1's traffic to the server over
# the tutorial's boxes (lib-tutorial.sh: c1 — CE 11b — ISP IPv6 router — BR — server), each
# with the CE's NAPT into 192.0.2.8:55296-57343 unless said otherwise:
#   c       plain IPv4 routing: IPv4 on the same veths as the ISP's IPv6 links
#   c6      plain IPv6 routing between c1 and the server (addresses of their own), with the
#           same NAPT at the CE as IPv6-to-IPv6 (NAT66 into the CE's WAN address and port
#           range): what the boxes carry when every hop is IPv6, as the hops between a
#           MAP CE and BR are
#   map-t   mapmint MAP-T, exactly the tutorial topology (its tutorial function)
#   map-e   mapmint MAP-E, the same
#   ip6tnl  the kernel's ipip6 tunnel in MAP-E's place: CE 11b's MAP address
#           2001:db8:ce:11b:0:c000:208:1b <-> 2001:db8:6::1 on the BR
#   map-t-a6  map-t with PSID offset 6 and port-mapping contiguous: 63 ranges of 32 ports,
#           the NAPT into the contiguous 192.0.2.8:1888-3903, the device mapping every port
#   map-t-64k  map-t with a BR of 65,536 FMRs (lib-tutorial's big_br_config: the tutorial's
#           rule in the middle), against map-t's one
#   map-t-rx, map-e-rx  map-t and map-e with translate-on-receive at the CEs and the BR
#   map-e-local  map-e with the tunnel ends assigned to the devices as addresses (delivered
#           to the host and decapsulated there, as ip6tnl receives)
#   map-e-lo  the same with the tunnel ends on other interfaces (the BR's on lo, the CEs' on
#           their WAN links), as ip6tnl users put them (only when asked for)
#   map-e-ce, map-e-br (only when asked for)  half of each: mapmint's MAP-E at the CE and
#           ip6tnl at the BR, or ip6tnl at the CE and mapmint's MAP-E at the BR (the two
#           interoperate: the same tunnel ends), to tell which box a difference between
#           map-e and ip6tnl comes from
#   map-t-alt, map-e-alt, map-t-rx-alt, map-e-rx-alt, map-e-local-alt, map-e-lo-alt (asked for)  the same with
#           /mapmint/mapmint-alt.ko
#   c-ipsec, map-t-ipsec, map-e-ipsec, ip6tnl-ipsec (only when asked for)  c, map-t, map-e
#           and ip6tnl with IPsec policies at the CE, the ISP router and the BR that match
#           none of the traffic (output and forward, both families): every packet is looked
#           up in them, by forwarding as by the devices, and none is changed
# Each topology is built, measured under every load and torn down, in turn (c, map-t,
# map-e, ip6tnl, c, ...) for mapmint_bench_reps= rounds, so that drift spreads over all.
# Every number is taken at the receiver. One line per measurement on the result channel:
#   BENCH TOPOLOGY LOAD ROUND VALUE UNIT      (VALUE "-" when the measurement failed)
# followed by BENCH-ERROR lines saying why. Kernel command line knobs:
# mapmint_bench_seconds= (default 5) per measurement, mapmint_bench_reps= (default 3),
# mapmint_bench_topologies= and mapmint_bench_loads= (comma-separated subsets, default all),
# mapmint_bench_pin=1: iperf3's server on CPU 0, its client on CPU 1;
# mapmint_bench_profile=1: perf samples every CPU during each measurement (which slows it:
# its numbers are not the benchmark's), and the hottest kernel functions go to the result
# channel as PROFILE TOPOLOGY LOAD lines, by their own time and with what they call.
. /tests/lib.sh
. /tests/lib-tutorial.sh

seconds=5
reps=3
topologies="c c6 map-t map-e ip6tnl map-t-rx map-e-rx map-e-local map-t-a6 map-t-64k"
loads="tcp-up tcp-down udp-64 udp-1400 pktgen-60x1 pktgen-1400x1 pktgen-60x1024 pktgen-1400x1024"
profile=0
pin=0
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	mapmint_bench_seconds=*) seconds=${arg#*=} ;;
	mapmint_bench_reps=*) reps=${arg#*=} ;;
	mapmint_bench_topologies=*) topologies=$(echo "${arg#*=}" | tr , ' ') ;;
	mapmint_bench_loads=*) loads=$(echo "${arg#*=}" | tr , ' ') ;;
	mapmint_bench_profile=*) profile=${arg#*=} ;;
	mapmint_bench_pin=*) pin=${arg#*=} ;;
	esac
done
cpus=$(grep -c '^processor' /proc/cpuinfo)
# With mapmint_bench_pin=1 and 2 vCPUs or more, iperf3's server runs on CPU 0 and its client
# on CPU 1, so that a profile's CPUs tell the sender's work (and the softirqs behind its
# sends) from the receiver's.
pin_server=() pin_client=()
if [ "$pin" = 1 ] && [ "$cpus" -ge 2 ]; then
	pin_server=(taskset -c 0) pin_client=(taskset -c 1)
fi
CE_MAP=2001:db8:ce:11b:0:c000:208:1b
BR_MAP=2001:db8:6::1
# c6's ends
C1_V6=2001:db8:c1::4
SERVER_V6=2001:db8:5::56

report() { echo "$*" >&3; echo "$*"; }

# --- topologies -----------------------------------------------------------------------

# skeleton: the tutorial's boxes c1, ce11b, isp, br and server with its IPv6 and LAN
# addresses and routes, without mapmint (the c and ip6tnl topologies start from it).
skeleton() {
	local ns
	for ns in c1 ce11b isp br server; do
		ip netns add $ns
		at $ns ip link set lo up
	done
	at isp sysctl -qw net.ipv6.conf.all.forwarding=1
	at ce11b sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	at br sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	link c1 eth0 ce11b lan
	ip -n c1 addr add 192.168.0.4/24 dev eth0
	ip -n c1 route add default via 192.168.0.1
	ip -n ce11b addr add 192.168.0.1/24 dev lan
	link isp ce11b ce11b wan
	ip -n isp -6 addr add 2001:db8:100:11b::1/64 dev ce11b nodad
	ip -n ce11b -6 addr add 2001:db8:100:11b::2/64 dev wan nodad
	ip -n ce11b -6 route add default via 2001:db8:100:11b::1
	ip -n isp -6 route add 2001:db8:ce:11b::/64 via 2001:db8:100:11b::2
	link isp br br wan
	ip -n isp -6 addr add 2001:db8:100:6::1/64 dev br nodad
	ip -n br -6 addr add 2001:db8:100:6::2/64 dev wan nodad
	ip -n br -6 route add default via 2001:db8:100:6::1
	ip -n isp -6 route add $BR_MAP/128 via 2001:db8:100:6::2
	link br srv server eth0
	ip -n br addr add 203.0.113.1/24 dev srv
	ip -n server addr add $SERVER/24 dev eth0
	ip -n server route add default via 203.0.113.1
}

build_c() {
	skeleton
	at isp sysctl -qw net.ipv4.ip_forward=1
	ip -n isp addr add 198.51.100.1/30 dev ce11b
	ip -n ce11b addr add 198.51.100.2/30 dev wan
	ip -n ce11b route add default via 198.51.100.1
	ip -n isp addr add 198.51.100.5/30 dev br
	ip -n br addr add 198.51.100.6/30 dev wan
	# as with MAP: the CEs' shared addresses 192.0.2.0/24 from the BR through the ISP to the CE
	ip -n isp route add 192.0.2.0/24 via 198.51.100.2
	ip -n isp route add 203.0.113.0/24 via 198.51.100.6
	ip -n br route add 192.0.2.0/24 via 198.51.100.5
	snat ce11b $CE11B_IP $CE11B_PORTS nft wan
}

build_c6() {
	skeleton
	ip -n c1 -6 addr add $C1_V6/64 dev eth0 nodad
	ip -n c1 -6 route add default via 2001:db8:c1::1
	ip -n ce11b -6 addr add 2001:db8:c1::1/64 dev lan nodad
	ip -n server -6 addr add $SERVER_V6/64 dev eth0 nodad
	ip -n server -6 route add default via 2001:db8:5::1
	ip -n br -6 addr add 2001:db8:5::1/64 dev srv nodad
	ip -n isp -6 route add 2001:db8:5::/64 via 2001:db8:100:6::2
	# c's NAPT, in IPv6: c1's flows leave from the CE's WAN address and its port range
	at ce11b nft -f - <<-NFT
		table ip6 mapmint_nat {
			chain postrouting {
				type nat hook postrouting priority srcnat;
				oifname "wan" meta l4proto { tcp, udp, icmpv6 } snat to [2001:db8:100:11b::2]:$CE11B_PORTS
			}
		}
	NFT
}

build_map-t() { tutorial t nft; }
build_map-e() { tutorial e nft; }
build_map-t-rx() { TUTORIAL_ON_RECEIVE=on tutorial t nft; }
build_map-e-rx() { TUTORIAL_ON_RECEIVE=on tutorial e nft; }
build_map-e-local() { TUTORIAL_TUNNEL_ENDS=device tutorial e nft; }
build_map-e-lo() { TUTORIAL_TUNNEL_ENDS=interfaces tutorial e nft; }
build_map-t-a6() {
	RULE="2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 6" CE11B_PORTS=1888-3903 CE774_PORTS=1664-3679 \
		TUTORIAL_PORT_MAPPING=contiguous tutorial t nft
}
build_map-t-64k() {
	tutorial t nft
	big_br_config 32768 >/tmp/br-64k.conf
	at br mapminctl apply --config /tmp/br-64k.conf dev mapmint >/dev/null
}
# the same with the A/B module (scripts/bench.sh's MAPMINT_BENCH_ALT_MODULE)
build_map-t-alt() { MODULE=/mapmint/mapmint-alt.ko tutorial t nft; }
build_map-e-alt() { MODULE=/mapmint/mapmint-alt.ko tutorial e nft; }
build_map-t-rx-alt() { MODULE=/mapmint/mapmint-alt.ko TUTORIAL_ON_RECEIVE=on tutorial t nft; }
build_map-e-rx-alt() { MODULE=/mapmint/mapmint-alt.ko TUTORIAL_ON_RECEIVE=on tutorial e nft; }
build_map-e-local-alt() { MODULE=/mapmint/mapmint-alt.ko TUTORIAL_TUNNEL_ENDS=device tutorial e nft; }
build_map-e-lo-alt() { MODULE=/mapmint/mapmint-alt.ko TUTORIAL_TUNNEL_ENDS=interfaces tutorial e nft; }

# ipsec_bystanders: IPsec policies at the forwarding boxes that block only a prefix no
# traffic here goes to (forward and output, IPv4 and IPv6), so that every packet is looked
# up in them and passes.
ipsec_bystanders() {
	local ns dir
	for ns in ce11b isp br; do
		for dir in out fwd; do
			ip -n $ns xfrm policy add dst 10.255.0.0/16 dir $dir action block
			ip -n $ns xfrm policy add dst 2001:db8:dead::/48 dir $dir action block
		done
		report "BENCH-INFO ipsec policies at $ns: $(ip -n $ns xfrm policy | grep -c '^src')"
	done
}
build_c-ipsec() { build_c; ipsec_bystanders; }
build_map-t-ipsec() { build_map-t; ipsec_bystanders; }
build_map-e-ipsec() { build_map-e; ipsec_bystanders; }
build_ip6tnl-ipsec() { build_ip6tnl; ipsec_bystanders; }

# ip6tnl_end NS LOCAL REMOTE: an ipip6 tunnel end "tnl" at NS.
ip6tnl_end() {
	# Without the default encapsulation limit option: 40 bytes of overhead, as MAP-E.
	ip -n "$1" -6 addr add "$2/128" dev lo
	ip -n "$1" link add tnl type ip6tnl mode ipip6 local "$2" remote "$3" encaplimit none
	ip -n "$1" link set tnl up
}
# ip6tnl_ce: CE 11b's side of the ip6tnl topology (its box already built).
ip6tnl_ce() {
	ip6tnl_end ce11b $CE_MAP $BR_MAP
	ip -n ce11b addr add $CE11B_IP/32 dev tnl
	ip -n ce11b route add default dev tnl
	snat ce11b $CE11B_IP $CE11B_PORTS nft tnl
}
# ip6tnl_br: the BR's side of the ip6tnl topology.
ip6tnl_br() {
	ip6tnl_end br $BR_MAP $CE_MAP
	ip -n br route add 192.0.2.0/24 dev tnl
}

build_ip6tnl() {
	skeleton
	ip6tnl_ce
	ip6tnl_br
}

build_map-e-ce() {
	tutorial_isp_br e
	ip -n br link del mapmint
	ip6tnl_br
	ce ce11b 2001:db8:ce:11b::/64 $CE11B_IP $CE11B_PORTS 192.168.0 e nft c1
}

build_map-e-br() {
	tutorial_isp_br e
	ce_box ce11b 2001:db8:ce:11b::/64 192.168.0 c1
	ip6tnl_ce
}

teardown() {
	rmmod mapmint 2>/dev/null
	ip -all netns delete
}

# --- loads ------------------------------------------------------------------------------

# iperf_json ARGS...: one iperf3 run from c1 to a fresh one-shot server; its JSON on stdout.
iperf_json() {
	local server status
	# (the server's JSON comes back in the client's: what its stack saw when it sends, -R)
	at server "${pin_server[@]}" iperf3 -s -1 -J >/dev/null 2>&1 &
	server=$!
	# the server listens once its port shows up (busybox netstat)
	for _ in $(seq 50); do
		at server netstat -ltn 2>/dev/null | grep -q ':5201 ' && break
		sleep 0.1
	done
	at c1 timeout $((seconds + 30)) "${pin_client[@]}" iperf3 -c "$(destination)" -t "$seconds" -J --get-server-output "$@"
	status=$?
	# the client has the server's side too; a server left waiting (failed run) must go
	kill $server 2>/dev/null
	wait $server 2>/dev/null
	return $status
}

# iperf_received ARGS...: Mbit/s the receiving side got in one iperf3 run (c1 -> server, or
# server -> c1 with -R): iperf3's end.sum_received, the receiver's own count (for UDP the
# datagrams that reached the server's socket, losses excluded).
iperf_received() {
	local json rate
	window begin
	json=$(iperf_json "$@") || { window end; echo "iperf3 failed: $(echo "$json" | grep '"error"')"; return 1; }
	window end
	rate=$(echo "$json" | awk '/^\t\t"sum_received":/ { found = 1 }
		found && /"bits_per_second":/ { gsub(/[^0-9.e+]/, "", $2); printf "%.1f\n", $2 / 1e6; exit }')
	[ -n "$rate" ] || { echo "no end.sum_received in iperf3's output: $(echo "$json" | tail -n 3)"; return 1; }
	# TCP's retransmissions when c1 sends (losses on the way stall a stream: see a low rate
	# with an idle CPU in a profile), to the result channel beside the measurement.
	local retransmits
	retransmits=$(echo "$json" | awk '/^\t\t"sum_sent":/ { found = 1 }
		found && /"retransmits":/ { gsub(/[^0-9]/, "", $2); print $2; exit }')
	[ -z "$retransmits" ] || echo "BENCH-INFO retransmits $topology $load $round $retransmits" >&3
	# TCP: the path as the sending stack saw it, from whichever side sent (the other side's
	# figures are zeros): its smoothed RTT's mean, least and largest, and its largest
	# congestion window.
	local path
	path=$(echo "$json" | awk '{ key = $1; gsub(/[":]/, "", key); value = $2; gsub(/[^0-9]/, "", value) }
		key ~ /^(mean_rtt|min_rtt|max_rtt|max_snd_cwnd)$/ && value + 0 > seen[key] + 0 { seen[key] = value }
		END { if (seen["mean_rtt"] > 0) printf "rtt=%d/%d/%dus,cwnd=%dkB\n", seen["mean_rtt"], seen["min_rtt"], seen["max_rtt"], seen["max_snd_cwnd"] / 1000 }')
	[ -z "$path" ] || echo "BENCH-INFO tcp-sender-path $topology $load $round $path" >&3
	# UDP: the share of datagrams the server lost (its socket's queue full: the receiver is
	# what limits).
	local lost
	lost=$(echo "$json" | awk '/"lost_percent":/ { gsub(/[^0-9.e+-]/, "", $2); last = $2 } END { print last }')
	[ -z "$lost" ] || echo "BENCH-INFO lost-percent $topology $load $round $lost" >&3
	echo "$rate"
}

# window begin|end: marks a measurement's own time on the result channel, for the instruction
# counter outside the guest (scripts/bench.sh --count); a beginning says where mapmint's code
# lies, to name its functions.
window() {
	local where=
	[ "$1" = end ] || where=" $(cat /sys/module/mapmint/sections/.text 2>/dev/null || echo -)"
	echo "BENCH-WINDOW $1 $topology $load $round$where" >&3
}

# destination: the server's address c1 reaches it at (c6: its IPv6 one).
destination() { if [ "$topology" = c6 ]; then echo $SERVER_V6; else echo $SERVER; fi; }

# received HOST [packets|bytes]: what HOST's veth has received (packets by default).
received() { at "$1" cat "/sys/class/net/eth0/statistics/rx_${2:-packets}"; }

# backlog_drops: packets the guest's CPUs dropped since boot for a full input backlog
# (netif_rx and veth's forwarding queue there; softnet_stat's second column, in hex).
backlog_drops() {
	local total=0 drops
	while read -r _ drops _; do total=$((total + 16#$drops)); done </proc/net/softnet_stat
	echo $total
}

# cpu_split: each CPU's time since boot in clock ticks, one "cpuN USER SYSTEM SOFTIRQ BUSY TOTAL"
# a line (USER with nice; BUSY: neither idle nor waiting for I/O), then its NET_RX softirqs
# raised so far as "net_rx N1 N2 ...".
cpu_split() {
	awk '$1 ~ /^cpu[0-9]+$/ { total = 0; for (i = 2; i <= NF; i++) total += $i
		print $1, $2 + $3, $4, $8, total - $5 - $6, total }' /proc/stat
	awk '$1 == "NET_RX:" { $1 = "net_rx"; print }' /proc/softirqs
}
# cpu_split_change BEFORE AFTER RATE: per CPU over a round, the share of its time busy, in
# user space, in the kernel (system) and in softirqs (interrupted work as well as ksoftirqd),
# each per Gbit/s carried, and the NET_RX softirqs raised per Gbit carried (thousands):
# "cpuN=busy:B,user:U,system:S,softirq:Q,net_rx:R;cpuM=...". Which part of the stack's work lands on
# which CPU (with mapmint_bench_pin=1, CPU 0 is the sending server's and CPU 1 the client's).
cpu_split_change() {
	awk -v r="$3" 'FNR == 1 { file++ }
		$1 ~ /^cpu/ { for (i = 2; i <= 6; i++) v[file, $1, i] = $i; if (substr($1, 4) + 1 > n) n = substr($1, 4) + 1 }
		$1 == "net_rx" { for (i = 2; i <= NF; i++) rx[file, "cpu" (i - 2)] = $i }
		END {
			if (r <= 0) { print "-"; exit }
			for (i = 0; i < n; i++) {
				c = "cpu" i; t = v[2, c, 6] - v[1, c, 6]; if (t <= 0) continue
				out = out sprintf("%s%s=busy:%.3f,user:%.3f,system:%.3f,softirq:%.3f,net_rx:%.1f", sep, c,
					(v[2, c, 5] - v[1, c, 5]) / t * 1000 / r, (v[2, c, 2] - v[1, c, 2]) / t * 1000 / r,
					(v[2, c, 3] - v[1, c, 3]) / t * 1000 / r, (v[2, c, 4] - v[1, c, 4]) / t * 1000 / r,
					(rx[2, c] - rx[1, c]) * 100 / t / r)  # ticks of USER_HZ: 100 a second
				sep = ";"
			}
			print out
		}' "$1" "$2"
}
# context_switches: the guest's context switches since boot.
context_switches() { awk '$1 == "ctxt" { print $2 }' /proc/stat; }
# task_switches: the context switches so far of every thread alive, summed by name (per-CPU
# threads as one: ksoftirqd/0 and ksoftirqd/1 are "ksoftirqd"; iperf3's two processes apart,
# as iperf3-server and iperf3-client), one "NAME COUNT" a line.
task_switches() {
	local name count
	awk '/^Name:/ { name = $2; sub(/\/.*/, "", name) } /^Tgid:/ { if (name == "iperf3") name = name ":" $2 }
		/ctxt_switches:/ { n[name] += $2 }
		END { for (name in n) print name, n[name] }' /proc/[0-9]*/task/[0-9]*/status 2>/dev/null |
		while read -r name count; do
			case $name in
			iperf3:*)
				if tr '\0' ' ' <"/proc/${name#iperf3:}/cmdline" 2>/dev/null | grep -q -- ' -s '; then
					name=iperf3-server
				else
					name=iperf3-client
				fi
				;;
			esac
			echo "$name $count"
		done
}
# The context switches of the ksoftirqd threads so far: softirq work the kernel deferred to
# them because an interrupt's return or a bottom half's end had run its budget out.
ksoftirqd_switches() { task_switches | awk '$1 == "ksoftirqd" { n = $2 } END { print n + 0 }'; }
# drop_counts TCP_COUNTS: every device's drops in every namespace so far, "NAMESPACE/DEVICE
# rx|tx COUNT" a line; mapmint's drops by reason and its ICMP errors ("NAMESPACE/mapmint:REASON
# count COUNT"); the BR's ICMP Destination Unreachables; of the TCP counters of the server and
# c1 (tcp_counts' output, in the file TCP_COUNTS), those that say a segment was lost, reordered
# or dropped on arrival ("HOST/COUNTER tcp COUNT").
drop_counts() {
	local ns
	for ns in $(ip netns list | awk '{ print $1 }'); do
		ip netns exec "$ns" sh -c 'cd /sys/class/net && for d in *; do
			echo "$0/$d rx $(cat $d/statistics/rx_dropped)"; echo "$0/$d tx $(cat $d/statistics/tx_dropped)"
		done' "$ns"
		if ip netns exec "$ns" test -d /sys/class/net/mapmint; then
			ip netns exec "$ns" mapminctl stats --all | awk -v ns="$ns" '/^        [^ ]+ [0-9]+$/ || /^    icmp-errors / { print ns "/mapmint:" $1, "count", $2 }'
		fi
	done
	# the BR's ICMP errors of its own (Fragmentation Needed from ip_forward: ip6tnl's PMTU)
	at br cat /proc/net/snmp | awk '$1 == "Icmp:" && !have { n = split($0, names); have = 1; next }
		$1 == "Icmp:" { for (i = 2; i <= n; i++) if (names[i] == "OutDestUnreachs") print "br/" names[i], "icmp", $i }'
	awk '$1 ~ /Lost|Reorder|DSACK|OFO|Drop|Timeouts|FastRetrans|Spurious|Collapsed|Prune|SACKRecovery/ { print $1, "tcp", $2 }' "$1"
}
# tcp_counts: every TCP counter of the server and of c1 so far (/proc/net/snmp's Tcp,
# /proc/net/netstat's TcpExt), "HOST/NAME COUNT" a line: where a stream's segments and ACKs
# are handled (fast path, socket backlog, delayed or quick ACKs), to compare per byte carried.
tcp_counts() {
	local ns
	for ns in server c1; do
		at $ns cat /proc/net/snmp /proc/net/netstat | awk -v host=$ns '$1 == "Tcp:" || $1 == "TcpExt:" {
			if (!seen[$1]++) { n = split($0, names); next }
			for (i = 2; i <= n; i++) print host "/" names[i], $i }'
	done
}
# counts_per_mb BEFORE AFTER BYTES: the counts of tcp_counts that moved, per MB carried, as
# NAME=RATE joined by commas.
counts_per_mb() {
	awk -v mb="$3" 'FNR == NR { before[$1] = $2; next }
		$1 !~ /RtoAlgorithm|RtoMin|RtoMax|MaxConn|CurrEstab/ && $2 != before[$1] && mb > 0 {
			out = out sep sprintf("%s=%.2f", $1, ($2 - before[$1]) * 1e6 / mb); sep = "," }
		END { print out ? out : "-" }' "$1" "$2"
}
# changed_counts BEFORE AFTER: the counts of drop_counts that moved, as NAME=DELTA joined by
# commas ("-" when none did).
changed_counts() {
	awk 'FNR == NR { before[$1 " " $2] = $NF; next }
		{ key = $1 " " $2; d = $NF - before[key]; if (d != 0) { sub(/ /, ":", key); out = out (out ? "," : "") key "=" d } }
		END { print out ? out : "-" }' "$1" "$2"
}
# sample_switchers: in the middle of a 5-s-or-longer measurement (1.5 s in, for 2 s), which
# threads switched most: their names and switches per second, busiest first, as NAME=RATE
# joined by commas, then "other=RATE": the rest of the guest's switches in that window, which
# are the idle task's (it has no status file). To /tmp/switchers.
sample_switchers() {
	local total
	sleep 1.5
	total=$(context_switches)
	task_switches >/tmp/switches.0
	sleep 2
	task_switches >/tmp/switches.1
	total=$(($(context_switches) - total))
	awk -v total="$total" 'FNR == NR { before[$1] = $2; next }
		{ d = $2 - before[$1]; if (d > 0) delta[$1] = d }
		END {
			for (i = 1; i <= 5; i++) {
				best = ""; for (name in delta) if (best == "" || delta[name] > delta[best]) best = name
				if (best == "") break
				out = out best "=" int(delta[best] / 2) ","; total -= delta[best]; delete delta[best]
			}
			for (name in delta) total -= delta[name]
			printf "%sother=%d\n", out, total / 2
		}' /tmp/switches.0 /tmp/switches.1 >/tmp/switchers
}

# pktgen_kpps SIZE FLOWS: thousands of packets per second reaching the server from pktgen.
# pktgen needs a device to transmit on, so it sends from c1's eth0 towards the CE's lan
# veth (its MAC as destination), as c1 itself would: SIZE-byte frames (without FCS), UDP
# 192.168.0.4 -> 203.0.113.56:9 (c6: $C1_V6 -> $SERVER_V6) with a checksum (as a LAN host's
# would have), from FLOWS source ports in turn. One pktgen thread per CPU, each with its
# own handle on eth0 (eth0@CPU): a veth hands each packet to the receiving side on the
# sending CPU, so each CPU generates and forwards its share through every box, as the
# iperf3 sender does. (RPS moving the forwarding to another CPU was worse: the generator
# then fills that CPU's backlog, where every later veth hop and mapmint's re-injection queue
# too.) The count is the server veth's rx_packets over the run after a warm-up half second.
# The server drops the datagrams at PREROUTING: to a port without a listener, 6.12 looks up a
# route for an ICMP error for every one (the limit per destination comes after the lookup,
# and the global one spends no credit on errors it then suppresses), 10-12 % of all samples
# in every topology, which no box's forwarding pays.
pktgen_kpps() {
	local size=$1 flows=$2 mac gen rx0 rx1 t0 t1
	at server nft list table inet sink >/dev/null 2>&1 || at server nft -f - <<-'NFT'
		table inet sink {
			chain prerouting {
				type filter hook prerouting priority raw;
				udp dport 9 drop
			}
		}
	NFT
	mac=$(at ce11b cat /sys/class/net/lan/address)
	at c1 bash -es "$size" "$flows" "$mac" "$cpus" "$(destination)" "$C1_V6" <<-'PG' || { echo "pktgen setup failed"; return 1; }
		size=$1 flows=$2 mac=$3 cpus=$4 server=$5 c1_v6=$6
		pg() { echo "$2" >"/proc/net/pktgen/$1"; }
		for cpu in $(seq 0 $((cpus - 1))); do
			dev=eth0@$cpu
			pg kpktgend_$cpu rem_device_all
			pg kpktgend_$cpu "add_device $dev"
			# a veth can't transmit one skb several times: a new packet each time
			pg $dev "clone_skb 0"
			pg $dev "count 0"
			pg $dev "delay 0"
			pg $dev "pkt_size $size"
			pg $dev "dst_mac $mac"
			case "$server" in
			*:*)
				pg $dev "src6 $c1_v6"
				pg $dev "dst6 $server"
				;;
			*)
				pg $dev "src_min 192.168.0.4"
				pg $dev "src_max 192.168.0.4"
				pg $dev "dst $server"
				;;
			esac
			pg $dev "udp_dst_min 9"
			pg $dev "udp_dst_max 9"
			pg $dev "udp_src_min 10000"
			pg $dev "udp_src_max $((10000 + flows - 1))"
			pg $dev "flag UDPCSUM"
		done
	PG
	# writing start returns only when pktgen stops
	at c1 sh -c 'echo start >/proc/net/pktgen/pgctrl' &
	gen=$!
	sleep 0.5
	window begin
	t0=$EPOCHREALTIME rx0=$(received server)
	sleep "$seconds"
	t1=$EPOCHREALTIME rx1=$(received server)
	window end
	at c1 sh -c 'echo stop >/proc/net/pktgen/pgctrl'
	wait $gen
	awk -v p=$((rx1 - rx0)) -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f\n", p / (t1 - t0) / 1000 }'
}

# tcp_received HOST ARGS...: iperf_received for TCP, with the mean size of the packets the
# receiving host's veth took (kB: TSO super-packets) and the context switches per second, to
# the result channel. On one vCPU a TCP round runs in one of two regimes (see README): about
# 60 kB per packet and 1,000 switches a second, or about 43 kB and 1,650 at the same packet
# rate; these tell which.
tcp_received() {
	local host=$1 rate p0 p1 b0 b1 s0 s1 d0 d1 k0 k1 busy
	shift
	p0=$(received "$host") b0=$(received "$host" bytes) s0=$(context_switches) d0=$(backlog_drops) k0=$(ksoftirqd_switches)
	tcp_counts >/tmp/tcp.0
	drop_counts /tmp/tcp.0 >/tmp/drops.0
	cpu_split >/tmp/split.0
	rm -f /tmp/switchers
	sample_switchers &
	rate=$(iperf_received "$@") || { echo "$rate"; return 1; }
	s1=$(context_switches) p1=$(received "$host") b1=$(received "$host" bytes) d1=$(backlog_drops) k1=$(ksoftirqd_switches)
	cpu_split >/tmp/split.1
	tcp_counts >/tmp/tcp.1
	wait $!
	drop_counts /tmp/tcp.1 >/tmp/drops.1
	# How many CPUs the round kept busy, on average, and that per Gbit/s carried: what a bit
	# cost (a topology may carry less with CPUs to spare, waiting on something else).
	busy=$(awk -v n="$(nproc)" 'FNR == 1 { file++ } $1 ~ /^cpu/ { busy[file] += $5; all[file] += $6 }
		END { printf "%.2f", n * (busy[2] - busy[1]) / (all[2] - all[1]) }' /tmp/split.0 /tmp/split.1)
	echo "BENCH-INFO tcp-busy-cpus $topology $load $round $busy" >&3
	echo "BENCH-INFO tcp-busy-cpus-per-gbit $topology $load $round $(awk -v b="$busy" -v r="$rate" 'BEGIN { printf "%.3f", (r > 0 ? b * 1000 / r : 0) }')" >&3
	echo "BENCH-INFO tcp-cpu-split $topology $load $round $(cpu_split_change /tmp/split.0 /tmp/split.1 "$rate")" >&3
	echo "BENCH-INFO tcp-counters-per-mb $topology $load $round $(counts_per_mb /tmp/tcp.0 /tmp/tcp.1 $((b1 - b0)))" >&3
	echo "BENCH-INFO tcp-switches-by-task $topology $load $round $(cat /tmp/switchers 2>/dev/null || echo -)" >&3
	echo "BENCH-INFO tcp-losses $topology $load $round $(changed_counts /tmp/drops.0 /tmp/drops.1)" >&3
	echo "BENCH-INFO tcp-packet-kb $topology $load $round $(awk -v b=$((b1 - b0)) -v p=$((p1 - p0)) 'BEGIN { if (p > 0) printf "%.1f", b / p / 1000; else printf "-" }')" >&3
	echo "BENCH-INFO tcp-switches-per-s $topology $load $round $(( (s1 - s0) / seconds ))" >&3
	echo "BENCH-INFO tcp-ksoftirqd-switches-per-s $topology $load $round $(( (k1 - k0) / seconds ))" >&3
	echo "BENCH-INFO backlog-drops $topology $load $round $((d1 - d0))" >&3
	echo "$rate"
}

unit_of() { case "$1" in pktgen-*) echo kpps ;; *) echo Mbit/s ;; esac; }

# measure LOAD: the load's number on stdout, or a reason on stdout and status 1.
measure() {
	case "$1" in
	tcp-up) tcp_received server ;;
	tcp-down) tcp_received c1 -R ;;
	# UDP as fast as the sender can (-b 0), with the given payload size
	udp-*)
		# with the context switches the run took (a receiver that keeps up sleeps and is
		# woken for each datagram: see them per datagram received)
		local before after rate
		before=$(context_switches)
		rate=$(iperf_received -u -b 0 -l "${1#udp-}") || { echo "$rate"; return 1; }
		after=$(context_switches)
		echo "BENCH-INFO switches-per-datagram $topology $1 $round $(awk -v n=$((after - before)) -v r="$rate" -v l="${1#udp-}" -v s="$seconds" 'BEGIN { d = r * 1e6 / 8 / l * s; if (d > 0) printf "%.2f", n / d; else printf "-" }')" >&3
		echo "$rate"
		;;
	pktgen-*x*)
		local spec=${1#pktgen-}
		pktgen_kpps "${spec%x*}" "${spec#*x}"
		;;
	esac
}

# profile_start: perf samples every CPU (with call chains) for the next measurement.
profile_start() {
	perf record -q -a -g -F 499 -o /tmp/perf.data -- sleep $((seconds + 2)) >/tmp/perf.log 2>&1 &
	profiler=$!
}

# under PATTERN: from perf script's call chains (a blank line before each sample, then its
# frames from the sampled function outwards), for the samples taken under a function whose
# name contains PATTERN, each function at or below that frame with the share of all samples
# it was on the stack (with what it calls) and at the top (by itself), the largest first.
under() {
	awk -v pattern="$1" '
		function flush(   i, top) {
			if (n == 0) return
			samples++
			for (i = n; i >= 1 && !top; i--) if (index(frame[i], pattern)) top = i
			if (top) {
				delete seen
				for (i = top; i >= 1; i--) if (!(frame[i] in seen)) { seen[frame[i]] = 1; with[frame[i]]++ }
				alone[frame[1]]++
			}
			n = 0
		}
		/^$/ { flush(); next }
		{ frame[++n] = $2 }
		END {
			flush()
			for (f in with) if (with[f] * 200 >= samples) printf "%6.2f%% %6.2f%%  %s\n", 100 * with[f] / samples, 100 * alone[f] / samples, f
		}' | sort -rn
}

# Functions whose share profile_report lists however small: where a packet enters the stack
# (again), each trip's hooks, lookups and copies.
profile_landmarks="gro_cell_poll gro_cells_receive napi_gro_receive netif_rx __netif_rx process_backlog
	ipv6_rcv ip6_input ip6_forward ip6_output ip6_local_out ip6_pol_route_output ip6_pol_route_input fib6_table_lookup
	ip_rcv ip_list_rcv ip_forward ip_output ip_local_out fib_table_lookup
	nf_hook_slow nf_conntrack_in nf_nat_inet_fn ipv4_conntrack_in ipv6_conntrack_in
	skb_segment __skb_gso_segment skb_checksum_help __skb_checksum csum_partial skb_copy_bits __pskb_pull_tail pskb_expand_head
	veth_xmit tcp_v4_rcv tcp_ack tcp_rcv_established tcp_data_queue ip6_tnl_rcv ip6_tnl_xmit ipxip6_rcv"

# profile_report TOPOLOGY LOAD: the functions that took at least 1 % of the samples by
# themselves, then those under which at least 5 % ran (children included), the landmarks
# above, each CPU's samples and idle ones, then what ran under the device's transmit
# (mapmint's start_xmit, ip6tnl's; c: ip_forward), from 0.5 %, and with translate-on-receive
# what ran under its hook.
profile_report() {
	wait $profiler
	local prefix="PROFILE $1 $2" transmit_symbol=10start_xmit
	[ "$1" != ip6tnl ] || transmit_symbol=ip6_tnl_start_xmit
	[ "$1" != c ] || transmit_symbol=ip_forward
	[ "$1" != c6 ] || transmit_symbol=ip6_forward
	{
		echo "self:"
		perf report -i /tmp/perf.data --stdio --no-children --sort sym -g none --percent-limit 1 2>&1
		echo "with children:"
		perf report -i /tmp/perf.data --stdio --children --sort sym -g none --percent-limit 5 2>&1
		# where packets enter and what each trip through the stack costs, however small
		echo "landmarks (with children / by itself):"
		perf report -i /tmp/perf.data --stdio --children --sort sym -g none 2>/dev/null |
			awk -v names="$profile_landmarks" 'BEGIN { n = split(names, list, " "); for (i = 1; i <= n; i++) want[list[i]] = 1 }
				$4 in want { printf "%8s %8s  %s\n", $1, $2, $4 }'
		# each CPU's share of the samples, and its idle share (the rest is work)
		echo "per CPU (samples, idle):"
		perf report -i /tmp/perf.data --stdio --no-children --sort cpu -g none 2>/dev/null | grep -v -e '^#' -e '^$'
		perf report -i /tmp/perf.data --stdio --no-children --sort cpu,sym -g none 2>/dev/null | grep -w default_idle
		# where each box's work lands: each CPU's tasks (a softirq runs in whichever task it
		# interrupted, or in ksoftirqd), from 1 %, then its functions, from 0.25 % (with
		# mapmint_bench_pin=1, CPU 0's are the sending server's and its softirqs')
		echo "per CPU and task:"
		perf report -i /tmp/perf.data --stdio --no-children --sort cpu,comm -g none --percent-limit 1 2>/dev/null | grep -v -e '^#' -e '^$'
		echo "per CPU and function:"
		perf report -i /tmp/perf.data --stdio --no-children --sort cpu,sym -g none --percent-limit 0.25 2>/dev/null | grep -v -e '^#' -e '^$'
		# what the translator's (or the tunnel's) transmit spends its time in
		echo "under $transmit_symbol (share of all samples: with what it calls / by itself):"
		perf script -i /tmp/perf.data -F ip,sym 2>/dev/null | under "$transmit_symbol"
		# where in the module's own code the samples fell (function+offset: disassemble
		# the benchmark's mapmint.ko to see the instructions), the 30 hottest
		case "$1" in
		map-*)
			echo "hottest instructions of mapmint (samples, function+offset):"
			perf script -i /tmp/perf.data -F ip,sym,symoff -G 2>/dev/null | awk '/mapmint/ { print $2 }' | sort | uniq -c | sort -rn | head -n 30
			;;
		esac
		# and what translate-on-receive's hook spends
		case "$1" in
		*-rx*)
			echo "under the prerouting hook (share of all samples: with what it calls / by itself):"
			perf script -i /tmp/perf.data -F ip,sym 2>/dev/null | under 9netfilter10trampoline
			;;
		esac
	} | grep -v -e '^#' -e '^$' | sed "s/^/$prefix /" >&3
	rm -f /tmp/perf.data
}

# --- the run ----------------------------------------------------------------------------

ip link set lo up
check "insmod pktgen" insmod /mapmint/pktgen.ko
# The ipip6 tunnel, where the kernel variant has it as a module (bench+ip6tnl-module).
for m in tunnel6 ip6_tunnel; do [ ! -f /mapmint/$m.ko ] || check "insmod $m" insmod /mapmint/$m.ko; done
report "BENCH-INFO ip6tnl $(grep -q '^ip6_tunnel ' /proc/modules && echo module || echo built-in)"
report "BENCH-INFO kernel $(uname -r)"
report "BENCH-INFO cpus $cpus"
report "BENCH-INFO seconds $seconds"
report "BENCH-INFO reps $reps"
# The guest's random pool is not ready yet (no RDRAND under TCG, no virtio-rng): the first
# reader (iperf3) would spend its measurement generating entropy. Do that here, once.
head -c 1 /dev/random >/dev/null

for round in $(seq "$reps"); do
	for topology in $topologies; do
		echo "--- round $round: $topology"
		"build_$topology" >/tmp/build.log 2>&1
		connected=1
		if ! out=$(at c1 ping -c 1 -W 10 "$(destination)" 2>&1); then
			connected=0
			report "BENCH-ERROR $topology all $round: no ping c1 -> server: $(echo "$out" | tr '\n' ' ') build: $(tail -n 5 /tmp/build.log | tr '\n' ' ')"
		fi
		for load in $loads; do
			value=-
			if [ $connected = 1 ]; then
				[ "$profile" = 1 ] && profile_start
				if out=$(measure "$load" 2>&1) && [[ $out =~ ^[0-9.]+$ ]]; then
					value=$out
				else
					report "BENCH-ERROR $topology $load $round: $(echo "$out" | tr '\n' ' ')"
				fi
				[ "$profile" = 1 ] && profile_report "$topology" "$load"
			fi
			report "BENCH $topology $load $round $value $(unit_of "$load")"
			sleep 0.5
		done
		teardown
	done
done
pass "bench finished"
