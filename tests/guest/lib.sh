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

# nlprobe_checks NAME CMD...: runs CMD (nlprobe, or a command that runs it), turns the PASS and
# FAIL lines it prints into results (its other lines go to the console), and checks NAME: that
# it finished and exited 0
nlprobe_checks() {
	local name=$1 verdict rest status
	shift
	"$@" >/tmp/nlprobe.out 2>&1
	status=$?
	while read -r verdict rest; do
		case "$verdict" in
		PASS) pass "nlprobe: $rest" ;;
		FAIL) fail "nlprobe: ${rest%%:*}" "${rest#*: }" ;;
		*) console "$verdict $rest" ;;
		esac
	done </tmp/nlprobe.out
	check_eq "$name" "nlprobe exit 0" "nlprobe exit $status"
}

# listening NS tcp|udp PORT: a socket of namespace NS ("" for this one) is bound to PORT,
# listening if TCP (/proc/net/tcp's state 0A; an unconnected UDP socket's is 07)
listening() {
	local state=07
	[ "$2" = tcp ] && state=0A
	${1:+ip netns exec "$1"} awk -v port="$(printf %04X "$3")" -v state=$state '
		FNR > 1 { split($2, bound, ":"); if (bound[2] == port && $4 == state) found = 1 }
		END { exit !found }' "/proc/net/$2" "/proc/net/${2}6"
}

# wait_listening NS tcp|udp PORT: waits until a server started in the background is bound
# (a client's one try would otherwise meet a server still starting on a slow guest); a
# failed check after 30 s (300 on the debug kernel)
wait_listening() {
	local limit=30
	debug_kernel && limit=300
	local end=$((SECONDS + limit))
	until listening "$@"; do
		[ $SECONDS -lt $end ] || { fail "a server of ${1:-this namespace} listens on $2 port $3" "not within $limit s"; return 1; }
		sleep 0.1
	done
}
