#!/usr/bin/env bash
# Checks the install on the host, under a scratch DESTDIR (nothing of the machine's changes):
# scripts/install.sh puts every file in place with a module for the pinned kernel; the
# systemd unit passes `systemd-analyze verify` where it is installed; the DKMS configuration
# builds the module against the pinned kernel. (The unit's command, the hooks and the
# modprobe options run in the guest: scenario "persist" and "provision".)
# Usage: tests/packaging.sh KDIR
set -uo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$MAPMINT_ROOT"
kdir=$1
passed=0 failed=0
pass() { echo "[packaging] PASS $1"; passed=$((passed + 1)); }
fail() { echo "[packaging] FAIL $1: $2"; failed=$((failed + 1)); }
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "'$*' failed: $out"; fi
}

scratch=$(mktemp -d /tmp/mapmint-packaging.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
root=$scratch/root
kver=$(make -s -C "$kdir" kernelrelease)

check "install.sh --destdir with the pinned kernel's module" scripts/install.sh --destdir "$root" --kdir "$kdir" --module module/mapmint.ko
missing=
for f in /usr/local/sbin/mapminctl /etc/systemd/system/mapmint.service /etc/modules-load.d/mapmint.conf \
	/etc/modprobe.d/mapmint.conf /etc/dhcp/dhclient-exit-hooks.d/mapmint /usr/lib/dhcpcd/dhcpcd-hooks/70-mapmint \
	/usr/share/mapmint/odhcp6c-script.sh /usr/share/mapmint/lease.sh "/lib/modules/$kver/updates/mapmint.ko"; do
	[ -e "$root$f" ] || missing+=" $f"
done
if [ -z "$missing" ]; then pass "every file in place"; else fail "every file in place" "missing:$missing"; fi
vermagic=$(modinfo -F vermagic "$root/lib/modules/$kver/updates/mapmint.ko" 2>&1)
case "$vermagic" in
"$kver "*) pass "the installed module's vermagic is the pinned kernel's ($kver)" ;;
*) fail "the installed module's vermagic is the pinned kernel's" "$vermagic" ;;
esac
check "depmod under DESTDIR lists the module" grep -q "updates/mapmint.ko:" "$root/lib/modules/$kver/modules.dep"

# systemd-analyze verify loads the unit as a manager would at that root: the units it needs
# come from this machine's systemd, the command it runs must be there and executable.
mkdir -p "$root/usr/lib/systemd"
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
check "systemd-analyze verify mapmint.service" systemd-analyze verify --man=no --root="$root" /etc/systemd/system/mapmint.service
mv "$root/usr/local/sbin/mapminctl" "$scratch/mapminctl"
if systemd-analyze verify --man=no --root="$root" /etc/systemd/system/mapmint.service >/dev/null 2>&1; then
	fail "systemd-analyze verify fails without the unit's command" "it passed"
else
	pass "systemd-analyze verify fails without the unit's command (the check can fail)"
fi

# DKMS, in trees of its own: the sources install.sh --dkms puts in /usr/src, built for the
# pinned kernel's tree.
check "install.sh --dkms puts the module's sources in /usr/src" scripts/install.sh --destdir "$root" --dkms
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
mkdir -p "$scratch/dkms"
dkms_args=(-m mapmint -v "$version" --sourcetree "$root/usr/src" --dkmstree "$scratch/dkms")
check "dkms add" dkms add "${dkms_args[@]}"
out=$(MAPMINT_BINDGEN=$(command -v bindgen) dkms build "${dkms_args[@]}" -k "$kver" --kernelsourcedir "$kdir" 2>&1)
ko=$(find "$scratch/dkms/mapmint/$version/$kver" -name mapmint.ko 2>/dev/null | head -n 1)
if [ -n "$ko" ] && modinfo -F vermagic "$ko" | grep -q "^$kver "; then
	pass "dkms build makes mapmint.ko for $kver"
else
	fail "dkms build makes mapmint.ko for $kver" "$out $(cat "$scratch/dkms/mapmint/$version/build/make.log" 2>/dev/null | tail -n 20)"
fi

echo "[packaging] $passed passed, $failed failed"
[ "$failed" -eq 0 ]
