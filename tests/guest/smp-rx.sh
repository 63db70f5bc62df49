#!/bin/bash
# Scenario "smp-rx": the tutorial topology in MAP-T with translate-on-receive at the CEs and
# the BR, devices of 8 transmit queues, on the SMP kernel with 2 vCPUs (and the debug
# kernel): concurrent transfers taken at receipt on both vCPUs; the hooks coming and going
# (the setting off and on, the BR's device down and up) while traffic flows; rmmod while the
# hooks are registered and traffic flows.
. /tests/lib.sh
. /tests/lib-tutorial.sh

TUTORIAL_ON_RECEIVE=on TUTORIAL_LINK_ARGS="numtxqueues 8" tutorial t nft
before=$(counter br translated_on_receive)
concurrency_checks t
check "the BR took the transfers at receipt" test "$(counter br translated_on_receive)" -gt $((before + 100))
hook_churn_under_traffic
rmmod_under_traffic
