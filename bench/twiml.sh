#!/usr/bin/env bash
# TwiML webhook round trips under load, signature checks on
# (docs/performance.md, "TwiML webhooks under load").
#
#   bench/twiml.sh
#
# For 1 pico and for PICOS (default 1000) picos, three release `krl serve`
# processes run side by side (each its own data folder), and wrk loads one
# at a time at concurrency 32, the three interleaved run by run so that
# the machine's other load hits them alike:
#
#   event path    POST /sky/event/ECI/ECI/counter/inc, JSON, no token
#                 (bench/counter.krl: the figures of "Event path over HTTP")
#   twiml         POST /sky/event/ECI/none/twilio/inbound_call, a Twilio
#                 form body, no token (bench/twiml.krl: Gather + Say TwiML,
#                 one counter write)
#   twiml signed  the same with --twilio-auth-token: every request carries
#                 its X-Twilio-Signature (precomputed: the URL and the
#                 parameters are fixed, bench/twiml.py setup)
#
# After the runs each pico's counter is checked against what wrk sent and
# saw acknowledged (bench/load.py verify, bench/twiml.py verify).
# Environment: DURATION (s, 10), REPEAT (3), PICOS (1000), CONC (32),
# WRK_THREADS (1), OUT (target/bench-twiml). Needs cargo, python3, wrk.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION=${DURATION:-10}
REPEAT=${REPEAT:-3}
PICOS=${PICOS:-1000}
CONC=${CONC:-32}
WRK_THREADS=${WRK_THREADS:-1}
OUT=${OUT:-$ROOT/target/bench-twiml}
TOKEN=T
AUTH=bench-twilio-auth-token-0123456789

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 2; }
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
LOAD="python3 $ROOT/bench/load.py"
TWIML="python3 $ROOT/bench/twiml.py"

echo "== build (release)" >&2
cargo build --release -q -p krl --bin krl
KRL=$ROOT/target/release/krl
$TWIML body "$OUT/body.txt"

declare -A PID URL DATA
SCENARIOS=("event path" "twiml" "twiml signed")

start() { # start SCENARIO [krl serve flags...]
  local s=$1 tag=${1// /-}
  shift
  DATA[$s]=$(mktemp -d)
  : >"$OUT/$tag.out"
  "$KRL" serve --listen 127.0.0.1:0 --data "${DATA[$s]}" --admin-token "$TOKEN" --no-mqtt "$@" \
    >"$OUT/$tag.out" 2>"$OUT/$tag.err" &
  PID[$s]=$!
  for _ in $(seq 100); do
    URL[$s]=$(sed -n 's/^listening //p' "$OUT/$tag.out")
    [ -n "${URL[$s]}" ] && return 0
    sleep 0.1
  done
  echo "krl serve ($s) did not start:" >&2
  cat "$OUT/$tag.err" >&2
  exit 1
}

stop_all() {
  for s in "${!PID[@]}"; do
    kill -TERM "${PID[$s]}" 2>/dev/null || true
    wait "${PID[$s]}" 2>/dev/null || true
    rm -rf "${DATA[$s]}"
  done
  PID=()
  DATA=()
}
trap 'for s in "${!PID[@]}"; do kill -KILL "${PID[$s]}" 2>/dev/null || true; rm -rf "${DATA[$s]}"; done' EXIT

busy_s() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / {print ($2 + $3 + $4 + $7 + $8 + $9) / hz}' /proc/stat; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

run() { # run SCENARIO PICOS REP
  local s=$1 n=$2 rep=$3 tag=${1// /-}-$2-$3 script ecis pid=${PID[$1]}
  if [ "$s" = "event path" ]; then
    script=$ROOT/bench/events.lua
    ecis=$OUT/ecis-event-$n.txt
  else
    script=$ROOT/bench/twiml.lua
    ecis=$OUT/ecis-${s// /-}-$n.txt
  fi
  local cpu0 cpu1 busy0 busy1 wrk_cpu
  cpu0=$(cpu_s "$pid")
  busy0=$(busy_s)
  wrk_cpu=$( { TIMEFORMAT='%U %S'; time ECIS=$ecis BODY=$OUT/body.txt COUNTS=$OUT/counts-$tag.txt \
    wrk -t"$WRK_THREADS" -c"$CONC" -d"${DURATION}s" --timeout 10s -s "$script" "${URL[$s]}" \
    >"$OUT/wrk-$tag.txt" 2>&1; } 2>&1 | awk '{print $1 + $2}')
  cpu1=$(cpu_s "$pid")
  busy1=$(busy_s)
  $LOAD record "$RESULTS" kind=run scenario="$s" picos="$n" conc="$CONC" rep="$rep" \
    rss_kib="$(rss_kib "$pid")" wrk_cpu_s="$wrk_cpu" \
    cpu_s="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {print b - a}')" \
    busy_s="$(awk -v a="$busy0" -v b="$busy1" 'BEGIN {print b - a}')" \
    loadavg="$(cut -d' ' -f1 /proc/loadavg)" "@$OUT/wrk-$tag.txt"
  tail -n 1 "$RESULTS" >&2
}

for n in 1 "$PICOS"; do
  echo "== $n picos: three servers" >&2
  start "event path"
  start "twiml"
  start "twiml signed" --twilio-auth-token "$AUTH"
  $LOAD setup "${URL[event path]}" "$TOKEN" "$n" "$OUT/ecis-raw-$n.txt" >"$OUT/setup-event-$n.txt"
  cp "$OUT/ecis-raw-$n.txt" "$OUT/ecis-event-$n.txt"
  $TWIML setup "${URL[twiml]}" "$TOKEN" "$n" "$OUT/ecis-twiml-$n.txt" "$OUT/body.txt" \
    >"$OUT/setup-twiml-$n.txt"
  $TWIML setup "${URL[twiml signed]}" "$TOKEN" "$n" "$OUT/ecis-twiml-signed-$n.txt" \
    "$OUT/body.txt" --auth "$AUTH" >"$OUT/setup-twiml-signed-$n.txt"
  # one signed request by hand first: it must be answered (not 403)
  read -r eci sig <"$OUT/ecis-twiml-signed-$n.txt"
  code=$(curl -s -o "$OUT/probe.xml" -w '%{http_code}' -H "X-Twilio-Signature: $sig" \
    -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "@$OUT/body.txt" \
    "${URL[twiml signed]}/sky/event/$eci/none/twilio/inbound_call")
  [ "$code" = 200 ] || { echo "signed probe answered $code: $(cat "$OUT/probe.xml")" >&2; exit 1; }
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Twilio-Signature: forged' \
    -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "@$OUT/body.txt" \
    "${URL[twiml signed]}/sky/event/$eci/none/twilio/inbound_call")
  [ "$code" = 403 ] || { echo "a forged signature answered $code, not 403" >&2; exit 1; }
  for rep in $(seq "$REPEAT"); do
    for s in "${SCENARIOS[@]}"; do
      run "$s" "$n" "$rep"
    done
  done
  # counters: acknowledged <= counted <= sent, per pico, over all runs
  $LOAD verify "${URL[event path]}" "$OUT"/counts-event-path-"$n"-*.txt >"$OUT/verify-event-$n.txt" || true
  $TWIML verify "${URL[twiml]}" "$OUT"/counts-twiml-"$n"-*.txt >"$OUT/verify-twiml-$n.txt" || true
  $TWIML verify "${URL[twiml signed]}" "$OUT"/counts-twiml-signed-"$n"-*.txt --auth "$AUTH" \
    >"$OUT/verify-twiml-signed-$n.txt" || true
  for s in "${SCENARIOS[@]}"; do
    f=$OUT/verify-${s// /-}-$n.txt
    [ "$s" = "event path" ] && f=$OUT/verify-event-$n.txt
    # the check's verdict joins every run row of that server
    python3 - "$RESULTS" "$s" "$n" "$f" <<'EOF'
import json, sys
results, scenario, picos, verdict = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
v = json.loads([l for l in open(verdict).read().splitlines() if l.startswith("{")][-1])
rows = [json.loads(l) for l in open(results) if l.strip()]
for r in rows:
    if r.get("kind") == "run" and r["scenario"] == scenario and r["picos"] == picos:
        r["ok"] = v["ok"]
open(results, "w").write("".join(json.dumps(r) + "\n" for r in rows))
print(f"{scenario}, {picos} picos: {json.dumps(v)}", file=sys.stderr)
EOF
  done
  stop_all
done

$LOAD report "$RESULTS"
