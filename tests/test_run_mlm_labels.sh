#!/usr/bin/env bash
# Masked-LM labels as documented in docs/models.md (issue 19): a label is a vocabulary id
# (JSON number, whole float, digit string, TSV cell) or a gold word (issue 16: the vocabulary entry
# spelled so, else the one token the tokenizer makes of it), stored in /examples/label and never the
# explained token; a word that is not one token or an id >= V is a row error; target: label is refused.
source "$(dirname "$0")/tools/run_lib.sh"
$PY -c "import h5py, numpy" 2>/dev/null || { echo "SKIPPED: $PY has no h5py/numpy"; exit 77; }
CODE=$SRC/models/tiny-codebert-mlm
[ -f "$CODE/model.safetensors" ] || { echo "SKIPPED: $CODE is absent"; exit 77; }
job() { printf 'model: %s\ncorpus: {path: %s}\nmethods: [saliency]\nout: %s\n%s' "$CODE" "$1" "$2" "${3:-}" > j.yaml; }
printf '{"text": "x = <mask> ;", "label": 19220}\n{"text": "y = <mask> ;", "label": "19220"}\n{"text": "z = <mask> ;", "label": 1.0}\n{"text": "w = <mask> ;"}\n' > a.jsonl
job a.jsonl a.h5 'target: 19220
'
"$BIN" run j.yaml --quiet > log 2>&1 || { cat log; fail "integer labels refused"; }
$PY - "$SRC/scripts/analysis" <<'PY' || fail "labels"
import h5py
f = h5py.File("a.h5", "r")
assert list(f["examples/label"][:]) == [19220, 19220, 1, -1], f["examples/label"][:]
assert list(f["examples/target"][:]) == [19220] * 4, f["examples/target"][:]
# attrun_load's prediction is the argmax token at the mask, not the fixed target
import sys; sys.path.insert(0, sys.argv[1])
from attrun_load import AttrunResult
df = AttrunResult("a.h5").examples()
assert list(df.predicted) == list(f["examples/mlm_top_ids"][:, 0]), (list(df.predicted), f["examples/mlm_top_ids"][:, 0])
assert list(df.correct.fillna(False)) == [p == l for p, l in zip(df.predicted, [19220, 19220, 1, -1])]
PY
printf 'text\tlabel\nx = <mask> ;\t19220\n' > d.tsv
job d.tsv d.h5; "$BIN" run j.yaml --quiet > log 2>&1 || { cat log; fail "TSV id label refused"; }
printf '{"text": "x = <mask> ;", "label": "Ġmax"}\n{"text": "x = <mask> ;", "label": "max"}\n' > b.jsonl
job b.jsonl b.h5; "$BIN" run j.yaml --quiet > log 2>&1 || { cat log; fail "gold-word labels refused"; }
$PY - "$CODE/vocab.json" <<'PY' || fail "gold words as token ids"
import h5py, json, sys
v = json.load(open(sys.argv[1], encoding="utf-8"))
got = list(h5py.File("b.h5", "r")["examples/label"][:])
assert got == [v["Ġmax"], v["max"]], (got, v["Ġmax"], v["max"])
PY
printf '{"text": "x = <mask> ;", "label": "maxqzqzfoo"}\n' > b2.jsonl
job b2.jsonl b2.h5; "$BIN" run j.yaml --quiet > log 2>&1 && fail "a gold word of several tokens was accepted"
grep -q "b2.jsonl:1: gold answer 'maxqzqzfoo' is not a single token of the vocabulary: .* splits it into" log ||
    fail "multi-token gold word message: $(cat log)"
printf '{"text": "x = <mask> ;", "label": 50265}\n' > c.jsonl
job c.jsonl c.h5; "$BIN" run j.yaml --quiet > log 2>&1 && fail "label = V accepted"
grep -q "c.jsonl:1: label 50265 is out of range" log || fail "out-of-range message: $(cat log)"
job a.jsonl e.h5 'target: label
'; "$BIN" run j.yaml --quiet > log 2>&1; [ $? -eq 2 ] || fail "target: label accepted for a masked LM"
echo "PASS"
