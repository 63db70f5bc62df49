#!/bin/bash
# Scenario "smp-control": the control plane beside the rest of the system, on the SMP kernel
# with 2 vCPUs. While one socket adds an FMR to a 65,536-rule table and deletes it again, back
# and forth (each change builds the whole table anew), another asks the generic netlink
# controller for a family, as every generic netlink program does first. The controller
# answers under genetlink's global mutex, shared by every family without parallel_ops in
# every namespace: mapmint's family has parallel_ops and builds its tables under a mutex of
# its own, so each answer must take less than half a build (nlprobe bystander). Needs 2 CPUs:
# on one, a build's CPU time delays every process anyway.
. /tests/lib.sh
. /tests/lib-tutorial.sh

check_eq "the guest has 2 CPUs" 2 "$(nproc)"
insmod "$MODULE"
big_br_config 0 >/tmp/big.conf
check "apply of 65,536 FMRs" mapminctl apply --config /tmp/big.conf dev mapmint
nlprobe_checks "nlprobe finished and exited 0" nlprobe bystander mapmint 20
check_eq "the table is as applied" "fmrs 65536" "$(mapminctl dev show mapmint | grep -o 'fmrs [0-9]*')"
rmmod mapmint
