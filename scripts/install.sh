#!/usr/bin/env bash
# Installs mapmint on this machine (as root), or under DESTDIR for a package:
#   the module         /lib/modules/KVER/updates/mapmint.ko (then depmod)
#   mapminctl          /usr/local/sbin/mapminctl
#   mapmint.service    /etc/systemd/system/ (restores what `mapminctl save` wrote, at boot)
#   load at boot       /etc/modules-load.d/mapmint.conf, options in /etc/modprobe.d/mapmint.conf
#   DHCPv6 hooks       /etc/dhcp/dhclient-exit-hooks.d/mapmint (isc-dhcp-client),
#                      /usr/lib/dhcpcd/dhcpcd-hooks/70-mapmint (dhcpcd),
#                      /usr/share/mapmint/odhcp6c-script.sh (for OpenWrt's odhcp6c script),
#                      all three calling /usr/share/mapmint/lease.sh
# The module is built for KDIR (default: the running kernel's /lib/modules/KVER/build, which
# must be a Rust-enabled kernel built by this machine's rustc; see the README). --dkms puts
# the module's sources (with dkms.conf) in /usr/src/mapmint-VERSION instead and, unless
# under DESTDIR, has DKMS add, build and install them for every kernel to come.
# --module KO installs a mapmint.ko built already (for KDIR's kernel) instead of building one.
# Usage: install.sh [--destdir DIR] [--kdir KDIR [--module KO] | --no-module | --dkms]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$MAPMINT_ROOT"

destdir= kdir= module=1 prebuilt=
while [ $# -gt 0 ]; do
	case $1 in
	--destdir) destdir=$2; shift 2 ;;
	--kdir) kdir=$2; shift 2 ;;
	--module) prebuilt=$2; shift 2 ;;
	--no-module) module=0; shift ;;
	--dkms) module=dkms; shift ;;
	*) die "usage: $0 [--destdir DIR] [--kdir KDIR [--module KO] | --no-module | --dkms]" ;;
	esac
done
[ -n "$destdir" ] || [ "$(id -u)" = 0 ] || die "installing into / needs root (or give --destdir)"

put() { install -D -m "$1" "$2" "$destdir$3"; echo "installed $destdir$3"; }

cargo build --release --locked -p mapminctl >&2
put 0755 target/release/mapminctl /usr/local/sbin/mapminctl
put 0644 packaging/mapmint.service /etc/systemd/system/mapmint.service
put 0644 packaging/modules-load.conf /etc/modules-load.d/mapmint.conf
put 0644 packaging/modprobe.conf /etc/modprobe.d/mapmint.conf
put 0644 packaging/dhclient-exit-hook /etc/dhcp/dhclient-exit-hooks.d/mapmint
put 0644 packaging/dhcpcd-hook /usr/lib/dhcpcd/dhcpcd-hooks/70-mapmint
put 0644 packaging/odhcp6c-script.sh /usr/share/mapmint/odhcp6c-script.sh
put 0644 packaging/lease.sh /usr/share/mapmint/lease.sh
install -d -m 0755 "$destdir/etc/mapmint"

if [ $module = dkms ]; then
	version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
	src=$destdir/usr/src/mapmint-$version
	rm -rf "$src"
	mkdir -p "$src"
	cp dkms.conf Kbuild "$src/"
	copy_module_sources "$src/module"
	echo "installed the module's sources in $src"
	if [ -z "$destdir" ]; then
		dkms remove -m mapmint -v "$version" --all 2>/dev/null || true
		dkms add -m mapmint -v "$version"
		dkms autoinstall
	fi
elif [ $module = 1 ]; then
	kdir=${kdir:-/lib/modules/$(uname -r)/build}
	[ -f "$kdir/Makefile" ] || die "no kernel tree at $kdir: give --kdir, or --no-module"
	grep -q '^CONFIG_RUST=y' "$kdir/.config" 2>/dev/null || die "$kdir is not a Rust-enabled kernel (CONFIG_RUST)"
	kver=$(make -s -C "$kdir" kernelrelease)
	ko=${prebuilt:-$(scripts/build-module.sh "$kdir" "install-$kver")}
	put 0644 "$ko" "/lib/modules/$kver/updates/mapmint.ko"
	if [ -z "$destdir" ]; then depmod "$kver"; else depmod -b "$destdir" "$kver" 2>/dev/null || true; fi
fi
