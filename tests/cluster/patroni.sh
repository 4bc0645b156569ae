#!/usr/bin/env bash
# A two-member Patroni cluster with one etcd, all on 127.0.0.1, for the
# primary-failover test (tests/cluster/README.md).
#
#   patroni.sh up DIR                 etcd and members m1, m2 under DIR (made
#                                     if missing, must be empty); waits until
#                                     a leader and a synchronous standby are in
#                                     place; the last line on stdout is the
#                                     URL, postgres://postgres@127.0.0.1:P1,
#                                     127.0.0.1:P2/postgres?target_session_attrs=read-write
#   patroni.sh kill-primary DIR       kill -9 the primary's postmaster, its
#                                     backends and its Patroni, as a machine
#                                     loss would; prints which member
#   patroni.sh wait-primary DIR SECS  waits at most SECS for a new primary
#                                     that commits a write; the last line on
#                                     stdout is the seconds since the kill
#   patroni.sh down DIR               stops everything `up` started
#
# No acknowledged commit is lost when the primary dies: synchronous_mode
# makes the primary wait, at each commit, for the standby to have the
# commit's WAL on disk (synchronous_commit = on), and Patroni promotes
# only a member named in its /sync key, i.e. one that had every
# acknowledged commit. synchronous_mode_strict stays off: with it, the
# promoted member would refuse writes until a second standby came back,
# and the dead one does not come back in this test. Without strict, a
# primary whose standby is gone goes on alone, and then Patroni will not
# promote the lagging standby: unavailable rather than lost.
#
# ttl 10 s, loop_wait 1 s, retry_timeout 4 s (Patroni wants
# loop_wait + 2 * retry_timeout <= ttl): the leader key of a dead primary
# expires within 10 s, and the standby takes over on its next loop.
#
# As root, PostgreSQL and Patroni run as the `postgres` user and DIR is
# made theirs. Needs patroni (3.x) and etcd (3.4) on PATH and PostgreSQL
# under /usr/lib/postgresql/*/bin or PG_BIN; on Debian:
# apt-get install patroni etcd-server postgresql (install_patroni in
# .ci/run). Every wait is bounded; `up` stops what it started if it fails.
set -euo pipefail

UP_TIMEOUT=${UP_TIMEOUT:-180}
SCOPE=krl-test

die() {
    echo "patroni.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

note() { echo "patroni.sh: $*" >&2; }

pg_bin() {
    if [ -n "${PG_BIN:-}" ]; then
        [ -x "$PG_BIN/pg_ctl" ] || die "PG_BIN=$PG_BIN has no pg_ctl"
        echo "$PG_BIN"
        return
    fi
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
    if [ -z "$found" ] || [ ! -x "$found/pg_ctl" ]; then
        die "no PostgreSQL server found under /usr/lib/postgresql/*/bin (apt-get install postgresql, or set PG_BIN)"
    fi
    echo "$found"
}

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# N distinct ports nothing listens on now.
free_ports() {
    local n=$1 got=() p i tries=0
    while [ ${#got[@]} -lt "$n" ]; do
        tries=$((tries + 1))
        [ $tries -le 200 ] || die "not enough free ports on 127.0.0.1"
        p=$((20000 + RANDOM % 40000))
        for i in "${got[@]}"; do [ "$i" = "$p" ] && continue 2; done
        port_busy "$p" || got+=("$p")
    done
    echo "${got[@]}"
}

# Starts a command in its own session, detached from this script, as
# USER (root: postgres, or "-" for the current user); its pid (the same
# process: setpriv, env and bash exec) goes to PIDFILE.
spawn() {
    local user=$1 pidfile=$2 log=$3
    shift 3
    local run=()
    if [ "$user" != - ] && [ "$(id -u)" = 0 ]; then
        run=(setpriv --reuid=postgres --regid=postgres --init-groups env "HOME=$DIR")
    fi
    # shellcheck disable=SC2016
    setsid "${run[@]}" bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
        </dev/null >>"$log" 2>&1 &
    # The pid file appears once bash runs (bounded wait).
    local end=$((SECONDS + 10))
    until [ -s "$pidfile" ]; do
        [ $SECONDS -lt $end ] || die "$* did not start (log: $log)"
        sleep 0.05
    done
}

alive() {
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null
}

# Whether PID runs a command line that mentions NEEDLE (a path under
# DIR): a pid file left by a killed process may name a recycled pid.
ours() {
    local pid=$1 needle=$2
    alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"
}

pid_of() {
    if [ -s "$1" ]; then cat "$1"; fi
}

# The cluster's state as Patroni's REST API reports it (/cluster), from
# the first member that answers: a JSON text, or nothing.
cluster_json() {
    local r
    for r in "$R1" "$R2"; do
        if curl -fsS --max-time 2 "http://127.0.0.1:$r/cluster" 2>/dev/null; then
            return 0
        fi
    done
    return 0
}

# "LEADER SYNC": the names of the running leader and running synchronous
# standby in /cluster (missing ones as "-").
leader_and_sync() {
    cluster_json | python3 -c '
import json, sys
try:
    members = json.load(sys.stdin)["members"]
except Exception:
    members = []
def find(role):
    return next((m["name"] for m in members
                 if m.get("role") == role and m.get("state") in ("running", "streaming")), "-")
print(find("leader"), find("sync_standby"))
'
}

psql_at() {
    local port=$1
    shift
    PGCONNECT_TIMEOUT=2 timeout 10 "$BIN/psql" -X -q -At -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

load_env() {
    DIR=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such folder"
    [ -f "$DIR/cluster.env" ] || die "$DIR has no cluster.env (not made by patroni.sh up)"
    # shellcheck disable=SC1091
    . "$DIR/cluster.env"
    BIN=$(pg_bin)
}

member_port() { if [ "$1" = m1 ]; then echo "$P1"; else echo "$P2"; fi; }
member_rest() { if [ "$1" = m1 ]; then echo "$R1"; else echo "$R2"; fi; }

write_member_conf() {
    local name=$1 pg=$2 rest=$3
    cat >"$DIR/$name/patroni.yml" <<EOF
# Written by tests/cluster/patroni.sh.
scope: $SCOPE
namespace: /krl/
name: $name
restapi:
  listen: 127.0.0.1:$rest
  connect_address: 127.0.0.1:$rest
etcd3:
  hosts: 127.0.0.1:$EC
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 200
        fsync: 'on'
        synchronous_commit: 'on'
        full_page_writes: 'on'
  initdb:
  - encoding: UTF8
  - locale: C.UTF-8
  - data-checksums
postgresql:
  listen: 127.0.0.1:$pg
  connect_address: 127.0.0.1:$pg
  data_dir: $DIR/$name/data
  bin_dir: $BIN
  pgpass: $DIR/$name/pgpass
  authentication:
    superuser:
      username: postgres
      password: krl-test
    replication:
      username: replicator
      password: krl-test
  parameters:
    unix_socket_directories: '$DIR/$name'
  pg_hba:
  - local all all trust
  - host all all 127.0.0.1/32 trust
  - host replication all 127.0.0.1/32 trust
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
EOF
}

cmd_up() {
    [ $# = 1 ] || usage
    command -v patroni >/dev/null || die "patroni not found (apt-get install patroni)"
    command -v etcd >/dev/null || die "etcd not found (apt-get install etcd-server)"
    command -v curl >/dev/null || die "curl not found"
    command -v python3 >/dev/null || die "python3 not found"
    mkdir -p "$1"
    DIR=$(cd "$1" && pwd)
    [ -z "$(ls -A "$DIR")" ] || die "$DIR is not empty (patroni.sh down $DIR, then remove it)"
    [ ${#DIR} -le 70 ] || die "$DIR: path too long for PostgreSQL's socket (at most 70 characters)"
    BIN=$(pg_bin)
    local ports
    read -r -a ports <<<"$(free_ports 6)"
    EC=${ports[0]} EP=${ports[1]} P1=${ports[2]} P2=${ports[3]} R1=${ports[4]} R2=${ports[5]}
    cat >"$DIR/cluster.env" <<EOF
EC=$EC
EP=$EP
P1=$P1
P2=$P2
R1=$R1
R2=$R2
EOF
    mkdir -p "$DIR/etcd" "$DIR/m1" "$DIR/m2"
    chmod 700 "$DIR/m1" "$DIR/m2"
    write_member_conf m1 "$P1" "$R1"
    write_member_conf m2 "$P2" "$R2"
    if [ "$(id -u)" = 0 ]; then
        id -u postgres >/dev/null 2>&1 || die "running as root but there is no postgres user"
        chown -R postgres: "$DIR"
        runuser -u postgres -- test -w "$DIR" -a -x "$DIR" ||
            die "$DIR: the postgres user cannot reach it (a parent folder is closed to it); use a folder under /tmp"
    fi

    # Whatever fails from here stops what was started.
    trap 'note "up failed; stopping what it started (logs in $DIR)"; cmd_down "$DIR" >/dev/null 2>&1 || true' EXIT
    # An untrapped SIGTERM or SIGINT would skip the EXIT trap.
    trap 'exit 143' TERM
    trap 'exit 130' INT

    spawn - "$DIR/etcd.pid" "$DIR/etcd.log" etcd --name e0 --data-dir "$DIR/etcd/data" \
        --listen-client-urls "http://127.0.0.1:$EC" --advertise-client-urls "http://127.0.0.1:$EC" \
        --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
        --initial-cluster "e0=http://127.0.0.1:$EP" --initial-cluster-state new
    local end=$((SECONDS + UP_TIMEOUT))
    until curl -fsS --max-time 2 "http://127.0.0.1:$EC/health" 2>/dev/null | grep -q '"health":"true"'; do
        alive "$(pid_of "$DIR/etcd.pid")" || die "etcd exited (log: $DIR/etcd.log)"
        [ $SECONDS -lt $end ] || die "etcd not healthy within ${UP_TIMEOUT}s (log: $DIR/etcd.log)"
        sleep 0.2
    done
    note "etcd up on 127.0.0.1:$EC"

    # m1 first, so that it is the one that runs initdb; m2 then copies it
    # (pg_basebackup) and streams from it.
    spawn postgres "$DIR/m1/patroni.pid" "$DIR/m1/patroni.log" patroni "$DIR/m1/patroni.yml"
    local state
    until state=$(leader_and_sync) && [ "${state%% *}" = m1 ]; do
        alive "$(pid_of "$DIR/m1/patroni.pid")" || die "m1's Patroni exited (log: $DIR/m1/patroni.log)"
        [ $SECONDS -lt $end ] || die "m1 did not become leader within ${UP_TIMEOUT}s (log: $DIR/m1/patroni.log)"
        sleep 0.2
    done
    note "m1 is the leader on 127.0.0.1:$P1"
    spawn postgres "$DIR/m2/patroni.pid" "$DIR/m2/patroni.log" patroni "$DIR/m2/patroni.yml"
    # Patroni's view (/cluster: a running leader and sync_standby) and
    # PostgreSQL's (the leader has a walsender in state sync).
    until state=$(leader_and_sync) && [ "${state#* }" != - ] && [ "${state%% *}" != - ] &&
        [ "$(psql_at "$(member_port "${state%% *}")" -c \
            "select count(*) from pg_stat_replication where sync_state = 'sync'" 2>/dev/null)" = 1 ]; do
        alive "$(pid_of "$DIR/m2/patroni.pid")" || die "m2's Patroni exited (log: $DIR/m2/patroni.log)"
        [ $SECONDS -lt $end ] || die "no synchronous standby within ${UP_TIMEOUT}s (logs: $DIR/m*/patroni.log)"
        sleep 0.2
    done
    note "leader ${state%% *}, synchronous standby ${state#* }"
    trap - EXIT TERM INT
    echo "postgres://postgres@127.0.0.1:$P1,127.0.0.1:$P2/postgres?target_session_attrs=read-write"
}

# The member whose Patroni says it is the running primary, or nothing.
current_primary() {
    local m
    for m in m1 m2; do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
            "http://127.0.0.1:$(member_rest $m)/primary" 2>/dev/null)" = 200 ]; then
            echo $m
            return
        fi
    done
}

cmd_kill_primary() {
    [ $# = 1 ] || usage
    load_env "$1"
    local m
    m=$(current_primary)
    [ -n "$m" ] || die "no member answers as primary (see patronictl or $DIR/m*/patroni.log)"
    local patroni_pid postmaster_pid backends
    patroni_pid=$(pid_of "$DIR/$m/patroni.pid")
    postmaster_pid=$(head -n1 "$DIR/$m/data/postmaster.pid" 2>/dev/null || true)
    ours "$postmaster_pid" "$DIR/$m/data" || die "$m: no running postmaster (postmaster.pid)"
    ours "$patroni_pid" "$DIR/$m/patroni.yml" || die "$m: its Patroni is not running"
    # The postmaster's children (backends, walsender, checkpointer, ...):
    # on a lost machine they die with it.
    backends=$(ps -o pid= --ppid "$postmaster_pid" | tr -d ' ' | tr '\n' ' ')
    # shellcheck disable=SC2086
    kill -9 "$patroni_pid" "$postmaster_pid" $backends 2>/dev/null || true
    date +%s.%N >"$DIR/killed_at"
    echo "$m" >"$DIR/killed"
    local end=$((SECONDS + 10)) p
    for p in $patroni_pid $postmaster_pid $backends; do
        while alive "$p"; do
            [ $SECONDS -lt $end ] || die "process $p survived kill -9 for 10 s"
            sleep 0.05
        done
    done
    echo "killed primary $m (127.0.0.1:$(member_port "$m")): Patroni $patroni_pid, postmaster $postmaster_pid and its $(echo "$backends" | wc -w) children"
}

cmd_wait_primary() {
    [ $# = 2 ] || usage
    load_env "$1"
    local limit=$2
    [[ "$limit" =~ ^[0-9]+$ ]] || die "SECONDS must be a whole number, not '$limit'"
    local since killed=
    if [ -f "$DIR/killed_at" ]; then
        since=$(cat "$DIR/killed_at")
        killed=$(cat "$DIR/killed")
    else
        since=$(date +%s.%N)
    fi
    local end=$((SECONDS + limit)) m port out
    while :; do
        for m in m1 m2; do
            [ "$m" = "$killed" ] && continue
            port=$(member_port $m)
            # A primary, and a write commits there: promoted, and no
            # longer waiting for the dead member as synchronous standby.
            # A commit that had to give up its wait (a cancel) prints a
            # warning: that is not a commit the primary acknowledges.
            if [ "$(psql_at "$port" -c "select pg_is_in_recovery()" 2>/dev/null)" = f ] &&
                out=$(PGOPTIONS='-c statement_timeout=3000' psql_at "$port" -v ON_ERROR_STOP=1 \
                    -c "create table if not exists krl_failover_probe (at timestamptz)" \
                    -c "insert into krl_failover_probe values (now())" 2>&1) &&
                ! grep -qi "canceling wait" <<<"$out"; then
                local now
                now=$(date +%s.%N)
                note "new primary $m (127.0.0.1:$port)"
                python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$now" "$since"
                return 0
            fi
        done
        [ $SECONDS -lt $end ] || die "no new read-write primary within ${limit}s (logs: $DIR/m*/patroni.log)"
        sleep 0.2
    done
}

# Stops a process: TERM, up to LIMIT seconds, then KILL.
stop_pid() {
    local pid=$1 limit=$2
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    local end=$((SECONDS + limit))
    while alive "$pid"; do
        if [ $SECONDS -ge $end ]; then
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.1
            alive "$pid" && note "process $pid survived SIGKILL"
            return 0
        fi
        sleep 0.1
    done
}

cmd_down() {
    [ $# = 1 ] || usage
    DIR=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such folder"
    local m p
    # Patroni stops its PostgreSQL when it gets SIGTERM.
    for m in m1 m2; do
        p=$(pid_of "$DIR/$m/patroni.pid")
        if ours "$p" "$DIR/$m/patroni.yml"; then stop_pid "$p" 30; fi
    done
    # A postmaster left behind (its Patroni killed, or Patroni's stop
    # timed out): fast shutdown, then kill.
    for m in m1 m2; do
        p=$(head -n1 "$DIR/$m/data/postmaster.pid" 2>/dev/null || true)
        if ours "$p" "$DIR/$m/data"; then stop_pid "$p" 30; fi
    done
    p=$(pid_of "$DIR/etcd.pid")
    if ours "$p" "$DIR/etcd/data"; then stop_pid "$p" 10; fi
    rm -f "$DIR/killed_at" "$DIR/killed"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
    up) cmd_up "$@" ;;
    kill-primary) cmd_kill_primary "$@" ;;
    wait-primary) cmd_wait_primary "$@" ;;
    down) cmd_down "$@" ;;
    *) usage ;;
esac
