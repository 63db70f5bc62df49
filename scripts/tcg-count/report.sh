#!/usr/bin/env bash
# The report of `scripts/bench.sh --count`: from the instruction counter's windows (one per
# measurement), the guest kernel's instructions per vCPU for each load and topology, per MB
# carried (iperf3 loads) or per packet (pktgen), in all and by function: the functions whose
# counts differ most between the topologies first; then mapmint's functions' calls (all vCPUs)
# and instructions per call.
# Usage: report.sh RESULTS_LOG WINDOW_DIR SYSTEM_MAP MAPMINT_KO SECONDS [ROWS [ALT_KO]]
# ALT_KO: the module the topologies named *-alt ran (MAPMINT_BENCH_ALT_MODULE), to name its
# functions.
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: $0 RESULTS_LOG WINDOW_DIR SYSTEM_MAP MAPMINT_KO SECONDS [ROWS [ALT_KO]]" >&2; exit 2; }
results=$1 windows=$2 system_map=$3 module=$4 seconds=$5 rows=${6:-40} alt=${7:-}
shopt -s nullglob
files=("$windows"/window-*.txt)
[ ${#files[@]} -gt 0 ] || { echo "no windows in $windows" >&2; exit 1; }

{
	# kernel text and module symbols: "K|M ADDRESS NAME" (addresses hex: the kernel's less
	# 0xffffffff00000000, the module's from the start of its .text)
	awk '$2 ~ /^[tTwW]$/ && $1 ~ /^ffffffff/ { print "K", substr($1, 9), $3 }' "$system_map"
	# (the *-alt topologies' module as "A")
	for ko in "$module" $alt; do
		nm -n --defined-only -C "$ko" | awk -v kind="$([ "$ko" = "$module" ] && echo M || echo A)" '$2 ~ /^[tT]$/ {
			name = $0; sub(/^[^ ]+ [^ ]+ /, "", name); gsub(/mapmint_main::/, "", name); print kind, $1, "mapmint:" name }'
	done
	echo "--"
	tr -d '\r' <"$results" | grep -E '^BENCH ' || true
	echo "--"
	cat "${files[@]}"
} | awk -v seconds="$seconds" -v rows="$rows" '
	function hex(s,   i, c, n) {
		n = 0; s = tolower(s)
		for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; n = n * 16 + c }
		return n
	}
	# the symbol at or before address a, in the sorted list (addr[1..count], name[1..count]);
	# entry: whether a is where that symbol starts
	function lookup(a, addr, name, count,   lo, hi, mid) {
		lo = 1; hi = count; entry = 0
		if (count == 0 || a < addr[1]) return "?"
		while (lo < hi) { mid = int((lo + hi + 1) / 2); if (addr[mid] <= a) lo = mid; else hi = mid - 1 }
		entry = addr[lo] == a
		return name[lo]
	}
	# (the result channel is a serial line: CR LF)
	{ sub(/\r$/, "") }
	part == 0 && $0 == "--" { part = 1; next }
	part == 1 && $0 == "--" { part = 2; next }
	part == 0 && $1 == "K" { kn++; kaddr[kn] = hex($2); kname[kn] = $3; next }
	part == 0 && $1 == "M" { mn++; maddr[mn] = hex($2); name = $0; sub(/^M [^ ]+ /, "", name); mname[mn] = name; next }
	part == 0 && $1 == "A" { an++; aaddr[an] = hex($2); name = $0; sub(/^A [^ ]+ /, "", name); aname[an] = name; next }
	# BENCH TOPOLOGY LOAD ROUND VALUE UNIT
	part == 1 { value[$2, $3, $4] = $5; unit[$3] = $6; next }
	part == 2 && /^# BENCH-WINDOW begin / {
		topology = $4; load = $5; round = $6
		base = ($7 == "-" || $7 == "") ? -1 : hex(substr($7, length($7) - 7))
		counted = ((topology, load, round) in value) && value[topology, load, round] != "-"
		if (counted) {
			v = value[topology, load, round]
			amount[topology, load] += (unit[load] == "kpps") ? v * seconds * 1000 : v * seconds / 8
			nwindows[topology, load]++
			if (!((topology, load) in seen_pair)) { seen_pair[topology, load] = 1; tlist[load] = tlist[load] " " topology }
			if (!(load in seen_load)) { seen_load[load] = 1; loads[++nloads] = load }
		}
		next
	}
	part == 2 && /^#/ { next }
	part == 2 && counted {
		a = hex($1)
		if (base >= 0 && a >= base && a < base + 4194304 && an && topology ~ /-alt$/) s = lookup(a - base, aaddr, aname, an)
		else if (base >= 0 && a >= base && a < base + 4194304) s = lookup(a - base, maddr, mname, mn)
		else s = lookup(a, kaddr, kname, kn)
		# ADDRESS LENGTH RUNS-VCPU0 ...
		for (i = 3; i <= NF; i++) if ($i > 0) {
			cpu = i - 3; if (cpu + 1 > ncpus) ncpus = cpu + 1; n = $2 * $i
			count[topology, load, s, cpu] += n; total[topology, load, cpu] += n
			if (s ~ /^mapmint:/) {
				count[topology, load, "mapmint (all of the module)", cpu] += n
				insns[topology, load, s] += n; mfns[load, s] = 1
				if (entry) calls[topology, load, s] += $i
			}
			fns[load, s] = 1
		}
	}
	END {
		# lines "LOAD<TAB>SECTION<TAB>KEY<TAB>TEXT": 0 the headings, 1 the functions by how much
		# they differ between topologies, 2 and 3 the calls of mapmint functions, by instructions
		for (l = 1; l <= nloads; l++) {
			load = loads[l]; nt = split(substr(tlist[load], 2), tops, " ")
			per_packet = unit[load] == "kpps"
			scale = per_packet ? 1 : 1000
			out(0, 9, sprintf("%s: guest kernel instructions %s, per vCPU (vCPU 0 first); windows:", load, per_packet ? "per packet" : "per MB carried, thousands"))
			line = ""; for (t = 1; t <= nt; t++) line = line sprintf(" %s %d,", tops[t], nwindows[tops[t], load])
			out(0, 8, substr(line, 1, length(line) - 1))
			header = sprintf("%-58s", "function")
			for (c = 0; c < ncpus; c++) for (t = 1; t <= nt; t++) header = header sprintf(" %10s", c ":" substr(tops[t], 1, 8))
			out(0, 7, header)
			row = sprintf("%-58s", "all kernel code")
			for (c = 0; c < ncpus; c++) for (t = 1; t <= nt; t++) row = row sprintf(" %10.1f", total[tops[t], load, c] / amount[tops[t], load] / scale)
			out(0, 6, row)
			s = "mapmint (all of the module)"; row = sprintf("%-58s", s)
			for (c = 0; c < ncpus; c++) for (t = 1; t <= nt; t++) row = row sprintf(" %10.1f", count[tops[t], load, s, c] / amount[tops[t], load] / scale)
			out(0, 5, row)
			for (key in fns) {
				split(key, kk, SUBSEP); if (kk[1] != load) continue
				s = kk[2]; row = sprintf("%-58s", substr(s, 1, 58)); spread = 0; most = 0
				for (c = 0; c < ncpus; c++) {
					lo = hi = ""
					for (t = 1; t <= nt; t++) {
						x = count[tops[t], load, s, c] / amount[tops[t], load] / scale
						row = row sprintf(" %10.1f", x); if (x > most) most = x
						if (lo == "" || x < lo) lo = x; if (hi == "" || x > hi) hi = x
					}
					spread += hi - lo
				}
				# (ties, as with one topology, by the largest count)
				out(1, spread + most * 1e-6, row)
			}
			header = sprintf("%-58s", "mapmint functions: calls " (per_packet ? "per packet" : "per MB"))
			for (t = 1; t <= nt; t++) header = header sprintf(" %10s %10s", substr(tops[t], 1, 10), "insns/call")
			out(2, 1, "")
			out(2, 0, header)
			for (key in mfns) {
				split(key, kk, SUBSEP); if (kk[1] != load) continue
				s = kk[2]; row = sprintf("%-58s", substr(s, 1, 58)); most = 0
				for (t = 1; t <= nt; t++) {
					c = calls[tops[t], load, s]; x = insns[tops[t], load, s]
					row = row sprintf(" %10.2f %10s", c / amount[tops[t], load], c > 0 ? sprintf("%.0f", x / c) : "-")
					if (x / amount[tops[t], load] > most) most = x / amount[tops[t], load]
				}
				out(3, most, row)
			}
		}
	}
	function out(section, key, text) { printf "%s\t%d\t%.9g\t%s\n", load, section, key, text }
	' | sort -t "$(printf '\t')" -k1,1 -k2,2n -k3,3gr |
	awk -F '\t' -v rows="$rows" '$1 != last { if (last != "") print ""; last = $1 } { n[$1, $2]++ }
		$2 == 0 || $2 == 2 || n[$1, $2] <= rows { print $4 }'
