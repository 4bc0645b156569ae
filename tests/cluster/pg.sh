#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and CI (tests/cluster/README.md).
#
#   pg.sh start DIR PORT     initdb into DIR when it is empty, start the
#                            server on 127.0.0.1:PORT (0: a free port), wait
#                            until it accepts connections; the last line on
#                            stdout is its URL,
#                            postgres://postgres@127.0.0.1:PORT/postgres
#   pg.sh stop DIR           stop the server running on DIR
#   pg.sh createdb URL NAME  create database NAME on the server at URL;
#                            prints the new database's URL
#
# Trust authentication on 127.0.0.1 only (no password; it listens on
# nothing else), fsync and synchronous_commit on: commits the server
# acknowledges are on disk, as the cluster tests assume.
#
# PostgreSQL refuses to run as root: as root, its programs run as the
# `postgres` user (runuser) and DIR is made theirs; as anyone else they
# run directly. The binaries come from /usr/lib/postgresql/*/bin (Debian's
# layout; the newest version), or from PG_BIN when set.
#
# Every wait is bounded: PG_START_TIMEOUT seconds (default 60) for the
# start and the stop.
set -euo pipefail

PG_START_TIMEOUT=${PG_START_TIMEOUT:-60}

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# The folder of initdb, pg_ctl, pg_isready and psql.
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

# Runs a PostgreSQL program as the user that may run it.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# As root, DIR must belong to `postgres`, and `postgres` must reach it.
own_dir() {
    local dir=$1
    if [ "$(id -u)" = 0 ]; then
        id -u postgres >/dev/null 2>&1 ||
            die "running as root but there is no postgres user to run PostgreSQL as (installing Debian's postgresql package creates it)"
        chown postgres: "$dir"
        runuser -u postgres -- test -w "$dir" -a -x "$dir" ||
            die "$dir: the postgres user cannot reach it (a parent folder is closed to it); use a folder under /tmp"
    fi
}

# Whether something accepts TCP connections on 127.0.0.1:PORT.
port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A port nothing listens on now (the start retries if another process
# takes it first).
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40000))
        if ! port_busy "$p"; then
            echo "$p"
            return
        fi
    done
    die "no free port found on 127.0.0.1 in 50 tries"
}

# Writes the settings the tests rely on, included from postgresql.conf.
write_conf() {
    local dir=$1 port=$2
    as_pg tee "$dir/krl-test.conf" >/dev/null <<EOF
# Written by tests/cluster/pg.sh at each start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
logging_collector = off
EOF
}

cmd_start() {
    [ $# = 2 ] || usage
    local dir=$1 port=$2 bin
    case "$port" in
        '' | *[!0-9]*) die "PORT must be a number (0: a free one), not '$port'" ;;
    esac
    bin=$(pg_bin)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # Unix socket paths are limited to 107 bytes (".s.PGSQL.PORT" added).
    [ ${#dir} -le 80 ] || die "$dir: path too long for PostgreSQL's socket (at most 80 characters)"
    own_dir "$dir"
    if [ -z "$(ls -A "$dir")" ]; then
        # Trust on local and loopback connections; pg_hba.conf is replaced
        # below so that nothing but 127.0.0.1 is listed.
        local out
        out=$(as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 --no-instructions 2>&1) || {
            echo "$out" >&2
            die "initdb $dir failed"
        }
        as_pg tee "$dir/pg_hba.conf" >/dev/null <<'EOF'
# Written by tests/cluster/pg.sh: trust, loopback only.
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
host    replication  all   127.0.0.1/32  trust
EOF
        echo "include 'krl-test.conf'" | as_pg tee -a "$dir/postgresql.conf" >/dev/null
    elif [ ! -f "$dir/PG_VERSION" ]; then
        die "$dir is neither empty nor a PostgreSQL data folder"
    fi
    if as_pg "$bin/pg_ctl" status -D "$dir" >/dev/null 2>&1; then
        die "a server is already running on $dir (pg.sh stop $dir)"
    fi

    local p
    for _ in 1 2 3 4 5; do
        if [ "$port" = 0 ]; then p=$(free_port); else p=$port; fi
        if port_busy "$p"; then
            [ "$port" = 0 ] && continue
            die "127.0.0.1:$p is already in use"
        fi
        write_conf "$dir" "$p"
        # pg_ctl -w waits (at most -t seconds) until the server accepts
        # connections; the log is kept in DIR for a failure's reasons.
        if as_pg "$bin/pg_ctl" start -D "$dir" -l "$dir/server.log" -w \
            -t "$PG_START_TIMEOUT" >/dev/null; then
            # The same over TCP, as clients will connect (bounded too).
            local end=$((SECONDS + PG_START_TIMEOUT))
            until "$bin/pg_isready" -q -h 127.0.0.1 -p "$p" -t 2; do
                [ $SECONDS -lt $end ] || die "started but 127.0.0.1:$p does not answer (see $dir/server.log)"
                sleep 0.1
            done
            echo "postgres://postgres@127.0.0.1:$p/postgres"
            return 0
        fi
        # Another process may have taken an automatically chosen port
        # between the check and the bind: try another one.
        if [ "$port" = 0 ] && grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null; then
            continue
        fi
        tail -n 20 "$dir/server.log" >&2 2>/dev/null || true
        as_pg "$bin/pg_ctl" stop -D "$dir" -m immediate >/dev/null 2>&1 || true
        die "PostgreSQL did not start on 127.0.0.1:$p within ${PG_START_TIMEOUT}s (log: $dir/server.log)"
    done
    die "PostgreSQL did not start: every free port tried was taken"
}

cmd_stop() {
    [ $# = 1 ] || usage
    local dir=$1 bin
    bin=$(pg_bin)
    [ -f "$dir/PG_VERSION" ] || die "$dir is not a PostgreSQL data folder"
    if ! as_pg "$bin/pg_ctl" status -D "$dir" >/dev/null 2>&1; then
        echo "pg.sh: no server running on $dir" >&2
        return 0
    fi
    # fast: roll back open transactions, checkpoint, exit; immediate if
    # that takes longer than the limit.
    as_pg "$bin/pg_ctl" stop -D "$dir" -m fast -w -t "$PG_START_TIMEOUT" >/dev/null ||
        as_pg "$bin/pg_ctl" stop -D "$dir" -m immediate -w -t "$PG_START_TIMEOUT" >/dev/null ||
        die "could not stop the server on $dir"
}

cmd_createdb() {
    [ $# = 2 ] || usage
    local url=$1 name=$2 bin
    bin=$(pg_bin)
    [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] ||
        die "database name '$name': use lower-case letters, digits and _ (at most 63)"
    PGCONNECT_TIMEOUT=10 timeout 60 "$bin/psql" "$url" -X -q -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE $name" ||
        die "CREATE DATABASE $name on $url failed"
    # The same URL with the new database: the path after host[:port].
    local base=${url%%\?*} query=
    [ "$base" != "$url" ] && query="?${url#*\?}"
    local rest=${base#*://}
    echo "${base%%://*}://${rest%%/*}/$name$query"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    createdb) cmd_createdb "$@" ;;
    *) usage ;;
esac
