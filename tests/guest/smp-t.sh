#!/bin/bash
# Scenario "smp-t": the tutorial topology in MAP-T with devices of 8 transmit queues, on the
# SMP kernel with 2 vCPUs: concurrent transfers through the lockless transmit path, then
# rmmod while traffic flows on both vCPUs.
. /tests/lib.sh
. /tests/lib-tutorial.sh

TUTORIAL_LINK_ARGS="numtxqueues 8" tutorial t nft
concurrency_checks t
rmmod_under_traffic
