#!/usr/bin/env bash
# MQTT round trips (docs/performance.md, "MQTT round trips"): a message
# to krl serve's broker -> `mqtt message` event on a pico -> the rule's
# mqtt:publish back -> the client, with N messages in flight
# (engine/server/examples/mqtt_rtt.rs). Two brokers: the embedded one
# (--mqtt-listen 127.0.0.1:0) and mosquitto (--mqtt-url, when installed).
#
#   bench/mqtt.sh                 # both brokers, concurrency 1 and 16
#
# Environment: SECONDS_PER_RUN (10), REPEAT (3), CONCURRENCY ("1 16"),
# BROKERS ("embedded mosquitto"), OUT (target/bench-mqtt).
# Each (broker, concurrency) run gets a fresh krl serve and data folder,
# with as many picos as messages in flight. Prints one JSON line per run
# and the medians at the end.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN_SECONDS=${SECONDS_PER_RUN:-10}
REPEAT=${REPEAT:-3}
CONCURRENCY=${CONCURRENCY:-"1 16"}
BROKERS=${BROKERS:-"embedded mosquitto"}
OUT=${OUT:-$ROOT/target/bench-mqtt}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
export PATH="$PATH:/usr/sbin"

echo "== build (release)" >&2
cargo build --release -q -p krl --bin krl --example mqtt_rtt
KRL=$ROOT/target/release/krl
RTT=$ROOT/target/release/examples/mqtt_rtt

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_one() { # broker concurrency
  local broker=$1 n=$2 dir flags mq_pid= port
  dir=$(mktemp -d)
  if [ "$broker" = mosquitto ]; then
    port=$(free_port)
    chmod 777 "$dir"
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 100\nset_tcp_nodelay true\n' "$port" >"$dir/m.conf"
    mosquitto -c "$dir/m.conf" >"$dir/mosquitto.log" 2>&1 &
    mq_pid=$!
    PIDS+=("$mq_pid")
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
    flags=(--mqtt-url "mqtt://127.0.0.1:$port")
  else
    flags=(--mqtt-listen 127.0.0.1:0)
  fi
  "$KRL" serve --listen 127.0.0.1:0 --data "$dir/data" --admin-token T "${flags[@]}" \
    >"$dir/out" 2>"$dir/err" &
  local pid=$!
  PIDS+=("$pid")
  until grep -q '^mqtt ' "$dir/out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/err" >&2; exit 1; }
    sleep 0.05
  done
  local url mqtt
  url=$(sed -n 's/^listening //p' "$dir/out")
  mqtt=$(sed -n 's/^mqtt //p' "$dir/out")
  "$RTT" --url "$url" --token T --mqtt "$mqtt" --concurrency "$n" --picos "$n" \
    --seconds "$RUN_SECONDS" | sed "s/^{/{\"broker\":\"$broker\",/" | tee -a "$RESULTS"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  if [ -n "$mq_pid" ]; then kill "$mq_pid"; wait "$mq_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}

for broker in $BROKERS; do
  if [ "$broker" = mosquitto ] && ! command -v mosquitto >/dev/null; then
    echo "mosquitto is not installed (apt-get install -y mosquitto): skipped" >&2
    continue
  fi
  for n in $CONCURRENCY; do
    for _ in $(seq "$REPEAT"); do
      run_one "$broker" "$n"
    done
  done
done

echo "== medians of $REPEAT runs of ${RUN_SECONDS} s" >&2
python3 - "$RESULTS" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    groups.setdefault((r["broker"], r["concurrency"]), []).append(r)
print("| broker | in flight (picos) | round trips/s | p50 ms | p99 ms |")
print("|---|---|---|---|---|")
for (b, n), rs in groups.items():
    med = lambda k: statistics.median(r[k] for r in rs)
    print(f"| {b} | {n} | {med('per_second'):,.0f} | {med('p50_ms'):.2f} | {med('p99_ms'):.2f} |")
PY
