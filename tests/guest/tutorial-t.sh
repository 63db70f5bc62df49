#!/bin/bash
# Scenario "tutorial-t": the seed's Jool tutorial topology (see lib-tutorial.sh) in MAP-T,
# the CEs' NAPT with nft. Ping, a 6 MB HTTP download, UDP, ICMP errors (from an RFC 6791
# pool too), the port sets the server sees, the CE-CE mesh, spoofed packets, apply during a
# transfer, rmmod under traffic.
. /tests/lib.sh
. /tests/lib-tutorial.sh

tutorial t nft
tutorial_checks t
traceroute_check t
icmp_pool_check
pmtu_check t
route_change_check
ipsec_check t
transfer_while_applying
rmmod_under_traffic
