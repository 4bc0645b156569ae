#!/usr/bin/env bash
# Follows docs/getting-started.md command by command, as a reader would,
# and fails if any command fails or prints something other than the page
# says. Run from anywhere: `bash .ci/getting-started.sh`.
#
# What it runs: every fenced block whose info string is
# `sh getting-started`, in page order (a block is one command; a trailing
# `\` continues it). What it checks: the hidden notes after each block,
#   <!-- getting-started expect: TEXT -->       the command succeeds and its
#                                               output contains TEXT
#   <!-- getting-started expect-fail: TEXT -->  it fails and its output
#                                               contains TEXT
# and that the page's first section ("Five commands") has at most five.
#
# The commands run as written except for these substitutions (the page's
# last section lists them too):
#   * `cargo run --release -p krl --` and `./target/release/krl` become the
#     debug binary CI has already built: $KRL_BIN, else target/debug/krl
#     (`cargo build -p krl` first, a no-op in CI), so no release build;
#   * PICO_ID and ECI become the id and eci printed by `krl pico new`
#     (but `ECI=$(...)` and `$ECI` are the page's shell variable, set and
#     read in the script's own shell as in the reader's);
#   * `krl serve` gets a free port, a fresh data folder and a free MQTT
#     port through KRL_LISTEN / KRL_DATA / KRL_MQTT_LISTEN (the page's
#     commands give no --listen or --data), and the client commands reach
#     it through KRL_URL;
#   * a second `krl serve` first stops the running one with SIGTERM (the
#     page's Ctrl-C).
# The server is killed and the temporary folder removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
page=docs/getting-started.md

# No settings from the caller's environment leak into the commands.
while IFS= read -r v; do
    [ "$v" = KRL_BIN ] || unset "$v"
done < <(compgen -e | grep '^KRL_' || true)

if [ -n "${KRL_BIN:-}" ]; then
    krl=$KRL_BIN
else
    # a no-op when CI's earlier steps built it (as they do)
    cargo build -q -p krl --bin krl
    krl=$root/target/debug/krl
fi

work=$(mktemp -d)
server_pid=
stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    printf 'getting-started: FAILED: %s\n' "$*" >&2
    exit 1
}

# The page as records: "S <section heading>", "C <command>",
# "E <text>" (expect), "F <text>" (expect-fail).
awk '
    /^## / { print "S " substr($0, 4); next }
    /^```sh getting-started[ \t]*$/ { inblock = 1; cmd = ""; next }
    inblock && /^```/ { inblock = 0; print "C " cmd; next }
    inblock {
        line = $0
        sub(/^[ \t]+/, "", line)
        if (line ~ /\\$/) { sub(/[ \t]*\\$/, " ", line) }
        cmd = cmd line
        next
    }
    /^<!-- getting-started expect: .* -->$/ {
        t = $0; sub(/^<!-- getting-started expect: /, "", t); sub(/ -->$/, "", t)
        print "E " t; next
    }
    /^<!-- getting-started expect-fail: .* -->$/ {
        t = $0; sub(/^<!-- getting-started expect-fail: /, "", t); sub(/ -->$/, "", t)
        print "F " t; next
    }
' "$page" >"$work/steps"

# At most five commands in the first section.
first=$(awk '/^S /{ n++; next } /^C / && n == 1 { c++ } END { print c + 0 }' "$work/steps")
[ "$first" -ge 1 ] && [ "$first" -le 5 ] ||
    fail "the first section of $page has $first commands (1 to 5 expected)"

pico_id=
eci=
url=

# Runs the current command (in $cmd) and checks $expects / $expect_fails.
run_step() {
    local c=$cmd
    c=${c//cargo run --release -p krl --/$krl}
    c=${c//.\/target\/release\/krl/$krl}
    if [[ $c == *PICO_ID* ]]; then
        [ -n "$pico_id" ] || fail "PICO_ID used before krl pico new printed an id: $cmd"
        c=${c//PICO_ID/$pico_id}
    fi
    # `ECI=$(...)` and `$ECI` are the page's own shell variable: the
    # command runs in this shell, so the assignment holds for the later
    # ones. A bare ECI is the eci `krl pico new` printed.
    if [[ $c == *ECI* && $c != ECI=* && $c != *'$ECI'* ]]; then
        [ -n "$eci" ] || fail "ECI used before krl pico new printed an eci: $cmd"
        c=${c//ECI/$eci}
    fi
    step=$((step + 1))
    printf '\n== %d: %s\n' "$step" "$cmd"
    local out=$work/out.$step status=0
    if [[ $c == "$krl serve"* ]]; then
        stop_server
        # `exec`: $! is the server itself, so stop_server's SIGTERM reaches it
        (
            export KRL_LISTEN=127.0.0.1:0 KRL_DATA=$work/data KRL_MQTT_LISTEN=127.0.0.1:0
            eval "exec $c"
        ) >"$out" 2>"$work/server.$step.log" &
        server_pid=$!
        local deadline=$((SECONDS + 60))
        until grep -q '^root_eci ' "$out" 2>/dev/null; do
            kill -0 "$server_pid" 2>/dev/null || {
                cat "$work/server.$step.log" >&2
                fail "krl serve exited before it was ready"
            }
            [ $SECONDS -lt $deadline ] || fail "krl serve not ready within 60 s"
            sleep 0.1
        done
        url=$(awk '/^listening /{ print $2; exit }' "$out")
        export KRL_URL=$url
    else
        [ -n "$url" ] || fail "a command before krl serve: $cmd"
        eval "$c" >"$out" 2>&1 || status=$?
    fi
    cat "$out"
    if [ ${#expect_fails[@]} -gt 0 ]; then
        [ "$status" -ne 0 ] || fail "step $step should have failed: $cmd"
    else
        [ "$status" -eq 0 ] || fail "step $step exited with status $status: $cmd"
    fi
    local t
    for t in "${expects[@]}" "${expect_fails[@]}"; do
        grep -qF -- "$t" "$out" || fail "step $step: the output lacks \"$t\": $cmd"
    done
    # the pico's id and eci, for PICO_ID and ECI in later commands
    if [[ $cmd == ECI=* ]]; then
        [ -n "${ECI:-}" ] || fail "step $step left \$ECI empty: $cmd"
        eci=$ECI
        echo "ECI=$ECI"
    elif [[ $cmd == *" pico new"* ]]; then
        pico_id=$(sed -n 's/^ *"id": "\([^"]*\)".*/\1/p' "$out")
        eci=$(sed -n 's/^ *"eci": "\([^"]*\)".*/\1/p' "$out")
        [ -n "$pico_id" ] && [ -n "$eci" ] || fail "no id and eci in the answer of step $step"
    fi
}

step=0
cmd=
expects=()
expect_fails=()
while IFS= read -r rec; do
    kind=${rec%% *}
    text=${rec#* }
    case $kind in
    C)
        [ -z "$cmd" ] || run_step
        cmd=$text
        expects=()
        expect_fails=()
        ;;
    E) expects+=("$text") ;;
    F) expect_fails+=("$text") ;;
    S) ;;
    esac
done <"$work/steps"
[ -z "$cmd" ] || run_step
[ "$step" -gt 0 ] || fail "no \`sh getting-started\` blocks in $page"

printf '\ngetting-started: OK (%d commands, %d in the first section)\n' "$step" "$first"
