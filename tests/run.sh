#!/usr/bin/env bash
# Runs every mapmint test: the cargo workspace's tests, then each guest scenario in
# tests/guest/ booted in QEMU on the pinned kernel. Installs what is missing first (as root).
# Usage: tests/run.sh [SCENARIO...]   (default: all scenarios)
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$MAPMINT_ROOT"

scripts/install-deps.sh
scenarios=("$@")
debug_only=()
if [ ${#scenarios[@]} -eq 0 ]; then
	# Every scenario file except the demo (the README's first command runs that one) and
	# the benchmark (scripts/bench.sh runs that one, on its own kernel).
	for f in tests/guest/*.sh; do
		case "$(basename "$f" .sh)" in lib | lib-* | demo | bench | harness-*) ;; *) scenarios+=("$(basename "$f" .sh)") ;; esac
	done
fi
# Scenarios run on the test kernel (1 vCPU), then again on the debug kernel
# (scripts/kernel/debug.config: SMP, KASAN, lockdep, RCU and atomic-sleep checks, kmemleak,
# UBSAN, DEBUG_NET) with 2 vCPUs, where any sanitizer report or leak fails them. Scenarios
# named smp-* test concurrency, and "faults" fails allocations under the module (the debug
# kernel's fault injection): these run on the debug kernel only. The debug kernel is about 14
# times slower under TCG (tutorial-t: 45 s, 700 s there), so a full run takes there the
# scenarios that together reach every path of the module (DEBUG_SCENARIOS: lifecycle,
# netlink and its fuzzer, devices moved between namespaces that are then deleted
# (instances), hostile packets, both modes' CE and BR datapath with traffic on 2
# vCPUs and rmmod under it, teardown races, the control plane beside other generic netlink
# programs, the soak), all in one boot: a debug boot and
# kmemleak's scans cost a minute and a half each time; failover (MAP-T's there: a BR's device
# deleted under a download); br-scale (tables of 65,536 rules in vmalloc'ed memory, replaced
# under traffic, the old one freed in an RCU callback); faults (allocations failing under
# the module while traffic crosses it and configurations are applied). The tutorials, datapath, tutorial-offset and the
# port-set scenarios take the same kernel paths with other addresses, ICMP and routing cases,
# and netfilter rules. Named scenarios run on both kernels.
# MAPMINT_DEBUG_PASS=0 skips the debug kernel (a quicker run while developing; CI runs both).
DEBUG_SCENARIOS="basic control instances inject smp-t smp-e smp-rx smp-churn smp-control soak failover br-scale faults"
explicit=$#
up=()
for s in "${scenarios[@]}"; do
	case "$s" in smp-* | faults) debug_only+=("$s") ;; *) up+=("$s") ;; esac
done
scenarios=("${up[@]}")

# The programs the guests run (both kernels' initramfs take them): built after the debug pass
# has started its kernel build, and by it too (cargo waits for the other build's lock).
build_guest_programs() {
	cargo build --release --locked -p mapminctl -p mapmint-probe -p nlprobe
}

debug_scenarios=()
for s in "${scenarios[@]}" "${debug_only[@]}"; do
	[ "$explicit" -gt 0 ] || [[ " $DEBUG_SCENARIOS " == *" $s "* ]] && debug_scenarios+=("$s")
done
# debug_pass: the debug kernel (built once, cached), its module and initramfs, then one boot
# with 2 vCPUs through the debug scenarios. Its last line is the boot's "N passed, N failed".
debug_pass() {
	say "building the debug kernel (cached), its module and initramfs"
	local debug_kdir debug_module list
	debug_kdir=$(scripts/build-kernel.sh debug) || return
	build_guest_programs || return
	debug_module=$(scripts/build-module.sh "$debug_kdir" debug) || return
	scripts/build-initramfs.sh "$debug_module" target/release/mapminctl build/initramfs-debug.cpio || return
	list=$(IFS=,; echo "${debug_scenarios[*]}")
	# KASAN, lockdep and kmemleak slow a TCG guest several times over (the boot took 24 minutes
	# on an Intel Xeon host with 2 cores, and did not finish in 45 on an AMD EPYC one beside
	# the rest of the run)
	MAPMINT_GUEST_SMP=2 MAPMINT_GUEST_MEM=768M MAPMINT_GUEST_TIMEOUT=3900 MAPMINT_GUEST_LABEL="debug" \
		scripts/run-guest.sh "$debug_kdir/arch/x86/boot/bzImage" build/initramfs-debug.cpio "$list" \
		build/guest-debug
}
# The debug pass is the longest chain (a kernel build, then a boot of half an hour): it starts
# now, in the background, and keeps the machine's priority; the rest runs beside it at a lower
# one (nice 10), on what the debug boot leaves of 2 cores (it keeps about one and a half busy).
# (Both kernels built at once, beside cargo, took over 35 minutes from a fresh cache; alone,
# the debug kernel took 20 with the rest niced beside it.) Its log is printed when it ends.
debug_pid=
if [ "${MAPMINT_DEBUG_PASS:-1}" != 0 ] && [ ${#debug_scenarios[@]} -gt 0 ]; then
	mkdir -p build
	# (in a process group of its own, so that a failure here stops all of it)
	set -m
	debug_pass >build/debug-pass.log 2>&1 </dev/null &
	debug_pid=$!
	set +m
	trap '[ -z "$debug_pid" ] || kill -- -"$debug_pid" 2>/dev/null' EXIT
	renice -n 10 -p $$ >/dev/null
	say "the debug pass runs in the background (log: build/debug-pass.log)"
fi

say "building mapminctl, mapmint-probe and nlprobe (release)"
build_guest_programs

say "cargo test (workspace)"
cargo test --workspace --locked
say "the MAP core builds without std (x86_64-unknown-none)"
cargo build --locked -p mapcore --target x86_64-unknown-none
say "cargo clippy, warnings as errors (the workspace, all targets; the core for the kernel's target)"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --locked -p mapcore --target x86_64-unknown-none -- -D warnings
say "fuzzing the MAP core (cargo-fuzz, every target, from the committed seeds)"
scripts/fuzz.sh "${MAPMINT_FUZZ_SECONDS:-20}"

say "building kernel (cached), module and initramfs"
kdir=${KDIR:-$(scripts/build-kernel.sh)}
scripts/build-module.sh "$kdir" >/dev/null
# (with the dhcp scenario's DHCPv6 server and clients)
MAPMINT_INITRAMFS_TOOLS="${MAPMINT_INITRAMFS_TOOLS:-} /usr/sbin/kea-dhcp6 /usr/sbin/dhclient /sbin/dhclient-script \
/bin/run-parts /usr/sbin/dhcpcd /usr/lib/dhcpcd/dhcpcd-run-hooks" \
	scripts/build-initramfs.sh module/mapmint.ko target/release/mapminctl build/initramfs.cpio.gz

passed=0 failed=0 failures=
# summarize LOG: adds the "N passed, N failed" of LOG's last line to the totals, and keeps its
# FAIL lines (repeated at the end, where a CI log's tail shows them).
summarize() {
	local summary p f lines
	lines=$(echo "$1" | grep -E '^\[[^]]*\] FAIL ' || true)
	[ -z "$lines" ] || failures+="$lines"$'\n'
	summary=$(echo "$1" | tail -n 1)
	p=$(echo "$summary" | sed -nE 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\1/p')
	f=$(echo "$summary" | sed -nE 's/.* ([0-9]+) passed, ([0-9]+) failed.*/\2/p')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-1}))
}

if [ $# -eq 0 ]; then
	log=$(tests/harness.sh "$kdir/arch/x86/boot/bzImage" build/initramfs.cpio.gz || true)
	echo "$log"
	summarize "$log"
	log=$(tests/packaging.sh "$kdir" || true)
	echo "$log"
	summarize "$log"
fi
for s in "${scenarios[@]}"; do
	# A scenario that needs more than run-guest's 300 s says so in a "# guest-timeout: N" line.
	timeout=$(sed -n 's/^# guest-timeout: \([0-9][0-9]*\)$/\1/p' "tests/guest/$s.sh")
	log=$(MAPMINT_GUEST_TIMEOUT=${timeout:-${MAPMINT_GUEST_TIMEOUT:-300}} \
		scripts/run-guest.sh "$kdir/arch/x86/boot/bzImage" build/initramfs.cpio.gz "$s" "build/guest-$s" || true)
	echo "$log"
	summarize "$log"
done
if [ -n "$debug_pid" ]; then
	say "waiting for the debug pass"
	wait "$debug_pid" || true
	debug_pid=
	log=$(cat build/debug-pass.log)
	echo "$log"
	summarize "$log"
fi
if [ -n "$failures" ]; then
	echo "the failed checks:"
	printf '%s' "$failures"
fi
echo "guest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
