#!/bin/bash
# Scenario "tutorial-e": the seed's Jool tutorial topology (see lib-tutorial.sh) in MAP-E,
# the CEs' NAPT with iptables (legacy). The same checks as tutorial-t.
. /tests/lib.sh
. /tests/lib-tutorial.sh

tutorial e iptables
tutorial_checks e
traceroute_check e
pmtu_check e
decapsulated_gso_mtu_check
route_change_check
ipsec_check e
transfer_while_applying
rmmod_under_traffic
