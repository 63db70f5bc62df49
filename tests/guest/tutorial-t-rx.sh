#!/bin/bash
# Scenario "tutorial-t-rx": tutorial-t with translate-on-receive at the CEs and the BR: the
# same checks (hops, GSO both ways, ICMP errors, PMTU, fragments, spoofing) where packets are
# taken at receipt, and that they are (on_receive_checks).
. /tests/lib.sh
. /tests/lib-tutorial.sh

TUTORIAL_ON_RECEIVE=on
tutorial t nft
tutorial_checks t
traceroute_check t
pmtu_check t
on_receive_checks t
ipsec_check t
reassembled_on_receive_check
rmmod_under_traffic
