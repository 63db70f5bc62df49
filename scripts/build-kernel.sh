#!/usr/bin/env bash
# Builds the pinned Rust-enabled test kernel (Debian's linux-source-6.12, tinyconfig plus
# scripts/kernel/mapmint.config, LLVM=1) once, in the cache outside the checkout.
# A second run with the same source, fragments and rustc does nothing.
# Prints the kernel tree (the KDIR for module builds) on stdout.
# Usage: build-kernel.sh [VARIANT]   VARIANT (e.g. bench) merges scripts/kernel/VARIANT.config
# on top of mapmint.config, into a tree of its own in the cache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

variant=${1:-}
fragment_list=$(kernel_fragments "$variant")
mapfile -t fragments <<<"$fragment_list"

"$MAPMINT_ROOT/scripts/install-deps.sh"

dir=$(kernel_cache_dir "$variant")
tree=$dir/linux
mkdir -p "$dir"
exec 9>"$dir.lock"
flock 9

if [ -f "$dir/built" ]; then
	say "kernel cached in $tree"
	echo "$tree"
	exit 0
fi

start=$(date +%s)
if [ ! -f "$tree/Makefile" ]; then
	tarball=$(kernel_source_tarball)
	say "unpacking $tarball into $dir"
	rm -rf "$tree" "$dir/unpack"
	mkdir -p "$dir/unpack"
	tar -xf "$tarball" -C "$dir/unpack"
	mv "$dir/unpack"/linux-source-6.12 "$tree"
	rmdir "$dir/unpack"
fi

kmake() { make -C "$tree" ARCH=x86_64 LLVM=1 "$@"; }

kmake -s rustavailable >&2 || die "the Rust toolchain does not pass the kernel's rustavailable check (see above)"

kmake -s tinyconfig >/dev/null
# Each fragment is merged as a make target of kernel/configs/: ours as mapmint.config, a
# variant's as mapmint-VARIANT.config (no clash with the kernel's own fragments).
for f in "${fragments[@]}"; do
	name=mapmint.config
	[ "$f" = "$KERNEL_FRAGMENT" ] || name=mapmint-$(basename "$f")
	cp "$f" "$tree/kernel/configs/$name"
	kmake -s "$name" >/dev/null
done

# merge_config.sh only warns when a symbol does not stick; a test kernel that silently
# lacks, say, CONFIG_RUST would fail much later and less clearly. Every symbol of every
# fragment is checked, a later fragment's value winning over an earlier one's.
declare -A wanted=()
symbols=()
for f in "${fragments[@]}"; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*)
			sym=${line%%=*}
			[ -n "${wanted[$sym]:-}" ] || symbols+=("$sym")
			wanted[$sym]=$line
			;;
		esac
	done <"$f"
done
lost=()
for sym in "${symbols[@]}"; do
	line=${wanted[$sym]}
	case "$line" in
	*=n) grep -qx "# $sym is not set" "$tree/.config" || lost+=("$line") ;;
	*) grep -qx "$line" "$tree/.config" || lost+=("$line") ;;
	esac
done
[ ${#lost[@]} -eq 0 ] || die "config symbols that did not stick (missing dependency?): ${lost[*]}"

say "building the ${variant:-test} kernel in $tree (about 5-6 minutes with 2 cores${variant:+, more for a variant})"
kmake -j"$(nproc)" >"$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log" >&2; die "kernel build failed, log in $dir/build.log"; }
touch "$dir/built"
say "kernel built in $(( $(date +%s) - start )) s: $tree/arch/x86/boot/bzImage"
echo "$tree"
