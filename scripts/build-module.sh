#!/usr/bin/env bash
# Builds mapmint.ko for the kernel tree KDIR and prints the module's path. For the test kernel
# the build happens in module/ itself (`make module`); for another kernel (a variant such as
# the SMP one, NAME) in a copy under build/module-NAME, so that neither build's objects
# clobber the other's. MAPMINT_MODULE_DEBUGINFO=1 (a named build only) adds debug information
# (rustc -Cdebuginfo=1): the same instructions, and addr2line names their source lines
# (scripts/tcg-count/lines.sh).
# Usage: build-module.sh KDIR [NAME]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$MAPMINT_ROOT"

[ $# -ge 1 ] || die "usage: $0 KDIR [NAME]"
kdir=$1 name=${2:-}
if [ -z "$name" ]; then
	make -s module KDIR="$kdir" >&2
	echo "$MAPMINT_ROOT/module/mapmint.ko"
	exit 0
fi
copy=$MAPMINT_ROOT/build/module-$name
rm -rf "$copy"
# Sources only: tests/run.sh builds the test kernel's module in module/ at the same time.
copy_module_sources "$copy"
make -s -C "$kdir" M="$copy" LLVM=1 clean >&2
debuginfo=()
[ "${MAPMINT_MODULE_DEBUGINFO:-0}" = 0 ] || debuginfo=(KRUSTFLAGS=-Cdebuginfo=1)
make -s -C "$kdir" M="$copy" LLVM=1 "${debuginfo[@]}" modules >&2
echo "$copy/mapmint.ko"
