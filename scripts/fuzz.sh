#!/usr/bin/env bash
# Runs every cargo-fuzz target of the MAP core (module/mapcore/fuzz and fuzz-xlat) for a
# bounded time each, starting from the committed seeds (and the corpus grown by earlier runs
# in build/fuzz-corpus). A crash or a panic fails the run; its reproducer is kept in
# build/fuzz-artifacts/TARGET/ and printed as hex, so a CI log alone is enough to replay it.
# Usage: scripts/fuzz.sh [SECONDS]   per target (default 20); MAPMINT_FUZZ_RUNS caps the
# executions per target (default 1000000), whichever comes first.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

seconds=${1:-20}
runs=${MAPMINT_FUZZ_RUNS:-1000000}
core=$MAPMINT_ROOT/module/mapcore
# out of the source tree, beside the other build products
export CARGO_TARGET_DIR=$MAPMINT_ROOT/build/fuzz-target
failed=0

# fuzz DIR TARGET SEEDS [LIBFUZZER-ARGS...]: one target for its share of time.
fuzz() {
	local dir=$1 target=$2 seeds=$3
	shift 3
	local corpus=$MAPMINT_ROOT/build/fuzz-corpus/$target
	local artifacts=$MAPMINT_ROOT/build/fuzz-artifacts/$target
	local log=$MAPMINT_ROOT/build/fuzz-$target.log
	mkdir -p "$corpus" "$artifacts"
	if (cd "$core" && RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir "$dir" "$target" "$corpus" "$seeds" -- \
		-max_total_time="$seconds" -runs="$runs" -artifact_prefix="$artifacts/" "$@") >"$log" 2>&1; then
		echo "fuzz $target: $(grep -E '^Done [0-9]+ runs' "$log" | tail -n 1)"
	else
		failed=$((failed + 1))
		echo "FAIL fuzz $target (log $log):"
		tail -n 40 "$log"
		local crash
		for crash in "$artifacts"/*; do
			[ -f "$crash" ] || continue
			echo "reproducer $crash:"
			od -An -tx1 -v "$crash"
		done
	fi
}

say "fuzzing the MAP core: each target ${seconds}s or $runs executions"
fuzz fuzz rule_text fuzz/seeds/rule_text -dict=fuzz/rule_text.dict
fuzz fuzz calc fuzz/seeds/calc
fuzz fuzz s46 fuzz/seeds/s46
for target in xlat_v4_to_v6 xlat_v6_to_v4 xlat_mape; do
	fuzz fuzz-xlat $target fuzz-xlat/seeds
done
fuzz fuzz-xlat domain fuzz-xlat/seeds-domain
[ "$failed" -eq 0 ] || die "$failed fuzz target(s) failed"
