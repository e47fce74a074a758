#!/usr/bin/env bash
# "special" tokens (issue 19): one rule, the tokenizer's own special flags, written as
# /tokens/special and used by scripts/analysis/attrun_load.py. A byte-level BPE token before a
# multibyte character ("Ġ" before 中 in RoBERTa/CodeBERT) has an empty character span (4, 4)
# but is a real token: it must not be flagged special; <s> and </s> must be.
source "$(dirname "$0")/tools/run_lib.sh"
$PY -c "import h5py, numpy, pandas" 2>/dev/null || { echo "SKIPPED: $PY has no h5py/numpy/pandas"; exit 77; }
CODE=$SRC/models/tiny-codebert-mlm
[ -f "$CODE/model.safetensors" ] || { echo "SKIPPED: $CODE is absent"; exit 77; }
printf '{"text": "x = 中 <mask> ;"}\n{"text": "int y = <mask> ;"}\n' > c.jsonl
cat > job.yaml <<YAML
model: $CODE
corpus: {path: $WORK/c.jsonl, format: jsonl}
methods: [saliency]
out: $WORK/o.h5
YAML
"$BIN" run job.yaml --quiet > log 2>&1 || { cat log; fail "run failed"; }
PYTHONPATH=$SRC/scripts/analysis $PY - <<'PY' || fail "special flags"
import sys, h5py, shutil
from attrun_load import AttrunResult
def load(p):
    return AttrunResult(p).tokens()
t = load("o.h5")
e0 = t[t.example == 0]
print(e0[["position", "text", "char_start", "char_end", "special"]].to_string())
texts = list(e0.text)
assert texts[:5] == ["<s>", "x", "Ġ=", "Ġ", "ä¸Ń"], texts
g = e0.iloc[3]
assert (g.char_start, g.char_end) == (4, 4), "expected an empty span for the byte-level 'Ġ'"
assert not g.special, "byte-level 'Ġ' with an empty span flagged special"
sp = dict(zip(e0.text, e0.special))
assert sp["<s>"] and sp["</s>"], sp
# the tokenizer's special tokens here: <s>, </s> and the added <mask> (special in tokenizer.json)
assert list(t.text[t.special]) == ["<s>", "<mask>", "</s>"] * 2, list(t.text[t.special])
# the file's flags are the tokenizer's: what attrun_load reads is /tokens/special
f = h5py.File("o.h5", "r")
assert list(f["tokens/special"][:len(e0)]) == [1, 0, 0, 0, 0, 1, 0, 1], f["tokens/special"][:]
f.close()
# a file without /tokens/special (older attrun): the (0, 0) span rule, still not the empty span
shutil.copy("o.h5", "old.h5")
with h5py.File("old.h5", "a") as f:
    del f["tokens/special"]
o = load("old.h5")
assert list(o.text[o.special]) == ["<s>", "</s>"] * 2, list(o.text[o.special])
PY
echo "PASS"
