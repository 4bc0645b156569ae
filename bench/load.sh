#!/usr/bin/env bash
# Load benchmark of the event path over HTTP (docs/performance.md,
# "Event path over HTTP").
#
#   bench/load.sh [ceiling] [small] [scale] [crash]    (default: all four)
#
# ceiling  wrk against engine/server/examples/hello_axum.rs (same route
#          shape, no engine): the most this machine serves with axum
# small    krl serve with 1 pico, then with 1,000 picos, each at
#          concurrency 1 and 32, REPEAT runs of DURATION seconds
# scale    krl serve with 10,000 and 100,000 picos (SCALE): set-up time
#          through the admin API, then runs at concurrency 32, each event
#          to a pico drawn at random (PICK=random in bench/events.lua)
# crash    1,000 picos under load, kill -9, restart on the same data
#          folder: every acknowledged event must still be counted
#
# Environment: DURATION (s, default 15), REPEAT (3), SCALE ("10000 100000"),
# SCALE_FANOUT (100: picos per parent pico at scale; 0 = all under root),
# FLAT_MAX_SECONDS (120: time limit of the flat set-up at scale; 0 = no
# flat set-up), SETUP_WORKERS (32: set-up connections at scale),
# SETUP_PROCS (1: set-up client processes, each with SETUP_WORKERS),
# SETUP_WRK (1: the tree set-up's creations are sent by wrk, bench/create.lua,
# over SETUP_WORKERS x SETUP_PROCS connections; 0: by Python threads),
# WRK_THREADS (1), OUT (target/bench-load), KRL_BIN (a krl binary to
# measure instead of building this checkout's; KRL_ARGS: more flags for
# its `krl serve`).
#
# Needs: cargo, python3, wrk (apt-get install -y wrk). Every request goes
# to 127.0.0.1 only; every run is bounded by DURATION.
#
# After every krl run, each pico's counter is queried and checked against
# what wrk sent to it (bench/load.py verify). Results: $OUT/results.jsonl
# and the tables printed at the end (bench/load.py report).

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-15}
REPEAT=${REPEAT:-3}
SCALE=${SCALE:-"10000 100000"}
SCALE_FANOUT=${SCALE_FANOUT:-100}
FLAT_MAX_SECONDS=${FLAT_MAX_SECONDS:-120}
WRK_THREADS=${WRK_THREADS:-1}
OUT=${OUT:-$ROOT/target/bench-load}
TOKEN=T
PARTS=${*:-ceiling small scale crash}

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
LOAD="python3 $ROOT/bench/load.py"

if [ -n "${KRL_BIN:-}" ]; then
  KRL=$KRL_BIN
else
  echo "== build (release)" >&2
  cargo build --release -q -p krl --bin krl --example hello_axum
  KRL=$ROOT/target/release/krl
fi
HELLO=$ROOT/target/release/examples/hello_axum
SETUP_WORKERS=${SETUP_WORKERS:-32}
SETUP_WRK=${SETUP_WRK:-1}
SETUP_PROCS=${SETUP_PROCS:-1}
# shellcheck disable=SC2206 # flags, split on purpose
KRL_ARGS=(${KRL_ARGS:-})

PID=
DATA=
URL=

# start_server NAME COMMAND...: starts it, waits for "listening URL".
start_server() {
  local name=$1
  shift
  "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
  PID=$!
  for _ in $(seq 100); do
    URL=$(sed -n 's/^listening //p' "$OUT/$name.out")
    [ -n "$URL" ] && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not start:" >&2
  cat "$OUT/$name.err" >&2
  exit 1
}

start_krl() {
  DATA=${1:-$(mktemp -d)}
  start_server krl "$KRL" serve --listen 127.0.0.1:0 --data "$DATA" \
    --admin-token "$TOKEN" --no-mqtt "${KRL_ARGS[@]}"
}

stop_server() {
  kill -TERM "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
}

cleanup() {
  [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null || true
  [ -n "$DATA" ] && rm -rf "$DATA"
}
trap cleanup EXIT

# CPU seconds the whole machine was busy so far (all cores, from /proc/stat)
busy_s() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / {print ($2 + $3 + $4 + $7 + $8 + $9) / hz}' /proc/stat; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$PID/status"; }
# user + system CPU seconds of the server so far
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$PID/stat"; }

COUNTS=()
# run SCENARIO PICOS CONC REP ECIS [verify [PICK]]: one wrk run, one result row.
run() {
  local scenario=$1 picos=$2 conc=$3 rep=$4 ecis=$5 check=${6:-verify} pick=${7:-round}
  local tag="$scenario-$picos-c$conc-$rep"
  local counts=$OUT/counts-$tag.txt
  local threads=$WRK_THREADS
  [ "$conc" -lt "$threads" ] && threads=$conc
  local cpu0 cpu1 busy0 busy1 wrk_cpu
  cpu0=$(cpu_s)
  busy0=$(busy_s)
  wrk_cpu=$( { TIMEFORMAT='%U %S'; time PICK=$pick ECIS=$ecis COUNTS=$counts wrk -t"$threads" -c"$conc" \
    -d"${DURATION}s" --timeout 10s -s "$ROOT/bench/events.lua" "$URL" >"$OUT/wrk-$tag.txt" 2>&1; } 2>&1 |
    awk '{print $1 + $2}')
  cpu1=$(cpu_s)
  busy1=$(busy_s)
  local items=(kind=run scenario="$scenario" picos="$picos" conc="$conc" rep="$rep" pick="$pick"
    rss_kib="$(rss_kib)" hwm_kib="$(hwm_kib)" wrk_cpu_s="$wrk_cpu"
    cpu_s="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {print b - a}')"
    busy_s="$(awk -v a="$busy0" -v b="$busy1" 'BEGIN {print b - a}')"
    loadavg="$(cut -d' ' -f1 /proc/loadavg)" "@$OUT/wrk-$tag.txt")
  if [ "$check" = verify ]; then
    COUNTS+=("$counts")
    $LOAD verify "$URL" "${COUNTS[@]}" >"$OUT/verify-$tag.txt" || true
    items+=("@$OUT/verify-$tag.txt")
  fi
  $LOAD record "$RESULTS" "${items[@]}"
  tail -n 1 "$RESULTS" >&2
}

# setup SCENARIO N ECIS [load.py options]: picos through the admin API.
setup() {
  local scenario=$1 n=$2 ecis=$3
  shift 3
  local cpu0
  cpu0=$(cpu_s)
  $LOAD setup "$URL" "$TOKEN" "$n" "$ecis" "$@" >"$OUT/setup-$scenario.txt"
  $LOAD record "$RESULTS" kind=setup scenario="$scenario" rss_kib="$(rss_kib)" \
    hwm_kib="$(hwm_kib)" cpu_s="$(awk -v a="$cpu0" -v b="$(cpu_s)" 'BEGIN {print b - a}')" \
    loadavg="$(cut -d' ' -f1 /proc/loadavg)" \
    data_kib="$(du -sk "$DATA" | cut -f1)" "@$OUT/setup-$scenario.txt"
  tail -n 1 "$RESULTS" >&2
}

for part in $PARTS; do
  case $part in
  ceiling)
    echo "== ceiling: hello_axum" >&2
    start_server hello "$HELLO" 127.0.0.1:0
    echo ceiling-eci >"$OUT/ecis-hello.txt"
    for conc in 1 32; do
      for rep in $(seq "$REPEAT"); do
        run "hello_axum (ceiling)" 0 "$conc" "$rep" "$OUT/ecis-hello.txt" none
      done
    done
    stop_server
    ;;
  small)
    for n in 1 1000; do
      echo "== krl, $n picos" >&2
      start_krl
      COUNTS=()
      setup "krl-$n" "$n" "$OUT/ecis-$n.txt"
      for conc in 1 32; do
        for rep in $(seq "$REPEAT"); do
          run krl "$n" "$conc" "$rep" "$OUT/ecis-$n.txt"
        done
      done
      stop_server
      rm -rf "$DATA"
    done
    ;;
  scale)
    for n in $SCALE; do
      echo "== krl, $n picos (fanout $SCALE_FANOUT)" >&2
      start_krl
      COUNTS=()
      setup "krl-$n-tree" "$n" "$OUT/ecis-$n.txt" --workers "$SETUP_WORKERS" \
        --procs "$SETUP_PROCS" --fanout "$SCALE_FANOUT" --wrk "$SETUP_WRK"
      for rep in $(seq "$REPEAT"); do
        run krl "$n" 32 "$rep" "$OUT/ecis-$n.txt" verify random
      done
      stop_server
      rm -rf "$DATA"
      [ "$FLAT_MAX_SECONDS" -gt 0 ] || continue
      echo "== krl, $n picos all under the root (at most ${FLAT_MAX_SECONDS}s of creations)" >&2
      start_krl
      setup "krl-$n-flat" "$n" "$OUT/ecis-$n-flat.txt" --workers "$SETUP_WORKERS" \
        --procs "$SETUP_PROCS" --max-seconds "$FLAT_MAX_SECONDS"
      stop_server
      rm -rf "$DATA"
    done
    ;;
  crash)
    echo "== crash: 1,000 picos, kill -9 under load, restart" >&2
    start_krl
    COUNTS=()
    setup krl-crash 1000 "$OUT/ecis-crash.txt"
    ECIS=$OUT/ecis-crash.txt COUNTS=$OUT/counts-crash.txt wrk -t"$WRK_THREADS" -c32 \
      -d"${DURATION}s" -s "$ROOT/bench/events.lua" "$URL" >"$OUT/wrk-crash.txt" 2>&1 &
    WRK=$!
    sleep $((DURATION / 2))
    kill -KILL "$PID"
    wait "$PID" 2>/dev/null || true
    wait "$WRK" || true
    start_krl "$DATA"
    $LOAD verify "$URL" "$OUT/counts-crash.txt" >"$OUT/verify-crash.txt" || true
    $LOAD record "$RESULTS" kind=crash "@$OUT/verify-crash.txt"
    tail -n 1 "$RESULTS" >&2
    stop_server
    rm -rf "$DATA"
    ;;
  *)
    echo "unknown part $part (ceiling, small, scale, crash)" >&2
    exit 2
    ;;
  esac
done

$LOAD report "$RESULTS"
