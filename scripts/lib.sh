# Shared settings for mapmint's scripts. Sourced, not run.
# shellcheck shell=bash

MAPMINT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The kernel build lives outside the checkout so a fresh clone reuses it.
MAPMINT_CACHE=${MAPMINT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mapmint}
BINDGEN_VERSION=0.73.2
# cargo-fuzz, for scripts/fuzz.sh (the MAP core's fuzz targets, run by tests/run.sh)
CARGO_FUZZ_VERSION=0.13.2
KERNEL_FRAGMENT=$MAPMINT_ROOT/scripts/kernel/mapmint.config

# rustup installs cargo binaries (bindgen) here; make sure later steps find them.
export PATH="$HOME/.cargo/bin:$PATH"

die() { echo "mapmint: $*" >&2; exit 1; }
say() { echo "mapmint: $*" >&2; }

kernel_source_tarball() {
	local t
	t=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n 1)
	[ -n "$t" ] || die "no /usr/src/linux-source-6.12.tar.*: run scripts/install-deps.sh as root"
	echo "$t"
}

# kernel_fragments [VARIANT]: the config fragments to merge on top of tinyconfig, in order,
# one per line: ours, then for a kernel variant (e.g. bench) scripts/kernel/VARIANT.config.
# A variant of parts joined by "+" (bench+ip6tnl-module) merges each part's file in turn.
kernel_fragments() {
	local variant=${1:-} part
	echo "$KERNEL_FRAGMENT"
	[ -n "$variant" ] || return 0
	for part in ${variant//+/ }; do
		[ -f "$MAPMINT_ROOT/scripts/kernel/$part.config" ] ||
			die "no kernel variant '$part': scripts/kernel/$part.config does not exist"
		echo "$MAPMINT_ROOT/scripts/kernel/$part.config"
	done
}

# The cache key: the source package's version, the config fragments and the rustc
# that builds both kernel and module (its .rmeta files are version-locked). The hash is
# over the fragments' concatenation, so with our fragment alone (the test kernel) it is
# that file's hash, the key the test kernel has always had; a variant's name is in its key.
kernel_cache_dir() {
	local variant=${1:-} pkg fragments frag rustv
	pkg=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) ||
		die "linux-source-6.12 is not installed: run scripts/install-deps.sh as root"
	fragments=$(kernel_fragments "$variant") || exit 1
	frag=$(while IFS= read -r f; do cat "$f"; done <<<"$fragments" | sha256sum | cut -c1-12)
	rustv=$(rustc --version | awk '{print $2}')
	echo "$MAPMINT_CACHE/linux-$pkg-${variant:+$variant-}$frag-rustc$rustv"
}

# KDIR for module builds: the user's own, else our cached build.
default_kdir() {
	if [ -n "${KDIR:-}" ]; then echo "$KDIR"; else echo "$(kernel_cache_dir)/linux"; fi
}

# copy_module_sources DEST: module/'s sources (not its build products, nor the files bindgen
# generates) and the MAP core's into DEST, a tree `make M=DEST` builds mapmint.ko in.
copy_module_sources() {
	local dest=$1 f
	mkdir -p "$dest/mapcore"
	for f in "$MAPMINT_ROOT"/module/*; do
		case "${f##*/}" in
		bindings_generated.rs | bindings_wrappers.c | *.mod.c) ;;
		Kbuild | bindgen_allowlist | *.rs | *.c | *.h) cp -a "$f" "$dest/" ;;
		esac
	done
	cp -a "$MAPMINT_ROOT/module/mapcore/src" "$dest/mapcore/src"
}
