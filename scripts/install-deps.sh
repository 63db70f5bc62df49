#!/usr/bin/env bash
# Installs everything mapmint's build and tests need on a Debian bookworm machine:
# Debian packages (as root), rustup's components and a pinned bindgen-cli and cargo-fuzz.
# Does nothing for what is already there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DEBIAN_PACKAGES=(
	linux-source-6.12 clang lld llvm libclang-dev flex bison bc libelf-dev libssl-dev
	cpio kmod xz-utils make
	qemu-system-x86 busybox-static iproute2 iptables nftables iperf3
	# perf, for `scripts/bench.sh --profile`
	linux-perf
	# libFuzzer's C++ sources, built by cargo-fuzz (scripts/fuzz.sh)
	g++
	# tests/packaging.sh: the unit checked by systemd-analyze, the module built by DKMS
	systemd dkms
	# tests/guest/dhcp.sh: real DHCPv6 clients running the hooks against a real server
	kea-dhcp6-server isc-dhcp-client dhcpcd-base
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; run this script as root (it uses apt-get)"
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v rustup >/dev/null || die "rustup not found: mapmint builds with the machine's rustup toolchain"
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	say "adding rustup component rust-src"
	rustup component add rust-src
fi

# tests/run.sh lints the workspace (the core's own denials only bite under clippy).
if ! cargo clippy --version >/dev/null 2>&1; then
	say "adding rustup component clippy"
	rustup component add clippy
fi

# The MAP core is checked to build without std for a bare-metal target, as the kernel needs.
if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-none; then
	say "adding rustup target x86_64-unknown-none"
	rustup target add x86_64-unknown-none
fi

if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
	say "installing cargo-fuzz $CARGO_FUZZ_VERSION"
	cargo install --locked --quiet "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi

if ! bindgen --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	say "installing bindgen-cli $BINDGEN_VERSION"
	cargo install --locked --quiet "bindgen-cli@$BINDGEN_VERSION"
fi
