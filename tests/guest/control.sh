#!/bin/bash
# Scenario "control": mapminctl and the generic netlink family "mapmint".
#
#   init netns: mapmint (insmod), m0 m1 m2 (mapminctl dev add), p0 (nlprobe's target)
#   netns a:    m (ip link add inside a)       netns b: m (mapminctl dev add inside b)
#   netns fz:   f0 (nlprobe fuzz: randomly mutated requests)
#
# Checks: every rule kind added, shown (text and JSON) and deleted; every kind of invalid
# rule and setting refused with the kernel's reason, leaving the configuration as it was;
# an unprivileged user refused with EPERM; two namespaces' instances independent; apply of a
# file equal to the same settings and rules given one by one; stats of a fresh instance zero
# and readable by anyone; malformed netlink messages
# refused (nlprobe); deleting instances and unloading the module with configuration present.
. /tests/lib.sh

ip link set lo up
# The initramfs root directory comes from mktemp (mode 0700): let other users reach /usr.
chmod 755 /

# refused NAME EXIT PATTERN CMD...: CMD exits with EXIT, prints nothing on stdout and one
# line on stderr matching the glob PATTERN.
refused() {
	local name=$1 want=$2 pattern=$3 out err status
	shift 3
	out=$("$@" 2>/tmp/stderr)
	status=$?
	# (read, not a pipeline: each process costs a third of a second on the debug kernel)
	IFS= read -r -d '' err </tmp/stderr
	while [[ $err == *$'\n' ]]; do err=${err%$'\n'}; done
	if [ "$status" != "$want" ]; then
		fail "$name" "'$*' exited $status (wanted $want): $err"
	elif [ -n "$out" ]; then
		fail "$name" "'$*' printed '$out'"
	elif [[ $err == *$'\n'* ]]; then
		fail "$name" "'$*' printed more than one line on stderr: $err"
	elif [[ $err == $pattern ]]; then
		pass "$name"
	else
		fail "$name" "'$*' said '$err', wanted '$pattern'"
	fi
}

# snapshot DEV: everything mapminctl shows of an instance, in JSON.
snapshot() {
	mapminctl -j dev show "$1" && mapminctl -j rule show dev "$1"
}

# unchanged NAME DEV CMD...: CMD leaves DEV's configuration as it was.
unchanged() {
	local name=$1 dev=$2 before after
	shift 2
	before=$(snapshot "$dev")
	"$@" >/dev/null 2>&1
	after=$(snapshot "$dev")
	check_eq "$name" "$before" "$after"
}

# variants: true where every variant of a check runs. On the debug kernel, where each process
# costs a third of a second to a second, a check that only varies mapminctl's input on a
# kernel path another check takes (the core's refusals, usage errors that send nothing) runs
# once; the test kernel runs them all.
variants() { ! debug_kernel; }

# invalid_rule NAME PATTERN ARGS...: `mapminctl rule add ARGS` on m0 is refused by the kernel
# (exit 1, the kernel's words) and m0 keeps its configuration.
invalid_rule() {
	local name=$1 pattern=$2
	shift 2
	local before after
	before=$(snapshot m0)
	refused "refuses $name" 1 "mapminctl: rule add: $pattern" mapminctl rule add dev m0 "$@"
	after=$(snapshot m0)
	check_eq "refused $name leaves m0 as it was" "$before" "$after"
}

# invalid_setting NAME PATTERN ARGS...: the same for `mapminctl dev set m0 ARGS`.
invalid_setting() {
	local name=$1 pattern=$2
	shift 2
	local before after
	before=$(snapshot m0)
	refused "refuses $name" 1 "mapminctl: dev set: $pattern" mapminctl dev set m0 "$@"
	after=$(snapshot m0)
	check_eq "refused $name leaves m0 as it was" "$before" "$after"
}

# --- without the module
refused "without the module, mapminctl says the family is missing" 1 \
	"mapminctl: dev show: the generic netlink family 'mapmint' is not registered (is the mapmint module loaded?)*" \
	mapminctl dev show

check "insmod" insmod "$MODULE" ipv4_address=192.0.2.8/32

# --- the README's example on the default device
check "README: dev set" mapminctl dev set mapmint role ce mode t end-user-prefix 2001:db8:ce:11b::/64 dmr 64:ff9b::/96
check "README: rule add bmr" mapminctl rule add bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
idx=$(cat /sys/class/net/mapmint/ifindex)
check_eq "README: dev show" "$idx: mapmint: role ce mode t complete
    end-user-prefix 2001:db8:ce:11b::/64
    ipv4-address 192.0.2.8/32
    bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
    fmrs 0
    dmr 64:ff9b::/96
    ce ipv4 192.0.2.8 psid 27 psid-len 5 ports 55296-57343
    ce map-address 2001:db8:ce:11b:0:c000:208:1b" "$(mapminctl dev show mapmint)"
check_eq "README: dev show -j" \
	"[{\"bmr\":{\"ea_len\":13,\"forwarding\":false,\"ipv4_prefix\":\"192.0.2.0/24\",\"ipv6_prefix\":\"2001:db8:ce::/51\",\"kind\":\"bmr\",\"legacy\":false,\"psid\":null,\"psid_len\":null,\"psid_offset\":0,\"rule\":\"2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0\"},\"br\":null,\"ce\":{\"ipv4\":\"192.0.2.8\",\"map_address\":\"2001:db8:ce:11b:0:c000:208:1b\",\"napt_ports\":null,\"port_ranges\":[[55296,57343]],\"psid\":27,\"psid_len\":5,\"psid_offset\":0},\"complete\":true,\"dmr\":\"64:ff9b::/96\",\"end_user_prefix\":\"2001:db8:ce:11b::/64\",\"fmr_count\":0,\"icmp_source_pool\":null,\"ifindex\":$idx,\"ifname\":\"mapmint\",\"ipv4_address\":\"192.0.2.8/32\",\"missing\":null,\"mode\":\"t\",\"mtu\":null,\"port_mapping\":\"off\",\"role\":\"ce\",\"translate_on_receive\":false}]" \
	"$(mapminctl -j dev show mapmint)"
check_eq "-j after the verb works too" "$(mapminctl -j dev show mapmint)" "$(mapminctl dev show -j mapmint)"
check_eq "README: rule show" "bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0" "$(mapminctl rule show)"
refused "README: an illegal rule quotes the kernel" 1 \
	"mapminctl: rule add: EA-bits length 99 is longer than 48 (EINVAL)" \
	mapminctl rule add fmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 99

# --- instances
check "dev add m0" mapminctl dev add m0
case "$(ip -d link show m0)" in
*"mapmint"*) pass "m0 is a mapmint link" ;;
*) fail "m0 is a mapmint link" "$(ip -d link show m0)" ;;
esac
refused "dev add of an existing name" 1 "mapminctl: dev add: * (EEXIST)" mapminctl dev add m0
refused "dev add with a bad name" 2 "mapminctl: dev add: bad interface name 'a/b'" mapminctl dev add a/b
m0=$(cat /sys/class/net/m0/ifindex)
check_eq "a new instance is empty" "$m0: m0: role ce mode t incomplete: no end-user-prefix
    fmrs 0" "$(mapminctl dev show m0)"
check_eq "and has no rules" "" "$(mapminctl rule show dev m0)"
check_eq "rule show -j of no rules" "[]" "$(mapminctl -j rule show dev m0)"

# --- stats of a fresh instance: all zero, text and JSON; anyone may read them
reasons="bad-buffer bad-checksum bad-embedded-packet bad-header-checksum bad-header-length bad-length bad-offload
bad-version extension-header-after-fragment fragmented-icmp fragmented-udp-zero-checksum internal
nested-icmp-error no-headroom no-mapping no-memory no-route outer-fragment port-not-allowed port-unknown source-mismatch
too-many-extension-headers truncated udp-zero-checksum unsupported-protocol untranslatable-icmp"
zero_drops=$(for r in $reasons; do printf '"%s":0,' "$r"; done | sed 's/,$//')
fresh_text="$m0: m0
    v4-to-v6 packets 0 bytes 0
    v6-to-v4 packets 0 bytes 0
    icmp-errors 0
    translated-on-receive 0
    drops 0"
fresh_json="{\"drops\":{$zero_drops},\"icmp_errors\":0,\"ifindex\":$m0,\"ifname\":\"m0\",\"translated_on_receive\":0,\"v4_to_v6_bytes\":0,\"v4_to_v6_packets\":0,\"v6_to_v4_bytes\":0,\"v6_to_v4_packets\":0}"
check_eq "stats of a new instance: all zero" "$fresh_text" "$(mapminctl stats dev m0)"
check_eq "stats -j of a new instance: every reason, all zero" "$fresh_json" "$(mapminctl -j stats dev m0)"
check_eq "stats -j after the verb works too" "$fresh_json" "$(mapminctl stats dev m0 -j)"
check_eq "stats --all lists every reason, all zero" \
	"$(for r in $reasons; do echo "        $r 0"; done | sort)" \
	"$(mapminctl stats --all dev m0 | tail -n +7 | sort)"
check_eq "stats --all: the same six lines first" "$fresh_text" "$(mapminctl stats dev m0 --all | head -n 6)"
check_eq "nobody can read stats" "$fresh_text" "$(su -s /bin/sh nobody -c 'mapminctl stats dev m0')"
check_eq "nobody can read stats -j" "$fresh_json" "$(su -s /bin/sh nobody -c 'mapminctl -j stats dev m0')"
case "$(mapminctl stats)" in
"$(cat /sys/class/net/mapmint/ifindex): mapmint"*) pass "stats without dev shows mapmint" ;;
*) fail "stats without dev shows mapmint" "$(mapminctl stats)" ;;
esac
refused "stats of a non-mapmint interface" 1 "mapminctl: stats: interface 1 is not a mapmint device (ENODEV)" mapminctl stats dev lo
refused "stats of a missing interface" 1 "mapminctl: stats: no interface named 'nosuch' (ENODEV)" mapminctl stats dev nosuch
if variants; then
	refused "stats NAME without dev is a usage error" 2 "mapminctl: stats: unexpected 'm0' (expected dev NAME)" mapminctl stats m0
	refused "stats dev NAME with --all-devices is a usage error" 2 "mapminctl: stats: dev NAME and --all-devices exclude each other" \
		mapminctl stats --all-devices dev m0
fi
refused "dev show of a missing interface" 1 "mapminctl: dev show: no interface named 'nosuch' (ENODEV)" mapminctl dev show nosuch
refused "dev show of a non-mapmint interface" 1 "mapminctl: dev show: interface 1 is not a mapmint device (ENODEV)" mapminctl dev show lo
refused "dev del refuses a non-mapmint interface" 1 "mapminctl: dev del: interface 1 is not a mapmint device (ENODEV)" mapminctl dev del lo
check "lo is still there" ip link show lo

# --- settings
check "dev set m0 (CE, MAP-T)" mapminctl dev set m0 role ce mode t end-user-prefix 2001:db8:ce:11b::/64 dmr 64:ff9b::/96 mtu 1400
check_eq "mtu reaches the device" 1400 "$(cat /sys/class/net/m0/mtu)"
ip link set m0 mtu 1300
check "dev set m0 mtu 1400 again, the device changed to 1300 meanwhile" mapminctl dev set m0 mtu 1400
check_eq "the configured mtu reaches the device again" 1400 "$(cat /sys/class/net/m0/mtu)"
check_eq "settings read back" "$m0: m0: role ce mode t incomplete: no bmr
    end-user-prefix 2001:db8:ce:11b::/64
    fmrs 0
    dmr 64:ff9b::/96
    mtu 1400" "$(mapminctl dev show m0)"
check "no-dmr no-mtu" mapminctl dev set m0 no-dmr no-mtu
out=$(mapminctl -j dev show m0)
case "$out" in
*'"dmr":null'*'"mtu":null'*) pass "no-dmr and no-mtu clear them" ;;
*) fail "no-dmr and no-mtu clear them" "$out" ;;
esac
check "dev set dmr again" mapminctl dev set m0 dmr 64:ff9b::/96
check "dev set port-mapping contiguous" mapminctl dev set m0 port-mapping contiguous
check_eq "port-mapping contiguous shown" "    port-mapping contiguous" "$(mapminctl dev show m0 | grep port-mapping)"
check "dev set port-mapping off" mapminctl dev set m0 port-mapping off
check_eq "port-mapping off: not shown in text, off in JSON" "0 \"port_mapping\":\"off\"" \
	"$(mapminctl dev show m0 | grep -c port-mapping) $(mapminctl -j dev show m0 | grep -o '"port_mapping":"[a-z]*"')"
refused "an unknown port mapping is a usage error" 2 "mapminctl: dev set: bad port-mapping 'sideways': expected off or contiguous" \
	mapminctl dev set m0 port-mapping sideways

# --- rules: every kind, added, read back in text and JSON, deleted
check "rule add bmr" mapminctl rule add dev m0 bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
check "rule add fmr (default PSID offset)" mapminctl rule add dev m0 fmr 2001:db8::/40 198.51.100.0/24 ea-len 16
check "rule add fmr (explicit PSID, forwarding)" mapminctl rule add dev m0 fmr 2001:db8:12:3400::/56 203.0.113.18/32 ea-len 0 psid-len 8 psid 52 forwarding
check "rule add fmr (IPv4 prefix per CE, hex value)" mapminctl rule add fmr 2001:db8:f0::/44 198.18.0.0/24 ea-len 0x4 dev m0
check "rule add fmr (legacy interface identifiers, offset 4 by default)" mapminctl rule add dev m0 fmr 2001:db8:4000::/40 198.18.0.0/16 ea-len 24 legacy
rules="bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
fmr 2001:db8:4000::/40 198.18.0.0/16 ea-len 24 psid-offset 4 legacy
fmr 2001:db8:12:3400::/56 203.0.113.18/32 ea-len 0 psid-offset 6 psid-len 8 psid 52 forwarding
fmr 2001:db8:f0::/44 198.18.0.0/24 ea-len 4 psid-offset 6
fmr 2001:db8::/40 198.51.100.0/24 ea-len 16 psid-offset 6"
shown=$(mapminctl rule show dev m0)
# The FMR table's order is the kernel's (longest prefix first); compare as sets.
check_eq "rule show reads back every rule" "$(echo "$rules" | sort)" "$(echo "$shown" | sort)"
check_eq "rule show bmr" "bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0" "$(mapminctl rule show dev m0 bmr)"
check_eq "rule show fmr" "$(echo "$rules" | grep ^fmr | sort)" "$(mapminctl rule show fmr dev m0 | sort)"
json=$(mapminctl -j rule show dev m0)
for piece in \
	'{"ea_len":13,"forwarding":false,"ipv4_prefix":"192.0.2.0/24","ipv6_prefix":"2001:db8:ce::/51","kind":"bmr","legacy":false,"psid":null,"psid_len":null,"psid_offset":0,"rule":"2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0"}' \
	'{"ea_len":16,"forwarding":false,"ipv4_prefix":"198.51.100.0/24","ipv6_prefix":"2001:db8::/40","kind":"fmr","legacy":false,"psid":null,"psid_len":null,"psid_offset":6,"rule":"2001:db8::/40 198.51.100.0/24 ea-len 16 psid-offset 6"}' \
	'{"ea_len":0,"forwarding":true,"ipv4_prefix":"203.0.113.18/32","ipv6_prefix":"2001:db8:12:3400::/56","kind":"fmr","legacy":false,"psid":52,"psid_len":8,"psid_offset":6,"rule":"2001:db8:12:3400::/56 203.0.113.18/32 ea-len 0 psid-offset 6 psid-len 8 psid 52 forwarding"}' \
	'{"ea_len":24,"forwarding":false,"ipv4_prefix":"198.18.0.0/16","ipv6_prefix":"2001:db8:4000::/40","kind":"fmr","legacy":true,"psid":null,"psid_len":null,"psid_offset":4,"rule":"2001:db8:4000::/40 198.18.0.0/16 ea-len 24 psid-offset 4 legacy"}' \
	'{"ea_len":4,"forwarding":false,"ipv4_prefix":"198.18.0.0/24","ipv6_prefix":"2001:db8:f0::/44","kind":"fmr","legacy":false,"psid":null,"psid_len":null,"psid_offset":6,"rule":"2001:db8:f0::/44 198.18.0.0/24 ea-len 4 psid-offset 6"}'; do
	case "$json" in
	"["*"$piece"*"]") pass "rule show -j has $(echo "$piece" | grep -o '"rule":"[^"]*"')" ;;
	*) fail "rule show -j has $piece" "$json" ;;
	esac
done
check_eq "rule show -j lists 5 rules" 5 "$(echo "$json" | grep -o '"kind":' | wc -l)"
case "$(mapminctl -j dev show m0)" in
*'"complete":true'*'"fmr_count":4'*) pass "dev show counts 4 FMRs, complete" ;;
*) fail "dev show counts 4 FMRs, complete" "$(mapminctl -j dev show m0)" ;;
esac

check "rule del fmr by its IPv6 prefix" mapminctl rule del dev m0 fmr 2001:db8:f0::/44
check "rule del the legacy fmr" mapminctl rule del dev m0 fmr 2001:db8:4000::/40
check "rule del fmr with the whole rule" mapminctl rule del dev m0 fmr 2001:db8:12:3400::/56 203.0.113.18/32 ea-len 0 psid-len 8 psid 52 forwarding
check_eq "the deleted FMRs are gone" "bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
fmr 2001:db8::/40 198.51.100.0/24 ea-len 16 psid-offset 6" "$(mapminctl rule show dev m0)"
refused "rule del of a missing rule" 1 "mapminctl: rule del: no such rule with IPv6 prefix 2001:db8:f0::/44 (ENOENT)" \
	mapminctl rule del dev m0 fmr 2001:db8:f0::/44
refused "rule del bmr with another prefix" 1 "mapminctl: rule del: no such rule with IPv6 prefix 2001:db8::/40 (ENOENT)" \
	mapminctl rule del dev m0 bmr 2001:db8::/40
check "rule del bmr" mapminctl rule del dev m0 bmr 2001:db8:ce::/51
case "$(mapminctl dev show m0)" in
*"incomplete: no bmr"*) pass "without its BMR the CE is incomplete" ;;
*) fail "without its BMR the CE is incomplete" "$(mapminctl dev show m0)" ;;
esac
check "rule add bmr again" mapminctl rule add dev m0 bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
check "rule flush fmr" mapminctl rule flush dev m0 fmr
check_eq "flush fmr keeps the BMR" "bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0" "$(mapminctl rule show dev m0)"
check "rule flush" mapminctl rule flush dev m0
check_eq "flush removes every rule" "" "$(mapminctl rule show dev m0)"
check "rule add bmr once more" mapminctl rule add dev m0 bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
check "rule add fmr once more" mapminctl rule add dev m0 fmr 2001:db8::/40 198.51.100.0/24 ea-len 16

# --- every kind of invalid rule: the kernel's reason, the old configuration kept
invalid_rule "EA-bits length above 48" "EA-bits length 99 is longer than 48 (EINVAL)" \
	fmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 99
if variants; then
	invalid_rule "IPv6 prefix with host bits" "IPv6 prefix 2001:db8:ce::1/51 has bits set past its length* (EINVAL)" \
		fmr 2001:db8:ce::1/51 192.0.2.0/24 ea-len 13
	invalid_rule "IPv4 prefix with host bits" "IPv4 prefix 192.0.2.1/24 has bits set past its length* (EINVAL)" \
		fmr 2001:db8:cf::/51 192.0.2.1/24 ea-len 13
	invalid_rule "end-user prefix longer than 128" "IPv6 prefix length 120 + EA-bits length 16 = 136 is longer than 128 (EINVAL)" \
		fmr 2001:db8:1::/120 10.0.0.0/24 ea-len 16
	invalid_rule "end-user prefix over the IPv4 host bits" "IPv6 prefix /106 too long for IPv4 /28 CEs (at most /104) (EINVAL)" \
		fmr 2001:db8:1::/106 10.0.0.0/24 ea-len 4
	invalid_rule "PSID offset above 15" "PSID offset 16 is larger than 15 (EINVAL)" \
		fmr 2001:db8:100::/40 10.0.0.0/24 ea-len 16 psid-offset 16
	invalid_rule "PSID offset + PSID length above 16" "PSID offset 6 + PSID length 16 = 22 is longer than 16 (EINVAL)" \
		fmr 2001:db8:100::/40 10.0.0.0/24 ea-len 24
	invalid_rule "PSID wider than its length" "PSID 16 does not fit in a PSID length of 4 bits (EINVAL)" \
		fmr 2001:db8:1::/48 10.0.0.1/32 ea-len 0 psid-len 4 psid 16
	invalid_rule "PSID without PSID length" "PSID 5 is given without a PSID length (psid-len) (EINVAL)" \
		fmr 2001:db8:1::/48 10.0.0.1/32 ea-len 0 psid 5
	invalid_rule "PSID length without PSID" "PSID length 4 is given without a PSID (psid) (EINVAL)" \
		fmr 2001:db8:1::/48 10.0.0.1/32 ea-len 0 psid-len 4
	invalid_rule "PSID length where the EA bits carry one" "explicit PSID length 3: the EA bits already carry a 5-bit PSID (EINVAL)" \
		fmr 2001:db8:1::/51 10.0.0.0/24 ea-len 13 psid-len 3 psid 1
	invalid_rule "PSID where the EA bits carry one" "explicit PSID 1: the EA bits already carry a 5-bit PSID (EINVAL)" \
		fmr 2001:db8:1::/51 10.0.0.0/24 ea-len 13 psid 1
	invalid_rule "PSID on a CE given an IPv4 prefix" "explicit PSID length 4: the rule gives each CE an IPv4 prefix (/28)* (EINVAL)" \
		fmr 2001:db8:100::/40 10.0.0.0/24 ea-len 4 psid-len 4 psid 1
fi
invalid_rule "a second BMR" "a BMR is set already; delete it first (EEXIST)" \
	bmr 2001:db8:1::/51 10.0.0.0/24 ea-len 13
invalid_rule "an FMR with the same IPv6 prefix" "fmr: a rule with the same IPv6 prefix exists (EEXIST)" \
	fmr 2001:db8::/40 10.9.0.0/24 ea-len 16
if variants; then
	invalid_rule "an FMR with the same IPv4 prefix and ports" "fmr: a rule with the same IPv4 prefix and overlapping ports exists (EEXIST)" \
		fmr 2001:db9::/40 198.51.100.0/24 ea-len 16
	check "rule del bmr (to try one that does not map the end-user prefix)" mapminctl rule del dev m0 bmr 2001:db8:ce::/51
	invalid_rule "a BMR that does not map the end-user prefix" "the BMR does not map the end-user prefix: * (EINVAL)" \
		bmr 2001:db8:99::/51 192.0.2.0/24 ea-len 13 psid-offset 0
	check "rule add bmr back" mapminctl rule add dev m0 bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
fi
# Past the fixed table of 32 there was: rule add grows the table (the limit, 262,144, is
# reached in chunks by nlprobe below, and by apply in br-scale).
for i in $(seq 1 39); do mapminctl rule add dev m0 fmr "2001:db8:$((0x100 + i))::/48" "10.$i.0.0/16" ea-len 16 || break; done
check_eq "rule add takes a 40th FMR" 40 "$(mapminctl rule show dev m0 fmr | wc -l)"
check "rule del of the 20th FMR" mapminctl rule del dev m0 fmr 2001:db8:$((0x100 + 19))::/48
check_eq "the other 39 stay, in their order" \
	"$(for i in $(seq 1 39); do [ $i = 19 ] || echo "2001:db8:$((0x100 + i))::/48"; done)" \
	"$(mapminctl rule show dev m0 fmr | grep -v '2001:db8::/40' | cut -d' ' -f2)"
check "rule flush fmr (the 39)" mapminctl rule flush dev m0 fmr
check "rule add fmr (back to one)" mapminctl rule add dev m0 fmr 2001:db8::/40 198.51.100.0/24 ea-len 16

# --- invalid settings
if variants; then
	invalid_setting "mtu below 1280" "mtu 1000 is below IPv6's minimum of 1280 (EINVAL)" mtu 1000
	invalid_setting "mtu above 65535" "mtu 70000 is above 65535 (EINVAL)" mtu 70000
	invalid_setting "an ICMP source pool with host bits" "icmp-source-pool 198.51.100.17/28 has host bits set: use 198.51.100.16/28 (EINVAL)" icmp-source-pool 198.51.100.17/28
fi
invalid_setting "mtu above the device's maximum" "mtu 65535: the device takes 1280 to 65495 (EINVAL)" mtu 65535
if variants; then
	refused "rule show of a non-mapmint interface says why" 1 "mapminctl: rule show: interface 1 is not a mapmint device (ENODEV)" mapminctl rule show dev lo
	invalid_setting "a DMR that is not an RFC 6052 prefix" "dmr: prefix length 95 is not one of 32, 40, 48, 56, 64, 96 (RFC 6052)* (EINVAL)" dmr 64:ff9b::/95
	invalid_setting "a BR address in MAP-T" "br does not apply to MAP-T (EINVAL)" br 2001:db8:6::1
	invalid_setting "MAP-E with a DMR" "dmr does not apply to MAP-E (EINVAL)" mode e
	invalid_setting "a BR with a CE's end-user prefix" "end-user-prefix is for a CE, and this is a BR (EINVAL)" role br
	invalid_setting "an end-user prefix the BMR does not map" "the BMR does not map the end-user prefix: * (EINVAL)" end-user-prefix 2001:db8:99::/64
	invalid_setting "an IPv4 address that is not the CE's" "ipv4-address 192.0.2.9/32 is not the CE's address 192.0.2.8/32* (EINVAL)" ipv4-address 192.0.2.9
fi

# --- usage errors: exit 2, nothing sent
if variants; then
	unchanged "usage errors change nothing" m0 mapminctl rule add dev m0 fmr 2001:db8:77::/40 ea-len 16
	refused "a rule without its IPv4 prefix is a usage error" 2 "mapminctl: rule add: bad IPv4 prefix 'ea-len': *" \
		mapminctl rule add dev m0 fmr 2001:db8:77::/40 ea-len 16
	refused "an unknown rule keyword is a usage error" 2 "mapminctl: rule add: unknown keyword 'psid-size'*" \
		mapminctl rule add dev m0 fmr 2001:db8:77::/40 10.0.0.0/24 ea-len 16 psid-size 3
	refused "a rule kind other than bmr|fmr" 2 "mapminctl: rule add: expected bmr or fmr, not 'dmr'" \
		mapminctl rule add dev m0 dmr 64:ff9b::/96
	refused "an unknown setting" 2 "mapminctl: dev set: unknown setting 'colour'*" mapminctl dev set m0 colour blue
	refused "a setting and its no- form together" 2 "mapminctl: dev set: 'dmr' is given twice" mapminctl dev set m0 dmr 64:ff9b::/96 no-dmr
	check_fails "an unknown subcommand" mapminctl rule frob
	mapminctl rule frob >/dev/null 2>&1
	check_eq "clap's usage errors exit 2 too" 2 "$?"
fi

# --- an unprivileged user may look but not change
as_nobody() { su -s /bin/sh nobody -c "$*"; }
check_eq "nobody is uid 65534" 65534 "$(as_nobody id -u)"
check_eq "nobody can show" "$(mapminctl dev show m0)" "$(as_nobody mapminctl dev show m0)"
check_eq "nobody can show rules" "$(mapminctl rule show dev m0)" "$(as_nobody mapminctl rule show dev m0)"
eperm="Operation not permitted (EPERM): changing mapmint needs CAP_NET_ADMIN over the device's network namespace (root, or a container's root in its own)"
before=$(snapshot m0)
refused "nobody: rule add is refused" 1 "mapminctl: rule add: $eperm" as_nobody mapminctl rule add dev m0 fmr 2001:db8:77::/40 10.7.0.0/24 ea-len 16
refused "nobody: rule del is refused" 1 "mapminctl: rule del: $eperm" as_nobody mapminctl rule del dev m0 bmr 2001:db8:ce::/51
refused "nobody: rule flush is refused" 1 "mapminctl: rule flush: $eperm" as_nobody mapminctl rule flush dev m0
refused "nobody: dev set is refused" 1 "mapminctl: dev set: $eperm" as_nobody mapminctl dev set m0 mtu 1300
echo "role br
mode t
fmr 2001:db8::/40 198.51.100.0/24 ea-len 16
dmr 64:ff9b::/96" >/tmp/br.conf
chmod 644 /tmp/br.conf
refused "nobody: apply is refused" 1 "mapminctl: apply: $eperm" as_nobody mapminctl apply --config /tmp/br.conf dev m0
refused "nobody: dev add is refused" 1 "mapminctl: dev add: $eperm" as_nobody mapminctl dev add x0
refused "nobody: dev del is refused" 1 "mapminctl: dev del: $eperm" as_nobody mapminctl dev del m0
check_eq "nobody changed nothing" "$before" "$(snapshot m0)"
check_fails "nobody created no x0" ip link show x0

# --- a container's root (root of a user namespace nobody made): changes need CAP_NET_ADMIN
# over the device's network namespace (GENL_UNS_ADMIN_PERM, as rtnetlink asks for `ip link
# add`), so it configures the devices of a namespace its user namespace owns, and no other
as_container_root() { su -s /bin/sh nobody -c "unshare -U -r $*"; }
check_eq "a user namespace maps nobody to root" 0 "$(as_container_root id -u)"
refused "a container's root: dev set on the initial namespace's m0 is refused" 1 "mapminctl: dev set: $eperm" \
	as_container_root mapminctl dev set m0 mtu 1300
refused "a container's root: apply to the initial namespace's m0 is refused" 1 "mapminctl: apply: $eperm" \
	as_container_root mapminctl apply --config /tmp/br.conf dev m0
check_eq "a container's root changed nothing of m0" "$before" "$(snapshot m0)"
out=$(as_container_root -n sh -c "'ip link set lo up && ip link add c0 type mapmint && mapminctl apply --config /tmp/br.conf dev c0 && mapminctl dev set c0 mtu 1400 && mapminctl rule show dev c0 && mapminctl dev show c0 && mapminctl dev del c0 && echo deleted'" 2>&1)
check_eq "a container's root creates, configures, shows and deletes a device in its own namespace" \
	"fmr 2001:db8::/40 198.51.100.0/24 ea-len 16 psid-offset 6|mtu 1400|deleted" \
	"$(echo "$out" | grep -o -e '^fmr .*' -e 'mtu [0-9]*' -e '^deleted' | tr '\n' '|' | sed 's/|$//')"

# --- apply: a file equals the same settings and rules given one by one
cat >/tmp/ce.conf <<'EOF'
# The Jool tutorial's CE
role ce
mode t
end-user-prefix 2001:db8:ce:11b::/64
ipv4-address 192.0.2.8/32
bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
fmr 2001:db8::/40 198.51.100.0/24 ea-len 16
fmr 2001:db8:12:3400::/56 203.0.113.18/32 ea-len 0 psid-len 8 psid 52 forwarding
dmr 64:ff9b::/96
mtu 1400
EOF
check "dev add m1, m2" bash -c "mapminctl dev add m1 && mapminctl dev add m2"
check "m1 one by one: dev set" mapminctl dev set m1 role ce mode t end-user-prefix 2001:db8:ce:11b::/64 ipv4-address 192.0.2.8/32 dmr 64:ff9b::/96 mtu 1400
check "m1 one by one: bmr" mapminctl rule add dev m1 bmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0
check "m1 one by one: fmr 1" mapminctl rule add dev m1 fmr 2001:db8::/40 198.51.100.0/24 ea-len 16
check "m1 one by one: fmr 2" mapminctl rule add dev m1 fmr 2001:db8:12:3400::/56 203.0.113.18/32 ea-len 0 psid-len 8 psid 52 forwarding
check "apply --config to m2" mapminctl apply --config /tmp/ce.conf dev m2
strip() { sed -E 's/"ifindex":[0-9]+,"ifname":"[^"]*",//'; }
check_eq "apply: dev show -j equal" "$(mapminctl -j dev show m1 | strip)" "$(mapminctl -j dev show m2 | strip)"
check_eq "apply: rule show -j equal" "$(mapminctl -j rule show dev m1)" "$(mapminctl -j rule show dev m2)"
check_eq "apply: rule show equal" "$(mapminctl rule show dev m1)" "$(mapminctl rule show dev m2)"
check_eq "apply: the MTU reaches the device" 1400 "$(cat /sys/class/net/m2/mtu)"
check "apply replaces: a BR configuration onto m2" mapminctl apply -c /tmp/br.conf dev m2
check_eq "apply replaced every setting and rule" "role br mode t complete" "$(mapminctl dev show m2 | head -n 1 | cut -d' ' -f3-)"
check_eq "apply left only the file's rules" "fmr 2001:db8::/40 198.51.100.0/24 ea-len 16 psid-offset 6" "$(mapminctl rule show dev m2)"
check "apply the CE file again" mapminctl apply --config /tmp/ce.conf dev m2
check_eq "apply again: equal to one by one" "$(snapshot m1 | strip)" "$(snapshot m2 | strip)"
printf 'role ce\nmode t\nend-user-prefix 2001:db8:ce:11b::/64\nbmr 2001:db8:ce::/51 192.0.2.0/24 ea-len 99\ndmr 64:ff9b::/96\n' >/tmp/bad.conf
before=$(snapshot m2)
refused "apply of a bad file names its line" 2 "mapminctl: apply: /tmp/bad.conf: line 4: bmr: invalid rule *EA-bits length 99 is longer than 48" \
	mapminctl apply --config /tmp/bad.conf dev m2
printf 'role ce\nmode t\n' >/tmp/short.conf
refused "apply of an incomplete file" 2 "mapminctl: apply: /tmp/short.conf: line 2: the configuration has no 'end-user-prefix'*" \
	mapminctl apply --config /tmp/short.conf dev m2
refused "apply of a missing file" 1 "mapminctl: apply: /tmp/nosuch.conf: No such file*" mapminctl apply --config /tmp/nosuch.conf dev m2
check_eq "refused applies leave m2 as it was" "$before" "$(snapshot m2)"
check "apply to the default device" mapminctl apply --config /tmp/ce.conf
check_eq "apply without dev goes to mapmint" "$(mapminctl rule show dev m1)" "$(mapminctl rule show dev mapmint)"

# --- two namespaces, two instances of the same name, independent
ip netns add a
ip netns add b
check "ip -n a link add mx type mapmint" ip -n a link add mx type mapmint
check "mapminctl dev add mx inside b" ip netns exec b mapminctl dev add mx
check "a: a BR, MAP-E" ip netns exec a mapminctl apply --config /tmp/br.conf dev mx
check "a: mode e with a BR address" ip netns exec a mapminctl dev set mx no-dmr mode e br 2001:db8:6::1
check "b: the CE" ip netns exec b mapminctl apply --config /tmp/ce.conf dev mx
check_eq "a shows its BR" "fmr 2001:db8::/40 198.51.100.0/24 ea-len 16 psid-offset 6" "$(ip netns exec a mapminctl rule show dev mx)"
check_eq "b shows its CE" "$(mapminctl rule show dev m1)" "$(ip netns exec b mapminctl rule show dev mx)"
case "$(ip netns exec a mapminctl dev show)" in
[0-9]*": mx: role br mode e complete"*"br 2001:db8:6::1"*) pass "a's dump shows only its BR" ;;
*) fail "a's dump shows only its BR" "$(ip netns exec a mapminctl dev show)" ;;
esac
check_eq "b's dump shows one instance" 1 "$(ip netns exec b mapminctl -j dev show | grep -o '"ifname"' | wc -l)"
check_eq "the initial namespace's dump shows its four" "m0 m1 m2 mapmint" \
	"$(mapminctl -j dev show | grep -o '"ifname":"[^"]*"' | cut -d'"' -f4 | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "stats --all-devices in b: its one instance" '"ifname":"mx"' "$(ip netns exec b mapminctl -j stats --all-devices | grep -o '"ifname":"[^"]*"')"
check_eq "stats --all-devices in the initial namespace: its four" "m0 m1 m2 mapmint" \
	"$(mapminctl stats --all-devices -j | grep -o '"ifname":"[^"]*"' | cut -d'"' -f4 | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "stats --all-devices in text: one block per instance" 4 "$(mapminctl stats -A | grep -c '^[0-9]*: ')"
refused "b's mx is not visible from the initial namespace" 1 "mapminctl: rule show: no interface named 'mx' (ENODEV)" mapminctl rule show dev mx
check "a: rule flush" ip netns exec a mapminctl rule flush dev mx
check_eq "flushing a's rules leaves b's" "$(mapminctl rule show dev m1)" "$(ip netns exec b mapminctl rule show dev mx)"
check "b: dev del mx" ip netns exec b mapminctl dev del mx
check_fails "b's mx is gone" ip -n b link show mx
check "a's mx is still there" ip -n a link show mx

# --- malformed netlink messages (nlprobe packs them by hand)
check "dev add p0" mapminctl dev add p0
check "p0 configured" mapminctl apply --config /tmp/ce.conf dev p0
before=$(snapshot p0)
nlprobe_checks "nlprobe finished and exited 0" nlprobe malformed p0
check_eq "malformed messages left p0 as it was" "$before" "$(snapshot p0)"

# --- what one socket staged is its own; a dump of a device replaced meanwhile says so
check "dev add s0" mapminctl dev add s0
nlprobe_checks "nlprobe owners finished and exited 0" nlprobe owners s0
check "dev del s0" mapminctl dev del s0
# A staging is freed when its device moves to another namespace, where no socket can finish
# it (its own socket still open).
ip netns add sm1
ip netns add sm2
ip -n sm1 link add s1 type mapmint
nlprobe_checks "nlprobe staged-moved finished and exited 0" ip netns exec sm1 nlprobe staged-moved s1 sm2 200000
check "s1 arrived in sm2, whose sockets may configure it" ip netns exec sm2 mapminctl apply --config /tmp/ce.conf dev s1
ip netns del sm1
ip netns del sm2
{
	echo "role br"
	echo "mode t"
	echo "dmr 64:ff9b::/96"
	for i in $(seq 0 1999); do printf 'fmr 2001:db8:%x::/48 10.%d.%d.0/24 ea-len 8\n' $i $((i / 256)) $((i % 256)); done
} >/tmp/dump.conf
check "dev add d0 with 2,000 FMRs" bash -c "mapminctl dev add d0 && mapminctl apply --config /tmp/dump.conf dev d0"
nlprobe_checks "nlprobe dump-replaced finished and exited 0" nlprobe dump-replaced d0 /tmp/dump.conf
check_eq "the replacing d0 has its 2,000 FMRs" 2000 "$(mapminctl rule show dev d0 | grep -c '^fmr ')"
check "dev del d0" mapminctl dev del d0
ip netns add fz
ip -n fz link add f0 type mapmint
# As root, then as an unprivileged user (who may read, and must be refused the rest). The
# debug kernel is ~14 times slower: fewer rounds there.
if debug_kernel; then rounds=4000; else rounds=100000; fi
# As root, as nobody (who may read, and must be refused the rest), and as a container's root
# on a device of its own namespace (every change allowed: what an unprivileged user reaches
# wherever user namespaces are).
fuzz_as() {
	case $1 in
	root) ip netns exec fz nlprobe fuzz f0 $rounds ;;
	nobody) ip netns exec fz su -s /bin/sh nobody -c "nlprobe fuzz f0 $((rounds / 4)) 7" ;;
	container-root) as_container_root -n sh -c "'ip link add f1 type mapmint && nlprobe fuzz f1 $((rounds / 4)) 11'" ;;
	esac
}
for who in root nobody container-root; do
	nlprobe_checks "nlprobe fuzz as $who finished and exited 0" fuzz_as $who
	[ $who = container-root ] || check "the fuzzed instance still answers ($who)" ip netns exec fz mapminctl dev show f0
done
check_eq "fuzzing in fz left p0 as it was" "$before" "$(snapshot p0)"

# --- deleting instances and unloading with configuration present
check "dev del m1 (configured)" mapminctl dev del m1
check_fails "m1 is gone" ip link show m1
refused "dev show of the deleted m1" 1 "mapminctl: dev show: no interface named 'm1' (ENODEV)" mapminctl dev show m1
check "rmmod with configured instances in three namespaces" rmmod mapmint
check_fails "m0 is gone" ip link show m0
check_fails "a's mx is gone" ip -n a link show mx
check_fails "fz's f0 is gone" ip -n fz link show f0
refused "after rmmod the family is gone" 1 "mapminctl: rule show: the generic netlink family 'mapmint' is not registered*" mapminctl rule show dev m0
check "insmod again" insmod "$MODULE"
check_eq "a reloaded module starts empty" "" "$(mapminctl rule show)"
check "rmmod again" rmmod mapmint
check "insmod with port_mapping=contiguous" insmod "$MODULE" port_mapping=contiguous end_user_prefix=2001:db8:ce:11b::/64 \
	bmr=2001:db8:ce::/51,192.0.2.0/24,13,6 dmr=64:ff9b::/96
check_eq "the parameter reaches dev show with the NAPT range" "    port-mapping contiguous
    ce napt-ports 1888-3903" "$(mapminctl dev show mapmint | grep -e port-mapping -e napt-ports)"
check "rmmod once more" rmmod mapmint
check_fails "insmod refuses port_mapping=sideways" insmod "$MODULE" port_mapping=sideways
check_fails "insmod refuses port mapping on a BR" insmod "$MODULE" role=br port_mapping=contiguous
ip netns del a
ip netns del b
ip netns del fz
