#!/bin/bash
# Scenario "basic": the mapmint netdevice skeleton in one guest, no namespaces.
#
#   [ping 203.0.113.56] --> default route --> mapmint (drops, counts tx_dropped)
#   [ping 2001:db8:ce:11b::99] --> 2001:db8:ce:11b::/64 --> mapmint
#
# Checks: bad module parameters are refused with a reason, the link's type and flags,
# packets routed into it are counted as tx drops, rmmod with routes and traffic is clean.
. /tests/lib.sh

ip link set lo up
check "mapminctl runs in the guest" mapminctl --version

# --- bad parameters: insmod fails with EINVAL and one line in dmesg saying why
bad_param() {
	local value=$1 reason=$2 out
	out=$(insmod "$MODULE" "ipv4_address=$value" 2>&1)
	if [ $? -eq 0 ]; then
		fail "refuses ipv4_address=$value" "insmod succeeded"
		rmmod mapmint
		return
	fi
	# kmod's insmod words EINVAL from init_module as "Invalid parameters".
	case "$out" in
	*"Invalid parameters"*) pass "refuses ipv4_address=$value with EINVAL" ;;
	*) fail "refuses ipv4_address=$value with EINVAL" "insmod said: $out" ;;
	esac
	check_eq "dmesg says once why ipv4_address=$value is bad" 1 \
		"$(dmesg | grep -F "mapmint: ipv4_address=\"$value\": " | grep -cF "$reason")"
	check_fails "no mapmint link after refused ipv4_address=$value" ip link show mapmint
}
bad_param garbage "not an IPv4 address"
bad_param 300.1.1.1/33 "not an IPv4 address"
bad_param 192.0.2.8/33 "prefix length is not a number from 0 to 32"
bad_param 192.0.2.8/ "prefix length is not a number from 0 to 32"

# --- a good parameter: the device exists with the right type, flags and MTU
check "insmod ipv4_address=192.0.2.8/32" insmod "$MODULE" ipv4_address=192.0.2.8/32
check "generic netlink family mapmint is registered" genl ctrl get name mapmint
if dmesg | grep -qF "mapmint: device mapmint registered, IPv4 address 192.0.2.8/32"; then
	pass "dmesg names the configured address"
else
	fail "dmesg names the configured address" "$(dmesg | grep mapmint)"
fi
link=$(ip -d link show mapmint)
case "$link" in
*"link/none"*) pass "link type is none (ARPHRD_NONE)" ;;
*) fail "link type is none (ARPHRD_NONE)" "$link" ;;
esac
case "$link" in
*"<POINTOPOINT,NOARP>"*) pass "flags are POINTOPOINT,NOARP while down" ;;
*) fail "flags are POINTOPOINT,NOARP while down" "$link" ;;
esac
check_eq "default MTU 1500" 1500 "$(cat /sys/class/net/mapmint/mtu)"
check_eq "type 65534 in sysfs" 65534 "$(cat /sys/class/net/mapmint/type)"
check_fails "MTU below IPv6's 1280 is refused" ip link set mapmint mtu 1279
check "MTU 1280 is accepted" ip link set mapmint mtu 1280
ip link set mapmint mtu 1500

check "ip link set mapmint up" ip link set mapmint up
case "$(ip link show mapmint)" in
*"<POINTOPOINT,NOARP,UP,LOWER_UP>"*) pass "link is UP,LOWER_UP" ;;
*) fail "link is UP,LOWER_UP" "$(ip link show mapmint)" ;;
esac
check "ip addr add 192.0.2.8/32 dev mapmint" ip addr add 192.0.2.8/32 dev mapmint
check "ip route add default dev mapmint" ip route add default dev mapmint
check "ip -6 route add 2001:db8:ce:11b::/64 dev mapmint" ip -6 route add 2001:db8:ce:11b::/64 dev mapmint
ip -6 addr add 2001:db8:6::2/128 dev lo

# --- packets into the device are dropped and counted as tx drops, nothing else
before=$(link_stat mapmint tx dropped)
ping -c 3 -i 0.2 -W 1 203.0.113.56 >/dev/null 2>&1
check_fails "no reply to ping through mapmint" ping -c 1 -W 1 203.0.113.56
after=$(link_stat mapmint tx dropped)
check_eq "4 IPv4 pings counted as 4 tx drops" 4 $((after - before))
before=$after
ping -6 -c 2 -i 0.2 -W 1 2001:db8:ce:11b::99 >/dev/null 2>&1
after=$(link_stat mapmint tx dropped)
check_eq "2 IPv6 pings counted as 2 tx drops" 2 $((after - before))
check_eq "nothing counted as transmitted" 0 "$(link_stat mapmint tx packets)"

# --- rmmod with routes present and traffic flowing
ping -i 0.05 203.0.113.56 >/dev/null 2>&1 &
pinger=$!
sleep 0.5
check "rmmod with routes and traffic" rmmod mapmint
kill "$pinger" 2>/dev/null
wait "$pinger" 2>/dev/null
check_fails "link gone after rmmod" ip link show mapmint
check_fails "generic netlink family gone after rmmod" genl ctrl get name mapmint
check_eq "default route gone with the device" "" "$(ip route show default)"

# --- the address parameter is optional (a BR has none); reload and unload again
check "insmod without parameters" insmod "$MODULE"
check "mapmint link exists again" ip link show mapmint
check "rmmod again" rmmod mapmint
