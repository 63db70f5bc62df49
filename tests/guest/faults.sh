#!/bin/bash
# Scenario "faults" (the debug kernel only: it has the kernel's fault injection): allocations
# fail under mapmint's own code. failslab and fail_page_alloc, confined by their stack-trace
# filter to the module's text, fail what the device allocates (a header made private,
# segments, fragments, ICMP errors, a configuration's tables) while traffic crosses a CE and a
# BR, MAP-T then MAP-E, and configurations are applied. Every failure must end as a counted
# drop or a refused change (devices created and rules changed one at a time under failures
# too): no oops or sanitizer report (the harness reads the kernel log), no
# leak (kmemleak, after the scenario), no configuration half applied. With the failures off,
# everything works again.
. /tests/lib.sh
. /tests/lib-tutorial.sh

FAILSLAB=/sys/kernel/debug/failslab
FAULT_DIRS="$FAILSLAB /sys/kernel/debug/fail_page_alloc"
# A failure count no scenario reaches: what is left of it tells how many were injected.
FAULT_BUDGET=1000000

# faults_on PERCENT [TIMES [SPACE [DIRS]]]: PERCENT % of the slab and page allocations (those
# of DIRS: by default both) made with the module's code on the stack fail, in any context
# (sleeping or not, vmalloc's and the per-CPU allocator's highmem pages too), silently (no
# stack dumps in the log): at most TIMES of them (default: more than any scenario reaches),
# after SPACE bytes (slab; pages for fail_page_alloc) of them went through. Armed last, so
# that nothing fails under the settings of a previous call.
faults_on() {
	local percent=$1 times=${2:-$FAULT_BUDGET} space=${3:-0} dirs=${4:-$FAULT_DIRS} lo hi dir text
	# The module's text: from its first function to past its last (no other module is loaded).
	text=$(awk '$4 == "[mapmint]" && ($2 == "t" || $2 == "T") { print $1 }' /proc/kallsyms | sort)
	lo=$(echo "$text" | head -n 1) hi=$(echo "$text" | tail -n 1)
	if [ -z "$lo" ] || [ -z "$hi" ]; then
		# Without the filter every allocation in the guest would fail.
		fail "the module's text is known" "no [mapmint] text symbol in /proc/kallsyms"
		return 1
	fi
	faults_off
	for dir in $dirs; do
		echo 0 >$dir/verbose
		echo N >$dir/ignore-gfp-wait
		echo N >$dir/task-filter
		echo 1 >$dir/interval
		echo "0x$lo" >$dir/require-start
		printf '0x%x\n' $((0x$hi + 0x100000)) >$dir/require-end
		echo "$times" >$dir/times
		echo "$space" >$dir/space
	done
	echo N >/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem
	echo 0 >/sys/kernel/debug/fail_page_alloc/min-order
	for dir in $dirs; do echo "$percent" >$dir/probability; done
}

# faults_off: no more failures (the injected count stays readable).
faults_off() {
	local dir
	for dir in $FAULT_DIRS; do echo 0 >$dir/probability; done
}
trap faults_off EXIT

# slab_failure_injected: whether the one slab failure armed (times 1) was injected.
slab_failure_injected() {
	[ "$(cat $FAILSLAB/times)" = 0 ]
}

# injected: how many allocations failed since faults_on.
injected() {
	local dir n=0
	for dir in $FAULT_DIRS; do n=$((n + FAULT_BUDGET - $(cat $dir/times))); done
	echo $n
}

# device_churn: devices created (by rtnetlink, as `mapminctl dev add` and `ip link add` do)
# with one slab allocation failing under the module, later and later: `space` lets that many
# bytes of the module's allocations through before the one failure (`times` 1). Each device is made
# whole, or refused and absent; every one made is configured, brought up and deleted. (A sweep
# of every 16 bytes up to 8 KB refused the device at 0-64 and in 3552-4704, made it where the
# kernel tolerates the failure, e.g. a uevent's, and once, at 3312, said EINVAL: the kernel's
# netdev_register_kobject ignores a failed dev_set_name and device_add then finds no name.)
device_churn() {
	local space name out status made=() refused=0 injected_at=() i=0
	for space in 0 48 1024 3312 3600 3760 4000 4608 16384 4194304; do
		i=$((i + 1))
		name=fault$i
		faults_on 100 1 $space $FAILSLAB || return 1
		if [ $((i % 2)) = 1 ]; then
			out=$(mapminctl dev add $name 2>&1)
		else
			out=$(ip link add $name type mapmint 2>&1)
		fi
		status=$?
		faults_off
		slab_failure_injected && injected_at+=("$space")
		if [ $status = 0 ]; then
			check "device $name (one failure after $space bytes): made" ip link show $name
			made+=("$name")
		else
			refused=$((refused + 1))
			check_fails "device $name (one failure after $space bytes): refused, absent" ip link show $name
			case "$out" in
			*"memory"* | *ENOMEM* | *"Invalid argument"* | *EINVAL*) ;;
			*) fail "device $name (one failure after $space bytes): refused for memory" "$out" ;;
			esac
		fi
	done
	check "10 devices added with one allocation failing: ${#made[@]} made, $refused refused (failed after ${injected_at[*]} bytes)" \
		test ${#made[@]} -gt 0 -a $refused -gt 0
	for name in "${made[@]}"; do
		check "device $name made under failures: configured" mapminctl apply --config /tmp/br.conf dev $name
		check "device $name made under failures: up" ip link set $name up
		check "device $name made under failures: deleted" ip link del $name
	done
}

# refused_for_memory LABEL OUTPUT: a command refused under allocation failures said why.
refused_for_memory() {
	case "$2" in
	*"memory"* | *ENOMEM* | *"No buffer space"* | *ENOBUFS*) ;;
	*) fail "$1: done, or refused for memory" "$2" ;;
	esac
}

# control_churn: one rule or setting at a time under allocation failures (one in four) on a
# device of its own: every `rule add`, `rule del`, `dev set` is done or refused for memory, and
# what is left is exactly what was done; a `rule show` lists every rule or fails, never a part.
control_churn() {
	local i out rule mark mtu=1500 done_ops=0 refused=0 shows=0 want have
	local -a present=()
	ip link add churn0 type mapmint
	mapminctl apply --config /tmp/br.conf dev churn0
	faults_on 25 || return 1
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
		rule="2001:db8:f$i::/48 10.0.$i.0/24 ea-len 8"
		if out=$(mapminctl rule add dev churn0 fmr $rule 2>&1); then
			present[$i]=1 done_ops=$((done_ops + 1))
		else
			refused_for_memory "rule add fmr $rule" "$out"; refused=$((refused + 1))
		fi
		if [ $((i % 3)) = 0 ] && [ -n "${present[$((i - 1))]:-}" ]; then
			if out=$(mapminctl rule del dev churn0 fmr 2001:db8:f$((i - 1))::/48 2>&1); then
				present[$((i - 1))]='' done_ops=$((done_ops + 1))
			else
				refused_for_memory "rule del fmr 2001:db8:f$((i - 1))::/48" "$out"; refused=$((refused + 1))
			fi
		fi
		if out=$(mapminctl dev set churn0 mtu $((1400 + i)) 2>&1); then
			mtu=$((1400 + i)) done_ops=$((done_ops + 1))
		else
			refused_for_memory "dev set churn0 mtu $((1400 + i))" "$out"; refused=$((refused + 1))
		fi
		want=1
		for mark in "${present[@]}"; do [ -z "$mark" ] || want=$((want + 1)); done
		if out=$(mapminctl rule show dev churn0 fmr 2>&1); then
			shows=$((shows + 1))
			check_eq "rule show under allocation failures, after $i adds: every rule" $want "$(echo "$out" | grep -c '^fmr ')"
		else
			refused_for_memory "rule show dev churn0 fmr" "$out"
		fi
	done
	faults_off
	pass "rules and settings one at a time under allocation failures ($(injected) injected): $done_ops done, $refused refused, $shows of 16 shows listed"
	want="" have=""
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do
		[ -z "${present[$i]:-}" ] || want="$want 2001:db8:f$i::/48"
	done
	have=$(mapminctl rule show dev churn0 fmr | awk '$2 ~ /^2001:db8:f/ { printf " %s", $2 }')
	check_eq "the rules left are those added and not deleted" "$want" "$have"
	check_eq "the MTU is the last one set" "$mtu" "$(cat /sys/class/net/churn0/mtu)"
	check "the device churn0 goes" ip link del churn0
}

# configuration NS: what NS's device shows of its configuration and rules.
configuration() {
	at "$1" mapminctl dev show mapmint
	at "$1" mapminctl rule show dev mapmint
}

# faults_round MODE: the tutorial topology in MODE, then traffic and configuration changes under
# allocation failures, then without.
faults_round() {
	local mode=$1 before i applied refused out conf now
	tutorial "$mode" nft
	mkdir -p /srv
	head -c 1000000 /dev/urandom >/srv/file
	at server httpd -p 80 -h /srv
	check "$mode: ping before the faults" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	# The BR's second configuration, applied by turns with its first (MAP-E: the same).
	local br_state ce_state second_state=none second=/tmp/br.conf
	br_state=$(configuration br) ce_state=$(configuration ce11b)
	if [ "$mode" = t ]; then
		# A BR table of 3,000 FMRs (the tutorial's rule first): vmalloc'ed, sent in chunks.
		second=/tmp/br-big.conf
		big_br_config 0 3000 >$second
		at br mapminctl apply --config $second dev mapmint >/dev/null
		second_state=$(configuration br)
		at br mapminctl apply --config /tmp/br.conf dev mapmint >/dev/null
	fi

	# Every allocation under the device fails. A socket on the CE sends TCP: its segments are
	# clones (TCP keeps them for retransmission), whose headers the device must make private.
	before=$(drops ce11b no-memory)
	faults_on 100 || return 1
	at server timeout 30 mapmint-probe tcp-sink 7050 /tmp/up >/dev/null 2>&1 &
	wait_listening server tcp 7050
	at ce11b timeout 8 mapmint-probe tcp-source $SERVER 7050 /srv/file >/dev/null 2>&1
	# (the sink, the one probe left, may still wait for a connection that never came)
	killall mapmint-probe 2>/dev/null
	wait
	faults_off
	check "$mode: allocations under the device failed ($(injected) injected)" test "$(injected)" -gt 0
	check "$mode: the CE counted what it could not allocate as no-memory drops ($before -> $(drops ce11b no-memory))" \
		test "$(drops ce11b no-memory)" -gt "$before"

	# One in four fails, under every kind of traffic at once: TCP both ways and from the CE
	# (GSO, offloaded checksums), ICMP errors and fragments (3000-byte pings, fragmented, and
	# 1500-byte ones with DF, over the device's MTU), and configurations applied again and again.
	faults_on 25 || return 1
	at c1 timeout 20 wget -q -O /dev/null http://$SERVER/file >/dev/null 2>&1 &
	at ce11b timeout 20 wget -q -O /dev/null http://$SERVER/file >/dev/null 2>&1 &
	at server timeout 25 mapmint-probe tcp-sink 7051 /dev/null >/dev/null 2>&1 &
	wait_listening server tcp 7051
	at c1 timeout 20 mapmint-probe tcp-source $SERVER 7051 /srv/file >/dev/null 2>&1 &
	at c1 timeout 20 ping -q -c 20 -i 0.3 -s 3000 $SERVER >/dev/null 2>&1 &
	at c1 timeout 20 ping -q -c 20 -i 0.3 -s 1472 $SERVER >/dev/null 2>&1 &
	applied=0 refused=0
	for i in 1 2 3 4 5 6 7 8; do
		conf=/tmp/br.conf
		[ $((i % 2)) = 1 ] || conf=$second
		if out=$(at br mapminctl apply --config $conf dev mapmint 2>&1); then
			applied=$((applied + 1))
		else
			refused_for_memory "$mode: the BR's apply under allocation failures" "$out"
			refused=$((refused + 1))
		fi
		if out=$(at ce11b mapminctl apply --config /tmp/ce11b.conf dev mapmint 2>&1); then
			applied=$((applied + 1))
		else
			refused_for_memory "$mode: the CE's apply under allocation failures" "$out"
			refused=$((refused + 1))
		fi
	done
	wait
	faults_off
	pass "$mode: traffic and 16 applies under allocation failures ($(injected) injected; applies: $applied done, $refused refused for memory)"

	[ "$mode" != t ] || { device_churn; control_churn; }

	# Without failures: each configuration is the one applied (again and again: whether an
	# apply was refused or done, nothing of it is left half) and everything works.
	now=$(configuration br)
	if [ "$now" = "$br_state" ] || [ "$now" = "$second_state" ]; then
		pass "$mode: the BR's configuration and rules are one of those applied"
	else
		fail "$mode: the BR's configuration and rules are one of those applied" "$(echo "$now" | head -n 5)"
	fi
	check_eq "$mode: the CE's configuration and rules are those applied" "$ce_state" "$(configuration ce11b)"
	at br mapminctl apply --config /tmp/br.conf dev mapmint >/dev/null
	at ce11b mapminctl apply --config /tmp/ce11b.conf dev mapmint >/dev/null
	check "$mode: ping after the faults" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
	rm -f /tmp/got
	check "$mode: a download after the faults" at c1 timeout 60 wget -q -O /tmp/got http://$SERVER/file
	check_eq "$mode: its content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
	gso_upload "$mode: upload from a socket on ce11b after the faults" ce11b 7052
	tutorial_teardown
}

faults_round t
faults_round e
