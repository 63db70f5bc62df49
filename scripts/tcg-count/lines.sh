#!/usr/bin/env bash
# Where one of mapmint's functions spends its instructions, by source line: from one window of
# `scripts/bench.sh --count` (build/bench/count-smpN/window-NNN.txt), the instructions each line
# of FUNCTION executed per call of it, most first. Lines of functions inlined into it count as
# theirs (DEPTH 0, the default) or as the line of the caller DEPTH levels out that inlined them.
# KO must carry debug information for the code the window ran: bench.sh --count builds its
# module with it (build/module-bench/mapmint.ko; MAPMINT_MODULE_DEBUGINFO=1 for
# scripts/build-module.sh, which changes no instruction), and an alternative module for an A/B
# is built the same way in its own checkout.
# Usage: lines.sh WINDOW KO FUNCTION_REGEX [DEPTH [BASE]]
# FUNCTION_REGEX matches the demangled name (e.g. 'datapath::translate$'). BASE is the module's
# text address in the guest, which the window's BENCH-WINDOW line in results.log gives
# (default 0xffffffffa000e000, where the benchmark guest loads it).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 WINDOW KO FUNCTION_REGEX [DEPTH [BASE]]" >&2; exit 2; }
window=$1 ko=$2 pattern=$3 depth=${4:-0} base=${5:-0xffffffffa000e000}
base=${base#0x}
base=${base: -8}

# the function's extent in the module's .text: its start and the next symbol's
read -r start end < <(nm -n -C --defined-only "$ko" | awk -v pattern="$pattern" '
	$2 ~ /^[tT]$/ {
		name = $0; sub(/^[^ ]+ [^ ]+ /, "", name)
		if (found) { print start, $1; exit }
		if (name ~ pattern) { found = 1; start = $1 }
	}') || true
[ -n "${start:-}" ] || { echo "no function matching '$pattern' in $ko" >&2; exit 1; }

hex() { printf '%d' "0x$1"; }
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# The function's instructions, then the window's blocks: each executed instruction with its
# runs (all vCPUs), and the runs of the block at the function's entry (its calls).
objdump -d --no-show-raw-insn --start-address="$(hex "$start")" --stop-address="$(hex "$end")" -j .text "$ko" |
	awk '/^ *[0-9a-f]+:/ { sub(/:.*/, ""); gsub(/ /, ""); print "I", $0 }' |
	cat - <(awk '!/^#/ { print "W", $0 }' "$window") |
	awk -v base="$base" -v start="$start" '
	function hex(s,   i, n) {
		n = 0; s = tolower(s)
		for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
		return n
	}
	BEGIN { module_base = hex(base); entry = hex(start) }
	$1 == "I" { count++; at[hex($2)] = count; addr[count] = $2; next }
	$1 == "W" {
		a = hex($2) - module_base
		if (!(a in at)) next
		runs = 0
		for (i = 4; i <= NF; i++) runs += $i
		if (a == entry && runs > calls) calls = runs
		for (i = at[a]; i < at[a] + $3 && i <= count; i++) executed[addr[i]] += runs
	}
	END {
		for (x in executed) if (executed[x] > 0) print "0x" x, executed[x]
		print "calls", calls + 0
	}' >"$tmp"
calls=$(awk '$1 == "calls" { print $2 }' "$tmp")
[ "${calls:-0}" -gt 0 ] || { echo "the window has no call of the function" >&2; exit 1; }

# Each address's chain of inlined frames (innermost first), one source line per frame.
awk '$1 != "calls" { print $1 }' "$tmp" | addr2line -j .text -i -a -e "$ko" |
	awk -v depth="$depth" -v calls="$calls" -v file="$tmp" '
	BEGIN { while ((getline line < file) > 0) { split(line, f, " "); if (f[1] != "calls") runs[f[1]] = f[2] } }
	function flush() { if (cur != "") total[n > depth ? frame[depth] : frame[n - 1]] += runs[cur] }
	/^0x/ { flush(); cur = $1; sub(/^0x0*/, "0x", cur); n = 0; next }
	{
		sub(/ \(discriminator.*/, "")
		sub(/.*\/build\/module-[^\/]*\//, "module/")
		sub(/.*\/library\//, "library/")
		frame[n++] = $0
	}
	END {
		flush()
		for (line in total) { sum += total[line]; printf "%8.1f  %s\n", total[line] / calls, line }
		printf "%8.1f  (all, per call; %d calls)\n", sum / calls, calls
	}' | sort -k1,1 -n -r
