#!/usr/bin/env bash
# Instructions per event of the event path, counted by callgrind: a figure
# this shared, noisy machine does not move (docs/performance.md,
# "Instructions per event").
#
#   bench/instructions.sh [KRL_BIN...]
#
# For each build: `krl serve` (--no-mqtt, default durability) under
# valgrind's callgrind with instrumentation off; the counter (1 pico), the
# phone tree (CALLERS callers, the map filled and split first) and W1
# (hello) are warmed up, then instrumentation goes on and each workload
# runs DURATION seconds of wrk at concurrency 32, its counts dumped after
# it. Prints one line per build and workload: the user-space instructions
# of the whole process (every thread, the flusher's too) divided by the
# events answered. Kernel time (system calls, the disk) is not counted.
# Under valgrind one thread runs at a time and everything is ~50x slower,
# so fewer events share a flush than at full speed: compare builds with
# this script, not with the wall-clock figures.
#
# Environment: CALLERS (20000), DURATION (15), OUT
# (target/bench-instructions). Needs valgrind (apt-get install valgrind),
# wrk, curl, python3. Default build: target/release/krl.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CALLERS=${CALLERS:-20000}
DURATION=${DURATION:-15}
OUT=${OUT:-$ROOT/target/bench-instructions}
for tool in valgrind callgrind_control wrk; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install -y valgrind wrk)" >&2; exit 2; }
done
if [ $# -eq 0 ]; then
  cargo build --release -q -p krl --bin krl
  set -- "$ROOT/target/release/krl"
fi
export CALLERS
TOKEN=T
# api, field, pico (of the server at $URL)
. bench/lib.sh

# requests FILE: the events wrk had answered (its last line, bench/*.lua).
requests() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['requests'])" "$1"; }

n=0
for bin in "$@"; do
  n=$((n + 1))
  dir=$OUT/$n
  rm -rf "$dir"
  mkdir -p "$dir"
  data=$(mktemp -d)
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg.out" \
    "$bin" serve --listen 127.0.0.1:0 --data "$data" --admin-token T --no-mqtt \
    >"$dir/krl.out" 2>"$dir/krl.err" &
  vp=$!
  trap 'kill -KILL $vp 2>/dev/null || true; rm -rf "$data"' EXIT
  url=
  for _ in $(seq 300); do
    url=$(sed -n 's/^listening //p' "$dir/krl.out")
    [ -n "$url" ] && break
    sleep 0.5
  done
  [ -n "$url" ] || { cat "$dir/krl.err" >&2; exit 1; }
  URL=$url
  for f in counter phonetree hello; do
    api -H 'Content-Type: text/plain' --data-binary "@bench/$f.krl" "$url/api/rulesets" >/dev/null
  done
  pico bench.counter >"$dir/ecis-counter.txt"
  tree=$(pico bench.phonetree)
  pico bench.hello >"$dir/ecis-hello.txt"
  curl -sS -f -d "n=$CALLERS" "$url/sky/event/$tree/fill/bench/fill" >/dev/null
  curl -sS -f -d "From=%2B15550&Digits=1" "$url/sky/event/$tree/split/twilio/choice" >/dev/null
  # Warm-up, not counted: every caller's entry read once, the code paths run.
  ECI=$tree wrk -t1 -c32 -d15s -s bench/phonetree.lua "$url" >/dev/null
  ECIS=$dir/ecis-counter.txt wrk -t1 -c32 -d5s -s bench/events.lua "$url" >/dev/null
  ECIS=$dir/ecis-hello.txt METHOD=POST wrk -t1 -c32 -d3s -s bench/hello.lua "$url" >/dev/null
  callgrind_control -i on "$vp" >/dev/null
  ECIS=$dir/ecis-counter.txt wrk -t1 -c32 -d"${DURATION}s" -s bench/events.lua "$url" >"$dir/wrk-1.txt"
  callgrind_control -d counter "$vp" >/dev/null
  ECI=$tree wrk -t1 -c32 -d"${DURATION}s" -s bench/phonetree.lua "$url" >"$dir/wrk-2.txt"
  callgrind_control -d tree "$vp" >/dev/null
  ECIS=$dir/ecis-hello.txt METHOD=POST wrk -t1 -c32 -d"${DURATION}s" -s bench/hello.lua "$url" >"$dir/wrk-3.txt"
  callgrind_control -d hello "$vp" >/dev/null
  kill "$vp"
  wait "$vp" 2>/dev/null || true
  rm -rf "$data"
  trap - EXIT
  i=0
  for name in counter "phone tree" "W1 hello"; do
    i=$((i + 1))
    total=$(awk '/^totals:/ {print $2}' "$dir/cg.out.$i")
    events=$(requests "$dir/wrk-$i.txt")
    echo "$bin | $name | $((total / events)) instructions/event | $events events"
  done
done
