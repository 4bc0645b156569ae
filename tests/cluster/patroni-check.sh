#!/usr/bin/env bash
# Checks tests/cluster/patroni.sh and the cluster it makes: no commit the
# primary acknowledged is lost when it dies.
#
#   patroni-check.sh [DIR]    (default: a fresh folder under /tmp)
#
# Brings the cluster up, inserts numbered rows one psql at a time through
# the multi-host URL (a row counts as acknowledged when psql exits 0), kills
# the primary (patroni.sh kill-primary) once 50 rows are acknowledged,
# waits for the new primary, waits for 50 more acknowledged rows, then
# checks that every acknowledged row is in the table. Prints the failover
# time; exits non-zero on a lost row or a failure. Bounded throughout; the
# cluster is taken down on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
S="$here/patroni.sh"
made=
if [ $# -ge 1 ]; then dir=$1; else dir=$(mktemp -d /tmp/krl-patroni.XXXXXX) made=1; fi
acked=$(mktemp /tmp/krl-patroni-acked.XXXXXX)
loop=
cleanup() {
    if [ -n "$loop" ]; then kill "$loop" 2>/dev/null || true; fi
    bash "$S" down "$dir" >/dev/null 2>&1 || true
    rm -f "$acked"
    if [ -n "$made" ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# Waits (at most 30 s) until ACKED has at least N lines.
wait_acked() {
    local n=$1 end=$((SECONDS + 30))
    until [ "$(wc -l <"$acked")" -ge "$n" ]; do
        [ $SECONDS -lt $end ] || { echo "patroni-check: fewer than $n inserts acknowledged within 30 s" >&2; exit 1; }
        sleep 0.1
    done
}

url=$(bash "$S" up "$dir" | tail -n 1)
psql "$url" -X -q -c "create table acks (id int primary key)"
(
    i=0
    while :; do
        i=$((i + 1))
        if PGCONNECT_TIMEOUT=2 timeout 5 psql "$url" -X -q -At -c "insert into acks values ($i)" >/dev/null 2>&1; then
            echo "$i" >>"$acked"
        fi
    done
) &
loop=$!
wait_acked 50
bash "$S" kill-primary "$dir"
took=$(bash "$S" wait-primary "$dir" 60 | tail -n 1)
wait_acked $(($(wc -l <"$acked") + 50))
kill "$loop"
wait "$loop" 2>/dev/null || true
loop=
rows=$(psql "$url" -X -At -c "select count(*) from acks")
missing=$(comm -23 <(sort "$acked") <(psql "$url" -X -At -c "select id from acks" | sort) | wc -l)
echo "failover ${took}s; inserts acknowledged $(wc -l <"$acked"), rows $rows, acknowledged but missing $missing"
[ "$missing" = 0 ]
