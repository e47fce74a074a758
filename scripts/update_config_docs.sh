#!/bin/bash
# Rewrites the key table of configs/README.md from the key table in runner/config_keys.c
# (`attrun config --keys-markdown`). Run after adding or changing a configuration key:
#   scripts/update_config_docs.sh [path/to/attrun]      (default: build/attrun)
# tests/test_config_docs.sh fails while the two differ.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$SRC/build/attrun}
DOC=$SRC/configs/README.md
BEGIN='<!-- key table: generated'
END='<!-- end of key table -->'
grep -q "^$BEGIN" "$DOC" && grep -q "^$END" "$DOC" || { echo "$DOC: key table markers not found" >&2; exit 1; }
table=$("$BIN" config --keys-markdown)
tmp=$(mktemp "$DOC.XXXXXX")
awk -v begin="$BEGIN" -v end="$END" -v table="$table" '
    index($0, begin) == 1 { print; print table; skip = 1; next }
    index($0, end) == 1 { skip = 0 }
    !skip { print }' "$DOC" >"$tmp"
mv "$tmp" "$DOC"
echo "updated $DOC"
