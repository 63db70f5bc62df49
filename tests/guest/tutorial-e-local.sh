#!/bin/bash
# Scenario "tutorial-e-local": tutorial-e with each MAP-E tunnel end (the CEs' MAP addresses,
# the BR's address) assigned to its mapmint device as an address, as ip6tnl's local address
# is: the tunnel packets are delivered to the host and decapsulated there. The same checks
# (hops, GSO both ways, ICMP errors and Packet Too Big about the tunnel, PMTU, fragments,
# spoofing, IPsec's inbound policies), and that the boxes forward none of it
# (tunnel_end_checks).
. /tests/lib.sh
. /tests/lib-tutorial.sh

TUTORIAL_TUNNEL_ENDS=device
tutorial e iptables
tutorial_checks e
traceroute_check e
pmtu_check e
decapsulated_gso_mtu_check
tunnel_end_checks
ipsec_check e
rmmod_under_traffic
