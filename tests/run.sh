#!/usr/bin/env bash
# Runs every mapmint test: the cargo workspace's tests, then each guest scenario in
# tests/guest/ booted in QEMU on the pinned kernel. Installs what is missing first (as root).
# Usage: tests/run.sh [SCENARIO...]   (default: all scenarios)
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$MAPMINT_ROOT"

scripts/install-deps.sh
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
	# Every scenario file except the demo (the README's first command runs that one).
	for f in tests/guest/*.sh; do
		case "$(basename "$f" .sh)" in lib | lib-* | demo | harness-*) ;; *) scenarios+=("$(basename "$f" .sh)") ;; esac
	done
fi

say "cargo test (workspace)"
cargo test --workspace --locked
say "the MAP core builds without std (x86_64-unknown-none)"
cargo build --locked -p mapcore --target x86_64-unknown-none

say "building kernel (cached), module, mapminctl and initramfs"
kdir=${KDIR:-$(scripts/build-kernel.sh)}
make -s module KDIR="$kdir"
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
echo "guest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
