#!/bin/bash
# Scenario "smp-control": the control plane beside the rest of the system, on the SMP kernel
# with 2 vCPUs. While one socket adds an FMR to a 65,536-rule table and deletes it again, back
# and forth (each change builds the whole table anew), another asks the generic netlink
# controller for a family, as every generic netlink program does first. The controller
# answers under genetlink's global mutex, shared by every family without parallel_ops in
# every namespace: mapmint's family has parallel_ops and builds a device's tables under that
# device's own mutex, so each answer must take less than half a build (nlprobe bystander), and
# so must each rule change on another mapmint device (another container's, say). Needs 2 CPUs:
# on one, a build's CPU time delays every process anyway. Then FMRs staged on a device that
# moves to another namespace while another socket changes its table.
. /tests/lib.sh
. /tests/lib-tutorial.sh

check_eq "the guest has 2 CPUs" 2 "$(nproc)"
insmod "$MODULE"
big_br_config 0 >/tmp/big.conf
check "apply of 65,536 FMRs" mapminctl apply --config /tmp/big.conf dev mapmint
check "a second mapmint device" ip link add other type mapmint
printf 'role br\nmode t\ndmr 64:ff9b::/96\nfmr %s\n' "$RULE" >/tmp/other.conf
check "the second device's one-rule table" mapminctl apply --config /tmp/other.conf dev other
nlprobe_checks "nlprobe finished and exited 0" nlprobe bystander mapmint 20 other
check_eq "the second device's table is as applied" "fmrs 1" "$(mapminctl dev show other | grep -o 'fmrs [0-9]*')"
check_eq "the table is as applied" "fmrs 65536" "$(mapminctl dev show mapmint | grep -o 'fmrs [0-9]*')"

# A device moved to another namespace frees the FMRs a socket of the old one staged on it
# (no socket can finish them), also when the move finds the device's control mutex held: by
# another socket's table change, which holds it while it waits for the RTNL that the move
# holds. Freed then as that change lets the mutex go.
ip netns add sm1
ip netns add sm2
ip -n sm1 link add s1 type mapmint
check "s1 configured" ip netns exec sm1 mapminctl apply --config /tmp/other.conf dev s1
for round in 1 2 3 4 5; do
	nlprobe_checks "staged-moved while changed ($round): nlprobe exited 0" \
		ip netns exec sm1 nlprobe staged-moved s1 sm2 200000 contended
	ip -n sm2 link set dev s1 netns sm1
done
ip netns del sm1
ip netns del sm2
rmmod mapmint
