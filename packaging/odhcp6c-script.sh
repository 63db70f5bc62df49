# mapmint: a MAP-E/MAP-T CE from odhcp6c's S46 strings (OpenWrt). odhcp6c runs one script
# (-s SCRIPT) with the interface and a state, and hands it MAPE=, MAPT=, LW4O6= and
# PREFIXES=; ask for the options with -r94,95,96. Add this to that script (or call it from
# there with `. /usr/share/mapmint/odhcp6c-script.sh`), $2 being odhcp6c's state.
# Settings, all optional, in /etc/default/mapmint: MAPMINT_DEV (default mapmint),
# MAPMINT_NAT (nft, iptables or iptables-legacy), MAPMINT_LINK_MTU (the access link's MTU).
mapmint_odhcp6c() {
	local ctl dev nat mtu
	ctl=$(command -v mapminctl || echo /usr/local/sbin/mapminctl)
	[ -r /etc/default/mapmint ] && . /etc/default/mapmint
	dev=${MAPMINT_DEV:-mapmint}
	nat=${MAPMINT_NAT:+--nat $MAPMINT_NAT}
	mtu=${MAPMINT_LINK_MTU:+--link-mtu $MAPMINT_LINK_MTU}
	case "$1" in
	bound | updated | rebound | ra-updated)
		if [ -n "${MAPE}${MAPT}${LW4O6}" ]; then
			# shellcheck disable=SC2086 # (the optional words split on purpose)
			"$ctl" provision --env --apply --dev "$dev" $nat $mtu 2>&1 | logger -s -t mapmint
		elif [ -e "/run/mapmint/provision-$dev.json" ]; then
			"$ctl" provision --remove --dev "$dev" 2>&1 | logger -s -t mapmint
		fi
		;;
	unbound | stopped)
		[ ! -e "/run/mapmint/provision-$dev.json" ] || "$ctl" provision --remove --dev "$dev" 2>&1 | logger -s -t mapmint
		;;
	esac
}
mapmint_odhcp6c "$2"
