#!/usr/bin/env bash
# Benchmark (not a test; CI does not run it): throughput of mapmint's MAP-T and MAP-E against
# plain IPv4 routing ("c"), plain IPv6 routing ("c6") and the kernel's ipip6 tunnel, in the
# tutorial topology, with 1 and then 2 vCPUs. Builds the benchmark kernel variant
# (scripts/kernel/bench.config on top of the test kernel's fragment, cached beside it),
# mapmint.ko for it, an initramfs with iperf3 and pktgen.ko, boots tests/guest/bench.sh once
# per vCPU count and prints a table of medians, also written to bench/results.md.
# Usage: scripts/bench.sh [--profile | --count]
# --profile: perf samples the guest's CPUs during every measurement (one round unless
# MAPMINT_BENCH_REPS says otherwise); the hottest kernel functions of each go to
# build/bench/profile-smpN.txt, and the table (slowed by the sampling) to
# build/bench/results-profile.md instead of bench/results.md.
# --count: QEMU counts every guest kernel instruction each vCPU executes during every
# measurement (a TCG plugin, scripts/tcg-count/), exactly where perf under TCG samples a
# thousand times a vCPU and round; per MB carried or per packet, in all and by function, to
# build/bench/count-smpN.txt (the table, slowed by the counting, to build/bench/results-count.md);
# scripts/tcg-count/lines.sh then splits one function's count by source line.
# MAPMINT_BENCH_SECONDS (default 5) per measurement, MAPMINT_BENCH_REPS (rounds, default 3),
# MAPMINT_BENCH_CPUS (vCPU counts, default "1 2"), MAPMINT_BENCH_RESULTS (the table's file),
# MAPMINT_BENCH_TOPOLOGIES and MAPMINT_BENCH_LOADS (subsets of tests/guest/bench.sh's, e.g.
# "c map-t" and "tcp-up pktgen-60x1"; the ratios need c), MAPMINT_BENCH_ALT_MODULE: a second
# mapmint.ko built for the benchmark kernel (another revision: scripts/build-module.sh in its
# checkout), measured as the topologies map-t-alt, map-e-alt, map-t-rx-alt, map-e-rx-alt, map-e-local-alt and map-e-lo-alt
# (add them to MAPMINT_BENCH_TOPOLOGIES) in the same boot, for an A/B comparison. The
# topologies c-ipsec, map-t-ipsec, map-e-ipsec and ip6tnl-ipsec (also only when named there)
# add IPsec policies that every packet is looked up in and none matches; map-e-ce and
# map-e-br (also only when named) put mapmint's MAP-E at one end and ip6tnl at the other.
# MAPMINT_BENCH_KERNEL_ARGS: words added to the guest kernel's command line (e.g. idle=poll).
# MAPMINT_BENCH_KERNEL: the kernel variant to boot (default bench; bench+ip6tnl-module has the
# kernel's ipip6 tunnel as a module, as mapmint is, instead of in the kernel image).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$MAPMINT_ROOT"

profile=0 count=0
case "${1:-}" in
--profile) profile=1 ;;
--count) count=1 ;;
"") ;;
*) die "usage: $0 [--profile | --count]" ;;
esac
work=$MAPMINT_ROOT/build/bench
seconds=${MAPMINT_BENCH_SECONDS:-5}
cpu_counts=${MAPMINT_BENCH_CPUS:-1 2}
if [ $profile = 1 ]; then
	reps=${MAPMINT_BENCH_REPS:-1}
	results=${MAPMINT_BENCH_RESULTS:-$work/results-profile.md}
else
	reps=${MAPMINT_BENCH_REPS:-3}
	results=${MAPMINT_BENCH_RESULTS:-$MAPMINT_ROOT/bench/results.md}
	[ $count = 0 ] || results=${MAPMINT_BENCH_RESULTS:-$work/results-count.md}
fi
guest_args="mapmint_bench_seconds=$seconds mapmint_bench_reps=$reps mapmint_bench_profile=$profile"
[ -z "${MAPMINT_BENCH_TOPOLOGIES:-}" ] || guest_args+=" mapmint_bench_topologies=${MAPMINT_BENCH_TOPOLOGIES// /,}"
[ -z "${MAPMINT_BENCH_LOADS:-}" ] || guest_args+=" mapmint_bench_loads=${MAPMINT_BENCH_LOADS// /,}"
# Words for the guest kernel's command line (an experiment's, such as idle=poll).
[ -z "${MAPMINT_BENCH_KERNEL_ARGS:-}" ] || guest_args+=" $MAPMINT_BENCH_KERNEL_ARGS"

scripts/install-deps.sh
kernel_variant=${MAPMINT_BENCH_KERNEL:-bench}
kdir=$(scripts/build-kernel.sh "$kernel_variant")

# in a copy of module/ (build/module-bench), so the test kernel's objects in module/ stay
say "building mapmint.ko for the benchmark kernel"
# (with debug information when counting, for scripts/tcg-count/lines.sh: the same code)
module_ko=$(MAPMINT_MODULE_DEBUGINFO=$count scripts/build-module.sh "$kdir" bench)
cargo build --release --locked -p mapminctl -p mapmint-probe -p nlprobe
mkdir -p "$work"
tools=
[ $profile = 0 ] || tools=$(command -v perf)
extra_modules=("$kdir/net/core/pktgen.ko")
# The ipip6 tunnel, where the variant builds it as a module (the guest loads these in order).
for m in net/ipv6/tunnel6.ko net/ipv6/ip6_tunnel.ko; do [ ! -f "$kdir/$m" ] || extra_modules+=("$kdir/$m"); done
if [ -n "${MAPMINT_BENCH_ALT_MODULE:-}" ]; then
	cp "$MAPMINT_BENCH_ALT_MODULE" "$work/mapmint-alt.ko"
	extra_modules+=("$work/mapmint-alt.ko")
fi
MAPMINT_INITRAMFS_TOOLS=$tools scripts/build-initramfs.sh "$module_ko" target/release/mapminctl "$work/initramfs.cpio.gz" \
	"${extra_modules[@]}"

# The instruction counter: a plugin QEMU loads (TCG only), built with the kernel's compiler.
if [ $count = 1 ]; then
	clang -O2 -Wall -shared -fPIC -o "$work/tcg-count.so" scripts/tcg-count/tcg-count.c -lpthread
fi

# A generous bound: every measurement (8 loads, 9 topologies) plus its iperf3/pktgen setup,
# and each topology's build.
timeout_s=$((300 + reps * 9 * (60 + 8 * (seconds + 20))))
failed=0
# The host's load average as each guest ends: TCG numbers are only comparable on a quiet host.
host_load=
for n in $cpu_counts; do
	say "benchmark guest with $n vCPU(s), ${seconds}s per measurement, $reps rounds (at most ${timeout_s}s)"
	status=0
	# (plugins need TCG)
	qemu_args= accel=${MAPMINT_ACCEL:-}
	if [ $count = 1 ]; then
		accel=tcg
		rm -rf "$work/count-smp$n" && mkdir -p "$work/count-smp$n"
		qemu_args="-plugin $work/tcg-count.so,watch=$work/guest-smp$n/results.log,out=$work/count-smp$n"
	fi
	MAPMINT_GUEST_QEMU_ARGS=$qemu_args MAPMINT_ACCEL=$accel MAPMINT_GUEST_SMP=$n MAPMINT_GUEST_MEM=1G MAPMINT_GUEST_TIMEOUT=$timeout_s \
		MAPMINT_GUEST_ARGS="$guest_args" \
		scripts/run-guest.sh "$kdir/arch/x86/boot/bzImage" "$work/initramfs.cpio.gz" bench "$work/guest-smp$n" \
		>"$work/run-smp$n.log" 2>&1 || status=$?
	cat "$work/run-smp$n.log"
	host_load+="${host_load:+; }after the $n-vCPU guest $(cut -d' ' -f1-3 /proc/loadavg)"
	[ "$status" -eq 0 ] || { failed=1; say "the $n-vCPU guest failed (see $work/guest-smp$n); its table column may be incomplete"; }
done

# bench_lines: every vCPU count's BENCH lines, each prefixed with the count.
bench_lines() {
	local n
	for n in $cpu_counts; do
		tr -d '\r' <"$work/guest-smp$n/results.log" | grep -E '^BENCH ' | sed "s/^/$n /" || true
	done
}

# table [spread]: rows the loads, for each vCPU count a column of c's median and the others'
# medians over c's; with "spread", each cell's largest round over its smallest instead.
table() {
	bench_lines | awk -v counts="$cpu_counts" -v reps="$reps" -v spread="${1:-}" '
		function median(list,   a, k, i, j, t) {
			k = split(list, a, " ")
			if (k == 0) return ""
			for (i = 2; i <= k; i++)
				for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		}
		# the largest value of a cell over its smallest, "–" without two
		function ratio(list,   a, k, i, lo, hi) {
			k = split(list, a, " ")
			if (k < 2) return " – |"
			lo = hi = a[1] + 0
			for (i = 2; i <= k; i++) { if (a[i] + 0 < lo) lo = a[i] + 0; if (a[i] + 0 > hi) hi = a[i] + 0 }
			return lo > 0 ? sprintf(" %.2f |", hi / lo) : " – |"
		}
		# "(2/3)" after a median of fewer rounds than asked for
		function partial(list,   a, k) { k = split(list, a, " "); return k < reps ? " (" k "/" reps ")" : "" }
		{
			n = $1; topology = $3; load = $4; value = $6; unit[load] = $7
			if (topology != "c" && !(topology in known)) { known[topology] = 1; others[++nothers] = topology }
			if (!(load in seen)) { seen[load] = 1; order[++loads] = load }
			if (value != "-") values[n, topology, load] = values[n, topology, load] " " value
		}
		END {
			name["tcp-up"] = "TCP upload c1 → server"
			name["tcp-down"] = "TCP download server → c1"
			name["udp-64"] = "UDP 64 B payload, received"
			name["udp-1400"] = "UDP 1400 B payload, received"
			name["pktgen-60x1"] = "pktgen 60 B, 1 flow"
			name["pktgen-1400x1"] = "pktgen 1400 B, 1 flow"
			name["pktgen-60x1024"] = "pktgen 60 B, 1024 flows"
			name["pktgen-1400x1024"] = "pktgen 1400 B, 1024 flows"
			title["c6"] = "IPv6 routing"; title["map-t"] = "MAP-T"; title["map-e"] = "MAP-E"; title["map-t-a6"] = "MAP-T a=6, mapped ports"; title["map-t-64k"] = "MAP-T, BR of 64k FMRs"
			title["map-t-rx"] = "MAP-T on receive"; title["map-e-rx"] = "MAP-E on receive"; title["map-e-local"] = "MAP-E, tunnel ends on the devices"; title["map-e-lo"] = "MAP-E, tunnel ends on lo and WAN"
			title["map-t-alt"] = "MAP-T (alt)"; title["map-e-alt"] = "MAP-E (alt)"
			title["map-t-rx-alt"] = "MAP-T on receive (alt)"; title["map-e-rx-alt"] = "MAP-E on receive (alt)"; title["map-e-local-alt"] = "MAP-E, tunnel ends on the devices (alt)"; title["map-e-lo-alt"] = "MAP-E, tunnel ends on lo and WAN (alt)"
			title["c-ipsec"] = "c, IPsec policies"; title["map-t-ipsec"] = "MAP-T, IPsec policies"
			title["map-e-ipsec"] = "MAP-E, IPsec policies"; title["ip6tnl-ipsec"] = "ip6tnl, IPsec policies"
			ncounts = split(counts, cpus, " ")
			head = "| load |"; rule = "|---|"
			for (c = 1; c <= ncounts; c++) {
				head = head sprintf(" c, %d vCPU%s |", cpus[c], cpus[c] > 1 ? "s" : "")
				rule = rule "---:|"
				for (o = 1; o <= nothers; o++) {
					head = head " " (others[o] in title ? title[others[o]] : others[o]) (spread ? " |" : "/c |")
					rule = rule "---:|"
				}
			}
			print head; print rule
			for (l = 1; l <= loads; l++) {
				load = order[l]
				row = "| " (load in name ? name[load] : load) " |"
				for (c = 1; c <= ncounts; c++) {
					n = cpus[c]
					if (spread) {
						row = row ratio(values[n, "c", load])
						for (o = 1; o <= nothers; o++) row = row ratio(values[n, others[o], load])
						continue
					}
					base = median(values[n, "c", load])
					row = row (base == "" ? " – |" : sprintf(" %.1f %s%s |", base, unit[load], partial(values[n, "c", load])))
					for (o = 1; o <= nothers; o++) {
						m = median(values[n, others[o], load])
						if (m == "" || base == "" || base + 0 == 0) row = row " – |"
						else row = row sprintf(" %.2f%s |", m / base, partial(values[n, others[o], load]))
					}
				}
				print row
			}
		}'
}

# paired A B: for each load and vCPU count, A's figure over B's round by round (the
# topologies take turns within a round, so a round's pair ran under the same conditions):
# the median of those ratios, and the lowest and highest. Empty without both topologies.
paired() {
	bench_lines | awk -v a="$1" -v b="$2" '
		$3 == a || $3 == b { if ($6 != "-") v[$1, $4, $5, $3] = $6; key = $1 SUBSEP $4
			if (!(key in seen)) { seen[key] = 1; order[++k] = key }; rounds[$5] = 1 }
		END {
			for (i = 1; i <= k; i++) {
				split(order[i], nl, SUBSEP); m = 0
				for (r in rounds)
					if ((nl[1], nl[2], r, a) in v && (nl[1], nl[2], r, b) in v && v[nl[1], nl[2], r, b] > 0)
						q[++m] = v[nl[1], nl[2], r, a] / v[nl[1], nl[2], r, b]
				if (m == 0) continue
				for (x = 2; x <= m; x++) for (y = x; y > 1 && q[y - 1] > q[y]; y--) { t = q[y]; q[y] = q[y - 1]; q[y - 1] = t }
				med = m % 2 ? q[(m + 1) / 2] : (q[m / 2] + q[m / 2 + 1]) / 2
				printf "%s vCPU(s), %s: %.2f (%.2f-%.2f, %d rounds)\n", nl[1], nl[2], med, q[1], q[m], m
			}
		}'
}

# scaling: with two vCPU counts or more, what the most vCPUs carried over what the fewest did,
# per load and topology (the medians' ratio; the guests ran one after the other, not
# interleaved, so a host busier during one of them moves all of its figures).
scaling() {
	bench_lines | awk -v counts="$cpu_counts" '
		function median(list,   a, k, i, j, t) {
			k = split(list, a, " ")
			for (i = 2; i <= k; i++)
				for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
		}
		{
			if ($6 != "-") values[$1, $3, $4] = values[$1, $3, $4] " " $6
			key = $4 SUBSEP $3; if (!(key in seen)) { seen[key] = 1; order[++k] = key }
		}
		END {
			m = split(counts, cpus, " "); if (m < 2) exit
			lo = cpus[1]; hi = cpus[1]
			for (i = 2; i <= m; i++) { if (cpus[i] + 0 < lo + 0) lo = cpus[i]; if (cpus[i] + 0 > hi + 0) hi = cpus[i] }
			for (i = 1; i <= k; i++) {
				split(order[i], lt, SUBSEP)
				if (values[lo, lt[2], lt[1]] == "" || values[hi, lt[2], lt[1]] == "") continue
				a = median(values[lo, lt[2], lt[1]]); b = median(values[hi, lt[2], lt[1]])
				if (a + 0 > 0) printf "%s, %s: %.2f (%s vCPUs over %s)\n", lt[1], lt[2], b / a, hi, lo
			}
		}'
}

guest_info() { tr -d '\r' <"$work/guest-smp$1/results.log" | sed -n "s/^BENCH-INFO $2 //p" | head -n 1; }
first=${cpu_counts%% *}
accel=$(sed -nE 's/.*\(accel ([a-z]+),.*/\1/p' "$work/run-smp$first.log" | tail -n 1)
cpu_model=$(grep -m 1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
# per_round KIND: a BENCH-INFO figure per topology and load, round after round.
per_round() {
	local n
	for n in $cpu_counts; do
		tr -d '\r' <"$work/guest-smp$n/results.log" | awk -v n="$n" -v kind="$1" '$1 == "BENCH-INFO" && $2 == kind {
			key = $3 " " $4; if (!(key in list)) order[++k] = key; list[key] = list[key] " " $6 }
			END { for (i = 1; i <= k; i++) printf "%s vCPU(s), %s:%s\n", n, order[i], list[order[i]] }'
	done
}
# TCP retransmissions by c1 (losses stall a stream); for UDP, the share of datagrams the
# server's socket lost and the context switches per datagram received (a receiver that keeps
# up is woken for each one, which costs the sender's CPU: see README).
retransmits=$(per_round retransmits)
mape_over_ip6tnl=$(paired map-e ip6tnl)
# Each half of MAP-E over ip6tnl (the topologies map-e-ce and map-e-br, when asked for).
mape_halves=$(for half in map-e-ce map-e-br; do paired $half ip6tnl | sed "s/^/$half: /"; done)
tcp_packet_kb=$(per_round tcp-packet-kb)
tcp_switches=$(per_round tcp-switches-per-s)
tcp_ksoftirqd=$(per_round tcp-ksoftirqd-switches-per-s)
tcp_by_task=$(per_round tcp-switches-by-task)
tcp_sender_path=$(per_round tcp-sender-path)
tcp_losses=$(per_round tcp-losses)
tcp_busy=$(per_round tcp-busy-cpus)
tcp_busy_per_gbit=$(per_round tcp-busy-cpus-per-gbit)
tcp_cpu_split=$(per_round tcp-cpu-split)
backlog_drops=$(per_round backlog-drops)
udp_lost=$(per_round lost-percent | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.e+-]+$/ && i > 4) $i = sprintf("%.1f", $i); print }')
udp_switches=$(per_round switches-per-datagram)
errors=$(for n in $cpu_counts; do tr -d '\r' <"$work/guest-smp$n/results.log" | grep '^BENCH-ERROR ' | sed "s/^BENCH-ERROR /$n vCPU(s): /" || true; done)

mkdir -p "$(dirname "$results")"
{
	echo "# mapmint benchmark"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), \`scripts/bench.sh\`: guest kernel \`$(guest_info "$first" kernel)\`" \
		"(the kernel variant $kernel_variant, ip6tnl $(guest_info "$first" ip6tnl)), host CPU $cpu_model ($(nproc) host cores), QEMU accel ${accel:-?};" \
		"${seconds}s per measurement, median of $reps rounds, measured at the receiver."
	[ -z "${MAPMINT_BENCH_KERNEL_ARGS:-}" ] || echo "Guest kernel command line with \`$MAPMINT_BENCH_KERNEL_ARGS\`."
	echo
	table
	echo
	echo "c: plain IPv4 routing through the same boxes with the CE's NAPT, in Mbit/s (iperf3) or"
	echo "thousands of packets per second (pktgen); MAP-T/c, MAP-E/c, ip6tnl/c: their medians over c's."
	echo "iperf3: one stream from the LAN host c1 (\`-R\`: from the server), UDP at \`-b 0\`; pktgen:"
	echo "one thread per vCPU on c1's veth towards the CE, counted at the server's veth. See"
	echo "tests/guest/bench.sh."
	echo "Host load average (1, 5, 15 minutes, the guest's own vCPUs included): $host_load."
	echo
	echo "How far rounds of one cell lie apart: the largest over the smallest (1.00: all alike)."
	echo "A ratio in the table above is only as firm as its two cells' spreads allow."
	echo
	table spread
	scaled=$(scaling)
	if [ -n "$scaled" ]; then
		echo
		echo "The most vCPUs over the fewest, medians; the guests ran one after the other:"
		echo
		echo "$scaled" | sed 's/^/    /'
	fi
	if [ -n "$mape_over_ip6tnl" ]; then
		echo
		echo "MAP-E over ip6tnl, round by round (median, lowest-highest; 1.00 or more: at least as fast):"
		echo
		echo "$mape_over_ip6tnl" | sed 's/^/    /'
	fi
	if [ -n "$mape_halves" ]; then
		echo
		echo "Half MAP-E over ip6tnl, round by round: map-e-ce has mapmint at the CE and ip6tnl at"
		echo "the BR, map-e-br the other way round:"
		echo
		echo "$mape_halves" | sed 's/^/    /'
	fi
	if [ -n "$retransmits" ]; then
		echo
		echo "TCP segments c1 retransmitted, per round:"
		echo
		echo "$retransmits" | sed 's/^/    /'
	fi
	if [ -n "$tcp_packet_kb" ]; then
		echo
		echo "TCP: the mean packet at the receiver's veth (kB: super-packets), the context"
		echo "switches per second, and those of ksoftirqd (softirq work deferred to its threads),"
		echo "per round (one vCPU runs a round at about 60 kB and 1,000 switches, or at about"
		echo "43 kB and 1,650 and the same packet rate: see README):"
		echo
		echo "$tcp_packet_kb" | sed 's/^/    kB /'
		echo "$tcp_switches" | sed 's/^/    switches /'
		echo "$tcp_ksoftirqd" | sed 's/^/    ksoftirqd /'
		echo
		echo "TCP: the threads that switched most, per second, over 2 s in the middle of each round"
		echo "(other: the rest, which is the idle task's switches):"
		echo
		echo "$tcp_by_task" | sed 's/^/    /'
		echo
		echo "TCP: the path as the sender's stack saw it in each round: its smoothed RTT (mean/"
		echo "least/largest, µs) and its largest congestion window:"
		echo
		echo "$tcp_sender_path" | sed 's/^/    /'
		echo
		echo "TCP: how many CPUs were busy (not idle), on average over each round, and that per"
		echo "Gbit/s carried (what a bit cost):"
		echo
		echo "$tcp_busy" | sed 's/^/    busy /'
		echo "$tcp_busy_per_gbit" | sed 's/^/    per Gbit\/s /'
		echo
		echo "TCP: each CPU's share of its time per Gbit/s carried: busy, in user space, in the kernel,"
		echo "in softirqs; and the NET_RX softirqs it raised per Gbit carried, in thousands (with"
		echo "MAPMINT_BENCH_KERNEL_ARGS=mapmint_bench_pin=1, cpu0 is the sender's and cpu1 the receiver's):"
		echo
		echo "$tcp_cpu_split" | sed 's/^/    /'
		echo
		echo "TCP: what dropped, reordered or lost packets in each round: devices' drop counts"
		echo "(NAMESPACE/DEVICE:rx or tx), mapmint's drops by reason and ICMP errors, the BR's own"
		echo "ICMP Destination Unreachables, and the TCP counters of the server and c1 that moved:"
		echo
		echo "$tcp_losses" | sed 's/^/    /'
		echo
		echo "TCP: packets the guest dropped for a full input backlog (netif_rx, veth), per round:"
		echo
		echo "$backlog_drops" | sed 's/^/    /'
	fi
	if [ -n "$udp_lost" ]; then
		echo
		echo "UDP: % of datagrams the server lost, and context switches per datagram received, per round:"
		echo
		echo "$udp_lost" | sed 's/^/    lost /'
		echo "$udp_switches" | sed 's/^/    switches /'
	fi
	if [ -n "$errors" ]; then
		echo
		echo "Failed measurements:"
		echo
		echo "$errors" | sed 's/^/    /'
	fi
} >"$results.tmp"
mv "$results.tmp" "$results"
echo
cat "$results"
say "table written to $results; raw lines in $work/guest-smp*/results.log"
if [ $profile = 1 ]; then
	for n in $cpu_counts; do
		tr -d '\r' <"$work/guest-smp$n/results.log" | sed -n 's/^PROFILE //p' >"$work/profile-smp$n.txt"
	done
	say "profiles in $work/profile-smp*.txt (TOPOLOGY LOAD, then perf's lines)"
fi
if [ $count = 1 ]; then
	for n in $cpu_counts; do
		scripts/tcg-count/report.sh "$work/guest-smp$n/results.log" "$work/count-smp$n" "$kdir/System.map" \
			"$module_ko" "$seconds" 40 ${MAPMINT_BENCH_ALT_MODULE:+"$work/mapmint-alt.ko"} >"$work/count-smp$n.txt" || failed=1
		echo
		echo "$n vCPU(s):"
		cat "$work/count-smp$n.txt"
	done
	say "instruction counts in $work/count-smp*.txt"
fi
exit "$failed"
