#!/bin/bash
# Scenario "portset-e": MAP-E, iptables-legacy: the CE's 2016-port set through one NAPT rule
# per protocol with port-mapping contiguous, and iptables' statistic spread for comparison
# (see lib-portset.sh).
# Fills of 2000 connections at TCG speed, and the kernel NAT's refusals near full cost
# seconds each (see lib-portset.sh):
# guest-timeout: 450
. /tests/lib-portset.sh

napt_checks e iptables tcp
spread_comparison iptables
tutorial_teardown
