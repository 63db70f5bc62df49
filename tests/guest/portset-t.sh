#!/bin/bash
# Scenario "portset-t": MAP-T, nft: the CE's 2016-port set through one NAPT rule with
# port-mapping contiguous, and nft's numgen spread for comparison (see lib-portset.sh).
# Fills of 2000 connections at TCG speed, and the kernel NAT's refusals near full cost
# seconds each (see lib-portset.sh):
# guest-timeout: 450
. /tests/lib-portset.sh

napt_checks t nft tcp udp icmp
spread_comparison nft
tutorial_teardown
