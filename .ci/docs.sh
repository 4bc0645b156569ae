#!/usr/bin/env bash
# Keeps the user documentation true of the code. Run from anywhere:
#
#   bash .ci/docs.sh            check (a step of .ci/run)
#   bash .ci/docs.sh --update   rewrite the generated flags block of
#                               docs/operating.md from `krl serve --help`
#
# Checks:
#  1. every ```krl block that is a whole ruleset in the pages below passes
#     `krl check --warnings` with no error and no warning;
#  2. every example line `expression  // result` in docs/stdlib.md's other
#     ```krl blocks: the expression equals the result (KRL `==`), run by a
#     real `krl serve` (free port, temporary data folder) as queries;
#  3. the block between the `krl serve --help` markers in docs/operating.md
#     is exactly what `krl serve --help` prints;
#  4. every citation `docs/spec/FILE.md N` in a *.rs file names a heading
#     numbered N in docs/spec/FILE.md (a range `A–B` every section from A
#     to B, a list `A, B` each of them; a citation without a number, the
#     file), so the spec sections the code cites exist in the repository.
# Uses the debug binary ($KRL_BIN, else target/debug/krl after a
# `cargo build -p krl`, a no-op when CI has built it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
pages=(docs/getting-started.md docs/language.md docs/stdlib.md docs/operating.md)
update=false
[ "${1:-}" = --update ] && update=true

# No settings from the caller's environment (they would show in --help).
while IFS= read -r v; do
    [ "$v" = KRL_BIN ] || unset "$v"
done < <(compgen -e | grep '^KRL_' || true)
if [ -n "${KRL_BIN:-}" ]; then
    krl=$KRL_BIN
else
    cargo build -q -p krl --bin krl
    krl=$root/target/debug/krl
fi

work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
failed=0
fail() {
    printf 'docs: FAILED: %s\n' "$*" >&2
    failed=1
}

# ------------------------------------------------- 4. spec citations
# docs/spec/rewrite-citations.sh turns the code's citations of the shared
# specification into `docs/spec/...` ones; until it has run there is
# nothing to check here.
git ls-files -z '*.rs' | xargs -0 perl -CSD -e '
    use strict;
    my $N = qr/\d+(?:\.\d+)*/;
    my (%heads, $n, $bad);
    sub heads {
        my $f = shift;
        return $heads{$f} //= do {
            my %h;
            local $_;
            if (open my $fh, "<:encoding(UTF-8)", $f) {
                $h{""} = 1;
                my $code = 0;
                while (<$fh>) {
                    $code = !$code if /^\s*```/;
                    $h{$1} = 1 if !$code && /^#+\s+($N)\.?\s/;
                }
            }
            \%h;
        };
    }
    # "8.3–8.5" -> 8.3 8.4 8.5; "2-7" -> 2 3 4 5 6 7; other ranges: both ends
    sub expand {
        my ($from, $to) = @_;
        my @f = split /\./, $from;
        my @t = split /\./, $to;
        my $pf = join ".", @f[0 .. $#f - 1];
        my $pt = join ".", @t[0 .. $#t - 1];
        return ($from, $to) unless @f == @t && $pf eq $pt && $f[-1] <= $t[-1];
        return map { $pf eq "" ? $_ : "$pf.$_" } $f[-1] .. $t[-1];
    }
    for my $file (@ARGV) {
        open my $fh, "<:encoding(UTF-8)", $file or die "$file: $!";
        while (<$fh>) {
            while (m{(?<![\w/.-])docs/spec/([\w.-]+?\.md)\b((?:\s+\x{a7}?\s*$N(?:\s*(?:\x{2013}|-|/|,|\band\b)\s*$N)*)?)}g) {
                my ($spec, $secs) = ($1, $2);
                my @want;
                while ($secs =~ /($N)(?:\s*(?:\x{2013}|-)\s*($N))?/g) {
                    push @want, defined $2 ? expand($1, $2) : $1;
                }
                @want = ("") unless @want;
                $n++;
                my $h = heads("docs/spec/$spec");
                for my $s (@want) {
                    next if $h->{$s};
                    $bad++;
                    printf STDERR "%s:%d: docs/spec/%s%s: %s\n", $file, $.,
                        $spec, $s eq "" ? "" : " $s",
                        %$h ? "no heading with this number in docs/spec/$spec" : "no such file";
                }
            }
        }
        close $fh;
    }
    if ($bad) { exit 1 }
    print $n ? "docs: the $n citations of docs/spec/ in *.rs files name existing sections\n"
             : "docs: no *.rs file cites docs/spec/ yet (docs/spec/rewrite-citations.sh)\n";
' || fail "citations of docs/spec/ in *.rs files name sections that do not exist (above)"

# ---------------------------------------------------------------- 3. flags
help=$work/help.txt
{
    echo '```text'
    # the usage line names the binary file; $KRL_BIN may be called otherwise
    "$krl" serve --help | sed 's/^Usage: [^ ]* serve/Usage: krl serve/'
    echo '```'
} >"$help"
op=docs/operating.md
awk '/^<!-- krl serve --help: begin/{ on = 1; next } /^<!-- krl serve --help: end/{ on = 0 } on' "$op" >"$work/help.doc"
if $update; then
    awk -v gen="$help" '
        /^<!-- krl serve --help: begin/ { print; while ((getline l < gen) > 0) print l; skip = 1; next }
        /^<!-- krl serve --help: end/ { skip = 0 }
        !skip
    ' "$op" >"$work/op.md"
    cat "$work/op.md" >"$op"
    echo "docs: wrote the krl serve --help block of $op"
elif ! diff -u "$work/help.doc" "$help" >"$work/help.diff"; then
    cat "$work/help.diff" >&2
    fail "the flags block of $op differs from \`krl serve --help\` (run: bash .ci/docs.sh --update)"
else
    echo "docs: the flags block of $op matches krl serve --help"
fi

# ------------------------------------------------ 1. whole rulesets check
n=0
for page in "${pages[@]}"; do
    # each ```krl block (indented ones too) that starts with `ruleset`
    awk -v dir="$work" -v page="$page" '
        /^[ \t]*```krl[ \t]*$/ { ind = index($0, "`") - 1; start = NR; body = ""; inb = 1; next }
        inb && /^[ \t]*```[ \t]*$/ {
            inb = 0
            t = body; sub(/^[ \t\n]*/, "", t)
            if (t ~ /^ruleset[ \t]/) {
                f = dir "/rs." (++k) ".krl"
                printf "%s", body > f; close(f)
                print f "\t" page ":" start
            }
            next
        }
        inb { body = body substr($0, ind + 1) "\n" }
    ' "$page" >>"$work/rulesets"
done
while IFS=$'\t' read -r f where; do
    n=$((n + 1))
    if ! "$krl" check --warnings "$f" >"$work/check.out" 2>&1 || grep -q 'warning' "$work/check.out"; then
        sed "s|$f|$where|" "$work/check.out" >&2
        fail "the ruleset at $where does not pass krl check --warnings"
    fi
done <"$work/rulesets"
echo "docs: $n ruleset examples pass krl check"

# ------------------------------------------- 2. stdlib example lines run
lib=docs/stdlib.md
# "page line <TAB> expression <TAB> result" for each example line
awk '
    /^```krl[ \t]*$/ { inb = 1; first = 1; skip = 0; next }
    inb && /^```/ { inb = 0; next }
    inb {
        if (first && $0 ~ /^ruleset[ \t]/) skip = 1
        first = 0
        if (skip) next
        line = $0; k = 0
        while ((i = index(substr(line, k + 1), "  // ")) > 0) k += i
        if (k == 0) { print NR "\t\t" > "/dev/stderr"; next }
        e = substr(line, 1, k - 1); r = substr(line, k + 5)
        sub(/[ \t]+$/, "", e); sub(/[ \t]+$/, "", r)
        print NR "\t" e "\t" r
    }
' "$lib" >"$work/cases" 2>"$work/nocase"
if [ -s "$work/nocase" ]; then
    fail "$lib: example lines without \`  // result\`: $(cut -f1 "$work/nocase" | tr '\n' ' ')"
fi
cases=$(wc -l <"$work/cases")
gen=$work/examples.krl
{
    echo 'ruleset doc.stdlib.examples {'
    echo '  meta { shares failed }'
    echo '  global {'
    i=0
    while IFS=$'\t' read -r ln e r; do
        echo "    t$i = function() { ($e) == ($r) }"
        i=$((i + 1))
    done <"$work/cases"
    printf '    failed = function() {\n      ['
    i=0
    while IFS=$'\t' read -r ln e r; do
        [ $i -eq 0 ] || printf ', '
        printf '[%s, t%d()]' "$ln" "$i"
        i=$((i + 1))
    done <"$work/cases"
    printf ']\n        .filter(function(p) { not p[1] }).map(function(p) { p[0] })\n    }\n  }\n}\n'
} >"$gen"
# the page line of generated line L (the t-functions start at line 4)
page_line() { sed -n "$(($1 - 3))p" "$work/cases" | cut -f1; }

(exec "$krl" serve --listen 127.0.0.1:0 --no-mqtt --data "$work/data" --admin-token docs-check \
    >"$work/serve.out" 2>"$work/serve.log") &
server_pid=$!
deadline=$((SECONDS + 60))
until grep -q '^root_eci ' "$work/serve.out" 2>/dev/null; do
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; fail "krl serve did not start"; exit 1; }
    [ $SECONDS -lt $deadline ] || { fail "krl serve not ready within 60 s"; exit 1; }
    sleep 0.1
done
export KRL_URL KRL_ADMIN_TOKEN=docs-check
KRL_URL=$(awk '/^listening /{ print $2; exit }' "$work/serve.out")
if ! "$krl" ruleset register "$gen" >"$work/reg.out" 2>&1; then
    cat "$work/reg.out" >&2
    lc=$(grep -o ': [0-9]*:[0-9]*:' "$work/reg.out" | head -1 | tr -d ': ' | cut -d: -f1 || true)
    [ -z "$lc" ] || fail "$lib:$(page_line "${lc%%:*}"): this example does not compile"
    fail "the examples of $lib do not register"
else
    "$krl" pico new >"$work/pico.out"
    pico=$(sed -n 's/^ *"id": "\([^"]*\)".*/\1/p' "$work/pico.out")
    eci=$(sed -n 's/^ *"eci": "\([^"]*\)".*/\1/p' "$work/pico.out")
    "$krl" install doc.stdlib.examples --pico "$pico" >/dev/null
    if ! "$krl" query "$eci" doc.stdlib.examples failed >"$work/q.out" 2>&1; then
        cat "$work/q.out" >&2
        lc=$(grep -o '[0-9][0-9]*:[0-9][0-9]*)' "$work/q.out" | tail -1 | cut -d: -f1 || true)
        [ -z "$lc" ] || fail "$lib:$(page_line "$lc"): this example fails when it runs"
        fail "the examples of $lib fail when they run"
    elif [ "$(tr -d ' \n' <"$work/q.out")" != "[]" ]; then
        for ln in $(tr -d '[] \n' <"$work/q.out" | tr ',' ' '); do
            fail "$lib:$ln: the result is not what the page says: $(sed -n "${ln}p" "$lib")"
        done
    else
        echo "docs: $cases example lines of $lib give the results the page says"
    fi
fi

[ $failed -eq 0 ] || exit 1
echo "docs: OK"
