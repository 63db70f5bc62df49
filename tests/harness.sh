#!/usr/bin/env bash
# Checks that the guest runner catches what it must: a failed check, a kernel WARNING in the
# guest log, and a guest that never finishes. Usage: tests/harness.sh BZIMAGE INITRAMFS
set -uo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
kernel=$1 initrd=$2
runner=$MAPMINT_ROOT/scripts/run-guest.sh
passed=0 failed=0

# judge NAME STATUS PATTERN OUTPUT: the run must have failed, saying PATTERN.
judge() {
	if [ "$2" -ne 0 ] && grep -qE "$3" <<<"$4"; then
		echo "[harness] PASS $1"
		passed=$((passed + 1))
	else
		echo "[harness] FAIL $1: exit $2, output: $4"
		failed=$((failed + 1))
	fi
}

out=$("$runner" "$kernel" "$initrd" harness-fail "$MAPMINT_ROOT/build/guest-harness-fail" 2>&1)
status=$?
judge "a failed guest check fails the run" $status "FAIL a check that fails" "$out"
judge "a kernel WARNING in the guest log fails the run" $status "kernel log shows errors: .*WARNING" "$out"

out=$(MAPMINT_GUEST_TIMEOUT=20 "$runner" "$kernel" "$initrd" harness-hang "$MAPMINT_ROOT/build/guest-harness-hang" 2>&1)
judge "a hanging guest is stopped and fails the run" $? "timed out after 20s" "$out"

echo "[harness] $passed passed, $failed failed"
[ "$failed" -eq 0 ]
