#!/bin/bash
# Scenario "smp-e": as smp-t, in MAP-E with iptables SNAT.
. /tests/lib.sh
. /tests/lib-tutorial.sh

TUTORIAL_LINK_ARGS="numtxqueues 8" tutorial e iptables
concurrency_checks e
rmmod_under_traffic
