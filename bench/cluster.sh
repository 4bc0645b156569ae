#!/usr/bin/env bash
# The cluster's figures (docs/cluster.md, "Figures"): the counter workload
# (1,000 picos, each event to a pico drawn at random, concurrency 32) on
#
#   sled1  one node on sled (krl serve --data)
#   pg1    one node on PostgreSQL (--store)
#   pg3    three nodes on PostgreSQL: the picos made on n1, then n2 and n3
#          join and take their shards; one wrk per node (concurrency 11
#          each), every request to any pico (two in three are forwarded)
#
# interleaved in ROUNDS rounds of DURATION seconds. For each run: events/s,
# p50/p99 (wrk), CPU seconds per event of each node (/proc), and on
# PostgreSQL the statements per event (each node logs its count at
# shutdown) and the transactions per event (pg_stat_database). Every
# pico's counter is checked against what wrk had acknowledged.
#
# Environment: PG (a PostgreSQL server URL without database, e.g.
# postgres://postgres@127.0.0.1:5432; default: one started here with
# tests/cluster/pg.sh), ROUNDS (3), DURATION (10), PICOS (1000), KRL_BIN
# (default: a release build of this checkout), OUT (target/bench-cluster).
# Needs wrk, python3, psql. Loopback only; every run bounded.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
PICOS=${PICOS:-1000}
OUT=${OUT:-$ROOT/target/bench-cluster}
TOKEN=T
LOAD="python3 $ROOT/bench/load.py"
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }

if [ -n "${KRL_BIN:-}" ]; then
  KRL=$KRL_BIN
else
  cargo build --release -q -p krl --bin krl
  KRL=$ROOT/target/release/krl
fi

PGDIR=
PIDS=()
DATA=$(mktemp -d)
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  [ -n "$PGDIR" ] && bash "$ROOT/tests/cluster/pg.sh" stop "$PGDIR" >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT

if [ -z "${PG:-}" ]; then
  PGDIR=$(mktemp -d)
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  PG=$(bash "$ROOT/tests/cluster/pg.sh" start "$PGDIR" "$PORT" | tail -n 1)
  PG=${PG%/postgres}
fi

cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
# CPU seconds of every PostgreSQL process so far (the server's side).
pg_cpu() {
  local hz
  hz=$(getconf CLK_TCK)
  for p in $(pgrep -u postgres); do cat "/proc/$p/stat" 2>/dev/null; done |
    awk -v hz="$hz" '{s += $14 + $15} END {print s / hz}'
}
xacts() { psql "$PG/$1" -tAXqc "SELECT xact_commit FROM pg_stat_database WHERE datname = '$1'"; }

# start NAME ARGS...: a krl serve; sets STARTED_PID and STARTED_URL.
start() {
  local name=$1
  shift
  KRL_LOG=info "$KRL" serve --listen 127.0.0.1:0 --admin-token "$TOKEN" --no-mqtt "$@" \
    >"$OUT/$name.out" 2>"$OUT/$name.err" &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  for _ in $(seq 300); do
    STARTED_URL=$(sed -n 's/^listening //p' "$OUT/$name.out")
    [ -n "$STARTED_URL" ] && return 0
    kill -0 "$STARTED_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not start:" >&2
  cat "$OUT/$name.err" >&2
  exit 1
}

stop_all() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

# statements NAME...: the PostgreSQL statements the nodes logged at shutdown.
statements() {
  local total=0 n
  for name in "$@"; do
    n=$(grep -o 'read_statements=[0-9]* commit_statements=[0-9]*' "$OUT/$name.err" |
      tail -n 1 | tr -dc '0-9 =' | awk -F'[ =]' '{print $2 + $4}')
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

wait_owners() { # DB N: until N nodes own every shard
  for _ in $(seq 600); do
    [ "$(psql "$PG/$1" -tAXqc "SELECT count(DISTINCT owner) || ' ' || count(*) FILTER (WHERE owner IS NULL OR lease_until < now()) FROM krl_shards")" = "$2 0" ] && return 0
    sleep 0.1
  done
  echo "the shards did not settle on $2 nodes" >&2
  exit 1
}

# wrk_run TAG URL CONC: one wrk against URL over every pico.
wrk_run() {
  PICK=random ECIS="$OUT/ecis.txt" COUNTS="$OUT/counts-$1.txt" wrk -t1 -c"$3" -d"${DURATION}s" \
    --timeout 10s -s "$ROOT/bench/events.lua" "$2" >"$OUT/wrk-$1.txt" 2>&1
}

for round in $(seq "$ROUNDS"); do
  for mode in sled1 pg1 pg3; do
    tag=$mode-$round
    echo "== round $round: $mode" >&2
    db=
    case $mode in
    sled1)
      start "$tag" --data "$DATA/$tag"
      urls=("$STARTED_URL") pids=("$STARTED_PID") names=("$tag")
      ;;
    pg1 | pg3)
      db=krl_bench_$(echo "$tag" | tr -c 'a-z0-9\n' '_')
      psql "$PG/postgres" -tAXqc "DROP DATABASE IF EXISTS $db" >/dev/null
      psql "$PG/postgres" -tAXqc "CREATE DATABASE $db" >/dev/null
      start "$tag-n1" --data "$DATA/$tag-n1" --store "$PG/$db" --node-id n1
      urls=("$STARTED_URL") pids=("$STARTED_PID") names=("$tag-n1")
      wait_owners "$db" 1
      ;;
    esac
    $LOAD setup "${urls[0]}" "$TOKEN" "$PICOS" "$OUT/ecis.txt" --workers 16 >"$OUT/setup-$tag.txt"
    if [ "$mode" = pg3 ]; then
      for n in 2 3; do
        start "$tag-n$n" --data "$DATA/$tag-n$n" --store "$PG/$db" --node-id "n$n"
        urls+=("$STARTED_URL") pids+=("$STARTED_PID") names+=("$tag-n$n")
      done
      wait_owners "$db" 3
    fi
    cpu0=()
    for p in "${pids[@]}"; do cpu0+=("$(cpu_of "$p")"); done
    x0=0
    [ -n "$db" ] && x0=$(xacts "$db")
    pgc0=$(pg_cpu)
    if [ "$mode" = pg3 ]; then
      wrk_pids=()
      for i in 0 1 2; do
        wrk_run "$tag-$i" "${urls[$i]}" 11 &
        wrk_pids+=($!)
      done
      # Only the wrks: a bare `wait` would wait for the nodes too.
      wait "${wrk_pids[@]}"
      wrks=("$OUT/wrk-$tag-0.txt" "$OUT/wrk-$tag-1.txt" "$OUT/wrk-$tag-2.txt")
      counts=("$OUT/counts-$tag-0.txt" "$OUT/counts-$tag-1.txt" "$OUT/counts-$tag-2.txt")
    else
      wrk_run "$tag" "${urls[0]}" 32
      wrks=("$OUT/wrk-$tag.txt")
      counts=("$OUT/counts-$tag.txt")
    fi
    cpus=()
    for i in "${!pids[@]}"; do
      cpus+=("$(awk -v a="${cpu0[$i]}" -v b="$(cpu_of "${pids[$i]}")" 'BEGIN {print b - a}')")
    done
    x1=0
    [ -n "$db" ] && x1=$(xacts "$db")
    pgc=$(awk -v a="$pgc0" -v b="$(pg_cpu)" 'BEGIN {print b - a}')
    $LOAD verify "${urls[0]}" "${counts[@]}" >"$OUT/verify-$tag.txt" || true
    stop_all
    stmts=0
    [ -n "$db" ] && stmts=$(statements "${names[@]}")
    python3 - "$RESULTS" "$mode" "$round" "$((x1 - x0))" "$stmts" "${cpus[*]}" "$OUT/verify-$tag.txt" "$pgc" "${wrks[@]}" <<'EOF'
import json, re, sys
results, mode, rnd, xacts, stmts, cpus, verify, pgc = sys.argv[1:9]
wrks = sys.argv[9:]
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rate, p50, p99, acked = 0.0, [], [], 0
for w in wrks:
    line = [l for l in open(w) if l.startswith('{"requests"')][-1]
    r = json.loads(line)
    rate += r["ok_rps"]
    p50.append(r["p50_ms"])
    p99.append(r["p99_ms"])
    acked += r["acked"]
v = open(verify).read().strip()
cpu = [float(c) for c in cpus.split()]
events = acked or 1
row = {"mode": mode, "round": int(rnd), "events_s": round(rate), "p50_ms": max(p50),
       "p99_ms": max(p99), "acked": acked, "cpu_us_per_event_per_node": [round(c / events * 1e6) for c in cpu],
       "cpu_us_per_event": round(sum(cpu) / events * 1e6),
       "pg_cpu_us_per_event": round(float(pgc) / events * 1e6) if mode != "sled1" else 0,
       "pg_transactions_per_event": round(int(xacts) / events, 3),
       "pg_statements_per_event": round(int(stmts) / events, 3), "verify": v}
open(results, "a").write(json.dumps(row) + "\n")
print(json.dumps(row), file=sys.stderr)
EOF
  done
done

python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| mode | events/s (median) | p99 ms (median) | krl CPU µs/event, all nodes | µs/event per node | PostgreSQL CPU µs/event | PG statements/event | PG transactions/event |")
print("|---|---|---|---|---|---|---|---|")
for mode in ("sled1", "pg1", "pg3"):
    rs = [r for r in rows if r["mode"] == mode]
    if not rs:
        continue
    med = lambda k: statistics.median(r[k] for r in rs)
    per = [statistics.median(r["cpu_us_per_event_per_node"][i] for r in rs) for i in range(len(rs[0]["cpu_us_per_event_per_node"]))]
    print(f"| {mode} | {med('events_s'):.0f} | {med('p99_ms'):.1f} | {med('cpu_us_per_event'):.0f} | {per} | {med('pg_cpu_us_per_event'):.0f} | {med('pg_statements_per_event'):.2f} | {med('pg_transactions_per_event'):.3f} |")
EOF
