#!/bin/bash
# Scenario "soak": the tutorial topology in MAP-T (see lib-tutorial.sh) carries traffic for
# several minutes (a download that never ends, a ping every 20 ms, UDP echoes) while
# `mapminctl apply` replaces the configuration of the CE and the BR 1000 times, switching
# between two rule sets, and a spare mapmint device is created and deleted every 2 s.
#
# Apply is an atomic swap: no packet of the flows may be dropped, the stream must never
# stall. Memory is sampled (unreclaimable slab) while it runs; a configuration or a packet
# that leaks would grow it by megabytes. On the debug kernel the same runs shorter (it is ~14
# times slower) and kmemleak then scans for what leaked.
# Three minutes, or up to six while the applies last (a loaded CI machine), then the checks:
# guest-timeout: 600
. /tests/lib.sh
. /tests/lib-tutorial.sh

# (on the debug kernel a device's registration and unregistration take seconds each)
if debug_kernel; then applies=30 minutes=2 spares_min=5; else applies=1000 minutes=3 spares_min=20; fi

tutorial t nft
EXTRA_FMR="fmr 2001:db8:7700::/40 10.7.0.0/24 ea-len 16"
cp /tmp/br.conf /tmp/br-0.conf
cp /tmp/ce11b.conf /tmp/ce11b-0.conf
{ cat /tmp/br.conf; echo "$EXTRA_FMR"; } >/tmp/br-1.conf
{ cat /tmp/ce11b.conf; echo "$EXTRA_FMR"; } >/tmp/ce11b-1.conf
ip netns add spare

# unreclaimable slab, in kB
slab() { awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo; }
# packets the stack's input backlogs dropped, all CPUs (each veth hop queues there)
backlog_drops() {
	local _ dropped total=0
	while read -r _ dropped _; do total=$((total + 0x$dropped)); done </proc/net/softnet_stat
	echo $total
}
# A guest starved by a loaded host falls behind on its backlogs; the soak is about the
# configuration swaps, so they get room for seconds of traffic (1000 by default).
backlog_limit=$(cat /proc/sys/net/core/netdev_max_backlog)
sysctl -qw net.core.netdev_max_backlog=10000
backlog_before=$(backlog_drops)

# (`ip netns exec` itself, not the `at` function, for what runs in the background: its PID
# is then the program's, which the signals at the end must reach)
# a download without end, paced (1 MB/s) so that the one vCPU has time for the rest
ip netns exec server mapmint-probe tcp-serve 7030 - 1000000 &
sink=$!
ip netns exec server mapmint-probe udp-echo 7031 &
echoer=$!
wait_listening server tcp 7030
wait_listening server udp 7031
ip netns exec c1 mapmint-probe tcp-fetch $SERVER 7030 /dev/null &
stream=$!
(
	# one source port for every echo: one conntrack entry, however many datagrams
	while :; do at c2 mapmint-probe udp-ask --bind 0.0.0.0:41000 $SERVER 7031 soak >/dev/null 2>&1; sleep 0.5; done
) &
udp=$!

# rx bytes of c1's link: the download's progress
client_rx() { ip -n c1 -s -j link show dev eth0 | grep -o '"rx":{[^}]*}' | grep -o '"bytes":[0-9]*' | cut -d: -f2; }

# The soak starts once the download moves (its connection may take seconds on a loaded
# host); a stall is then a sample that found no progress since the one before, 15 s earlier.
waited=0
until [ "$(client_rx)" -gt 100000 ] || [ $waited -ge 30 ]; do sleep 1; waited=$((waited + 1)); done
check "the download started ($(client_rx) bytes at c1 after ${waited} s)" test "$(client_rx)" -gt 100000
# The pings start on a path in use, as the applies do: one of three runs lost half a second
# of pings while the download started, before any apply (a matter of the topology's first
# second under TCG, not of the swaps this scenario is about).
ip netns exec c1 ping -i 0.02 $SERVER >/tmp/soak-ping 2>&1 &
pinger=$!

# One loop per box replaces its configuration, from inside its namespace (`ip netns exec`
# per command would cost more than the apply), half of the applies each.
appliers=()
for ns in br ce11b; do
	ip netns exec $ns bash -c "
		for ((i = 0; i < $applies / 2; i++)); do
			mapminctl apply --config /tmp/$ns-\$((i % 2)).conf dev mapmint >/dev/null && echo applied || echo refused
		done" >/tmp/applies-$ns 2>&1 &
	appliers+=($!)
done
applied() { cat /tmp/applies-br /tmp/applies-ce11b | grep -c '^applied'; }
applying() {
	local pid
	for pid in "${appliers[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done
	return 1
}

# The soak lasts its minutes, and the applies may take longer, but not twice as long.
start=$SECONDS end=$((SECONDS + minutes * 60)) limit=$((SECONDS + minutes * 120))
samples=() stalls=() spares=0
last_rx= next_sample=$SECONDS
while [ $SECONDS -lt $end ] || { applying && [ $SECONDS -lt $limit ]; }; do
	ip -n spare link add s0 type mapmint && ip -n spare link del s0 && spares=$((spares + 1))
	if [ $SECONDS -ge $next_sample ]; then
		samples+=("$(slab)")
		rx=$(client_rx)
		echo "soak: $((SECONDS - start)) s, $(applied) applies, $spares spare devices, slab ${samples[-1]} kB, c1 received $rx bytes"
		[ -z "$last_rx" ] || [ "$rx" -gt "$last_rx" ] || stalls+=("$((SECONDS - start)) s: $last_rx -> $rx bytes")
		last_rx=$rx
		next_sample=$((SECONDS + 15))
	fi
	sleep 2
done
soaked=$((SECONDS - start))
kill "${appliers[@]}" 2>/dev/null
applied=$(applied)
refusals=$(cat /tmp/applies-br /tmp/applies-ce11b | grep -vc '^applied')
kill $udp
kill -INT $pinger
sleep 1
alive=0
kill -0 $stream 2>/dev/null && alive=1
kill $stream $sink $echoer 2>/dev/null
wait $stream $sink $echoer $pinger $udp "${appliers[@]}" 2>/dev/null
ip netns del spare

echo "soak: $soaked s, $applied applies, $spares spare devices, slab samples (kB): ${samples[*]}"
check_eq "$applied of $applies mapminctl apply while traffic flows, none refused" "$applies 0" \
	"$applied $refusals$(cat /tmp/applies-br /tmp/applies-ce11b | grep -v '^applied' | head -n 1 | sed 's/^/: /')"
check "the soak lasted at least $minutes minutes ($soaked s) with $spares spare devices created and deleted" \
	test $soaked -ge $((minutes * 60)) -a $spares -ge $spares_min
check_eq "the download is still up after the soak" 1 "$alive"
check_eq "the download moved between every two of the ${#samples[@]} memory samples" "" "${stalls[*]}"
sent=$(awk '/packets transmitted/ { print $1 }' /tmp/soak-ping)
# The echoes not answered, by sequence number (busybox's ping counts from 0): those of the
# last two seconds may still have been in flight when the pinger was stopped (round trips grow
# under load); any other is a packet lost, and its number tells when (20 ms each).
lost=$(awk -v sent="$sent" '
	/bytes from/ && match($0, /seq=[0-9]+/) { answered[substr($0, RSTART + 4, RLENGTH - 4)] = 1 }
	END {
		for (seq = 0; seq < sent - 100; seq++) if (!(seq in answered) && n++ < 20) list = list " " seq
		if (n) printf "%d lost:%s%s", n, list, (n > 20 ? " ..." : "")
	}' /tmp/soak-ping)
check_eq "pings every 20 ms answered (${sent:-no} sent; the last 2 s's may be in flight; the backlogs dropped $(($(backlog_drops) - backlog_before)) packets)" "" "$lost"
# stat_sums COLUMN...: a /proc/net/stat table on stdin (a header, then a row per CPU in hex):
# each COLUMN's sum over the CPUs.
stat_sums() {
	awk -v want="$*" '
		function hex(s,   i, v) {
			for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
			return v
		}
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{ n = split(want, names, " "); for (j = 1; j <= n; j++) sum[j] += hex($(col[names[j]])) }
		END { for (j = 1; j <= n; j++) printf "%s%s %d", (j > 1 ? ", " : ""), names[j], sum[j] }'
}
# where packets were lost, if they were: the boxes' discards, their links', conntrack's and
# the neighbour tables' drops
if [ -n "$lost" ]; then
	for ns in c1 ce11b isp br server; do
		echo "soak: $ns: IP InDiscards $(snmp $ns Ip InDiscards) OutDiscards $(snmp $ns Ip OutDiscards)" \
			"OutNoRoutes $(snmp $ns Ip OutNoRoutes); IPv6 drops: $(at $ns awk '/Ip6(InDiscards|OutDiscards|InNoRoutes|OutNoRoutes)/ { printf "%s %s ", $1, $2 }' /proc/net/snmp6)"
		ip -n $ns -s link | awk -v ns=$ns '/^[0-9]+:/ { dev = $2 } /RX:|TX:/ { dir = $1; getline; if ($4 != 0) print "soak: " ns " " dev " " dir " dropped " $4 }'
		[ ! -e /proc/net/stat/nf_conntrack ] ||
			echo "soak: $ns: conntrack $(at $ns cat /proc/net/stat/nf_conntrack | stat_sums invalid insert_failed drop early_drop)"
	done
	# (the neighbour tables are the kernel's, shared by every namespace: a packet queued while
	# its next hop is resolved is dropped once the queue is full)
	echo "soak: neighbours: IPv4 $(stat_sums unresolved_discards table_fulls </proc/net/stat/arp_cache)," \
		"IPv6 $(stat_sums unresolved_discards table_fulls </proc/net/stat/ndisc_cache)"
fi
check "more than 100 pings sent" test "${sent:-0}" -gt 100
for ns in br ce11b; do
	check_eq "$ns dropped nothing while its configuration was replaced" 0 \
		"$(dropped $ns)"
done
# After the first sample (warm: sockets, conntrack, routes cached), unreclaimable slab stays
# flat: a configuration leaked per apply (over 1 KB) would add over a megabyte by the end.
first=${samples[1]} last=${samples[${#samples[@]} - 1]}
check "unreclaimable slab flat during the soak: ${first} kB -> ${last} kB (bound +1024 kB)" \
	test $((last - first)) -le 1024
sysctl -qw net.core.netdev_max_backlog=$backlog_limit
check "rmmod after the soak" rmmod mapmint
