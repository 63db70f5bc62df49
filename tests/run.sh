#!/usr/bin/env bash
# Runs every mapmint test: the cargo workspace's tests, then each guest scenario in
# tests/guest/ booted in QEMU on the pinned kernel. Installs what is missing first (as root).
# Usage: tests/run.sh [SCENARIO...]   (default: all scenarios)
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$MAPMINT_ROOT"

scripts/install-deps.sh
scenarios=("$@")
smp_scenarios=()
if [ ${#scenarios[@]} -eq 0 ]; then
	# Every scenario file except the demo (the README's first command runs that one) and
	# the benchmark (scripts/bench.sh runs that one, on its own kernel).
	for f in tests/guest/*.sh; do
		case "$(basename "$f" .sh)" in lib | lib-* | demo | bench | harness-*) ;; *) scenarios+=("$(basename "$f" .sh)") ;; esac
	done
fi
# Scenarios named smp-* test concurrency: they boot the SMP kernel variant with 2 vCPUs.
up=()
for s in "${scenarios[@]}"; do
	case "$s" in smp-*) smp_scenarios+=("$s") ;; *) up+=("$s") ;; esac
done
scenarios=("${up[@]}")

say "cargo test (workspace)"
cargo test --workspace --locked
say "the MAP core builds without std (x86_64-unknown-none)"
cargo build --locked -p mapcore --target x86_64-unknown-none
say "cargo clippy, warnings as errors (the workspace, all targets; the core for the kernel's target)"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --locked -p mapcore --target x86_64-unknown-none -- -D warnings

say "building kernel (cached), module, mapminctl and initramfs"
kdir=${KDIR:-$(scripts/build-kernel.sh)}
scripts/build-module.sh "$kdir" >/dev/null
cargo build --release --locked -p mapminctl -p mapmint-probe -p nlprobe
scripts/build-initramfs.sh module/mapmint.ko target/release/mapminctl build/initramfs.cpio.gz

passed=0 failed=0
# summarize LOG: adds the "N passed, N failed" of LOG's last line to the totals.
summarize() {
	local summary p f
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
fi
for s in "${scenarios[@]}"; do
	log=$(scripts/run-guest.sh "$kdir/arch/x86/boot/bzImage" build/initramfs.cpio.gz "$s" "build/guest-$s" || true)
	echo "$log"
	summarize "$log"
done
if [ ${#smp_scenarios[@]} -gt 0 ]; then
	say "building the SMP kernel (cached), its module and initramfs"
	smp_kdir=$(scripts/build-kernel.sh bench)
	smp_module=$(scripts/build-module.sh "$smp_kdir" smp)
	scripts/build-initramfs.sh "$smp_module" target/release/mapminctl build/initramfs-smp.cpio.gz
	for s in "${smp_scenarios[@]}"; do
		log=$(MAPMINT_GUEST_SMP=2 MAPMINT_GUEST_MEM=1G scripts/run-guest.sh "$smp_kdir/arch/x86/boot/bzImage" \
			build/initramfs-smp.cpio.gz "$s" "build/guest-$s" || true)
		echo "$log"
		summarize "$log"
	done
fi
echo "guest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
