#!/usr/bin/env bash
# Builds the pinned Rust-enabled test kernel (Debian's linux-source-6.12, tinyconfig plus
# scripts/kernel/mapmint.config, LLVM=1) once, in the cache outside the checkout.
# A second run with the same source, fragment and rustc does nothing.
# Prints the kernel tree (the KDIR for module builds) on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$MAPMINT_ROOT/scripts/install-deps.sh"

dir=$(kernel_cache_dir)
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

cp "$KERNEL_FRAGMENT" "$tree/kernel/configs/mapmint.config"
kmake -s tinyconfig >/dev/null
kmake -s mapmint.config >/dev/null

# merge_config.sh only warns when a symbol does not stick; a test kernel that silently
# lacks, say, CONFIG_RUST would fail much later and less clearly.
lost=()
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=n) sym=${line%=n}; grep -qx "# $sym is not set" "$tree/.config" || lost+=("$line") ;;
	CONFIG_*) grep -qx "$line" "$tree/.config" || lost+=("$line") ;;
	esac
done <"$KERNEL_FRAGMENT"
[ ${#lost[@]} -eq 0 ] || die "config symbols that did not stick (missing dependency?): ${lost[*]}"

say "building the kernel in $tree (about 5-6 minutes with 2 cores)"
kmake -j"$(nproc)" >"$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log" >&2; die "kernel build failed, log in $dir/build.log"; }
touch "$dir/built"
say "kernel built in $(( $(date +%s) - start )) s: $tree/arch/x86/boot/bzImage"
echo "$tree"
