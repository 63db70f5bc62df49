#!/bin/bash
# Scenario "smp-churn" (SMP kernel, 2 vCPUs): one loop creates and deletes a mapmint device
# while another sets its MTU and settings over netlink, so that a DEV_SET that looked the
# device up can meet `ip link del` before it takes the RTNL. Changing the MTU of a device
# that is already unregistered would make addrconf take a reference nothing puts: its
# `ip link del` would then wait forever ("waiting for m0 to become free"). Then the
# namespace goes with a live device, and the module is unloaded.
. /tests/lib.sh

cycles=200
# The loop stops after $cycles cycles or $budget seconds, whichever comes first: the debug
# kernel (KASAN, lockdep) runs it about ten times slower than the test kernel.
budget=120
ip link set lo up
insmod "$MODULE"
ip netns add churn
ip netns exec churn ip link set lo up

# Bounded: a leaked reference hangs `ip link del`, so every command has its own limit, and
# a command that reaches it (exit 124) ends the loop as a hang.
bash -c "
	end=\$((SECONDS + $budget)) cycles_done=0
	while [ \$cycles_done -lt $cycles ] && [ \$SECONDS -lt \$end ]; do
		timeout 60 /usr/bin/ip -n churn link add m0 type mapmint && timeout 60 /usr/bin/ip -n churn link set m0 up
		timeout 60 /usr/bin/ip -n churn link del m0
		[ \$? -ne 124 ] || exit 124
		cycles_done=\$((cycles_done + 1))
	done
	echo \$cycles_done >/tmp/churn-cycles" &
churner=$!
changes=0
while kill -0 $churner 2>/dev/null; do
	ip netns exec churn mapminctl dev set m0 mtu 1400 role ce mode t >/dev/null 2>&1
	ip netns exec churn mapminctl dev set m0 mtu 1500 no-dmr >/dev/null 2>&1
	changes=$((changes + 2))
done
wait $churner
status=$?
cycles_done=$(cat /tmp/churn-cycles 2>/dev/null || echo 0)
echo "churn: $cycles_done add/del cycles against $changes setting changes"
check_eq "device add/del cycles while its MTU changes: none hangs" 0 "$status"
check "at least 20 add/del cycles ($cycles_done) against at least 20 setting changes ($changes)" \
	test "$cycles_done" -ge 20 -a "$changes" -ge 20
check_fails "no device left waiting for its references" sh -c 'dmesg | grep "waiting for .* to become free"'
check "a device in the namespace again" ip -n churn link add m0 type mapmint
check "the namespace goes with a live device" timeout 60 /usr/bin/ip netns del churn
check "rmmod afterwards" timeout 60 /sbin/rmmod mapmint
