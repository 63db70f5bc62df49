#!/usr/bin/env bash
# Builds the guest's initramfs: busybox-static for the basics, bash for the test scripts,
# the real iproute2, iptables (legacy and nft front ends), nft and iperf3 with their shared
# libraries, the mapmint module, mapminctl and the guest test scripts.
# Usage: build-initramfs.sh MODULE.ko MAPMINCTL OUT.cpio.gz|OUT.cpio [EXTRA.ko...]
# EXTRA modules of the same kernel (the benchmark's pktgen.ko) go beside mapmint.ko in /mapmint/.
# MAPMINT_INITRAMFS_TOOLS: more host programs (absolute paths) to copy with their libraries
# (`scripts/bench.sh --profile` adds perf).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 3 ] || die "usage: $0 MODULE.ko MAPMINCTL OUT.cpio.gz [EXTRA.ko...]"
module=$1 ctl=$2 out=$3
extra_modules=("${@:4}")
[ -f "$module" ] || die "no module at $module (run make)"
for m in "${extra_modules[@]}"; do [ -f "$m" ] || die "no module at $m"; done
[ -x "$ctl" ] || die "no mapminctl at $ctl (run make ctl)"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc,proc,sys,dev,tmp,run,var/run,root,mapmint,tests}

# Copies a file to the same path inside the image, with its shared libraries.
declare -A copied=()
install_with_libs() {
	local file real
	for file in "$@"; do
		[ -n "${copied[$file]:-}" ] && continue
		copied[$file]=1
		[ -e "$file" ] || die "$file is missing on the host (scripts/install-deps.sh installs it)"
		mkdir -p "$root$(dirname "$file")"
		if [ -L "$file" ]; then
			real=$(readlink -f "$file")
			ln -sf "$real" "$root$file"
			install_with_libs "$real"
			continue
		fi
		cp "$file" "$root$file"
		install_libs_of "$file"
	done
}
install_libs_of() {
	local lib
	# ldd lists "name => /path (addr)" and the loader as "/path (addr)".
	for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
		install_with_libs "$lib"
	done
}

cp /bin/busybox "$root/bin/busybox"
install_with_libs /bin/bash /usr/bin/kmod /usr/bin/ip /sbin/genl /usr/sbin/xtables-legacy-multi /usr/sbin/xtables-nft-multi /usr/sbin/nft
install_with_libs /usr/bin/iperf3
for tool in ${MAPMINT_INITRAMFS_TOOLS:-}; do install_with_libs "$tool"; done
install_with_libs /usr/lib/x86_64-linux-gnu/xtables/*.so
install_with_libs "$(readlink -f /lib64/ld-linux-x86-64.so.2)"
ln -sf "$(readlink -f /lib64/ld-linux-x86-64.so.2)" "$root/lib64/ld-linux-x86-64.so.2"

# Real tools first; busybox applets fill in the rest (not the names real tools own).
ln -sf /usr/bin/ip "$root/sbin/ip"
# kmod's insmod, not busybox's, which retries a refused module with init_module.
for t in insmod rmmod lsmod modinfo modprobe; do ln -sf /usr/bin/kmod "$root/sbin/$t"; done
for t in iptables ip6tables; do
	for v in legacy nft; do
		ln -sf xtables-$v-multi "$root/usr/sbin/$t-$v"
		ln -sf xtables-$v-multi "$root/usr/sbin/$t-$v-save"
		ln -sf xtables-$v-multi "$root/usr/sbin/$t-$v-restore"
	done
	ln -sf $t-legacy "$root/usr/sbin/$t"
done
for applet in $(/bin/busybox --list); do
	case "$applet" in ip | bash | sh | busybox) continue ;; esac
	[ -e "$root/bin/$applet" ] || [ -e "$root/sbin/$applet" ] || [ -e "$root/usr/sbin/$applet" ] ||
		[ -e "$root/usr/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
ln -sf busybox "$root/bin/sh"

cat >"$root/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
dhcpcd:x:100:65534:DHCP Client Daemon:/usr/lib/dhcpcd:/bin/false
PW
cat >"$root/etc/group" <<'GR'
root:x:0:
nogroup:x:65534:
GR
for f in /etc/protocols /etc/services; do [ -f "$f" ] && cp "$f" "$root/etc/"; done

cp "$module" "$root/mapmint/mapmint.ko"
for m in "${extra_modules[@]}"; do cp "$m" "$root/mapmint/"; done
cp "$ctl" "$root/usr/sbin/mapminctl"
install_libs_of "$ctl"
# What scripts/install.sh puts beside it, where it puts it (the unit's command and the DHCPv6
# clients' hooks run in the guest as on an installed machine).
mkdir -p "$root/usr/local/sbin"
ln -s /usr/sbin/mapminctl "$root/usr/local/sbin/mapminctl"
install -D -m 0644 "$MAPMINT_ROOT/packaging/mapmint.service" "$root/etc/systemd/system/mapmint.service"
install -D -m 0644 "$MAPMINT_ROOT/packaging/dhclient-exit-hook" "$root/etc/dhcp/dhclient-exit-hooks.d/mapmint"
install -D -m 0644 "$MAPMINT_ROOT/packaging/dhcpcd-hook" "$root/usr/lib/dhcpcd/dhcpcd-hooks/70-mapmint"
install -D -m 0644 "$MAPMINT_ROOT/packaging/odhcp6c-script.sh" "$root/usr/share/mapmint/odhcp6c-script.sh"
install -D -m 0644 "$MAPMINT_ROOT/packaging/lease.sh" "$root/usr/share/mapmint/lease.sh"
# Test programs, built beside mapminctl: traffic endpoints and the netlink abuser.
for tool in mapmint-probe nlprobe; do
	[ -x "$(dirname "$ctl")/$tool" ] || die "no $tool beside $ctl (cargo build --release -p $tool)"
	cp "$(dirname "$ctl")/$tool" "$root/usr/bin/$tool"
	install_libs_of "$(dirname "$ctl")/$tool"
done
cp "$MAPMINT_ROOT"/tests/guest/*.sh "$root/tests/"
cp "$MAPMINT_ROOT/tests/guest/init" "$root/init"
chmod +x "$root/init" "$root"/tests/*.sh

mkdir -p "$(dirname "$out")"
# OUT named *.cpio is left uncompressed: a KASAN kernel under TCG takes seconds to inflate.
compress=(gzip -1)
case "$out" in *.cpio) compress=(cat) ;; esac
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | "${compress[@]}") >"$out.tmp"
mv "$out.tmp" "$out"
say "initramfs $out ($(du -h "$out" | cut -f1))"
