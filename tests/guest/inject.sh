#!/bin/bash
# Scenario "inject": packets written straight into mapmint devices by a packet socket
# (AF_PACKET SOCK_DGRAM), as tc and bpf redirects deliver them too: no route attached, no
# socket, never seen by the IPv4/IPv6 output path. Every size around the MTU (mtu-60 ...
# mtu), with and without DF, into a CE and a BR of each mode, in both families.
#
# Then hostile packets (malformed in every way mapmint-probe's hostile.rs knows, and random
# mutations) into each of the four devices, and into a legacy CE and a BR of /72s; and
# received by a box whose device takes them at PREROUTING (translate-on-receive).
#
# Each packet must be counted (translated, dropped by reason, or answered) and none may
# oops the kernel: an IPv4 packet without DF that outgrows the MTU after translation needs
# IPv4 fragmentation, which takes its MTU from the packet's route; without one it is dropped
# as no-route (it used to be a NULL dereference in ip_do_fragment).
. /tests/lib.sh

RULE="2001:db8:ce::/51 192.0.2.0/24 ea-len 13 psid-offset 0"
CE_MAP=2001:db8:ce:11b:0:c000:208:1b    # CE 11b: 192.0.2.8, PSID 27, ports 55296-57343
SERVER6=64:ff9b::cb00:7138               # 203.0.113.56 behind the DMR
LO=1440 HI=1500                           # 61 sizes; the MTU is 1500

ip link set lo up
check "insmod" insmod "$MODULE"

# device NAME ROLE MODE: a configured, up mapmint device (no routes: nothing is routed here).
device() {
	local name=$1 role=$2 mode=$3
	{
		echo "role $role"
		echo "mode $mode"
		if [ "$role" = ce ]; then
			echo "end-user-prefix 2001:db8:ce:11b::/64"
			echo "ipv4-address 192.0.2.8/32"
			echo "bmr $RULE"
		fi
		echo "fmr $RULE"
		if [ "$mode" = t ]; then echo "dmr 64:ff9b::/96"; else echo "br 2001:db8:6::1"; fi
	} >"/tmp/$name.conf"
	mapminctl dev add "$name" && mapminctl apply --config "/tmp/$name.conf" dev "$name" && ip link set "$name" up
}

# stat DEV KEY: one counter of `mapminctl -j stats` (a drop reason, or a packet counter).
stat() {
	mapminctl -j stats dev "$1" | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2
}

# expect_counts NAME DEV KEY=DELTA... -- CMD...: runs CMD, then checks that each counter grew
# by exactly its delta and that the device counted every packet CMD wrote as transmitted
# (translated) or dropped.
expect_counts() {
	local name=$1 dev=$2
	shift 2
	local -a keys=() deltas=() before=()
	while [ "$1" != -- ]; do
		keys+=("${1%%=*}")
		deltas+=("${1#*=}")
		shift
	done
	shift
	local i
	for i in "${!keys[@]}"; do before[i]=$(stat "$dev" "${keys[i]}"); done
	local tx0 drop0
	tx0=$(link_stat "$dev" tx packets)
	drop0=$(link_stat "$dev" tx dropped)
	if ! out=$("$@" 2>&1); then
		fail "$name" "'$*' failed: $out"
		return
	fi
	local got=() ok=1
	for i in "${!keys[@]}"; do
		got[i]=$(($(stat "$dev" "${keys[i]}") - before[i]))
		[ "${got[i]}" = "${deltas[i]}" ] || ok=0
	done
	local counted=$(($(link_stat "$dev" tx packets) - tx0 + $(link_stat "$dev" tx dropped) - drop0))
	if [ $ok = 1 ]; then
		pass "$name: ${keys[*]} grew by ${deltas[*]}, $counted counted"
	else
		fail "$name" "${keys[*]} grew by ${got[*]}, expected ${deltas[*]}"
	fi
}

# Where translated packets go: a dummy device that drops them.
ip link add out0 type dummy
ip link set out0 up
ip route add default dev out0
ip -6 route add default dev out0

check "CE MAP-T device" device cet ce t
check "CE MAP-E device" device cee ce e
check "BR MAP-T device" device brt br t
check "BR MAP-E device" device bre br e

# IPv4 into each device: up to FITS bytes fit the 1500-byte MTU after translation (MAP-T:
# +20) or encapsulation (MAP-E: +40); larger ones need fragments (no route: dropped) or, with
# DF, get Fragmentation Needed (counted; icmp_send needs a route to answer).
for case in cet:1480 brt:1480 cee:1460 bre:1460; do
	dev=${case%:*} fits=${case#*:}
	case $dev in
	ce*) src=192.0.2.8:55300 dst=203.0.113.56:7000 ;;
	br*) src=203.0.113.56:7000 dst=192.0.2.8:55300 ;;
	esac
	small=$((fits - LO + 1)) big=$((HI - fits))
	expect_counts "$dev: IPv4 $LO-$HI bytes without DF" $dev v4_to_v6_packets=$small no-route=$big -- \
		mapmint-probe inject $dev $src $dst $LO-$HI
	expect_counts "$dev: IPv4 $LO-$HI bytes with DF" $dev v4_to_v6_packets=$small icmp_errors=$big -- \
		mapmint-probe inject $dev $src $dst $LO-$HI df
done

# IPv6 into a MAP-T device: it shrinks by 20, every size is translated.
expect_counts "cet: IPv6 $LO-$HI bytes" cet v6_to_v4_packets=61 -- \
	mapmint-probe inject cet "[$SERVER6]:7000" "[$CE_MAP]:55300" $LO-$HI
expect_counts "brt: IPv6 $LO-$HI bytes" brt v6_to_v4_packets=61 -- \
	mapmint-probe inject brt "[$CE_MAP]:55300" "[$SERVER6]:7000" $LO-$HI
# Plain UDP over IPv6 into a MAP-E device is no tunnel packet.
expect_counts "cee: IPv6 UDP $LO-$HI bytes" cee unsupported-protocol=61 -- \
	mapmint-probe inject cee "[2001:db8:6::1]:7000" "[$CE_MAP]:55300" $LO-$HI
expect_counts "bre: IPv6 UDP $LO-$HI bytes" bre unsupported-protocol=61 -- \
	mapmint-probe inject bre "[$CE_MAP]:55300" "[2001:db8:6::1]:7000" $LO-$HI

# The device still translates routed traffic afterwards: a fragmented datagram through the
# CE's IPv4 route (with a route, fragmentation works), from a port of the CE's set.
ip addr add 192.0.2.8/32 dev cet
ip route add 203.0.113.56/32 dev cet
sysctl -qw net.ipv4.ip_local_port_range="55296 57343"
before=$(stat cet v4_to_v6_packets)
dropped=$(link_stat cet tx dropped)
mapmint-probe udp-send 203.0.113.56 7000 3000 2>/dev/null
translated=$(($(stat cet v4_to_v6_packets) - before))
if [ "$translated" -ge 3 ] && [ "$(link_stat cet tx dropped)" = "$dropped" ]; then
	pass "a routed 3000-byte datagram through the CE leaves in $translated translated fragments"
else
	fail "a routed 3000-byte datagram through the CE is translated" \
		"$translated translated, tx dropped $dropped -> $(link_stat cet tx dropped)"
fi

# --- hostile packets: every malformed shape of mapmint-probe's hostile.rs (truncations,
# header faults, options, fragments, nested ICMP errors, extension-header chains, tunnel
# packets, 64 KiB packets), then random mutations, into each role x mode, at MTU 1500 and at
# the device's largest MTU. The counters must explain every packet the device was handed:
# translated + ICMP errors + drops (by reason) = written, and tx_dropped = ICMP errors + drops.
# The debug kernel (~14 times slower) takes the largest MTU only, where 64 KiB packets pass
# the socket; the test kernel takes both.
HOSTILE_COUNT=12000 mtus="1500 65495"
if debug_kernel; then HOSTILE_COUNT=6000 mtus=65495; fi
# tally DEV: "translated icmp-errors drops tx_dropped" of DEV.
tally() {
	mapminctl stats dev "$1" | awk '
		/v4-to-v6 packets|v6-to-v4 packets/ { translated += $3 }
		/icmp-errors/ { icmp = $2 }
		/^    drops/ { drops = $2 }
		END { printf "%d %d %d", translated, icmp, drops }'
	echo " $(link_stat "$1" tx dropped)"
}
# top_drops DEV BEFORE_FILE: the drop reasons that grew most since BEFORE_FILE.
top_drops() {
	mapminctl stats dev "$1" | awk '/^        / { print $1, $2 }' >/tmp/after.drops
	awk 'FILENAME == ARGV[1] { before[$1] = $2; next } { d = $2 - before[$1]; if (d > 0) print d, $1 }' "$2" /tmp/after.drops |
		sort -rn | head -n 6 | awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }'
}
hostile() {
	local dev=$1 mtu=$2 seed=$3
	shift 3
	ip link set "$dev" mtu "$mtu"
	mapminctl stats dev "$dev" | awk '/^        / { print $1, $2 }' >/tmp/before.drops
	local t0 i0 d0 x0 t1 i1 d1 x1 out written refused
	read -r t0 i0 d0 x0 <<<"$(tally "$dev")"
	if ! out=$(mapmint-probe hostile "$dev" "$@" "$HOSTILE_COUNT" "$seed" 2>&1); then
		fail "$dev: hostile packets at mtu $mtu (seed $seed)" "mapmint-probe: $out"
		return
	fi
	read -r _ written _ refused <<<"$out"
	read -r t1 i1 d1 x1 <<<"$(tally "$dev")"
	local translated=$((t1 - t0)) icmp=$((i1 - i0)) drops=$((d1 - d0)) tx_dropped=$((x1 - x0))
	local explained=$((translated + icmp + drops))
	# (the socket refuses empty packets and those over the MTU: the device never sees them)
	if [ "$explained" = "$written" ] && [ "$tx_dropped" = $((icmp + drops)) ] &&
		[ $((written + refused)) -ge "$HOSTILE_COUNT" ] && [ $((refused * 20)) -le "$written" ]; then
		pass "$dev: $written hostile packets at mtu $mtu (seed $seed; $refused refused by the socket) all counted: $translated translated, $icmp ICMP errors, $drops dropped ($(top_drops "$dev" /tmp/before.drops))"
	else
		fail "$dev: hostile packets at mtu $mtu (seed $seed)" \
			"$written written ($refused refused), $translated translated + $icmp ICMP errors + $drops drops = $explained, tx_dropped grew by $tx_dropped"
	fi
}
SERVER4=203.0.113.56:7000 CE4=192.0.2.8:55300 BR6=2001:db8:6::1
# Without the CE's address and route the stack answers nothing through the devices: what
# they count is then exactly what was written into them.
ip route del 203.0.113.56/32 dev cet
ip addr del 192.0.2.8/32 dev cet
for mtu in $mtus; do
	hostile cet $mtu $mtu $CE4 $SERVER4 "[$SERVER6]:7000" "[$CE_MAP]:55300"
	hostile brt $mtu $mtu $SERVER4 $CE4 "[$CE_MAP]:55300" "[$SERVER6]:7000"
	hostile cee $mtu $mtu $CE4 $SERVER4 "[$BR6]:7000" "[$CE_MAP]:55300"
	hostile bre $mtu $mtu $SERVER4 $CE4 "[$CE_MAP]:55300" "[$BR6]:7000"
done
# The same against the address arithmetic of a legacy rule (a MAP-E CE; 192.0.2.8 PSID 0x1b,
# ports 4528-4543, ...) and of End-user prefixes longer than /64 (a MAP-T BR of /72s; CE
# 2001:db8:ce:100:8b00::/72 is 192.0.2.24 PSID 11, ports 1728-1791, ...).
printf '%s\n' "role ce" "mode e" "end-user-prefix 2001:db8:ce:81b::/64" \
	"bmr 2001:db8:ce::/48 192.0.2.0/24 ea-len 16 legacy" "fmr 2001:db8:ce::/48 192.0.2.0/24 ea-len 16 legacy" \
	"br 2001:db8:6::1" >/tmp/cel.conf
printf '%s\n' "role br" "mode t" "fmr 2001:db8:ce:100::/64 192.0.2.16/28 ea-len 8 psid-offset 6" \
	"dmr 64:ff9b::/96" >/tmp/brl.conf
for dev in cel brl; do
	check "$dev: a legacy / long-prefix device" mapminctl dev add $dev
	check "$dev: configured" mapminctl apply --config /tmp/$dev.conf dev $dev
	ip link set $dev up
done
CEL_MAP=2001:db8:ce:81b:c0:2:800:1b00 CE72_MAP=2001:db8:ce:100:8b00:c000:218:b
for mtu in $mtus; do
	hostile cel $mtu $mtu 192.0.2.8:4530 $SERVER4 "[$BR6]:7000" "[$CEL_MAP]:4530"
	hostile brl $mtu $mtu $SERVER4 192.0.2.24:1730 "[$CE72_MAP]:1730" "[$SERVER6]:7000"
done

# --- hostile packets received: the same frames written into the veth hv0, whose peer hv1 in
# the namespace rx receives them as its own (to its MAC): rx's mapmint device, with
# translate-on-receive, takes at PREROUTING what is addressed to it, before any route, as a
# MAP-T BR and then as a MAP-E CE. What it takes is counted; what it leaves goes on to the
# stack (and through the routes into the device); nothing may oops, and afterwards a good
# packet is still taken.
ip netns add rx
ip link add name hv0 type veth peer name hv1 netns rx
ip link set hv0 mtu 65535 up
ip -n rx link set lo up
ip -n rx link set hv1 mtu 65535 up
ip addr add 198.51.100.1/24 dev hv0
ip addr add 2001:db8:99::1/64 dev hv0 nodad
at_rx() { ip netns exec rx "$@"; }
at_rx sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
at_rx mapminctl dev add rxm
RX_MAC=$(at_rx cat /sys/class/net/hv1/address)
printf '%s\n' "role br" "mode t" "fmr $RULE" "dmr 64:ff9b::/96" "translate-on-receive on" >/tmp/rxt.conf
printf '%s\n' "role ce" "mode e" "end-user-prefix 2001:db8:ce:11b::/64" "bmr $RULE" "fmr $RULE" \
	"br $BR6" "translate-on-receive on" >/tmp/rxe.conf
check "rx: a BR taking packets at receipt" at_rx mapminctl apply --config /tmp/rxt.conf dev rxm
ip -n rx -batch - <<-IP
	link set rxm up
	addr add 198.51.100.2/24 dev hv1
	addr add 2001:db8:99::2/64 dev hv1 nodad
	route add default via 198.51.100.1
	route add ::/0 via 2001:db8:99::1
	route add 192.0.2.0/24 dev rxm
	route add 64:ff9b::/96 dev rxm
	route add $BR6/128 dev rxm
	route add 2001:db8:ce:11b::/64 dev rxm
IP
rx_stat() { at_rx mapminctl -j stats dev rxm | grep -o "\"$1\":[0-9]*" | head -n 1 | cut -d: -f2; }
# hostile_received CONF LABEL FLOWS...: rxm configured from CONF, the hostile packets of FLOWS
# (as hostile's) received on hv1.
hostile_received() {
	local conf=$1 label=$2 out r0 t0 written refused taken
	shift 2
	at_rx mapminctl apply --config "$conf" dev rxm >/dev/null
	r0=$(rx_stat translated_on_receive)
	if ! out=$(mapmint-probe hostile "hv0@$RX_MAC" "$@" "$HOSTILE_COUNT" 11 2>&1); then
		fail "$label: hostile packets received" "mapmint-probe: $out"
		return
	fi
	read -r _ written _ refused <<<"$out"
	sleep 1
	taken=$(($(rx_stat translated_on_receive) - r0))
	if [ "$taken" -gt 0 ] && [ "$taken" -lt "$written" ]; then
		pass "$label: $written hostile packets received ($refused refused by the socket), $taken taken at receipt and translated, the rest left to the stack or dropped"
	else
		fail "$label: hostile packets received" "$written written, $taken taken at receipt"
	fi
}
hostile_received /tmp/rxt.conf "rx, MAP-T BR" $SERVER4 $CE4 "[$CE_MAP]:55300" "[$SERVER6]:7000"
hostile_received /tmp/rxe.conf "rx, MAP-E CE" $CE4 $SERVER4 "[$BR6]:7000" "[$CE_MAP]:55300"
at_rx mapminctl apply --config /tmp/rxt.conf dev rxm >/dev/null
before=$(rx_stat translated_on_receive)
mapmint-probe inject "hv0@$RX_MAC" 203.0.113.56:7000 192.0.2.8:55300 100-100
sleep 0.5
check_eq "after them the BR still takes a good packet at receipt" 1 $(($(rx_stat translated_on_receive) - before))
ip netns del rx

ip addr add 192.0.2.8/32 dev cet
ip route add 203.0.113.56/32 dev cet
before=$(stat cet v4_to_v6_packets)
mapmint-probe udp-send 203.0.113.56 7000 100
check_eq "after the hostile packets the CE still translates a routed datagram" 1 $(($(stat cet v4_to_v6_packets) - before))

check "rmmod after the injections" rmmod mapmint
