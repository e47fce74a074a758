#!/bin/bash
# Catalogue of bad inputs for `attrun run CONFIG.yaml`: every case must fail with
# a non-zero exit status that is not a signal (1..127; timeout's 124 excluded),
# a message naming the file and the key / line / tensor, and no result file
# marked complete. Fixtures are made here, in a temp dir, by copying and
# corrupting ../shared/reference/models/tiny-bert (skipped, 77, without shared).
# A good run of the same job comes first: every failure below differs from it
# by exactly one defect.
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
CORRUPT="$SRC/tests/bad_inputs/corrupt_safetensors.py"

T=$(mktemp -d /tmp/attrun-bad.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

fails=0 n=0
fail() { echo "  FAIL: $*"; fails=$((fails + 1)); }

# A copy of the model the test may modify (shared files are read-only).
model_copy() { rm -rf "$1" && cp -r "$MODEL" "$1" && chmod -R u+w "$1"; }
model_copy good
printf 'sentence\tlabel\nit is a charming and often affecting journey .\t1\nunflinchingly bleak and desperate\t0\nthe acting is astounding .\t1\n' >c.tsv

# cfg FILE [key: value lines...]: a small, fast job on model good/ and c.tsv, writing out.h5;
# lines given override the defaults of the same top-level key.
cfg() {
    local f=$1
    shift
    declare -A kv=([model]="model: good" [corpus]="corpus: {path: c.tsv}" [methods]="methods: [ig, saliency]"
                   [ig]="ig: {steps: 4}" [out]="out: out.h5")
    local extra=""
    for l in "$@"; do
        local k=${l%%:*}
        if [ -n "${kv[$k]+x}" ]; then kv[$k]=$l; else extra+="$l"$'\n'; fi
    done
    { for k in model corpus methods ig out; do [ -n "${kv[$k]}" ] && echo "${kv[$k]}"; done; printf '%s' "$extra"; } >"$f"
}

complete_of() { h5dump -a /complete "$1" 2>/dev/null | sed -n 's/.*(0): *\([0-9-]*\).*/\1/p' | head -1; }

# expect_fail NAME OUTFILE PATTERN... -- CMD...: CMD must exit 1..127 (not 124), print every
# PATTERN (fixed strings, case-sensitive), and leave OUTFILE absent or not complete.
expect_fail() {
    local name=$1 outf=$2
    shift 2
    local pats=()
    while [ "$1" != "--" ]; do pats+=("$1"); shift; done
    shift
    n=$((n + 1))
    echo "case $n: $name"
    timeout 300 "$@" >log.txt 2>&1
    local rc=$?
    if [ $rc -eq 0 ]; then fail "$name: exit status 0"; sed 's/^/    | /' log.txt | tail -5; return; fi
    if [ $rc -ge 128 ] || [ $rc -eq 124 ]; then fail "$name: exit status $rc (signal or timeout)"; sed 's/^/    | /' log.txt | tail -20; return; fi
    for p in "${pats[@]}"; do
        grep -qF -- "$p" log.txt || { fail "$name: message does not name '$p'"; sed 's/^/    | /' log.txt | tail -5; }
    done
    if [ -n "$outf" ] && [ -e "$outf" ] && [ "$(complete_of "$outf")" = 1 ]; then fail "$name: $outf is marked complete"; fi
    echo "  ok (status $rc): $( (grep -m1 'attrun run:' log.txt || head -1 log.txt) | cut -c1-200)"
}

# run_bad NAME PATTERN... -- [KEY: VALUE lines] : attrun run on a config built by cfg.
run_bad() {
    local name=$1
    shift
    local pats=()
    while [ "$1" != "--" ]; do pats+=("$1"); shift; done
    shift
    cfg job.yaml "$@"
    rm -rf out.h5 out.h5.spool
    expect_fail "$name" out.h5 "${pats[@]}" -- "$BIN" run job.yaml
}

# works_or_names NAME FILE [cfg lines]: the job must complete (status 0, complete = 1) or
# fail cleanly (1..127, not 124) with a message naming FILE and no complete result.
works_or_names() {
    local name=$1 file=$2
    shift 2
    n=$((n + 1))
    echo "case $n: $name"
    cfg job.yaml "$@"
    rm -rf out.h5 out.h5.spool
    timeout 300 "$BIN" run job.yaml >log.txt 2>&1
    local rc=$?
    if [ $rc -eq 0 ]; then
        [ "$(complete_of out.h5)" = 1 ] && echo "  ok (works)" || fail "$name: status 0 but out.h5 not complete"
    elif [ $rc -lt 128 ] && [ $rc -ne 124 ] && grep -qF "$file" log.txt && [ "$(complete_of out.h5)" != 1 ]; then
        echo "  ok (refused, status $rc): $(grep -m1 'attrun run:' log.txt | cut -c1-200)"
    else
        fail "$name: status $rc, or the message does not name $file"
        sed 's/^/    | /' log.txt | tail -10
    fi
}

# config_error NAME PATTERN... -- [cfg lines] [-- --set args...]: a configuration error: exit
# status exactly 2, every PATTERN printed, and neither out.h5 nor out.h5.spool created (the
# job must be refused before it touches any file).
config_error() {
    local name=$1
    shift
    local pats=() lines=()
    while [ "$1" != "--" ]; do pats+=("$1"); shift; done
    shift
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do lines+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    cfg job.yaml "${lines[@]}"
    config_error_file "$name" job.yaml "${pats[@]}" -- "$@"
}

# config_error_file NAME FILE PATTERN... -- [args...]: as config_error, on a config file as it is;
# the refusal must also come fast (within 20 s: no parse that takes minutes).
config_error_file() {
    local name=$1 file=$2
    shift 2
    local pats=()
    while [ "$1" != "--" ]; do pats+=("$1"); shift; done
    shift
    rm -rf out.h5 out.h5.spool
    n=$((n + 1))
    echo "case $n: $name"
    local t0=$SECONDS
    timeout 300 "$BIN" run "$file" "$@" >log.txt 2>&1
    local rc=$? dt=$((SECONDS - t0))
    if [ $rc -ne 2 ]; then fail "$name: exit status $rc, not 2"; sed 's/^/    | /' log.txt | tail -5; return; fi
    [ $dt -le 20 ] || fail "$name: took $dt s to refuse the configuration"
    for p in "${pats[@]}"; do
        grep -qF -- "$p" log.txt || { fail "$name: message does not name '$p'"; sed 's/^/    | /' log.txt | tail -5; }
    done
    [ -e out.h5 ] && fail "$name: out.h5 was created"
    [ -e out.h5.spool ] && fail "$name: out.h5.spool was created"
    echo "  ok (status 2): $(head -1 log.txt | cut -c1-200)"
}

# --- control: the unmodified job works and marks its result complete ---
n=$((n + 1))
echo "case $n: control (good model, good corpus)"
cfg job.yaml
if timeout 300 "$BIN" run job.yaml >log.txt 2>&1 && [ "$(complete_of out.h5)" = 1 ]; then
    echo "  ok"
else
    fail "control job did not complete (status $?)"
    sed 's/^/    | /' log.txt | tail -20
    echo "FAILED: the control job must work for the catalogue to mean anything"
    exit 1
fi
rm -rf out.h5 out.h5.spool

# --- checkpoints ---
bad_model() { model_copy bad; }
bad_model; rm bad/config.json
run_bad "checkpoint: config.json missing" "bad/config.json" -- "model: bad"
bad_model; rm bad/model.safetensors
run_bad "checkpoint: weights missing" "bad" "model.safetensors" -- "model: bad"
bad_model; mv bad/model.safetensors bad/pytorch_model.bin
run_bad "checkpoint: only pytorch_model.bin" "bad" "pytorch_model.bin" "docs/models.md" -- "model: bad"
bad_model; rm bad/vocab.txt
run_bad "checkpoint: vocab missing" "bad" "vocab.txt" -- "model: bad"

# edit_config KEY PYTHON-EXPR: bad/config.json with cfg[KEY] = EXPR (None deletes it)
edit_config() {
    bad_model
    "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
key, expr = sys.argv[1], sys.argv[2]
c = json.load(open("bad/config.json"))
v = eval(expr)
if v is None:
    del c[key]
else:
    c[key] = v
json.dump(c, open("bad/config.json", "w"), indent=2)
PYEOF
}
edit_config hidden_size None
run_bad "config.json: key missing" "bad/config.json" "hidden_size" -- "model: bad"
edit_config num_attention_heads '"4"'
run_bad "config.json: wrong type" "bad/config.json" "num_attention_heads" -- "model: bad"
edit_config model_type '"t5"'
run_bad "config.json: unsupported model_type" "bad/config.json" "model_type" "t5" "docs/models.md" -- "model: bad"
edit_config architectures '["BertForTokenClassification"]'
run_bad "config.json: unsupported architecture" "bad/config.json" "architectures" -- "model: bad"
edit_config hidden_act '"quick_gelu"'
run_bad "config.json: unsupported activation" "bad/config.json" "hidden_act" "quick_gelu" -- "model: bad"
bad_model; printf '{"model_type": "bert",' >bad/config.json
run_bad "config.json: not JSON" "bad/config.json" -- "model: bad"

# corrupt KIND: bad/model.safetensors damaged; sets $TENSOR to the damaged tensor's name
corrupt() {
    bad_model
    TENSOR=$("$PY" "$CORRUPT" "$MODEL/model.safetensors" bad/model.safetensors "$1") || fail "fixture $1"
}
corrupt truncate
run_bad "safetensors: truncated" "bad/model.safetensors" -- "model: bad"
corrupt hlen_too_big
run_bad "safetensors: header length > file" "bad/model.safetensors" "header length" -- "model: bad"
corrupt header_not_json
run_bad "safetensors: header not JSON" "bad/model.safetensors" "JSON" -- "model: bad"
corrupt offsets_outside
run_bad "safetensors: offsets outside data" "bad/model.safetensors" "$TENSOR" -- "model: bad"
corrupt overlap
run_bad "safetensors: overlapping tensors" "bad/model.safetensors" "$TENSOR" "overlap" -- "model: bad"
corrupt dtype
run_bad "safetensors: unknown dtype" "bad/model.safetensors" "$TENSOR" "F7" -- "model: bad"
corrupt shape
run_bad "safetensors: shape vs offsets" "bad/model.safetensors" "$TENSOR" -- "model: bad"
corrupt nan
run_bad "safetensors: NaN weight" "bad/model.safetensors" "$TENSOR" -- "model: bad"
corrupt inf
run_bad "safetensors: Inf weight" "bad/model.safetensors" "$TENSOR" -- "model: bad"

# --- job configuration (YAML) ---
printf 'model: good\ncorpus: {path: c.tsv\nout: out.h5\n' >job.yaml
rm -rf out.h5
expect_fail "yaml: syntax error" out.h5 "job.yaml:" -- "$BIN" run job.yaml
run_bad "yaml: unknown key" "job.yaml:6" "bogus_key" -- "bogus_key: 3"
run_bad "yaml: wrong type" "job.yaml:4" "steps" "many" -- "ig: {steps: many}"
run_bad "yaml: steps = 0" "job.yaml:4" "steps" -- "ig: {steps: 0}"
run_bad "yaml: steps < 0" "job.yaml:4" "steps" -- "ig: {steps: -5}"
run_bad "yaml: gradshap stdevs < 0" "job.yaml:6" "stdevs" -- "methods: [gradshap]" "gradshap: {samples: 2, stdevs: -0.5}"
run_bad "yaml: unknown method" "job.yaml:3" "methods" "lime" -- "methods: [ig, lime]"
run_bad "yaml: required key missing" "job.yaml" "out" -- "out: "
# Engine limits checked when the config is read (engine/attribution.h METHOD_MAX_*): before,
# these passed the config check, created out.h5 and its spool, and failed in the first unit
# with status 1 (and smoothgrad over IG overflowed an int: "0 of its -1294967296 items").
config_error "limit: ig.steps above the engine's" "job.yaml:4" "ig.steps" "100000" -- "ig: {steps: 150000}"
config_error "limit: gradshap.samples" "gradshap.samples" "1000000" -- "methods: [gradshap]" "gradshap: {samples: 1048576}"
config_error "limit: smoothgrad.samples" "smoothgrad.samples" -- "methods: [smoothgrad]" "smoothgrad: {samples: 1048576}"
config_error "limit: conductance.steps" "conductance.steps" -- "methods: [conductance]" "conductance: {steps: 200000}"
config_error "limit: gradshap.stdevs inf" "gradshap.stdevs" "inf" -- "methods: [gradshap]" "gradshap: {stdevs: inf}"
config_error "limit: smoothgrad.stdevs 2e6" "smoothgrad.stdevs" -- "methods: [smoothgrad]" "smoothgrad: {stdevs: 2e6}"
config_error "limit: smoothgrad over ig, samples x steps > 1e8" "smoothgrad.samples" "ig.steps" "200000000" -- \
    "methods: [smoothgrad]" "smoothgrad: {samples: 2000, base: ig}" "ig: {steps: 100000}"
config_error "limit: smoothgrad over ig, samples x steps overflows an int" "smoothgrad.samples" "3000000000" -- \
    "methods: [smoothgrad]" "smoothgrad: {samples: 1000000, base: ig}" "ig: {steps: 3000}"
config_error "limit: --set above the engine's" "--set" "ig.steps" -- -- --set ig.steps=150000
# YAML quirks: duplicate keys (libyaml keeps both; the later value used to win silently), a
# second document (silently ignored), and nesting deep enough to make libyaml's scanner
# quadratic (a 200 000-deep flow took minutes and ignored SIGTERM).
config_error "yaml: duplicate top-level key" "job.yaml:7" "threads" "duplicate key" "line 6" -- "threads: 1" "threads: 2"
config_error "yaml: duplicate key in a section" "job.yaml:4" "ig.steps" "duplicate key" -- "ig: {steps: 4, steps: 5}"
config_error "yaml: duplicate key in --set" "--set" "ig.steps" "duplicate key" -- -- --set "ig={steps: 4, steps: 5}"
cfg job.yaml
printf -- '---\nmodel: bad\n' >>job.yaml
config_error_file "yaml: a second document" job.yaml "job.yaml:6" "second YAML document" --
"$PY" -c "
d = 200000
open('deep.yaml', 'w').write('model: good\\ncorpus: c.tsv\\nout: out.h5\\nig: ' + '[' * d + ']' * d + '\\n')
open('deep_block.yaml', 'w').write('model: good\\ncorpus: c.tsv\\nout: out.h5\\nig:\\n' + '- ' * d + '1\\n')"
config_error_file "yaml: 200000-deep flow nesting" deep.yaml "deep.yaml:4" "nested deeper than 32" --
config_error_file "yaml: 200000-deep block nesting" deep_block.yaml "deep_block.yaml:5" "nested deeper than 32" --
cfg job.yaml
expect_fail "--set: bad value" out.h5 "--set" "ig.steps" -- "$BIN" run job.yaml --set ig.steps=0
run_bad "output directory missing" "job.yaml" "out" "$T/nodir" -- "out: $T/nodir/out.h5"
run_bad "output parent is a file" "job.yaml" "out" "c.tsv" -- "out: c.tsv/out.h5"

# --- corpora ---
run_bad "corpus: missing file" "nosuch.tsv" -- "corpus: {path: nosuch.tsv}"
printf 'sentence\tlabel\ngood line\t1\nbad \xff\xfe line\t0\n' >utf8.tsv
run_bad "corpus: invalid UTF-8" "utf8.tsv:3" -- "corpus: {path: utf8.tsv}"
run_bad "corpus: missing column" "c.tsv" "review" -- "corpus: {path: c.tsv, text_field: review}"
printf '{"text": "fine", "label": 1}\n{"text": "broken", "label": \n' >bad.jsonl
run_bad "corpus: malformed JSONL" "bad.jsonl:2" -- "corpus: {path: bad.jsonl}"
printf '{"text": "fine"}\n{"txt": "no text field"}\n' >nofield.jsonl
run_bad "corpus: JSONL record without the field" "nofield.jsonl:2" "text" -- "corpus: {path: nofield.jsonl}"
printf 'text,label\n"unterminated,1\n' >bad.csv
run_bad "corpus: CSV unterminated quote" "bad.csv" -- "corpus: {path: bad.csv}"
: >empty.tsv
run_bad "corpus: empty file" "empty.tsv" -- "corpus: {path: empty.tsv}"
# A header and no rows: an empty but complete result, or a refusal naming the file.
printf 'sentence\tlabel\n' >header_only.tsv
works_or_names "corpus: header only, no rows" header_only.tsv "corpus: {path: header_only.tsv}"

# A 10 MB line: must work (truncated to the model maximum) or fail cleanly naming the file.
"$PY" -c "
import sys
w = ['great', 'movie', 'boring', 'plot', 'acting', 'é', '!']
s = ' '.join(w[i % 7] for i in range(10 * 1024 * 1024 // 6))
open('huge.tsv', 'w').write('sentence\tlabel\nshort one\t1\n' + s + '\t0\n')"
works_or_names "corpus: one 10 MB line" huge.tsv "corpus: {path: huge.tsv}" "methods: [saliency]"

# --- runtime ---
# Output disk full: files may grow to 64 KiB; SIGXFSZ ignored so write() returns EFBIG.
# PMIX_MCA_gds=hash: Open MPI's PMIx would otherwise fail MPI_Init on its own shared-memory
# files under the limit, before attrun runs at all.
# The limit is swept so that it strikes in different places (spools, result datasets,
# the final flush and close): each must be a clean failure naming the output (or its
# spools), or, once the limit is large enough, a complete result.
cfg job.yaml "methods: [ig, saliency]" "attention: {save: true}"
for kib in 16 48 64 66 68 70 72 74 76 78 80 128; do
    rm -rf out.h5 out.h5.spool
    n=$((n + 1))
    echo "case $n: runtime: file size limit $kib KiB (disk full)"
    env PMIX_MCA_gds=hash bash -c 'trap "" XFSZ; ulimit -f $1; exec "$0" run job.yaml' "$BIN" "$kib" >log.txt 2>&1
    rc=$?
    if [ $rc -eq 0 ] && [ "$(complete_of out.h5)" = 1 ]; then
        echo "  ok (fits)"
    elif [ $rc -ge 1 ] && [ $rc -lt 124 ] && grep -qF "out.h5" log.txt && [ "$(complete_of out.h5)" != 1 ]; then
        echo "  ok (status $rc): $(grep -m1 'attrun run:' log.txt | cut -c1-200)"
    else
        fail "file size limit $kib KiB: status $rc (complete=$(complete_of out.h5))"
        grep -v '^\[vm' log.txt | sed 's/^/    | /' | tail -6
    fi
done

# The output exists: refused without --overwrite / --resume, and left untouched.
cfg job.yaml
rm -rf out.h5 out.h5.spool
timeout 300 "$BIN" run job.yaml >log.txt 2>&1 || fail "setup for 'output exists' failed"
sum=$(md5sum out.h5 2>/dev/null)
n=$((n + 1))
echo "case $n: runtime: output exists"
timeout 300 "$BIN" run job.yaml >log.txt 2>&1
rc=$?
if [ $rc -ge 1 ] && [ $rc -lt 124 ] && grep -qF "out.h5" log.txt && grep -qE -- "--overwrite|--resume" log.txt; then
    [ "$(md5sum out.h5)" = "$sum" ] && echo "  ok (status $rc): $(head -1 log.txt | cut -c1-200)" ||
        fail "output exists: file was modified"
else
    fail "output exists: status $rc"
    sed 's/^/    | /' log.txt | tail -5
fi

echo "bad inputs: $n cases, $fails failures"
[ $fails -eq 0 ]
