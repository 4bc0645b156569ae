#!/usr/bin/env bash
# Map entity variables written by path against a counter, on one server
# (docs/performance.md, "Maps written by path").
#
#   bench/maps.sh
#
# One `krl serve` (release, --no-mqtt, default durability) with two
# picos: one runs bench/counter.krl (ent:n := ent:n + 1), the other
# bench/phonetree.krl, whose ent:choices is first filled with CALLERS
# callers (one event, a whole write) and then written by path,
# ent:choices{[caller]} := digits, by twilio:choice events from callers
# drawn at random among them (bench/phonetree.lua). The two workloads
# alternate, REPEAT runs of DURATION seconds each at concurrency CONC;
# the table gives the medians and the phone tree's rate as a share of
# the counter's. Afterwards the map must still have CALLERS entries and
# every counter event must be counted (bench/load.py verify).
#
# Environment: KRL_BIN (a krl binary; default: build release), CALLERS
# (100000), DURATION (10), REPEAT (3), CONC (32), OUT (target/bench-maps).
# Needs: cargo, python3, curl, wrk. Loopback only; every run bounded.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CALLERS=${CALLERS:-100000}
DURATION=${DURATION:-10}
REPEAT=${REPEAT:-3}
CONC=${CONC:-32}
OUT=${OUT:-$ROOT/target/bench-maps}
TOKEN=T
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
if [ -z "${KRL_BIN:-}" ]; then
  cargo build --release -q -p krl --bin krl
  KRL_BIN=$ROOT/target/release/krl
fi

DATA=$(mktemp -d)
"$KRL_BIN" serve --listen 127.0.0.1:0 --data "$DATA" --admin-token "$TOKEN" --no-mqtt \
  >"$OUT/krl.out" 2>"$OUT/krl.err" &
PID=$!
trap 'kill -KILL $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
URL=
for _ in $(seq 100); do
  URL=$(sed -n 's/^listening //p' "$OUT/krl.out")
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { cat "$OUT/krl.err" >&2; exit 1; }

api() { curl -sS -f -H "Authorization: Bearer $TOKEN" "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

python3 bench/load.py setup "$URL" "$TOKEN" 1 "$OUT/ecis-counter.txt" >/dev/null
api -H 'Content-Type: text/plain' --data-binary @bench/phonetree.krl "$URL/api/rulesets" >/dev/null
PICO=$(api -H 'Content-Type: application/json' -d '{"name": "phonetree"}' "$URL/api/picos")
ID=$(echo "$PICO" | json '["id"]')
ECI=$(echo "$PICO" | json '["eci"]')
api -H 'Content-Type: application/json' -d '{"rid": "bench.phonetree"}' "$URL/api/picos/$ID/rulesets" >/dev/null
t0=$(date +%s.%N)
curl -sS -f -d "n=$CALLERS" "$URL/sky/event/$ECI/fill/bench/fill" >/dev/null
t1=$(date +%s.%N)
count() { curl -sS -f "$URL/sky/cloud/$ECI/bench.phonetree/callers"; }
[ "$(count)" = "$CALLERS" ] || { echo "the fill made $(count) callers, not $CALLERS" >&2; exit 1; }
echo "filled $CALLERS callers in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s" >&2

# Warm-up, not recorded: the first path write splits the filled map into
# its entries (one batch of CALLERS keys), then both workloads run once.
curl -sS -f -d "From=%2B15550&Digits=1" "$URL/sky/event/$ECI/warm/twilio/choice" >/dev/null
ECIS=$OUT/ecis-counter.txt COUNTS=$OUT/counts-0.txt wrk -t1 -c"$CONC" -d3s --timeout 10s \
  -s bench/events.lua "$URL" >/dev/null
ECI=$ECI CALLERS=$CALLERS wrk -t1 -c"$CONC" -d3s --timeout 10s -s bench/phonetree.lua "$URL" >/dev/null

RESULTS=$OUT/results.jsonl
: >"$RESULTS"
COUNTS=("$OUT/counts-0.txt")
for rep in $(seq "$REPEAT"); do
  ECIS=$OUT/ecis-counter.txt COUNTS=$OUT/counts-$rep.txt wrk -t1 -c"$CONC" -d"${DURATION}s" \
    --timeout 10s -s bench/events.lua "$URL" >"$OUT/wrk-counter-$rep.txt"
  COUNTS+=("$OUT/counts-$rep.txt")
  echo "{\"workload\": \"counter\", \"rep\": $rep, \"loadavg\": $(cut -d' ' -f1 /proc/loadavg), \"wrk\": $(tail -n 1 "$OUT/wrk-counter-$rep.txt")}" >>"$RESULTS"
  ECI=$ECI CALLERS=$CALLERS wrk -t1 -c"$CONC" -d"${DURATION}s" --timeout 10s \
    -s bench/phonetree.lua "$URL" >"$OUT/wrk-phonetree-$rep.txt"
  echo "{\"workload\": \"phone tree\", \"rep\": $rep, \"loadavg\": $(cut -d' ' -f1 /proc/loadavg), \"wrk\": $(tail -n 1 "$OUT/wrk-phonetree-$rep.txt")}" >>"$RESULTS"
  tail -n 2 "$RESULTS" >&2
done
python3 bench/load.py verify "$URL" "${COUNTS[@]}" >"$OUT/verify.txt" || { cat "$OUT/verify.txt" >&2; exit 1; }
[ "$(count)" = "$CALLERS" ] || { echo "the map has $(count) callers, not $CALLERS" >&2; exit 1; }
grep -q 'Non-2xx' "$OUT"/wrk-phonetree-*.txt && { echo "phone tree answers that were not 200" >&2; exit 1; }

python3 - "$RESULTS" "$CALLERS" "$CONC" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {}
for w in ("counter", "phone tree"):
    rs = [r["wrk"] for r in rows if r["workload"] == w]
    med[w] = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms")}
print(f"| workload ({sys.argv[2]} callers, c={sys.argv[3]}, medians of {len(rs)}) | events/s | p50 ms | p99 ms |")
print("|---|---|---|---|")
for w, m in med.items():
    print(f"| {w} | {m['rps']:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} |")
print(f"\nphone tree / counter: {med['phone tree']['rps'] / med['counter']['rps']:.2f}")
PY
