#!/usr/bin/env bash
# The second-round analysis of attrun run (docs/analysis.md §6-8), recomputed in numpy by
# tests/tools/check_analysis2.py from the file's raw data, never from the C code:
#   - the bundled Java cloze corpus with the bundled tiny CodeBERT-MLM: /tokens/category against
#     tests/tools/javalex.py (an independent re-implementation of javalang's rules) with the
#     sub-token rule, per-category attention and conductance from /attention/probs and
#     /conductance/attention, category mass from token_sum, first/BOS/sink from the attention,
#     massive activations from /hidden/states; all <= 1e-6; np=2 bitwise equal to np=1;
#   - categories from a JSONL field of [[start, end, "label"], ...]; malformed fields fail or skip;
#   - sink_epsilon changes the indicator (and its attribute); config refusals.
source "$(dirname "$0")/tools/run_lib.sh"
$PY -c "import h5py, numpy" 2>/dev/null || { echo "SKIPPED: $PY has no h5py/numpy"; exit 77; }
CODE=$SRC/models/tiny-codebert-mlm
cat > cloze.yaml <<YAML
model: $CODE
corpus: {path: $SRC/data/codexglue-cloze.jsonl, format: jsonl, text_field: text, max_length: 512, limit: 24, on_error: skip}
methods: [saliency, ig, conductance]
ig: {steps: 4}
conductance: {steps: 2, save_attention: true}
baseline: mask
attention: {save: true}
analysis: {categories: java, save_hidden: true}
out: $WORK/c1.h5
YAML
"$BIN" run cloze.yaml --quiet || fail "cloze run failed"
$H5CMP check c1.h5 || fail "file invariants"
$PY "$SRC/tests/tools/check_analysis2.py" c1.h5 1e-6 || fail "recomputation of the cloze analysis"
$MPIRUN -np 2 "$BIN" run cloze.yaml --quiet --set out=$WORK/c2.h5 || fail "cloze np=2"
$H5CMP same c1.h5 c2.h5 || fail "np=2 differs from np=1"

# ---- sink_epsilon: a low threshold marks every head of this model a sink ----
"$BIN" run cloze.yaml --quiet --set out=$WORK/c3.h5 --set corpus.limit=4 --set analysis.sink_epsilon=0.01 \
    --set "methods=[saliency]" --set attention.save=true || fail "sink_epsilon run"
$PY "$SRC/tests/tools/check_analysis2.py" c3.h5 1e-6 || fail "recomputation with sink_epsilon 0.01"
$PY - c3.h5 c1.h5 <<'PYEOF' || fail "sink_epsilon"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert a["attention/stats/sink"].attrs["epsilon"] == 0.01 and b["attention/stats/sink"].attrs["epsilon"] == 0.3
assert a["attention/stats/sink"][:].sum() > b["attention/stats/sink"][:4].sum()
# the other statistics do not depend on the methods or epsilon
for k in ("first", "bos"):
    assert a[f"attention/stats/{k}"][:].tobytes() == b[f"attention/stats/{k}"][:4].tobytes(), k
assert (a["attention/stats/first"][:] == a["attention/stats/bos"][:]).all(), "RoBERTa: <s> is at position 0"
PYEOF

# ---- forward-only job: methods: [] gives the same base-unit analysis, no attributions ----
"$BIN" run cloze.yaml --quiet --set "methods=[]" --set out=$WORK/fo.h5 || fail "forward-only run"
$H5CMP check fo.h5 || fail "forward-only: file invariants"
$PY - fo.h5 c1.h5 <<'PYEOF' || fail "forward-only datasets"
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert set(a["attributions"]) == {"rollout"}, list(a["attributions"])
assert "conductance" not in a and "agreement" not in a
same = ["tokens/category", "examples/category_count", "attention/categories/received", "attention/probs",
        "hidden/states", "attributions/rollout/token_sum", "examples/target"] + \
       [f"attention/stats/{k}" for k in b["attention/stats"]] + [f"hidden/massive/{k}" for k in b["hidden/massive"]]
for k in same:
    assert a[k][:].tobytes() == b[k][:].tobytes(), k
print(f"forward-only: {len(same)} datasets bitwise equal to the attribution job's")
PYEOF
"$BIN" run cloze.yaml --quiet --set "methods=[]" --set out=$WORK/fo2.h5 --set analysis.faithfulness=true > log 2>&1 \
    && fail "faithfulness without a method accepted"
grep -q "methods is empty: a forward-only job" log || { cat log; fail "forward-only faithfulness message"; }

# ---- categories from a corpus field ----
$PY - <<'PYEOF'
import json
rows = [("int x = max ( a , <mask> ) ;", [[0, 3, "TYPE"], [4, 5, "VAR"], [8, 11, "CALL"], [14, 15, "VAR"]]),
        ("return <mask> ;", [[0, 6, "KW"]]),
        ("a <mask>", [])]
with open("field.jsonl", "w") as f:
    for t, s in rows:
        f.write(json.dumps({"text": t, "spans": s}) + "\n")
with open("badfield.jsonl", "w") as f:
    f.write(json.dumps({"text": "x <mask>", "spans": [[0, 1, "A"]]}) + "\n")
    f.write(json.dumps({"text": "y <mask>", "spans": [[3, 1, "A"]]}) + "\n")
    f.write(json.dumps({"text": "z <mask>"}) + "\n")
PYEOF
cat > field.yaml <<YAML
model: $CODE
corpus: {path: $WORK/field.jsonl}
methods: [saliency]
analysis: {categories: "field:spans"}
out: $WORK/f.h5
YAML
"$BIN" run field.yaml --quiet || fail "field run failed"
$H5CMP check f.h5 || fail "field: file invariants"
$PY - f.h5 field.jsonl <<'PYEOF' || fail "field categories"
import sys, json, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
names = [n.decode() if isinstance(n, bytes) else n for n in f["tokens/category"].attrs["names"]]
assert names == ["TYPE", "VAR", "CALL", "KW", "special", "unknown"], names
rows = [json.loads(l) for l in open(sys.argv[2])]
off, span, cat = f["tokens/offsets"][:], f["tokens/char_span"][:], f["tokens/category"][:]
toks = [t.decode() if isinstance(t, bytes) else t for t in f["tokens/text"][:]]
for e, r in enumerate(rows):
    for t in range(off[e], off[e + 1]):
        if toks[t] in ("<s>", "</s>", "<mask>"):
            want = "special"
        else:
            best, bov = "unknown", 0
            for a, b, lab in r["spans"]:
                ov = min(span[t][1], b) - max(span[t][0], a)
                if ov > bov:
                    best, bov = lab, ov
            want = best
        assert names[cat[t]] == want, (e, toks[t], names[cat[t]], want)
cnt = f["examples/category_count"][:]
assert cnt.sum() == off[-1] and (cnt[2][:4] == 0).all() and cnt[2][4] == 3 and cnt[2][5] >= 1, cnt[2]
m = f["attributions/saliency/category_mass"][:]
assert np.allclose(np.nansum(m, 1), 1, atol=1e-6)
print("field categories ok:", names)
PYEOF
"$BIN" run field.yaml --quiet --set corpus.path=$WORK/badfield.jsonl --set out=$WORK/fb.h5 > log 2>&1 && fail "a bad span field was accepted"
grep -q "badfield.jsonl:2: field 'spans': category span 0: needs 0 <= start <= end" log || { cat log; fail "bad span message"; }
"$BIN" run field.yaml --quiet --set corpus.path=$WORK/badfield.jsonl --set corpus.on_error=skip --set out=$WORK/fs.h5 \
    > log 2>&1 || { cat log; fail "skip bad field rows"; }
$PY - fs.h5 <<'PYEOF' || fail "skipped field rows"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
assert list(f["examples/skipped_rows"][:]) == [1, 2], f["examples/skipped_rows"][:]
r = [x.decode() if isinstance(x, bytes) else x for x in f["examples/skipped_reasons"][:]]
assert "missing field 'spans' (analysis.categories)" in r[1], r
PYEOF

# ---- decoders (reference models, when present): GPT-2 adds no BOS (bos all NaN), Llama adds <s> ----
for m in tiny-gpt2 tiny-llama; do
    D=$SHARED/reference/models/$m
    [ -f "$D/model.safetensors" ] || { echo "decoder check skipped: $D absent"; continue; }
    "$BIN" run cloze.yaml --quiet --set model=$D --set baseline=zero --set "methods=[saliency]" --set corpus.limit=6 \
        --set corpus.max_length=128 --set out=$WORK/$m.h5 || fail "$m run"
    $H5CMP check $m.h5 || fail "$m: file invariants"
    $PY "$SRC/tests/tools/check_analysis2.py" $m.h5 1e-6 || fail "$m: recomputation"
    $PY - $m.h5 $m <<'PYEOF' || fail "$m: bos"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
bos, first = f["attention/stats/bos"][:], f["attention/stats/first"][:]
if sys.argv[2] == "tiny-gpt2":
    assert np.isnan(bos).all() and np.isfinite(first).all(), "GPT-2 adds no BOS"
else:
    assert (bos == first).all(), "Llama adds <s> at position 0"
PYEOF
done

# ---- refusals ----
write_tsv corpus.tsv 3
"$BIN" run field.yaml --quiet --set corpus.path=$WORK/corpus.tsv --set out=$WORK/ft.h5 > log 2>&1 && fail "field categories on a TSV accepted"
grep -q "field 'spans' (analysis.categories) needs a JSONL corpus, not tsv" log || { cat log; fail "TSV field message"; }
"$BIN" run field.yaml --quiet --set out=$WORK/fj.h5 --set analysis.categories=jav > log 2>&1; [ $? = 2 ] || fail "bad categories: exit code"
grep -q "analysis.categories: unknown source 'jav' (none, java, or field:<name>" log || { cat log; fail "bad categories message"; }
"$BIN" run field.yaml --quiet --set out=$WORK/fe.h5 --set analysis.sink_epsilon=1.5 > log 2>&1; [ $? = 2 ] || fail "sink_epsilon 1.5: exit code"
grep -q "analysis.sink_epsilon: must be in \[0, 0.999999\] (got 1.5)" log || { cat log; fail "sink_epsilon message"; }
echo "PASS"
