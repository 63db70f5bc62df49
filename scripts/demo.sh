#!/usr/bin/env bash
# The main job: installs what is missing (as root), builds the pinned kernel (cached),
# mapmint.ko and mapminctl, boots the demo guest in QEMU and shows what happens there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$MAPMINT_ROOT"

scripts/install-deps.sh
kdir=${KDIR:-$(scripts/build-kernel.sh)}
make -s module KDIR="$kdir"
cargo build --release --locked -p mapminctl -p mapmint-probe -p nlprobe
scripts/build-initramfs.sh module/mapmint.ko target/release/mapminctl build/initramfs.cpio.gz
status=0
scripts/run-guest.sh "$kdir/arch/x86/boot/bzImage" build/initramfs.cpio.gz demo build/guest-demo || status=$?
echo "--- in the guest:"
sed -n '/^MAPMINT-BOOTED/,/^MAPMINT-EXIT/p' build/guest-demo/results.log | grep -vE '^MAPMINT-|^(PASS|FAIL) '
exit $status
