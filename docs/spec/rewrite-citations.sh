#!/usr/bin/env bash
# Points the Rust comments that cite the KRL specification at its
# restatement inside the repository (docs/spec/):
#
#   krl-language.md 9.5       ->  docs/spec/krl-language.md 9.5
#   (language 10.9.2)         ->  (docs/spec/krl-language.md 10.9.2)
#   krl-stdlib.md 8.3–8.5     ->  docs/spec/krl-stdlib.md 8.3–8.5
#   twilio.md 3.1, (http-api.md)  ->  docs/spec/twilio.md 3.1, (docs/spec/http-api.md)
#
# `docs/twilio.md` (the user guide) is left alone: a file name preceded by
# a `/`, a letter or a `-` is never rewritten, which also makes a second
# run change nothing. Only comment lines (`//`, `///`, `//!`) of the files
# `git ls-files '*.rs'` lists are touched.
#
#   bash docs/spec/rewrite-citations.sh          rewrite in place
#   bash docs/spec/rewrite-citations.sh --list   print every citation, old or
#                                                rewritten, one a line:
#                                                file:line  spec file  sections
#
# .ci/docs.sh checks that every rewritten citation names a section heading
# of that file.
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=rewrite
case "${1:-}" in
    "") ;;
    --list) mode=list ;;
    *) echo "usage: $0 [--list]" >&2; exit 2 ;;
esac

files=()
while IFS= read -r f; do files+=("$f"); done < <(git ls-files '*.rs')
[ ${#files[@]} -gt 0 ] || exit 0

if [ $mode = rewrite ]; then
    perl -CSD -i -pe '
        if (m{^\s*//}) {
            s{(?<![\w/.-])(krl-language|krl-stdlib|twilio|http-api)\.md\b}{docs/spec/$1.md}g;
            s{(?<![\w/.-])language(?= +\d)}{docs/spec/krl-language.md}g;
        }
    ' "${files[@]}"
    git diff --stat -- "${files[@]}" | tail -1
    exit 0
fi

# --list: old and rewritten forms alike.
perl -CSD -ne '
    BEGIN { $N = qr/\d+(?:\.\d+)*/; }
    next unless m{^\s*//};
    while (m{(?<![\w/.-])(?:(?:docs/spec/)?(krl-language|krl-stdlib|twilio|http-api)\.md\b|(language)(?= +\d))((?:\s+\x{a7}?\s*$N(?:\s*(?:\x{2013}|-|/|,|\band\b)\s*$N)*)?)}g) {
        my $spec = defined $1 ? "$1.md" : "krl-language.md";
        (my $secs = $3) =~ s/^\s+//;
        printf "%s:%d\tdocs/spec/%s\t%s\n", $ARGV, $., $spec, $secs eq "" ? "(no section)" : $secs;
    }
} continue { close ARGV if eof; ' "${files[@]}"
