#!/bin/bash
# Scenario "portset-a0": port-mapping contiguous with psid-offset 0 (the tutorial's own rule):
# the set is one range already and the mapping the identity; the fill still reaches it all
# (see lib-portset.sh).
. /tests/lib-portset.sh

RULE="2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0"
CE11B_PORTS=$(napt_range $PREFIX_11B)
CE774_PORTS=$(napt_range 2001:db8:ce:774::/64)
check_eq "[a=0] calc: the NAPT range is the set itself" 55296-57343 "$CE11B_PORTS"
TUTORIAL_PORT_MAPPING=contiguous tutorial t nft
conntrack_settings
at server mapmint-probe fill-server $PORT /tmp/fill.log &
pids+=($!)
# (it binds TCP, then UDP: both listen once UDP does; a fixed pause lost that race on a slow
# guest, and every connection was refused)
wait_listening server udp $PORT
fill_checks "[a=0]" 0 5 27 2048 tcp
tutorial_teardown
