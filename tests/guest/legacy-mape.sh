#!/bin/bash
# Scenario "legacy-mape": MAP-E with the legacy interface identifier of the drafts before RFC
# 7597 (the Japanese IPoE providers' format: 8 zero bits, the IPv4 address, the PSID, 8 zero
# bits), against the kernel's own ip6tnl on the other end, as OpenWrt builds a legacy CE.
#
#   c1 ── [ce81b] ip6tnl CE, 192.0.2.8 PSID 0x1b ───┐                  ┌─ mapmint BR 2001:db8:6::1
#         2001:db8:ce:81b::/64                      ├── [isp] ── [br] ─┤                     ── [server]
#   c2 ── [ce3b14] mapmint legacy CE, 192.0.2.59 ───┘                  └─ ip6tnl endpoint 2001:db8:6::2
#         PSID 0x14, 2001:db8:ce:3b14::/64
#
# Rule (BMR = FMR): 2001:db8:ce::/48 192.0.2.0/24 ea-len 16 legacy: 8 IPv4 suffix bits, an
# 8-bit PSID, and the legacy default PSID offset 4: 15 ranges of 16 ports per CE. The CEs'
# MAP addresses are computed here from the legacy layout (legacy_map_address), not by
# mapminctl. 1. A mapmint BR serves the ip6tnl CE (whose tunnel starts at that address);
# with an RFC 7597 rule instead, the same traffic is counted as source-mismatch. 2. The
# mapmint legacy CE reaches an ip6tnl tunnel end at 2001:db8:6::2 on the BR box, its NAPT
# spread over all 15 ranges. 3. The README's example: `mapminctl provision --legacy --apply`
# from the provider's parameters, against the mapmint BR. All carry ping, TCP and UDP to the
# server.
# guest-timeout: 300
. /tests/lib.sh
. /tests/lib-tutorial.sh

RULE="2001:db8:ce::/48 192.0.2.0/24 ea-len 16 legacy"
BR_TNL=2001:db8:6::2
pids=()

# legacy_map_address PREFIX64 IPV4 PSID: the first 64 bits (four groups), then 00, the IPv4
# address, the PSID in 16 bits, 00.
legacy_map_address() {
	local prefix=$1 psid=$3 o1 o2 o3 o4
	IFS=. read -r o1 o2 o3 o4 <<<"$2"
	printf '%s:%x:%x:%x:%x\n' "$prefix" "$o1" $(((o2 << 8) | o3)) $(((o4 << 8) | (psid >> 8))) $(((psid & 0xff) << 8))
}

# port_ranges PSID: the 15 ranges of 16 ports of offset 4 and an 8-bit PSID (A = 1..15).
port_ranges() {
	local a ranges=
	for a in $(seq 1 15); do
		ranges+="${ranges:+,}$(((a << 12) | ($1 << 4)))-$(((a << 12) | ($1 << 4) | 15))"
	done
	echo "$ranges"
}

A_IP=192.0.2.8 A_PSID=$((0x1b))
A_MAP=$(legacy_map_address 2001:db8:ce:81b $A_IP $A_PSID)
B_IP=192.0.2.59 B_PSID=$((0x14))
B_MAP=$(legacy_map_address 2001:db8:ce:3b14 $B_IP $B_PSID)
B_RANGES=$(port_ranges $B_PSID)
check_eq "the legacy address layout (CE 81b)" 2001:db8:ce:81b:c0:2:800:1b00 "$A_MAP"

# The module's parameters take a legacy rule too (the quoted rule syntax).
check "insmod with a legacy BMR" insmod "$MODULE" mode=e end_user_prefix=2001:db8:ce:81b::/64 \
	'bmr="2001:db8:ce::/48 192.0.2.0/24 ea-len 16 legacy"' br=2001:db8:6::1
check_eq "insmod: the default device's legacy MAP address" "    ce map-address $A_MAP" \
	"$(mapminctl dev show mapmint | grep 'map-address')"
check_eq "insmod: the rule shows as legacy, offset 4" "    bmr 2001:db8:ce::/48 192.0.2.0/24 ea-len 16 psid-offset 4 legacy" \
	"$(mapminctl dev show mapmint | grep ' bmr ')"
check "rmmod after insmod" rmmod mapmint

tutorial_isp_br e
mkdir -p /srv
head -c 2000000 /dev/urandom >/srv/file
at server httpd -p 80 -h /srv
at server mapmint-probe udp-echo 7001 &
pids+=($!)
rm -f /tmp/peers
at server mapmint-probe tcp-log 7002 /tmp/peers &
pids+=($!)

# --- 1. an ip6tnl CE (what OpenWrt's map.sh builds with LEGACYMAP=1) behind a mapmint BR
ce_box ce81b 2001:db8:ce:81b::/64 192.168.0 c1
batch ce81b <<-IP
	addr add $A_MAP/128 dev wan nodad
	link add name map type ip6tnl mode ipip6 local $A_MAP remote 2001:db8:6::1 encaplimit none
	link set dev map mtu 1460 up
	addr add $A_IP/32 dev map
	route add default dev map
IP
snat ce81b $A_IP "$(((1 << 12) | (A_PSID << 4)))-$(((1 << 12) | (A_PSID << 4) | 15))" nft map
check "[ip6tnl CE -> mapmint BR] ping c1 -> server" at c1 ping -c 2 -i 0.2 -W 3 $SERVER
rm -f /tmp/got
check "[ip6tnl CE -> mapmint BR] HTTP download c1 <- server (2 MB)" at c1 timeout 60 wget -q -O /tmp/got http://$SERVER/file
check_eq "[ip6tnl CE -> mapmint BR] download content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
check_eq "[ip6tnl CE -> mapmint BR] UDP c1 -> server and back" legacy "$(at c1 mapmint-probe udp-ask $SERVER 7001 legacy)"
# The BR with the same rule in RFC 7597's format reads that address as no CE's: counted, not
# delivered.
sed 's/ legacy$/ psid-offset 4/' /tmp/br.conf >/tmp/br-rfc.conf
check "the BR's rule without legacy" at br mapminctl apply --config /tmp/br-rfc.conf dev mapmint
before=$(drops br source-mismatch)
check_fails "[ip6tnl CE -> RFC 7597 BR] no ping" at c1 ping -c 2 -i 0.2 -W 1 $SERVER
after=$(drops br source-mismatch)
if [ "$after" -ge $((before + 2)) ]; then
	pass "[ip6tnl CE -> RFC 7597 BR] the legacy source counted as source-mismatch"
else
	fail "[ip6tnl CE -> RFC 7597 BR] the legacy source counted as source-mismatch" "$before -> $after"
fi
check "the BR's legacy rule again" at br mapminctl apply --config /tmp/br.conf dev mapmint

# --- 2. a mapmint legacy CE to an ip6tnl tunnel end on the BR box
batch isp <<-IP
	route add $BR_TNL/128 via 2001:db8:100:6::2
IP
batch br <<-IP
	addr add $BR_TNL/128 dev lo
	link add name legacy type ip6tnl mode ipip6 local $BR_TNL remote $B_MAP encaplimit none
	link set dev legacy mtu 1460 up
	route add $B_IP/32 dev legacy
IP
ce_box ce3b14 2001:db8:ce:3b14::/64 192.168.1 c2
at ce3b14 mapminctl dev add mapmint
cat >/tmp/ce3b14.conf <<-CONF
	role ce
	mode e
	end-user-prefix 2001:db8:ce:3b14::/64
	bmr $RULE
	br $BR_TNL
	mtu 1460
CONF
check "mapmint legacy CE: apply" at ce3b14 mapminctl apply --config /tmp/ce3b14.conf dev mapmint
check_eq "mapmint legacy CE: the address of the legacy layout" "    ce map-address $B_MAP" \
	"$(at ce3b14 mapminctl dev show mapmint | grep 'map-address')"
batch ce3b14 <<-IP
	link set mapmint up
	addr add $B_IP/32 dev mapmint
	route add default dev mapmint
	route add 2001:db8:ce:3b14::/64 dev mapmint
IP
snat_spread ce3b14 $B_IP "$B_RANGES" nft
check "[mapmint CE -> ip6tnl BR] ping c2 -> server" at c2 ping -c 2 -i 0.2 -W 3 $SERVER
rm -f /tmp/got
check "[mapmint CE -> ip6tnl BR] HTTP download c2 <- server (2 MB)" at c2 timeout 60 wget -q -O /tmp/got http://$SERVER/file
check_eq "[mapmint CE -> ip6tnl BR] download content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
check_eq "[mapmint CE -> ip6tnl BR] UDP c2 -> server and back" legacy "$(at c2 mapmint-probe udp-ask $SERVER 7001 legacy)"

# --- the NAPT spreads over all 15 ranges of 16 ports
: >/tmp/peers
check "45 TCP connections from c2" at c2 mapmint-probe tcp-many $SERVER 7002 45
used=$(while read -r ip port; do
	[ "$ip" = $B_IP ] || { echo "foreign $ip"; continue; }
	for range in ${B_RANGES//,/ }; do
		if in_range "$port" "$range"; then echo "$range"; continue 2; fi
	done
	echo "outside $port"
done </tmp/peers | sort -u)
check_eq "the server saw 45 connections from $B_IP" 45 "$(grep -c "^$B_IP " /tmp/peers)"
check_eq "every source port in the set, all 15 ranges used" "15 0" \
	"$(echo "$used" | grep -c '^[0-9]') $(echo "$used" | grep -c -v '^[0-9]')"

# --- 3. the README's way ("MAP-E with a Japanese IPoE provider"): the provider's published
#     parameters in OpenWrt's notation, one command to traffic, against the mapmint BR
C_IP=192.0.2.90 C_PSID=$((0x33))
C_MAP=$(legacy_map_address 2001:db8:ce:5a33 $C_IP $C_PSID)
ce_box ce5a33 2001:db8:ce:5a33::/64 192.168.2 c3
check "README: provision --legacy --apply" at ce5a33 mapminctl provision \
	--odhcp6c "type=map-e,ealen=16,prefix4len=24,prefix6len=48,ipv4prefix=192.0.2.0,ipv6prefix=2001:db8:ce::,br=2001:db8:6::1," \
	--prefix 2001:db8:ce:5a33::/64 --legacy --link-mtu 1500 --apply
check_eq "README: the CE's address is the legacy one" "    ce map-address $C_MAP" \
	"$(at ce5a33 mapminctl dev show mapmint | grep 'map-address')"
check "[README CE -> mapmint BR] ping c3 -> server" at c3 ping -c 2 -i 0.2 -W 3 $SERVER
rm -f /tmp/got
check "[README CE -> mapmint BR] HTTP download c3 <- server (2 MB)" at c3 timeout 60 wget -q -O /tmp/got http://$SERVER/file
check_eq "[README CE -> mapmint BR] download content" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
check_eq "[README CE -> mapmint BR] UDP c3 -> server and back" legacy "$(at c3 mapmint-probe udp-ask $SERVER 7001 legacy)"

for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
check "rmmod mapmint" rmmod mapmint
