#!/bin/bash
# Scenario "demo" (the README's first command): the seed's Jool tutorial topology in MAP-T
# (see lib-tutorial.sh), then a ping and an HTTP download from the LAN host c1 through
# CE "11b" and the BR to the IPv4 server, and the counters of both mapmint devices.
. /tests/lib.sh
. /tests/lib-tutorial.sh

# show NS CMD...: prints the command and its output to the host.
show() {
	local ns=$1
	shift
	echo "[$ns]\$ $*" >&3
	at "$ns" "$@" >&3 2>&1
}

tutorial t nft
echo "--- CE 11b and the BR, configured with mapminctl apply:" >&3
show ce11b mapminctl dev show mapmint
show br mapminctl dev show mapmint
echo "--- from the LAN host c1 (192.168.0.4) to the server 203.0.113.56:" >&3
show c1 ping -c 3 -i 0.3 $SERVER
mkdir -p /srv
head -c 6000000 /dev/urandom >/srv/file
at server httpd -p 80 -h /srv
sleep 0.3
start=$(cut -d' ' -f1 /proc/uptime)
show c1 timeout 120 wget -O /tmp/got http://$SERVER/file
seconds=$(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { print b - a }')
echo "downloaded $(wc -c </tmp/got) bytes in ${seconds}s (QEMU without KVM)" >&3
check_eq "the download arrived intact" "$(sha256sum </srv/file)" "$(sha256sum </tmp/got)"
echo "--- counters:" >&3
show ce11b mapminctl stats
show br mapminctl stats
show ce11b ip -s link show mapmint
