#!/bin/bash
# Scenario "smp-churn" (SMP kernel, 2 vCPUs): one loop creates and deletes a mapmint device
# while another sets its MTU and settings over netlink, so that a DEV_SET that looked the
# device up can meet `ip link del` before it takes the RTNL. Changing the MTU of a device
# that is already unregistered would make addrconf take a reference nothing puts: its
# `ip link del` would then wait forever ("waiting for m0 to become free"). Then the
# namespace goes with a live device, and the module is unloaded.
. /tests/lib.sh

cycles=200
ip link set lo up
insmod "$MODULE"
ip netns add churn
ip netns exec churn ip link set lo up

# Bounded: a leaked reference hangs `ip link del`, and the whole loop with it.
timeout 240 bash -c "
	for i in \$(seq $cycles); do
		ip -n churn link add m0 type mapmint && ip -n churn link set m0 up
		ip -n churn link del m0
	done" &
churner=$!
changes=0
while kill -0 $churner 2>/dev/null; do
	ip netns exec churn mapminctl dev set m0 mtu 1400 role ce mode t >/dev/null 2>&1
	ip netns exec churn mapminctl dev set m0 mtu 1500 no-dmr >/dev/null 2>&1
	changes=$((changes + 2))
done
wait $churner
status=$?
echo "churn: $cycles add/del cycles against $changes setting changes"
check_eq "$cycles device add/del cycles while its MTU changes: none hangs" 0 "$status"
check_fails "no device left waiting for its references" sh -c 'dmesg | grep "waiting for .* to become free"'
check "a device in the namespace again" ip -n churn link add m0 type mapmint
check "the namespace goes with a live device" timeout 60 /usr/bin/ip netns del churn
check "rmmod afterwards" timeout 60 /sbin/rmmod mapmint
