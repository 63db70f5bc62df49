#!/bin/bash
# Scenario "smp-e": as smp-t, in MAP-E with iptables SNAT; then again with the tunnel ends
# assigned to the devices as addresses (delivered to the host and decapsulated there, from
# both vCPUs), the BR's tunnel end coming and going under traffic, then on lo while mapmint
# devices come and go beside the BR's, and rmmod while packets are delivered to it there.
. /tests/lib.sh
. /tests/lib-tutorial.sh

TUTORIAL_LINK_ARGS="numtxqueues 8" tutorial e iptables
concurrency_checks e
tunnel_ends_on_devices
delivered=$(snmp6 br Ip6InDelivers)
concurrency_checks e
check "the transfers were delivered to the BR's tunnel end" test "$(snmp6 br Ip6InDelivers)" -gt $((delivered + 100))
tunnel_end_churn_under_traffic
tunnel_end_on_lo_churn_under_traffic
rmmod_under_traffic
