#!/usr/bin/env bash
# What the live trace and the pico's log cost the event path
# (docs/console.md, "What it costs"; docs/performance.md).
#
#   bench/trace.sh BASE_KRL HEAD_KRL
#
# BASE_KRL is a release `krl` built from a commit before the trace (and
# ctx:logs) existed, HEAD_KRL one with them. For each of REPEAT rounds,
# in turn: BASE, HEAD with nobody watching, HEAD with one watcher reading
# `GET /api/trace` (curl to /dev/null): one pico running bench/counter.krl,
# wrk at concurrency CONC for DURATION seconds. Prints events/s per run
# and the medians. Environment: DURATION (10), REPEAT (5), CONC (32),
# PICOS (1), HEAD_ARGS (flags for HEAD only; default `--durability
# relaxed`, so that a BASE from before durable acknowledgements is compared
# on the same footing), BASE_ARGS (flags for BASE only, default none).
# Loopback only; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BASE=$1
HEAD=$2
DURATION=${DURATION:-10}
REPEAT=${REPEAT:-5}
CONC=${CONC:-32}
PICOS=${PICOS:-1}
HEAD_ARGS=${HEAD_ARGS:---durability relaxed}
BASE_ARGS=${BASE_ARGS:-}
OUT=$(mktemp -d)
PID=
WATCH=
cleanup() {
  [ -n "$WATCH" ] && kill "$WATCH" 2>/dev/null || true
  [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT

one() { # BINARY WATCH(yes|no) EXTRA_ARGS -> events/s
  local bin=$1 watch=$2 data
  data=$(mktemp -d -p "$OUT")
  # shellcheck disable=SC2086
  "$bin" serve --listen 127.0.0.1:0 --data "$data" --admin-token T --no-mqtt $3 >"$OUT/out" 2>/dev/null &
  PID=$!
  local url=
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening //p' "$OUT/out")
    [ -n "$url" ] && break
    sleep 0.1
  done
  python3 "$ROOT/bench/load.py" setup "$url" T "$PICOS" "$OUT/ecis" >/dev/null
  if [ "$watch" = yes ]; then
    curl -sN -H "Authorization: Bearer T" "$url/api/trace" >/dev/null &
    WATCH=$!
  fi
  ECIS=$OUT/ecis wrk -t1 -c"$CONC" -d"${DURATION}s" -s "$ROOT/bench/events.lua" "$url" >"$OUT/wrk" 2>&1
  [ -n "$WATCH" ] && kill "$WATCH" 2>/dev/null || true
  WATCH=
  kill -TERM "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
  awk '/^Requests\/sec:/ {print $2}' "$OUT/wrk"
}

declare -A runs
for r in $(seq "$REPEAT"); do
  for mode in base head head+watcher; do
    case $mode in
    base) v=$(one "$BASE" no "$BASE_ARGS") ;;
    head) v=$(one "$HEAD" no "$HEAD_ARGS") ;;
    head+watcher) v=$(one "$HEAD" yes "$HEAD_ARGS") ;;
    esac
    echo "round $r $mode: $v events/s"
    runs[$mode]="${runs[$mode]:-} $v"
  done
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
b=$(echo "${runs[base]}" | median)
h=$(echo "${runs[head]}" | median)
w=$(echo "${runs[head+watcher]}" | median)
echo "median events/s: base $b, head $h ($(awk -v a="$h" -v b="$b" 'BEGIN {printf "%.3f", a / b}')x), head with a watcher $w ($(awk -v a="$w" -v b="$b" 'BEGIN {printf "%.3f", a / b}')x)"
