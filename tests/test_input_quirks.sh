#!/bin/bash
# Input quirks that must work, each as a real `attrun run` job on a copy of
# ../shared/reference/models/tiny-bert (skipped, 77, without shared):
#  - HF's model_max_length of int(1e30) (transformers' VERY_LARGE_INTEGER, e.g. codebert-base)
#    in tokenizer_config.json, and such an integer elsewhere in config.json: jansson refused
#    them as "too big integer";
#  - labels: one rule for every format and target: 1.0 is label 1 in TSV as in JSONL; 7 on
#    a 2-class model is a bad row under target: predicted as -3 is (listed when skipped);
#  - the JSONL default text field is `sentence` when a record has one, else `text`, as for a
#    TSV header and as configs/README.md says;
#  - threads above the CPUs the rank may run on: warned about, and the job completes;
#  - corpus.max_length below the tokenizer's special tokens (+1 per segment): refused.
# Env: ATTRUN_BIN, ATTRUN_SHARED, ATTRUN_SRC (set by CTest).
set -u
SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${ATTRUN_BIN:-$SRC/build/attrun}
SHARED=${ATTRUN_SHARED:-$SRC/../shared}
MODEL=$SHARED/reference/models/tiny-bert
[ -d "$MODEL" ] || { echo "SKIPPED: $MODEL absent (set ATTRUN_SHARED)"; exit 77; }
[ -x "$BIN" ] || { echo "FAIL: attrun binary $BIN not found"; exit 1; }
command -v h5dump >/dev/null || { echo "SKIPPED: h5dump absent (Debian: hdf5-tools)"; exit 77; }
PY=$(command -v /usr/bin/python3 || command -v python3)
T=$(mktemp -d /tmp/attrun-quirks.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
fails=0 n=0
fail() { echo "  FAIL: $*"; fails=$((fails + 1)); }
cp -r "$MODEL" good && chmod -R u+w good

# job CORPUS [more YAML lines]: a small saliency job writing out.h5; CORPUS is the value of the
# corpus key (a path or a flow map)
job() {
    local corpus=$1
    shift
    { printf 'model: %s\ncorpus: %s\nmethods: [saliency]\nout: out.h5\n' "${MODELDIR:-good}" "$corpus"
      for l in "$@"; do echo "$l"; done; } >job.yaml
    rm -rf out.h5 out.h5.spool
}
# data DATASET: the values of an HDF5 dataset of out.h5, comma-separated
data() { h5dump -y -d "$1" out.h5 2>/dev/null | sed -n '/^   DATA {/,/^   }/p' | sed '1d;$d' | tr -d ' \n'; }
complete_of() { h5dump -a /complete out.h5 2>/dev/null | sed -n 's/.*(0): *\([0-9-]*\).*/\1/p' | head -1; }
# runs NAME [attrun run args]: the job must complete
runs() {
    local name=$1
    shift
    n=$((n + 1))
    echo "case $n: $name"
    timeout 300 "$BIN" run job.yaml --quiet "$@" >log.txt 2>&1
    local rc=$?
    if [ $rc -ne 0 ] || [ "$(complete_of)" != 1 ]; then
        fail "$name: status $rc, complete $(complete_of)"
        sed 's/^/    | /' log.txt | tail -5
        return 1
    fi
    echo "  ok"
}
# refused NAME PATTERN...: the job must fail (1..127, not 124), print every PATTERN, and leave
# no complete result
refused() {
    local name=$1
    shift
    n=$((n + 1))
    echo "case $n: $name"
    timeout 300 "$BIN" run job.yaml --quiet >log.txt 2>&1
    local rc=$?
    if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then fail "$name: status $rc"; sed 's/^/    | /' log.txt | tail -5; return; fi
    local before=$fails
    for p in "$@"; do grep -qF -- "$p" log.txt || fail "$name: message does not name '$p': $(head -2 log.txt)"; done
    [ "$(complete_of)" = 1 ] && fail "$name: out.h5 is complete"
    [ $fails -eq $before ] && echo "  ok (status $rc): $(head -1 log.txt | cut -c1-160)"
}

printf 'sentence\tlabel\nit is a charming journey .\t1\nbleak and desperate\t0\n' >c.tsv

# --- HF's int(1e30) ---
cp -r good big && "$PY" - <<'EOF'
import json
p = "big/tokenizer_config.json"
t = json.load(open(p))
t["model_max_length"] = int(1e30)  # 1000000000000000019884624838656, as transformers writes it
json.dump(t, open(p, "w"))
p = "big/config.json"
c = json.load(open(p))
c["task_specific_params"] = {"summarization": {"max_length": int(1e30)}}
json.dump(c, open(p, "w"))
EOF
grep -q 1000000000000000019884624838656 big/tokenizer_config.json || fail "fixture: no int(1e30)"
MODELDIR=big job c.tsv
runs "model_max_length int(1e30) in tokenizer_config.json, int(1e30) in config.json"

# --- labels: one rule for every format and target ---
printf 'sentence\tlabel\na good film .\t1.0\na bad film\t0\n' >float.tsv
job float.tsv
runs "TSV label 1.0" && { [ "$(data /examples/label)" = "1,0" ] || fail "TSV labels: $(data /examples/label), want 1,0"; }
printf '{"text": "a good film .", "label": 1.0}\n{"text": "a bad film", "label": 0}\n' >float.jsonl
job float.jsonl
runs "JSONL label 1.0" && { [ "$(data /examples/label)" = "1,0" ] || fail "JSONL labels: $(data /examples/label)"; }
for f in tsv jsonl; do
    if [ $f = tsv ]; then printf 'sentence\tlabel\nok\t1\nhalf\t1.5\n' >half.$f
    else printf '{"text": "ok", "label": 1}\n{"text": "half", "label": 1.5}\n' >half.$f; fi
    job half.$f
    line=$([ $f = tsv ] && echo 3 || echo 2) # TSV: after the header
    refused "$f label 1.5" "half.$f:$line" "label 1.5 is not a non-negative integer"
done
printf 'sentence\tlabel\nseven\t7\nok\t1\n' >seven.tsv
job seven.tsv "target: predicted"
refused "label 7 on a 2-class model, target: predicted" "seven.tsv:2" "label 7 is out of range" "0 to 1"
printf 'sentence\tlabel\nminus\t-3\nok\t1\n' >minus.tsv
job minus.tsv "target: predicted"
refused "label -3, target: predicted" "minus.tsv:2" "label -3 is not a non-negative class index"
printf '{"text": "seven", "label": 7}\n{"text": "minus", "label": -3}\n{"text": "ok", "label": 1}\n' >bad.jsonl
job "{path: bad.jsonl, on_error: skip}" "target: predicted"
if runs "labels 7 and -3 skipped alike (JSONL, on_error: skip)"; then
    [ "$(data /examples/skipped_rows)" = "0,1" ] || fail "skipped rows: $(data /examples/skipped_rows), want 0,1"
    [ "$(data /examples/label)" = "1" ] || fail "kept labels: $(data /examples/label), want 1"
    h5dump -d /examples/skipped_reasons out.h5 | grep -qF "bad.jsonl:1: label 7 is out of range" ||
        fail "skipped reason of label 7"
fi

# --- the JSONL default text field: sentence first, as TSV/CSV ---
printf '{"text": "the text field", "sentence": "the sentence field"}\n{"text": "only a text field"}\n' >both.jsonl
job both.jsonl
runs "JSONL with sentence and text" &&
    { [ "$(data /examples/text)" = '"thesentencefield","onlyatextfield"' ] ||
        fail "JSONL text: $(data /examples/text), want the sentence field first"; }
printf 'text\tsentence\nthe text column\tthe sentence column\n' >both.tsv
job both.tsv
runs "TSV with sentence and text" &&
    { [ "$(data /examples/text)" = '"thesentencecolumn"' ] || fail "TSV text: $(data /examples/text)"; }

# --- threads above the CPUs: a warning, and the job runs ---
job c.tsv
if command -v taskset >/dev/null; then
    n=$((n + 1))
    echo "case $n: threads: 2 on one CPU warns"
    taskset -c 0 "$BIN" run job.yaml --set threads=2 >log.txt 2>&1
    rc=$?
    [ $rc -eq 0 ] && [ "$(complete_of)" = 1 ] || fail "threads: 2 on one CPU: status $rc"
    grep -qF "warning: job.yaml: threads: 2 OpenBLAS threads per rank, but this process may run on only 1 CPU" \
        log.txt && echo "  ok" || fail "no threads warning: $(head -2 log.txt)"
fi

# --- corpus.max_length below the specials ---
job "{path: c.tsv, max_length: 1}"
refused "max_length: 1 (BERT adds 2 specials)" "corpus.max_length: 1 leaves no room for text" "at least 3"
printf 'sentence\tother\nfirst part\tsecond part\n' >pair.tsv
job "{path: pair.tsv, pair_field: other, max_length: 4}"
refused "max_length: 4 for a BERT pair" "corpus.max_length: 4" "at least 5"
job "{path: pair.tsv, pair_field: other, max_length: 5}"
runs "max_length: 5 for a BERT pair (one token per segment)"

echo "input quirks: $n cases, $fails failures"
[ $fails -eq 0 ]
