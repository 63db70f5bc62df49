# mapmint: what the DHCPv6 clients' hooks share (installed as /usr/share/mapmint/lease.sh).
# mapmint_lease bound: the lease is there (bound, renewed, rebound): with S46 options, the CE
#   from them (`provision --env --apply`: the same lease again changes nothing, a new one
#   replaces the old state); without, whatever an earlier lease put in place goes.
# mapmint_lease gone: the lease ended (expired, released, stopped): what it put in place goes.
# The client's hook environment carries the options (see mapminctl provision --env).
# Settings, all optional, in /etc/default/mapmint: MAPMINT_DEV (default mapmint),
# MAPMINT_NAT (nft, iptables or iptables-legacy), MAPMINT_LINK_MTU (the access link's MTU).
mapmint_lease() {
	local ctl dev nat mtu
	ctl=$(command -v mapminctl || echo /usr/local/sbin/mapminctl)
	[ ! -r /etc/default/mapmint ] || . /etc/default/mapmint
	dev=${MAPMINT_DEV:-mapmint}
	nat=${MAPMINT_NAT:+--nat $MAPMINT_NAT}
	mtu=${MAPMINT_LINK_MTU:+--link-mtu $MAPMINT_LINK_MTU}
	if [ "$1" = bound ] && [ -n "${new_dhcp6_s46_cont_mape}${new_dhcp6_s46_cont_mapt}${new_dhcp6_s46_cont_lw}${MAPE}${MAPT}${LW4O6}" ]; then
		# shellcheck disable=SC2086 # (the optional words split on purpose)
		"$ctl" provision --env --apply --dev "$dev" $nat $mtu 2>&1 | logger -s -t mapmint
	elif [ -e "/run/mapmint/provision-$dev.json" ]; then
		"$ctl" provision --remove --dev "$dev" 2>&1 | logger -s -t mapmint
	fi
}
