#!/bin/bash
# Scenario "tutorial-e-rx": tutorial-e with translate-on-receive at the CEs and the BR: the
# same checks (hops, GSO both ways, ICMP errors, PMTU, fragments, spoofing) where packets are
# taken at receipt, and that they are (on_receive_checks).
. /tests/lib.sh
. /tests/lib-tutorial.sh

TUTORIAL_ON_RECEIVE=on
tutorial e iptables
tutorial_checks e
traceroute_check e
pmtu_check e
decapsulated_gso_mtu_check
on_receive_checks e
ipsec_check e
reassembled_on_receive_check
rmmod_under_traffic
