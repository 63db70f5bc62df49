# Helpers for guest scenarios (bash). Results go to fd 3, which /init points at the
# host's result channel; each line is "PASS name" or "FAIL name: why".
# shellcheck shell=bash

MODULE=/mapmint/mapmint.ko

# MAPMINT_RESULT_PREFIX (set by /init when one boot runs several scenarios) names the
# scenario in each result.
# The console copy carries the guest's uptime, to see where a scenario spends its time.
console() {
	local up _
	read -r up _ </proc/uptime
	echo "[$up] $*"
}
pass() { echo "PASS ${MAPMINT_RESULT_PREFIX:-}$1" >&3; console "PASS $1"; }
fail() {
	local name=$1
	shift
	# One line per result: the host reads line by line.
	echo "FAIL ${MAPMINT_RESULT_PREFIX:-}$name: $(echo "$*" | tr '\n' ' ')" >&3
	console "FAIL $name: $*"
}

# check NAME CMD...: passes when CMD exits 0; the failure shows CMD's output.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "'$*' failed: $out"; fi
}

# check_fails NAME CMD...: passes when CMD exits non-zero.
check_fails() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then fail "$name" "'$*' succeeded but should fail: $out"; else pass "$name"; fi
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}

# link_stat DEV rx|tx KEY: the device's stats64 counter (what `ip -s link` shows), read
# from sysfs without a process: on the debug kernel each process costs a third of a second.
link_stat() {
	local value
	read -r value <"/sys/class/net/$1/statistics/$2_$3" && echo "$value"
}

# debug_kernel: true on the debug kernel (kmemleak and the sanitizers), where everything runs
# about 14 times slower: scenarios bound their loops by it.
debug_kernel() {
	[ -e /sys/kernel/debug/kmemleak ]
}
