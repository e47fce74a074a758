#!/usr/bin/env bash
# attention.norm_weighted (docs/analysis.md §11, Kobayashi et al. 2020) recomputed in numpy by
# tests/tools/check_norm_weighted.py from the checkpoint weights (its own safetensors reader), the
# saved hidden states and the saved attention, never from the C code (all <= 1e-5):
#   - tiny-bert (encoder, post-LN), tiny-llama and tiny-qwen2 (decoders, pre-RMSNorm, GQA: 4 query
#     heads on 2 KV heads; qwen2 with a value bias): value norms, the per-head statistics and
#     first/bos/sink of the row-normalised norm-weighted attention;
#   - the bundled tiny CodeBERT-MLM (RoBERTa positions) with `categories: java`: the norm-weighted
#     attention received per category;
#   - np=2 bitwise equal to np=1; the option leaves every other dataset bit for bit as it was;
#     off by default; with analysis.stats off only the value norms are written.
source "$(dirname "$0")/tools/run_lib.sh"
require_model
CHECK="$PY $SRC/tests/tools/check_norm_weighted.py"
head -5 "$SRC/data/sst2-dev.tsv" > dev4.tsv

write_config nw.yaml nw.h5 "corpus: {path: $WORK/dev4.tsv}" "methods: [saliency]" \
    "attention: {save: true, norm_weighted: true}" "analysis: {save_hidden: true}"
"$BIN" run nw.yaml --quiet || fail "tiny-bert norm_weighted run"
$H5CMP check nw.h5 || fail "file invariants"
$CHECK nw.h5 "$MODEL" 1e-5 || fail "tiny-bert recomputation"
$MPIRUN -np 2 "$BIN" run nw.yaml --quiet --set out=$WORK/nw2.h5 || fail "np=2 run"
$H5CMP same nw.h5 nw2.h5 || fail "np=2 differs from np=1"

# the option adds datasets and changes none of the others
"$BIN" run nw.yaml --quiet --set out=$WORK/plain.h5 --set attention.norm_weighted=false || fail "plain run"
$PY - nw.h5 plain.h5 <<'PYEOF' || fail "datasets of the job without the option"
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert "norm_weighted" not in b["attention"], "written without the option"
names = []
b.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
for n in names:
    x, y = a[n][:], b[n][:]
    assert (list(x) == list(y)) if x.dtype == object else x.tobytes() == y.tobytes(), n
nw = [n for n in a["attention/norm_weighted/stats"]]
assert sorted(nw) == sorted(list(b["attention/stats"])), nw
print(f"{len(names)} datasets bitwise equal with and without norm_weighted; {len(nw)} norm-weighted statistics")
PYEOF

# analysis.stats off: the value norms only
"$BIN" run nw.yaml --quiet --set out=$WORK/vn.h5 --set analysis.stats=false || fail "stats-off run"
$PY - vn.h5 nw.h5 <<'PYEOF' || fail "stats off"
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert list(a["attention/norm_weighted"]) == ["value_norm"], list(a["attention/norm_weighted"])
assert a["attention/norm_weighted/value_norm"][:].tobytes() == b["attention/norm_weighted/value_norm"][:].tobytes()
PYEOF

# decoders with grouped-query attention
for m in tiny-llama tiny-qwen2; do
    D=$SHARED/reference/models/$m
    [ -f "$D/model.safetensors" ] || { echo "note: $D absent, skipped"; continue; }
    write_config $m.yaml $m.h5 "model: $D" "corpus: {path: $WORK/dev4.tsv}" "methods: [saliency]" "baseline: zero" \
        "attention: {save: true, norm_weighted: true}" "analysis: {save_hidden: true}"
    "$BIN" run $m.yaml --quiet || fail "$m norm_weighted run"
    $H5CMP check $m.h5 || fail "$m file invariants"
    $CHECK $m.h5 "$D" 1e-5 || fail "$m recomputation"
done

# RoBERTa positions and token categories (bundled model and corpus)
CODE=$SRC/models/tiny-codebert-mlm
write_config code.yaml code.h5 "model: $CODE" \
    "corpus: {path: $SRC/data/codexglue-cloze.jsonl, format: jsonl, text_field: text, max_length: 512, limit: 4, on_error: skip}" \
    "methods: [saliency]" "baseline: mask" "attention: {save: true, norm_weighted: true}" \
    "analysis: {categories: java, save_hidden: true}"
"$BIN" run code.yaml --quiet || fail "codebert norm_weighted run"
$H5CMP check code.h5 || fail "codebert file invariants"
$CHECK code.h5 "$CODE" 1e-5 || fail "codebert recomputation"
echo "PASS"
