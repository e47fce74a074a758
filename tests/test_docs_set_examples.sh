#!/bin/bash
# Every `--set` example in the docs, run through bash as a user would paste it: an unquoted
# `--set attention={save: true, dtype: float16}` splits into several words ("more than one
# config file"), and `[ig,saliency]` is a file pattern (refused here with failglob, as zsh does). Examples are taken from inline code
# spans and code blocks of the markdown files and from the comments of configs/*.yaml; each
# is parsed by bash (eval of the text after its first --set), checked by `attrun config`, and
# run as a real small job on the bundled models/sst2-tiny (2 examples, the example's own
# config file when it names one, else configs/quickstart.yaml). Synopses with placeholders
# (`[--set key=value ...]`, `out=...`, `out=OUT`) are listed and skipped; a test that found
# fewer than 5 examples fails.
# Env: ATTRUN_BIN, ATTRUN_SRC (set by CTest).
set -u
SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${ATTRUN_BIN:-$SRC/build/attrun}
[ -x "$BIN" ] || { echo "FAIL: attrun binary $BIN not found"; exit 1; }
PY=$(command -v /usr/bin/python3 || command -v python3)
[ -n "$PY" ] || { echo "SKIPPED: python3 absent"; exit 77; }
[ -f "$SRC/models/sst2-tiny/model.safetensors" ] || { echo "FAIL: bundled models/sst2-tiny missing"; exit 1; }
T=$(mktemp -d /tmp/attrun-docset.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 SLURM_CPUS_PER_TASK=1
cd "$SRC" || exit 1

# FILE<TAB>SNIPPET per example (the snippet from the command's start, or from its first --set)
"$PY" - README.md configs/README.md docs/*.md scripts/slurm/README.md models/*/README.md configs/*.yaml \
    >"$T/examples.tsv" <<'EOF'
import re, sys
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    snippets = []
    if path.endswith(".yaml"):
        snippets = [l.lstrip("#").strip() for l in text.splitlines() if l.lstrip().startswith("#")]
    else:
        fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
        for block in fenced:
            snippets += block.splitlines()
        rest = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
        snippets += re.findall(r"`([^`\n]+)`", rest)
    for s in snippets:
        if "--set" not in s:
            continue
        s = s.split("#  ")[0].strip() if "  #" in s else s.strip()  # a trailing shell comment
        m = re.search(r"\battrun run\b.*", s)
        print(f"{path}\t{m.group(0) if m else s[s.index('--set'):]}")
EOF
fails=0 ran=0 skipped=0
fail() { echo "  FAIL: $*"; fails=$((fails + 1)); }
while IFS=$'\t' read -r file snippet; do
    rest=${snippet#*--set}
    rest="--set$rest"
    if [[ "$snippet" == *"[--set"* || "$snippet" == *"key=value"* || "$snippet" == *"key.sub=value"* ||
          "$snippet" == *"..."* ||
          "$rest" =~ =[A-Z]+([[:space:]]|\]|$) || "$rest" =~ ^--set[[:space:]]*$ ]]; then
        echo "skip ($file, a synopsis): $snippet"
        skipped=$((skipped + 1))
        continue
    fi
    echo "example ($file): $snippet"
    config=configs/quickstart.yaml
    [[ "$snippet" =~ attrun\ run\ ([^ ]+\.yaml) ]] && config=${BASH_REMATCH[1]}
    [ -f "$config" ] || { fail "$file: the example's config $config does not exist"; continue; }
    # bash parses the text exactly as a pasted command line, with failglob: an unquoted [a,b]
    # is a file pattern (zsh, by default, refuses it as "no matches found"); only the --set
    # options are kept
    if ! words=$(bash -O failglob -c 'eval "set -- $1" && printf "%s\0" "$@"' _ "$rest" 2>"$T/bash.txt" |
                 tr '\0' '\n') || [ -s "$T/bash.txt" ]; then
        fail "$file: bash cannot parse: $rest ($(cat "$T/bash.txt"))"
        continue
    fi
    args=()
    while IFS= read -r w; do args+=("$w"); done <<<"$words"
    sets=()
    for ((i = 0; i < ${#args[@]}; i++)); do
        a=${args[$i]}
        if [ "$a" = --set ]; then
            sets+=(--set "${args[$((i + 1))]:-}")
            i=$((i + 1))
        elif [[ "$a" == --set=* ]]; then
            sets+=("$a")
        elif [[ "$a" == --* ]]; then
            : # --resume, --overwrite, --quiet: not part of the configuration
        else
            fail "$file: '$a' is a stray word after --set (an unquoted value split by the shell?) in: $snippet"
            continue 2
        fi
    done
    if ! "$BIN" config "$config" "${sets[@]}" >"$T/resolved.yaml" 2>"$T/err.txt"; then
        fail "$file: attrun config refuses: $(cat "$T/err.txt")"
        continue
    fi
    rm -rf "$T/out.h5" "$T/out.h5.spool"
    if ! timeout 300 "$BIN" run "$config" "${sets[@]}" --set corpus.limit=2 --set out="$T/out.h5" --quiet \
            >"$T/log.txt" 2>&1; then
        fail "$file: the job failed: $(tail -3 "$T/log.txt")"
        continue
    fi
    ran=$((ran + 1))
done <"$T/examples.tsv"

echo "docs --set examples: $ran run, $skipped synopses skipped, $fails failures"
[ $ran -ge 5 ] || fail "only $ran examples found and run"
[ $fails -eq 0 ]
