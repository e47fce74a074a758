#!/bin/bash
# The configuration docs against the key table (runner/config_keys.c), through the real CLI:
#  1. configs/README.md's key table is exactly `attrun config --keys-markdown` (every key
#     documented, every documented key exists, same defaults and ranges);
#  2. configs/example-full.yaml ("every key with its default") parses, names every key of the
#     table, and gives each key its default except the few it sets on purpose.
# Env: ATTRUN_BIN, ATTRUN_SRC (set by CTest).
set -u
SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${ATTRUN_BIN:-$SRC/build/attrun}
[ -x "$BIN" ] || { echo "FAIL: attrun binary $BIN not found"; exit 1; }
T=$(mktemp -d /tmp/attrun-cfgdocs.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# 1. the README's table, between its markers
"$BIN" config --keys-markdown >"$T/table.md" || fail "attrun config --keys-markdown: status $?"
awk '/^<!-- key table: generated/ { on = 1; next } /^<!-- end of key table -->/ { on = 0 } on' \
    "$SRC/configs/README.md" >"$T/readme.md"
[ -s "$T/readme.md" ] || fail "configs/README.md: no key table between the markers"
if ! diff -u "$T/readme.md" "$T/table.md" >"$T/diff.txt"; then
    fail "configs/README.md's key table differs from runner/config_keys.c (- README, + table); regenerate it" \
         "with scripts/update_config_docs.sh"
    sed 's/^/    /' "$T/diff.txt" | head -40
fi
keys=$(sed -n 's/^| `\([a-z_.]*\)` |.*/\1/p' "$T/table.md")
[ "$(echo "$keys" | wc -l)" -ge 30 ] || fail "the key table lists only $(echo "$keys" | wc -l) keys"

# 2. example-full.yaml: every key, each with its default
FULL=$SRC/configs/example-full.yaml
"$BIN" config "$FULL" >"$T/full.yaml" 2>"$T/err.txt" || { fail "example-full.yaml does not parse:"; cat "$T/err.txt"; }
written=$(awk '/^[a-z_]+:/ { sec = $1; sub(":", "", sec); print sec }
               /^  [a-z_]+:/ { k = $1; sub(":", "", k); print sec "." k }' "$FULL")
for k in $keys; do
    echo "$written" | grep -qxF "$k" || fail "configs/example-full.yaml does not show key $k"
done
printf 'model: %s\ncorpus: %s\nout: %s\n' "$(sed -n 's/^model: \([^ ]*\).*/\1/p' "$FULL")" \
    "$(sed -n 's/^  path: \([^ ]*\).*/\1/p' "$FULL")" "$(sed -n 's/^out: \([^ ]*\).*/\1/p' "$FULL")" >"$T/min.yaml"
"$BIN" config "$T/min.yaml" >"$T/defaults.yaml" || fail "the minimal config does not parse"
# lines that differ from the defaults, besides what example-full.yaml sets on purpose
extra=$(diff "$T/defaults.yaml" "$T/full.yaml" | sed -n 's/^> //p' |
        grep -vE '^(methods|  text_field|  label_field): ' || true)
[ -z "$extra" ] || fail "configs/example-full.yaml claims defaults that are not: $extra"

[ $fails -eq 0 ] && echo "config docs: README key table and example-full.yaml agree with the key table"
[ $fails -eq 0 ]
