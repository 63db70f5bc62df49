#!/usr/bin/env bash
# Boots the test kernel with the initramfs in QEMU, runs one guest scenario and judges it:
# exits non-zero if any check failed, if the guest did not finish in time, or if the kernel
# log shows an oops, BUG, WARNING, KASAN/UBSAN report or panic.
# Usage: run-guest.sh BZIMAGE INITRAMFS SCENARIO [OUTDIR]
# MAPMINT_GUEST_TIMEOUT (seconds, default 300) bounds the guest; MAPMINT_VERBOSE=1 shows
# the guest console live. For scripts/bench.sh: MAPMINT_GUEST_ARGS (words appended to the
# kernel command line, where the scenario reads its parameters), MAPMINT_GUEST_SMP (vCPUs,
# default QEMU's 1), MAPMINT_GUEST_MEM (default 512M) and MAPMINT_GUEST_QEMU_ARGS (words added
# to QEMU's command line: the instruction counter's plugin). MAPMINT_GUEST_LABEL names the run
# in the output (default: the scenario).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 3 ] || die "usage: $0 BZIMAGE INITRAMFS SCENARIO [OUTDIR]"
kernel=$1 initrd=$2 scenario=$3
out=${4:-$(mktemp -d)}
mkdir -p "$out"
timeout_s=${MAPMINT_GUEST_TIMEOUT:-300}
smp=${MAPMINT_GUEST_SMP:-1}
# The guest's TSC runs at the host's rate (TCG reads the host's; KVM passes it through): told
# so, the guest does not calibrate it against the PIT, which a starved guest got wrong (122 MHz
# for 2445 in a CI run: its clock then ran 20 times fast and every timeout expired at once).
tsc_khz=$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo 2>/dev/null)

# boot ACCEL SECONDS: one guest run; the console and the result channel go to files.
boot() {
	local accel=$1 limit=$2 cpus=()
	: >"$out/console.log"
	: >"$out/results.log"
	if [ "$smp" -gt 1 ]; then
		cpus=(-smp "$smp")
		# One host thread per vCPU (multi-threaded TCG). It is QEMU's default for an x86
		# guest on an x86 host; asked for explicitly so that a QEMU without it fails loudly
		# instead of quietly running every vCPU on one host thread.
		[ "$accel" != tcg ] || accel=tcg,thread=multi
	fi
	# (no_timer_check: the boot-time check of the IO-APIC timer panics, "IO-APIC + timer
	# doesn't work!", when a loaded host starves the guest at that moment; seen in CI)
	timeout --kill-after=5 "$limit" qemu-system-x86_64 \
		-accel "$accel" -m "${MAPMINT_GUEST_MEM:-512M}" "${cpus[@]}" -nodefaults -display none -no-reboot \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 oops=panic loglevel=7 printk.time=1 no_timer_check${tsc_khz:+ tsc_early_khz=$tsc_khz} mapmint_test=$scenario${MAPMINT_GUEST_ARGS:+ $MAPMINT_GUEST_ARGS}" \
		-serial "file:$out/console.log" -serial "file:$out/results.log" ${MAPMINT_GUEST_QEMU_ARGS:-} \
		</dev/null >"$out/qemu.log" 2>&1
}

# KVM hangs on some hosts (nested virtualisation): use it only if a guest really boots
# with it within seconds; the answer is remembered for this host in the cache.
pick_accel() {
	local memo=$MAPMINT_CACHE/accel
	if [ -n "${MAPMINT_ACCEL:-}" ]; then echo "$MAPMINT_ACCEL"; return; fi
	if [ ! -w /dev/kvm ]; then echo tcg; return; fi
	if [ -f "$memo" ]; then cat "$memo"; return; fi
	local accel=tcg
	if boot kvm 15 && grep -q MAPMINT-BOOTED "$out/results.log"; then accel=kvm; fi
	mkdir -p "$MAPMINT_CACHE" && echo "$accel" >"$memo"
	echo "$accel"
}

accel=$(pick_accel)
if [ "${MAPMINT_VERBOSE:-0}" = 1 ]; then
	touch "$out/console.log"
	tail -n +1 -F "$out/console.log" 2>/dev/null &
	tailer=$!
fi
start=$(date +%s.%N)
boot "$accel" "$timeout_s"
status=$?
[ -n "${tailer:-}" ] && { sleep 0.3; kill "$tailer" 2>/dev/null; }
elapsed=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")

failed=0
label=${MAPMINT_GUEST_LABEL:-$scenario}
grep -E '^(PASS|FAIL) ' "$out/results.log" | tr -d '\r' | sed "s/^/[$label] /"
passes=$(grep -c '^PASS ' "$out/results.log")
failed=$(grep -c '^FAIL ' "$out/results.log")

verdict() { echo "[$label] FAIL guest: $*"; failed=$((failed + 1)); }
if ! grep -q '^MAPMINT-DONE' "$out/results.log"; then
	if [ "$status" = 124 ] || [ "$status" = 137 ]; then
		verdict "timed out after ${timeout_s}s (accel $accel)"
	else
		verdict "ended before finishing (qemu exit $status)"
	fi
fi
# The console has what the kernel printed live; the dmesg copy has what it logged.
if grep -nE 'Oops|BUG:|WARNING:|KASAN|UBSAN|Kernel panic|general protection fault|Call Trace|RIP:' \
	"$out/console.log" "$out/results.log" >"$out/kernel-errors.log"; then
	verdict "kernel log shows errors: $(head -n 3 "$out/kernel-errors.log" | tr '\n' ' ')"
fi
[ "$passes" -gt 0 ] || verdict "ran no check"

echo "[$label] $passes passed, $failed failed in ${elapsed}s (accel $accel, logs in $out)"
[ "$failed" -eq 0 ]
