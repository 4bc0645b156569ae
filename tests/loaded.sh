#!/usr/bin/env bash
# The whole test suite under CPU load, several times (issue "tests that
# hold under load"): each round runs `cargo test --workspace` twice at
# once (two full runs competing for the machine's cores, as CI's busy
# machine does), with `stress-ng --cpu N` beside them when STRESS=N is
# given. The tests are built once first, so the rounds measure the tests,
# not the compiler. Every run's summary goes to OUT/summary.txt; a failed
# run keeps its whole output (OUT/run-R-I.log). Exits 1 if any run failed.
#
#   tests/loaded.sh                 # ROUNDS=5: ten runs, two at a time
#   ROUNDS=1 STRESS=2 tests/loaded.sh
#
# Environment: ROUNDS (5), STRESS (0: no stress-ng), OUT (target/loaded),
# KRL_REQUIRE_CHROMIUM as for `cargo test` (the browser tests).
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
STRESS=${STRESS:-0}
OUT=${OUT:-$(pwd)/target/loaded}
mkdir -p "$OUT"
: >"$OUT/summary.txt"
cargo test --workspace --no-run -q 2>/dev/null || { echo "the tests do not build" >&2; exit 2; }
failed=0
for r in $(seq "$ROUNDS"); do
    stress=
    if [ "$STRESS" != 0 ]; then
        stress-ng --cpu "$STRESS" --quiet &
        stress=$!
    fi
    start=$(date +%s)
    pids=()
    for i in 1 2; do
        cargo test --workspace -q >"$OUT/run-$r-$i.log" 2>&1 &
        pids+=($!)
    done
    for i in 1 2; do
        if wait "${pids[$((i - 1))]}"; then status=ok; else status=FAILED; failed=$((failed + 1)); fi
        passed=$(grep -o '[0-9]* passed' "$OUT/run-$r-$i.log" | awk '{s += $1} END {print s + 0}')
        fails=$(grep -o '[0-9]* failed' "$OUT/run-$r-$i.log" | awk '{s += $1} END {print s + 0}')
        line="round $r run $i: $status, $passed passed, $fails failed, load average $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "$line" | tee -a "$OUT/summary.txt"
        if [ $status = FAILED ]; then
            grep -E '^(test .* FAILED|---- |thread .* panicked)' "$OUT/run-$r-$i.log" | head -20 | tee -a "$OUT/summary.txt"
        else
            rm -f "$OUT/run-$r-$i.log"
        fi
    done
    [ -n "$stress" ] && kill "$stress" 2>/dev/null
    echo "round $r took $(($(date +%s) - start)) s" | tee -a "$OUT/summary.txt"
done
echo "$((ROUNDS * 2)) runs, $failed failed" | tee -a "$OUT/summary.txt"
[ "$failed" = 0 ]
