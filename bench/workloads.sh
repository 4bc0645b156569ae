#!/usr/bin/env bash
# The event path's workloads on one server, interleaved, with the bare
# axum ceiling (docs/performance.md, "The event path: workloads").
#
#   bench/workloads.sh
#
# One `krl serve` (release, --no-mqtt, default durability: every answer
# waits for its writes to be on stable storage) with:
#   W1        bench/hello.krl: one rule, a directive, no state (1 pico)
#   counter   bench/counter.krl: ent:n := ent:n + 1 (1 pico)
#   1k picos  the counter on 1,000 picos, round robin
#   phone tree  bench/phonetree.krl: ent:choices{[caller]} := digits from
#             CALLERS callers at random, the map filled first (one whole
#             write) and split by a first path write before measuring
# and `engine/server/examples/hello_axum.rs` (axum, the same route shape,
# a constant answer, no engine) as the ceiling. Each round runs every
# workload once for DURATION seconds at concurrency CONC, then W1 and the
# counter at concurrency 1 (and the ceiling, the machine's own tail);
# ROUNDS rounds; the table gives medians. The
# counters are verified after (bench/load.py verify: nothing acknowledged
# lost, nothing counted twice) and the phone tree's map must still have
# CALLERS entries.
#
# Environment: KRL_BIN (default: build release), HELLO_BIN (hello_axum;
# default: build), CALLERS (100000), DURATION (10), ROUNDS (3), CONC
# (32), OUT (target/bench-workloads).
# Needs: cargo, python3, curl, wrk. Loopback only; every run bounded.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CALLERS=${CALLERS:-100000}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONC=${CONC:-32}
OUT=${OUT:-$ROOT/target/bench-workloads}
TOKEN=T
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
if [ -z "${KRL_BIN:-}" ] || [ -z "${HELLO_BIN:-}" ]; then
  cargo build --release -q -p krl --bin krl --example hello_axum
fi
KRL_BIN=${KRL_BIN:-$ROOT/target/release/krl}
HELLO_BIN=${HELLO_BIN:-$ROOT/target/release/examples/hello_axum}

PIDS=()
DATA=$(mktemp -d)
trap 'kill -KILL "${PIDS[@]}" 2>/dev/null || true; rm -rf "$DATA"' EXIT
# start NAME COMMAND...: starts it; STARTED is its URL (its "listening" line).
start() {
  local name=$1
  shift
  "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
  PIDS+=($!)
  STARTED=
  for _ in $(seq 100); do
    STARTED=$(sed -n 's/^listening //p' "$OUT/$name.out")
    [ -n "$STARTED" ] && return 0
    sleep 0.1
  done
  cat "$OUT/$name.err" >&2
  exit 1
}
start krl "$KRL_BIN" serve --listen 127.0.0.1:0 --data "$DATA" --admin-token "$TOKEN" --no-mqtt
URL=$STARTED
KRL_PID=${PIDS[0]}
start hello "$HELLO_BIN" 127.0.0.1:0
CEILING=$STARTED

# api, field, pico
. bench/lib.sh

python3 bench/load.py setup "$URL" "$TOKEN" 1 "$OUT/ecis-1.txt" >/dev/null
python3 bench/load.py setup "$URL" "$TOKEN" 1000 "$OUT/ecis-1000.txt" --workers 16 >/dev/null
for f in hello phonetree; do
  api -H 'Content-Type: text/plain' --data-binary "@bench/$f.krl" "$URL/api/rulesets" >/dev/null
done
HELLO_ECI=$(pico bench.hello)
TREE_ECI=$(pico bench.phonetree)
echo "$HELLO_ECI" >"$OUT/ecis-hello.txt"
echo ceiling >"$OUT/ecis-ceiling.txt"
curl -sS -f -d "n=$CALLERS" "$URL/sky/event/$TREE_ECI/fill/bench/fill" >/dev/null
callers() { curl -sS -f "$URL/sky/cloud/$TREE_ECI/bench.phonetree/callers"; }
[ "$(callers)" = "$CALLERS" ] || { echo "the fill made $(callers) callers" >&2; exit 1; }
curl -sS -f -d "From=%2B15550&Digits=1" "$URL/sky/event/$TREE_ECI/split/twilio/choice" >/dev/null

RESULTS=$OUT/results.jsonl
: >"$RESULTS"
COUNTS=()
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$KRL_PID/stat"; }
# run NAME CONC ROUND wrk-args...: one wrk run, one result row.
run() {
  local name=$1 conc=$2 round=$3
  shift 3
  local out=$OUT/wrk-${name// /_}-c$conc-$round.txt cpu0 cpu1
  cpu0=$(cpu_s)
  wrk -t1 -c"$conc" -d"${DURATION}s" --timeout 10s "$@" >"$out"
  cpu1=$(cpu_s)
  echo "{\"workload\": \"$name\", \"conc\": $conc, \"round\": $round, \"loadavg\": $(cut -d' ' -f1 /proc/loadavg), \"krl_cpu_s\": $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {print b - a}'), \"wrk\": $(tail -n 1 "$out")}" >>"$RESULTS"
  tail -n 1 "$RESULTS" >&2
}
# Warm-up, not recorded.
ECI=$TREE_ECI DURATION=3 run warm-up "$CONC" 0 -s bench/phonetree.lua "$URL" >/dev/null 2>&1 || true
sed -i '/"warm-up"/d' "$RESULTS"
export CALLERS
for round in $(seq "$ROUNDS"); do
  ECIS=$OUT/ecis-ceiling.txt run "ceiling (hello_axum)" "$CONC" "$round" -s bench/events.lua "$CEILING"
  ECIS=$OUT/ecis-hello.txt METHOD=POST run "W1 hello" "$CONC" "$round" -s bench/hello.lua "$URL"
  ECIS=$OUT/ecis-1.txt COUNTS=$OUT/counts-1-$round.txt run "counter" "$CONC" "$round" -s bench/events.lua "$URL"
  COUNTS+=("$OUT/counts-1-$round.txt")
  ECIS=$OUT/ecis-1000.txt COUNTS=$OUT/counts-1000-$round.txt run "counter, 1,000 picos" "$CONC" "$round" -s bench/events.lua "$URL"
  COUNTS+=("$OUT/counts-1000-$round.txt")
  ECI=$TREE_ECI run "phone tree" "$CONC" "$round" -s bench/phonetree.lua "$URL"
  # The machine's own tail at concurrency 1: a constant answer, no engine.
  ECIS=$OUT/ecis-ceiling.txt run "ceiling (hello_axum)" 1 "$round" -s bench/events.lua "$CEILING"
  ECIS=$OUT/ecis-hello.txt run "W1 hello" 1 "$round" -s bench/hello.lua "$URL"
  ECIS=$OUT/ecis-1.txt COUNTS=$OUT/counts-1-c1-$round.txt run "counter" 1 "$round" -s bench/events.lua "$URL"
  COUNTS+=("$OUT/counts-1-c1-$round.txt")
done
python3 bench/load.py verify "$URL" "${COUNTS[@]}" >"$OUT/verify.txt" || { cat "$OUT/verify.txt" >&2; exit 1; }
[ "$(callers)" = "$CALLERS" ] || { echo "the map has $(callers) callers, not $CALLERS" >&2; exit 1; }
if grep -l 'Non-2xx' "$OUT"/wrk-*.txt >&2; then echo "answers that were not 200 (above)" >&2; exit 1; fi

python3 - "$RESULTS" "$OUT/verify.txt" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = []
for r in rows:
    k = (r["workload"], r["conc"])
    if k not in keys:
        keys.append(k)
med = {}
print("| workload | concurrency | events/s | p50 ms | p99 ms | krl CPU µs/event | load average |")
print("|---|---|---|---|---|---|---|")
for k in keys:
    rs = [r for r in rows if (r["workload"], r["conc"]) == k]
    m = lambda f: statistics.median(f(r) for r in rs)
    rps = m(lambda r: r["wrk"]["rps"])
    med[k] = rps
    cpu = m(lambda r: 1e6 * r["krl_cpu_s"] / max(1, r["wrk"]["requests"]))
    cpu = "" if k[0].startswith("ceiling") else f"{cpu:.0f}"
    print(f"| {k[0]} | {k[1]} | {rps:,.0f} | {m(lambda r: r['wrk']['p50_ms']):.2f} | "
          f"{m(lambda r: r['wrk']['p99_ms']):.2f} | {cpu} | {m(lambda r: r['loadavg']):.1f} |")
c = max(r["conc"] for r in rows)
ceiling = med.get(("ceiling (hello_axum)", c))
print(f"\nmedians of {len(rs)} rounds; W1 / ceiling: {med[('W1 hello', c)] / ceiling:.2f}; "
      f"phone tree / counter: {med[('phone tree', c)] / med[('counter', c)]:.2f}")
print("counters:", open(sys.argv[2]).read().strip())
PY
