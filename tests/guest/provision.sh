#!/bin/bash
# Scenario "provision": CE 11b of the tutorial topology (lib-tutorial.sh, MAP-T, its BR with
# psid-offset 6 rules) set up by nothing but `mapminctl provision --apply` from its lease's
# S46 options, then traffic; the same lease again changes nothing; a new lease (another
# delegated prefix) replaces the old state without leaving any; --remove undoes it all. With
# nft, then iptables-legacy.
#
# The lease, encoded here by hand (RFC 7598): OPTION_S46_CONT_MAPT (95) of 44 bytes holding
#   S46_RULE (89, 23 bytes): flags 01 (F), ea-len 13, prefix4-len 24, 192.0.2.0,
#     prefix6-len 51, 2001:db8:ce:: in 7 bytes, then S46_PORTPARAMS (93, 4 bytes): offset 6,
#     PSID length 0, PSID 0;
#   S46_DMR (91, 13 bytes): 96, 64:ff9b:: in 12 bytes.
. /tests/lib.sh
. /tests/lib-tutorial.sh

LEASE=005f002c00590017010d18c00002003320010db800ce00005d000406000000005b000d600064ff9b0000000000000000
RULE="2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 6"

# state NS: what the box has that provisioning sets (addresses, routes, NAT, the instance).
state() {
	at "$1" ip -4 addr show dev mapmint 2>&1 | grep inet
	at "$1" ip route show
	at "$1" ip -6 route show dev mapmint 2>&1 | sed 's/^/mapmint6 /'
	at "$1" nft list ruleset 2>&1
	# (without the packet counters, which traffic moves)
	at "$1" iptables-legacy-save -t nat 2>&1 | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]//'
	at "$1" iptables-legacy-save -t mangle 2>&1 | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]//'
	# (without the ifindex, which a re-created device changes)
	at "$1" mapminctl dev show mapmint 2>&1 | sed 's/^[0-9]*: //'
}

# connections_from_c1 N: N TCP connections to the server's logger, the MSS of each (as c1 sees
# it) in /tmp/c1-mss.
connections_from_c1() { at c1 mapmint-probe tcp-many $SERVER 7002 "$1" mss >/tmp/c1-mss; }

# persist_checks STATE: `mapminctl save`, a reboot of the CE box (its namespaces and all in
# them gone, /run empty; the BR shares the guest's kernel, so the module stays), then the
# command of the shipped mapmint.service: the CE as it was (STATE), and a second instance, not
# provisioned, as it was.
persist_checks() {
	local first=$1 t="[persist]" unit m7
	at ce11b mapminctl dev add m7
	printf 'role br\nmode e\nfmr 2001:db8::/40 198.51.100.0/24 ea-len 16\nbr 2001:db8:6::1\nmtu 1400\n' >/tmp/m7.conf
	check "$t a second instance m7 in the CE box (a MAP-E BR)" at ce11b mapminctl apply --config /tmp/m7.conf dev m7
	m7=$(at ce11b mapminctl dev show m7 | cut -d: -f2-; at ce11b mapminctl rule show dev m7)
	rm -rf /etc/mapmint
	check "$t mapminctl save" at ce11b mapminctl save
	check_eq "$t one file per instance in /etc/mapmint" "m7.conf mapmint.conf" "$(cd /etc/mapmint && echo *)"
	check "$t the CE's file says it was provisioned with nft" grep -qx "# restore: provision --apply --nat nft" /etc/mapmint/mapmint.conf
	ip netns del c1
	ip netns del ce11b
	rm -rf /run/mapmint
	ce_box ce11b 2001:db8:ce:11b::/64 192.168.0 c1
	ip -n isp -6 route add 2001:db8:ce:11a::/64 via 2001:db8:100:11b::2
	check_fails "$t after the reboot the box has no mapmint device" ip -n ce11b link show mapmint
	unit=$(sed -n 's/^ExecStart=//p' /etc/systemd/system/mapmint.service)
	check "$t mapmint.service's command: $unit" at ce11b $unit
	check_eq "$t the CE is back as it was" "$first" "$(state ce11b)"
	check_eq "$t m7 is back as it was" "$m7" "$(at ce11b mapminctl dev show m7 | cut -d: -f2-; at ce11b mapminctl rule show dev m7)"
	check "$t ping c1 -> server after the reboot" at c1 ping -c 2 -W 3 $SERVER
	at ce11b mapminctl dev del m7
	rm -rf /etc/mapmint
}

# hook_checks STATE: the shipped hooks of the three DHCPv6 clients, each run by a shell as its
# client runs it, with the environment that client gives for this lease (the forms
# ../shared/PROVISIONING.md measured: dhclient's unpadded hex bytes joined by ':', dhcpcd's
# plain hex with the prefix in two variables, odhcp6c's MAPT string with PREFIXES): a bound
# lease puts the CE of STATE in place, the end of the lease removes it.
hook_checks() {
	local first=$1 t="[hooks]" payload=${LEASE:8} colons="" i b
	for ((i = 0; i < ${#payload}; i += 2)); do
		b=${payload:i:2}
		colons+="${colons:+:}${b#0}"
	done
	local dhclient=(reason=BOUND6 "new_dhcp6_s46_cont_mapt=$colons" new_ip6_prefix=2001:db8:ce:11b::/64)
	local dhcpcd=(reason=BOUND6 "new_dhcp6_s46_cont_mapt=$payload" new_dhcp6_ia_pd1_prefix1=2001:db8:ce:11b:: new_dhcp6_ia_pd1_prefix1_length=64)
	local odhcp6c=("MAPT=fmr,type=map-t,ealen=13,prefix4len=24,prefix6len=51,ipv4prefix=192.0.2.0,ipv6prefix=2001:db8:ce::,offset=6,psidlen=0,psid=0,dmr=64:ff9b::/96," PREFIXES=2001:db8:ce:11b::/64,3600,7200)
	at ce11b mapminctl provision --remove >/dev/null
	check "$t isc-dhcp-client's exit hook, BOUND6" at ce11b env "${dhclient[@]}" sh /etc/dhcp/dhclient-exit-hooks.d/mapmint
	check_eq "$t the hook put the CE in place" "$first" "$(state ce11b)"
	check "$t isc-dhcp-client's exit hook, RENEW6 of the same lease" at ce11b env "${dhclient[@]/BOUND6/RENEW6}" sh /etc/dhcp/dhclient-exit-hooks.d/mapmint
	check_eq "$t a renewal changes nothing" "$first" "$(state ce11b)"
	check "$t isc-dhcp-client's exit hook, RELEASE6" at ce11b env reason=RELEASE6 sh /etc/dhcp/dhclient-exit-hooks.d/mapmint
	check_fails "$t after RELEASE6 the device is gone" ip -n ce11b link show mapmint
	check "$t dhcpcd's hook, BOUND6" at ce11b env "${dhcpcd[@]}" sh /usr/lib/dhcpcd/dhcpcd-hooks/70-mapmint
	check_eq "$t the hook put the CE in place" "$first" "$(state ce11b)"
	check "$t dhcpcd's hook, EXPIRE6" at ce11b env reason=EXPIRE6 sh /usr/lib/dhcpcd/dhcpcd-hooks/70-mapmint
	check_fails "$t after EXPIRE6 the device is gone" ip -n ce11b link show mapmint
	check "$t odhcp6c's script snippet, bound" at ce11b env "${odhcp6c[@]}" sh /usr/share/mapmint/odhcp6c-script.sh bound
	check_eq "$t the snippet put the CE in place" "$first" "$(state ce11b)"
	check "$t odhcp6c's script snippet, a lease without MAP (updated)" at ce11b sh /usr/share/mapmint/odhcp6c-script.sh updated
	check_fails "$t without S46 options the device is gone" ip -n ce11b link show mapmint
	check "$t provision --apply again" at ce11b mapminctl provision --hex $LEASE --prefix 2001:db8:ce:11b::/64 --apply
}

# provision_checks NAT: the whole life of a provisioned CE with NAT front end NAT.
provision_checks() {
	local nat=$1 t="[$1]" out first again
	tutorial_isp_br t
	ce_box ce11b 2001:db8:ce:11b::/64 192.168.0 c1
	# the second lease's prefix reaches the same box
	ip -n isp -6 route add 2001:db8:ce:11a::/64 via 2001:db8:100:11b::2

	check "$t provision --apply from the lease's options" \
		at ce11b mapminctl provision --hex $LEASE --prefix 2001:db8:ce:11b::/64 --apply --nat "$nat"
	first=$(state ce11b)
	case "$first" in
	*"inet 192.0.2.8/32"*"default dev mapmint"*"mapmint6 2001:db8:ce:11b:0:c000:208:1b"*"port-mapping contiguous"*)
		pass "$t device, address, routes and configuration in place" ;;
	*) fail "$t device, address, routes and configuration in place" "$first" ;;
	esac
	case "$first" in
	*"snat to 192.0.2.8:1888-3903"* | *"-j SNAT --to-source 192.0.2.8:1888-3903"*) pass "$t one NAPT rule into 1888-3903" ;;
	*) fail "$t one NAPT rule into 1888-3903" "$first" ;;
	esac
	check "$t ping c1 -> server through the provisioned CE" at c1 ping -c 2 -W 3 $SERVER
	rm -f /tmp/peers
	at server mapmint-probe tcp-log 7002 /tmp/peers mss &
	local logger=$!
	wait_listening server tcp 7002
	check "$t 20 TCP connections from c1" connections_from_c1 20
	# MSS clamping: device MTU 1500 less 20 (MAP-T) less 40 is 1440 in c1's SYN as the server
	# sees it and in the server's SYN-ACK as c1 sees it (TCP_MAXSEG: that, less the timestamp
	# option); unclamped both would be 1460 (1448).
	check_eq "$t clamped MSS of c1's connections, at the server and at c1" "20 20" \
		"$(awk '$3 <= 1440 { n++ } END { print n + 0 }' /tmp/peers) $(awk '$2 <= 1440 { n++ } END { print n + 0 }' /tmp/c1-mss)"
	# ports of PSID 27 with offset 6: A . 11011 . j, A >= 1
	check_eq "$t the server saw 192.0.2.8 and ports of its set" "20 0" \
		"$(awk '$1 == "192.0.2.8" { n++; p = $2 + 0; if (p < 1024 || int(p / 32) % 32 != 27) bad++ } END { print n + 0, bad + 0 }' /tmp/peers)"

	[ "$nat" != nft ] || persist_checks "$first"
	[ "$nat" != nft ] || hook_checks "$first"

	check "$t provision --apply again with the same lease" \
		at ce11b mapminctl provision --hex $LEASE --prefix 2001:db8:ce:11b::/64 --apply --nat "$nat"
	again=$(state ce11b)
	check_eq "$t the same lease again changes nothing" "$first" "$again"

	# a new lease: the delegated prefix 2001:db8:ce:11a::/64 (EA bits 0x11a: 192.0.2.8, PSID 26),
	# on an access link of MTU 1400 (MSS 1400 - 20 - 40 = 1340)
	check "$t provision --apply with a new lease" \
		at ce11b mapminctl provision --hex $LEASE --prefix 2001:db8:ce:11a::/64 --link-mtu 1400 --apply --nat "$nat"
	out=$(state ce11b)
	case "$out" in
	*"2001:db8:ce:11b:0:c000:208:1b"* | *1440*) fail "$t the new lease leaves nothing of the old" "$out" ;;
	*"mapmint6 2001:db8:ce:11a:0:c000:208:1a"*"192.0.2.8:1856-3871"*) pass "$t the new lease leaves nothing of the old" ;;
	*) fail "$t the new lease replaces the old" "$out" ;;
	esac
	check "$t ping c1 -> server under the new lease" at c1 ping -c 2 -W 3 $SERVER
	check "$t 5 TCP connections from c1 under the new lease" connections_from_c1 5
	check_eq "$t the new lease's MSS clamp (1340) at c1" 5 "$(awk '$2 <= 1340 { n++ } END { print n + 0 }' /tmp/c1-mss)"

	check "$t provision --remove" at ce11b mapminctl provision --remove
	out=$(state ce11b)
	case "$out" in
	*mapmint_provision* | *MAPMINT* | *"dev mapmint"* | *"mapmint6 2001"* | *"inet 192.0.2.8"*) fail "$t --remove leaves nothing" "$out" ;;
	*) pass "$t --remove leaves nothing" ;;
	esac
	check_fails "$t the device it created is gone" ip -n ce11b link show mapmint
	check_fails "$t the state file is gone" at ce11b test -e /run/mapmint/provision-mapmint.json
	kill $logger 2>/dev/null
	wait $logger 2>/dev/null
	for ns in c1 ce11b isp br server; do ip netns del $ns; done
	check "$t rmmod" rmmod mapmint
}

# The BR has the psid-offset 6 rule too.
provision_checks nft
provision_checks iptables-legacy
