#!/bin/bash
# Scenario "dhcp": CE 11b of the tutorial topology (MAP-T) provisioned by real DHCPv6 clients
# running the shipped hooks (/etc/dhcp/dhclient-exit-hooks.d/mapmint,
# /usr/lib/dhcpcd/dhcpcd-hooks/70-mapmint), against Debian's Kea serving RFC 7598 S46 options
# on the ISP's side of the CE's link. For isc-dhcp-client and for dhcpcd, each: binds to a MAP-T
# lease (the CE appears, c1 reaches the server from the lease's port set), renews after the ISP
# changed the lease to MAP-E with another PSID offset (6 -> 4; the BR changes with it: the CE
# follows on the client's renewal, nothing of the old mode and port set stays), and releases
# (everything goes).
# Needs kea-dhcp6, dhclient and dhcpcd in the initramfs (tests/run.sh puts them there).
. /tests/lib.sh
. /tests/lib-tutorial.sh

# rule_with OFFSET: the lease's rule (CE 11b's BMR; ISP and BR agree) with that PSID offset
rule_with() { echo "2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset $1"; }
RULE=$(rule_with 6)
KEA=/tmp/kea
mkdir -p $KEA /var/lib/dhcp /var/lib/dhcpcd /run/dhcpcd

# kea_config MODE OFFSET [RENEW]: Kea's configuration: one MAP-T (t) or MAP-E (e) container with the
# CE's rule (S46_RULE: flags 1 = F, ea-len 13, prefix4-len 24, 192.0.2.0, the IPv6 prefix)
# and its PORTPARAMS (the offset, no PSID bits of its own), and the DMR (MAP-T) or the BR's
# address (MAP-E); short timers, so that clients renew every 4 seconds (or RENEW). (Kea 2.2 sends one
# S46_RULE per container: a second one, an FMR, is dropped from its reply.)
kea_config() {
	local container=s46-cont-map$1 last='"name": "s46-dmr", "data": "64:ff9b::/96"'
	[ "$1" = t ] || last='"name": "s46-br", "data": "2001:db8:6::1"'
	cat >$KEA/kea.json <<-EOF
	{"Dhcp6": {
	  "data-directory": "$KEA",
	  "interfaces-config": {"interfaces": ["ce11b"]},
	  "lease-database": {"type": "memfile", "name": "$KEA/leases.csv", "lfc-interval": 0},
	  "renew-timer": ${3:-4}, "rebind-timer": $((${3:-4} * 2)), "preferred-lifetime": $((${3:-4} * 8)), "valid-lifetime": $((${3:-4} * 15)),
	  "subnet6": [{"id": 1, "subnet": "2001:db8:100:11b::/64", "interface": "ce11b",
	    "pd-pools": [{"prefix": "2001:db8:ce:11b::", "prefix-len": 64, "delegated-len": 64}],
	    "option-data": [
	      {"name": "$container"},
	      {"space": "$container-options", "name": "s46-rule", "data": "1, 13, 24, 192.0.2.0, 2001:db8:ce::/51"},
	      {"space": "s46-rule-options", "name": "s46-portparams", "data": "$2, 0/0"},
	      {"space": "$container-options", $last}
	    ]}],
	  "loggers": [{"name": "kea-dhcp6", "output_options": [{"output": "stdout"}], "severity": "INFO"}]
	}}
	EOF
}

# lease MODE OFFSET: the ISP's lease and its BR (mode and rule) to match (Kea rereads its
# configuration on SIGHUP). The BR box routes both modes' IPv6 into its device.
lease() {
	kea_config "$1" "$2"
	kea_reload
	RULE=$(rule_with "$2")
	br_config "$1" >/tmp/br.conf
	at br mapminctl apply --config /tmp/br.conf dev mapmint >/dev/null
}

# kea_reload: Kea rereads its configuration (SIGHUP); returns once its log says it has (a
# client started or renewing before that would get the lease of the configuration before)
kea_reload() {
	local before tries=40
	before=$(grep -c DHCP6_DYNAMIC_RECONFIGURATION_SUCCESS /tmp/kea.log)
	kill -HUP $kea
	until [ "$(grep -c DHCP6_DYNAMIC_RECONFIGURATION_SUCCESS /tmp/kea.log)" -gt "$before" ]; do
		tries=$((tries - 1))
		[ $tries -gt 0 ] || { fail "Kea rereads its configuration" "not within 20 s: $(tail -n 3 /tmp/kea.log)"; return 1; }
		sleep 0.5
	done
}

# wait_for WHAT SECONDS CMD...: polls CMD every half second until it succeeds.
wait_for() {
	local what=$1 seconds=$2 tries=$(($2 * 2))
	shift 2
	while ! "$@" >/dev/null 2>&1; do
		tries=$((tries - 1))
		[ $tries -gt 0 ] || { fail "$what" "not within $seconds s"; return 1; }
		sleep 0.5
	done
	pass "$what"
}

ce_state() {
	at ce11b ip -4 addr show dev mapmint 2>&1 | grep inet
	at ce11b ip route show
	at ce11b ip -6 route show
	at ce11b nft list ruleset 2>&1
	at ce11b mapminctl dev show mapmint 2>&1 | sed 's/^[0-9]*: //'
	at ce11b mapminctl rule show dev mapmint 2>&1
}

# hooks_idle: no client hook (nor the mapminctl it runs) is running
hooks_idle() {
	! pgrep -f dhclient-script >/dev/null && ! pgrep -f dhcpcd-run-hooks >/dev/null &&
		! pgrep -f 'mapminctl provision' >/dev/null
}

# provisioned: the hook's `mapminctl provision` has finished (the state file is its last
# step; the device shows before its address, routes and NAPT are there)
provisioned() { test -e /run/mapmint/provision-mapmint.json && hooks_idle; }

# renewed_to MODE OFFSET: the CE runs the lease of MODE with OFFSET, provisioned whole since
# the lease changed (the state file, written last, is newer than Kea's configuration), and no
# hook is halfway (before or after the reads: a renewal may start between them)
renewed_to() {
	hooks_idle && [ /run/mapmint/provision-mapmint.json -nt $KEA/kea.json ] &&
		at ce11b mapminctl dev show mapmint | grep -q "role ce mode $1 " &&
		at ce11b mapminctl rule show dev mapmint | grep -q "^bmr $(rule_with "$2")" && hooks_idle
}

# The CE's port sets, computed here from RFC 7597 §5.1, not by mapminctl: EA bits = the 13
# bits of the end-user prefix after /51 = 0x11b = 283; the IPv4 suffix is their first 8 bits
# (283 >> 5 = 8: 192.0.2.8), the PSID their last k = 5 (283 & 31 = 27). A port p is the CE's
# when p >> (16 - a) is not 0 and (p >> (16 - a - k)) & 31 = 27. Under `port-mapping
# contiguous` the NAPT fills (2^a - 1) * 2^m ports from the first port of the set:
# offset 6: m = 5, first (1 << 10) | (27 << 5) = 1888, 63 * 32 = 2016 ports: 1888-3903;
# offset 4: m = 7, first (1 << 12) | (27 << 7) = 7552, 15 * 128 = 1920 ports: 7552-9471.
napt_range() { case $1 in 6) echo 1888-3903 ;; 4) echo 7552-9471 ;; esac; }
# ports_outside OFFSET: the number of the server's TCP peers from 192.0.2.8, and how many of
# them used a port outside the set of OFFSET
ports_outside() {
	local a=$1 m=$((16 - $1 - 5)) n=0 bad=0 addr port _
	while read -r addr port _; do
		[ "$addr" = 192.0.2.8 ] || continue
		n=$((n + 1))
		if [ $((port >> (16 - a))) -eq 0 ] || [ $(((port >> m) & 31)) -ne 27 ]; then bad=$((bad + 1)); fi
	done </tmp/peers
	echo "$n $bad"
}

# traffic_checks T OFFSET: c1 reaches the server, from the port set of OFFSET.
traffic_checks() {
	local t=$1 offset=$2
	check "$t ping c1 -> server" at c1 ping -c 2 -W 3 $SERVER
	: >/tmp/peers
	check "$t TCP c1 -> server" at c1 mapmint-probe tcp-many $SERVER 7002 4
	check_eq "$t the server saw 4 connections, all from ports of the set with offset $offset" \
		"4 0" "$(ports_outside "$offset")"
}

# client_checks NAME START RELEASE: one client's lease from bind to release.
client_checks() {
	local name=$1 start=$2 release=$3 t="[$1]" out
	lease t 6
	$start
	wait_for "$t bound: the hook provisioned the CE" 60 provisioned
	out=$(ce_state)
	case "$out" in
	*"inet 192.0.2.8/32"*"default dev mapmint"*"2001:db8:ce:11b:0:c000:208:1b dev mapmint"*"snat to 192.0.2.8:1888-3903"*"end-user-prefix 2001:db8:ce:11b::/64"*"bmr $(rule_with 6)"*)
		pass "$t the CE from Kea's lease: address, routes, NAPT, rule" ;;
	*) fail "$t the CE from Kea's lease" "$out" ;;
	esac
	traffic_checks "$t" 6
	# the ISP changes the lease: the client's next renewal brings it
	lease e 4
	wait_for "$t renewed: the CE has the lease's new mode and PSID offset" 60 renewed_to e 4
	out=$(ce_state)
	case "$out" in
	*"dmr "* | *"64:ff9b"*) fail "$t MAP-T's DMR went" "$out" ;;
	*"br 2001:db8:6::1"*) pass "$t MAP-T's DMR went, the BR's MAP-E address is there" ;;
	*) fail "$t the BR's MAP-E address" "$out" ;;
	esac
	case "$out" in
	*"$(napt_range 6)"*) fail "$t the old lease's NAPT went" "$out" ;;
	*"snat to 192.0.2.8:$(napt_range 4)"*) pass "$t the old lease's NAPT went, the new one is there" ;;
	*) fail "$t the new lease's NAPT" "$out" ;;
	esac
	check_eq "$t the renewed CE has the new rule and nothing else" \
		"bmr $(rule_with 4) forwarding" "$(at ce11b mapminctl rule show dev mapmint)"
	traffic_checks "$t" 4
	# No renewal from here on (the next reply says so): the release's hook must not meet a
	# renewal's, which a loaded machine can still be running with renewals 4 s apart (dhcpcd
	# runs its hooks asynchronously). An ISP renews after hours.
	kea_config e 4 600
	kea_reload
	sleep 5
	wait_for "$t no hook running" 30 hooks_idle
	$release
	if ! wait_for "$t released: the CE is gone" 60 test ! -e /run/mapmint/provision-mapmint.json; then
		echo "--- the client's log, last lines" >/dev/console
		tail -n 30 "/tmp/$name.log" >/dev/console
	fi
	out=$(ce_state)
	case "$out" in
	*mapmint_provision* | *"dev mapmint"* | *"inet 192.0.2.8"*) fail "$t the release leaves nothing" "$out" ;;
	*) pass "$t the release leaves nothing" ;;
	esac
	check_fails "$t the device is gone" ip -n ce11b link show mapmint
	# The client may run a hook more after its release (dhclient: RELEASE6, then STOP6 as the
	# daemon stops); the next client starts when none is left.
	wait_for "$t no hook left running" 60 hooks_idle
}

tutorial_isp_br t
at br ip -6 route add 2001:db8:6::1/128 dev mapmint
ce_box ce11b 2001:db8:ce:11b::/64 192.168.0 c1
# the WAN address as SLAAC would give it (finite lifetimes): dhclient-script's PREINIT6 flushes
# the permanent ones, and the default route with them
ip -n ce11b addr change 2001:db8:100:11b::2/64 dev wan valid_lft 86400 preferred_lft 86400
at server mapmint-probe tcp-log 7002 /tmp/peers &
logger=$!
# Kea listens on the link-local address of the ISP's side of the CE's link and the client
# sends from the CE's: both past DAD first (a solicit sent while the address is tentative is
# lost, and the client's backoff grows past a minute)
link_local_ready() { ip -n "$1" -6 addr show dev "$2" scope link | grep fe80 | grep -vq tentative; }
wait_for "the ISP's side of the CE's link has its link-local address" 20 link_local_ready isp ce11b
wait_for "the CE's side has its link-local address" 20 link_local_ready ce11b wan
kea_config e 4
check "kea-dhcp6 accepts the MAP-E configuration" at isp kea-dhcp6 -t $KEA/kea.json
kea_config t 6
check "kea-dhcp6 accepts the MAP-T configuration" at isp kea-dhcp6 -t $KEA/kea.json
# (ip netns exec and env exec: $! is Kea's PID, for SIGHUP, which makes it reread the file)
ip netns exec isp env KEA_LOCKFILE_DIR=none KEA_PIDFILE_DIR=$KEA kea-dhcp6 -c $KEA/kea.json >/tmp/kea.log 2>&1 &
kea=$!
wait_for "Kea is up" 20 grep -q DHCP6_STARTED /tmp/kea.log

# isc-dhcp-client: the options declared as strings and requested (as the hook's header says);
# prefix delegation (-P): the delegated prefix is the CE's end-user prefix
cat >/tmp/dhclient6.conf <<'EOF'
option dhcp6.s46-cont-mape code 94 = string;
option dhcp6.s46-cont-mapt code 95 = string;
also request dhcp6.s46-cont-mape, dhcp6.s46-cont-mapt;
EOF
# dhclient-script is a /bin/sh script for dash; the guest's /bin/sh (busybox) would run its own
# run-parts applet, which lacks --list: bash runs it, with Debian's run-parts
printf '#!/bin/bash\nexec /bin/bash /sbin/dhclient-script "$@"\n' >/tmp/dhclient-script
chmod +x /tmp/dhclient-script
dhclient_args=(-6 -P -cf /tmp/dhclient6.conf -lf /var/lib/dhcp/dhclient6.leases -pf /run/dhclient6.pid -sf /tmp/dhclient-script wan)
dhclient_start() { ip netns exec ce11b dhclient -d -v "${dhclient_args[@]}" >/tmp/dhclient.log 2>&1 & }
dhclient_release() { at ce11b dhclient -r "${dhclient_args[@]}" >>/tmp/dhclient.log 2>&1; }
client_checks dhclient dhclient_start dhclient_release

# dhcpcd: the raw option bytes (as the hook's header says), a prefix for no LAN interface,
# DHCPv6 only; its own dhcpcd-run-hooks runs the hook directory
cat >/tmp/dhcpcd.conf <<'EOF'
define6 94 binhex s46_cont_mape
define6 95 binhex s46_cont_mapt
option dhcp6_s46_cont_mape, dhcp6_s46_cont_mapt
ipv6only
noipv6rs
ia_pd 1 -
EOF
dhcpcd_start() { ip netns exec ce11b dhcpcd -B -d -6 -f /tmp/dhcpcd.conf wan >/tmp/dhcpcd.log 2>&1 & }
dhcpcd_release() { at ce11b dhcpcd -6 -f /tmp/dhcpcd.conf -k wan >>/tmp/dhcpcd.log 2>&1; }
client_checks dhcpcd dhcpcd_start dhcpcd_release

kill $kea $logger 2>/dev/null
wait $kea $logger 2>/dev/null
true
