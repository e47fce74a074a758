#!/usr/bin/env bash
# Cloze scoring and the per-example bookkeeping of issues 16/19 (docs/analysis.md §10), every value checked
# in Python from outside the C code:
#   - mlm.candidates: /examples/candidate_ids against the model's vocab.json, /examples/candidate_logits
#     recomputed in numpy from /hidden/states with the MLM head read from model.safetensors, target =
#     their argmax and Saliency's F(x) = that logit; a file of words = the same list;
#   - gold words / ids as labels, /examples/correct = prediction == label (candidates and full vocabulary);
#     bad gold words skipped with their reasons; a job where every row is skipped exits 1 with the reasons;
#   - corpus.id_field / keep_fields (JSONL and CSV) into /examples/id, /examples/fields/<name>, read by pandas;
#   - corpus.on_long: skip against the untruncated lengths of `attrun tokenize`;
#   - conductance.save_attention: off writes no /conductance/attention, the statistics are the same bits,
#     and with it on they are recomputed from it;
#   - classifier /examples/correct from /examples/logits and the corpus labels;
#   - config errors (exit 2, message naming the word / field).
source "$(dirname "$0")/tools/run_lib.sh"
$PY -c "import h5py, numpy, pandas" 2>/dev/null || { echo "SKIPPED: $PY has no h5py/numpy/pandas"; exit 77; }
CODE=$SRC/models/tiny-codebert-mlm SST=$SRC/models/sst2-tiny CLOZE=$SRC/data/codexglue-cloze.jsonl
[ -f "$CODE/model.safetensors" ] && [ -f "$SST/model.safetensors" ] || { echo "SKIPPED: bundled models absent"; exit 77; }

# A labelled cloze corpus: the first 14 bundled functions with gold answers of every kind, a numeric and a
# null field, and a row whose gold word is not a candidate / not one token.
$PY - "$CLOZE" <<'PY' > g.jsonl
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")][:14]
gold = ["max", "min", 29459, None, "Ġmax", "qqzzxxfoo", "min", "max", "4691", "min", "max", None, "min", "max"]
for i, (r, g) in enumerate(zip(rows, gold)):
    o = {"idx": r["idx"], "text": r["text"], "n": 40 + i, "z": None, "s": f"row {i}"}
    if g is not None:
        o["label"] = g
    print(json.dumps(o, ensure_ascii=False))
PY
job() { # job FILE OUT [extra YAML lines]
    printf 'model: %s\ncorpus: {path: %s, max_length: 512, on_error: skip, id_field: idx, keep_fields: [n, z, s]}\nmethods: [saliency]\nanalysis: {save_hidden: true}\nout: %s\n%s' \
        "$CODE" "$1" "$2" "${3:-}" > j.yaml
}
job g.jsonl a.h5 'mlm: {candidates: [max, min]}
'
"$BIN" run j.yaml --quiet > log 2>&1 || { cat log; fail "candidates job"; }
printf '  max \r\n\n\tmin\r\n\n' > words.txt
job g.jsonl af.h5 "mlm: {candidates: $WORK/words.txt}
"
"$BIN" run j.yaml --quiet > log 2>&1 || { cat log; fail "candidates from a file"; }
$MPIRUN -np 2 "$BIN" run j.yaml --quiet --set out=$WORK/af2.h5 > log 2>&1 || { cat log; fail "candidates np=2"; }
$H5CMP same af.h5 af2.h5 || fail "candidates: np=2 differs from np=1"
# the spools are bound to the candidates: a --resume after the file of words changed is refused, one with
# the same words equals the uninterrupted run (a partial spool made by a file-size limit, as in
# tests/test_run_integrity.sh)
printf 'model: %s\ncorpus: {path: %s, limit: 12, max_length: 512, on_error: skip}\nmethods: [saliency]\nmlm: {candidates: %s}\nout: %s\n' \
    "$CODE" "$CLOZE" "$WORK/words.txt" "$WORK/p.h5" > r.yaml
"$BIN" run r.yaml --quiet --set out=$WORK/pref.h5 > log 2>&1 || { cat log; fail "resume reference"; }
(trap '' XFSZ; export PMIX_MCA_gds=hash; ulimit -f 300; "$BIN" run r.yaml --quiet) > log 2>&1; rc=$?
[ $rc -eq 1 ] && ls p.h5.spool/rank0-*.bin > /dev/null 2>&1 || { cat log; fail "partial run: exit $rc"; }
printf 'min\nmax\n' > words.txt
"$BIN" run r.yaml --resume > log 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "or other mlm.candidates" log || { cat log; fail "resume after the candidates changed: exit $rc, expected 2"; }
printf 'max\nmin\n' > words.txt
"$BIN" run r.yaml --resume --quiet > log 2>&1 || { cat log; fail "resume with the same candidates"; }
$H5CMP same pref.h5 p.h5 || fail "resumed candidates job differs from the uninterrupted run"
job g.jsonl b.h5
"$BIN" run j.yaml --quiet > log 2>&1 || { cat log; fail "job without candidates"; }

$PY - "$CODE" g.jsonl <<'PY' || fail "cloze values"
import h5py, json, struct, sys, math
import numpy as np, pandas as pd
model, corpus = sys.argv[1], sys.argv[2]
vocab = json.load(open(f"{model}/vocab.json", encoding="utf-8"))
rows = [json.loads(l) for l in open(corpus, encoding="utf-8")]

def tensors(path):  # safetensors read by hand: 8-byte header size, JSON header, raw little-endian data
    with open(path, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        head = json.loads(fh.read(n)); data = fh.read()
    dt = {"F16": np.float16, "F32": np.float32, "BF16": None}
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=dt[v["dtype"]]).reshape(v["shape"]).astype(np.float64)
    return out
W = tensors(f"{model}/model.safetensors")
erf = np.vectorize(math.erf)
def mlm_logits(h):  # RobertaLMHead: dense, exact GELU, LayerNorm(eps 1e-5), tied decoder + bias
    x = W["lm_head.dense.weight"] @ h + W["lm_head.dense.bias"]
    x = 0.5 * x * (1 + erf(x / math.sqrt(2)))
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-5) * W["lm_head.layer_norm.weight"] + W["lm_head.layer_norm.bias"]
    return W["roberta.embeddings.word_embeddings.weight"] @ x + W["lm_head.bias"]

a, af, b = (h5py.File(p, "r") for p in ("a.h5", "af.h5", "b.h5"))
idx = a["examples/index"][:]
assert list(idx) == [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13], idx          # rows 4 (Ġmax) and 5 skipped
reasons = [r.decode() for r in a["examples/skipped_reasons"][:]]
assert list(a["examples/skipped_rows"][:]) == [4, 5], a["examples/skipped_rows"][:]
assert "g.jsonl:5: gold answer 'Ġmax' (token id 19220) is not one of the mlm.candidates" in reasons[0], reasons
assert "g.jsonl:6: gold answer 'qqzzxxfoo' is not a single token of the vocabulary" in reasons[1], reasons
cid = [vocab["max"], vocab["min"]]
assert (a["examples/candidate_ids"][:] == np.array([cid] * len(idx))).all()
assert a["examples/candidate_ids"].dtype == np.int32 and a["examples/candidate_logits"].dtype == np.float32
# the file of words: the same candidates, the same bits
for k in ("candidate_ids", "candidate_logits", "target", "label", "correct"):
    assert (af["examples/" + k][:] == a["examples/" + k][:]).all(), k
# candidate logits from the last layer's hidden state at the mask, through the MLM head in numpy
off, pos = a["tokens/offsets"][:], a["examples/mlm_position"][:]
hid, L = a["hidden/states"], a["hidden/states"].shape[1]
cl = a["examples/candidate_logits"][:]
worst = 0.0
for e in range(len(idx)):
    z = mlm_logits(hid[off[e] + pos[e], L - 1].astype(np.float64))
    worst = max(worst, np.abs(z[cid] - cl[e]).max() / max(1.0, np.abs(z[cid]).max()))
# without candidates the full-vocabulary argmax is the top-1 token
boff, bpos = b["tokens/offsets"][:], b["examples/mlm_position"][:]
for e in range(len(boff) - 1):
    z = mlm_logits(b["hidden/states"][boff[e] + bpos[e], L - 1].astype(np.float64))
    zs = np.sort(z)
    assert int(np.argmax(z)) == b["examples/mlm_top_ids"][e, 0] or zs[-1] - zs[-2] < 1e-4, e
assert worst < 1e-4, f"candidate logits differ from numpy by {worst}"
print(f"candidate logits vs numpy MLM head: max rel err {worst:.2e}")
pred = np.array(cid)[np.argmax(cl, axis=1)]
assert (a["examples/target"][:] == pred).all(), (a["examples/target"][:], pred)
fin = a["attributions/saliency/f_input"][:]
assert np.allclose(fin, cl.max(axis=1), rtol=1e-5, atol=1e-5), (fin, cl.max(axis=1))
# gold labels as ids, -1 without; correct from the corpus labels in Python
def gold_id(r):
    g = r.get("label")
    return -1 if g is None else g if isinstance(g, int) else int(g) if g.isdigit() else vocab[g]
label = np.array([gold_id(rows[i]) for i in idx])
assert (a["examples/label"][:] == label).all(), (a["examples/label"][:], label)
exp = np.where(label < 0, -1, (pred == label).astype(int))
assert a["examples/correct"].dtype == np.int8 and (a["examples/correct"][:] == exp).all(), (a["examples/correct"][:], exp)
assert set(exp) >= {0, 1, -1}, exp  # every case occurs
# without candidates: no candidate datasets, prediction = the top token, 'Ġmax' is a valid gold word
assert "examples/candidate_ids" not in b and "examples/candidate_logits" not in b
bidx = list(b["examples/index"][:])
assert bidx == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13], bidx
blab = np.array([gold_id(rows[i]) for i in bidx])
top = b["examples/mlm_top_ids"][:, 0]
assert (b["examples/target"][:] == top).all()
assert (b["examples/correct"][:] == np.where(blab < 0, -1, (top == blab).astype(int))).all()
# carried fields: strings, JSON text for a number, "" for null; pandas reads them
ids = pd.Series(a["examples/id"].asstr()[:])
assert list(ids) == [rows[i]["idx"] for i in idx], list(ids)
assert [s.decode() for s in a["examples/fields/n"][:]] == [str(40 + i) for i in idx]
assert all(s == b"" for s in a["examples/fields/z"][:])
assert list(a["examples/fields/s"].asstr()[:]) == [f"row {i}" for i in idx]
print("ok: candidates, gold labels, correct, carried fields")
PY

# every row skipped (no gold word is a candidate): exit 1 and the first reasons
printf 'model: %s\ncorpus: {path: %s, on_error: skip, limit: 2}\nmethods: [saliency]\nmlm: {candidates: [Ġmin, Ġ=]}\nout: c.h5\n' \
    "$CODE" g.jsonl > j.yaml
"$BIN" run j.yaml --quiet > log 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "every one of the 2 corpus rows was skipped" log &&
    grep -q "g.jsonl:1: gold answer 'max' (token id 29459) is not one of the mlm.candidates" log ||
    fail "every row skipped: status $rc, $(cat log)"

# ---- config errors: exit 2, naming what is wrong ----
bad() { # bad 'YAML lines' 'expected message' corpus model (YAML lines with their own corpus: replace it)
    local corpus="corpus: {path: ${3:-g.jsonl}}"
    case "$1" in corpus:*) corpus= ;; esac
    printf 'model: %s\n%s\nmethods: [saliency]\nout: x.h5\n%s\n' "${4:-$CODE}" "$corpus" "$1" > bad.yaml
    "$BIN" run bad.yaml --quiet > log 2>&1; local rc=$?
    [ $rc -eq 2 ] && grep -qF -- "$2" log || fail "'$1': status $rc (want 2 and '$2'): $(cat log)"
    [ ! -e x.h5 ] || fail "'$1' wrote x.h5"
}
bad 'mlm: {candidates: [max, maxqzqzfoo]}' "mlm.candidates: 'maxqzqzfoo' is not a single token of"
bad 'mlm: {candidates: [max, min, max]}' "mlm.candidates: 'max' and 'max' are the same token (id 29459)"
bad 'mlm: {candidates: []}' "mlm.candidates: the list is empty"
bad 'mlm: {candidates: nowhere.txt}' "mlm.candidates: cannot open the file of words 'nowhere.txt'"
printf '\n \n' > empty.txt
bad 'mlm: {candidates: empty.txt}' "mlm.candidates: no words in the file 'empty.txt'"
printf 'sentence\tlabel\nfine\t1\n' > s.tsv
bad 'mlm: {candidates: [good, bad]}' "mlm.candidates: needs a masked-LM model" s.tsv "$SST"
bad 'corpus: {path: s.tsv, id_field: nope}' "no column 'nope' (corpus.id_field) in the header" s.tsv "$SST"
bad 'corpus: {path: s.tsv, keep_fields: [label, nope]}' "no column 'nope' (corpus.keep_fields)" s.tsv "$SST"
bad 'corpus: {path: s.tsv, keep_fields: [a/b]}' "field 'a/b' contains '/'" s.tsv "$SST"
bad 'corpus: {path: s.tsv, keep_fields: [label, label]}' "field 'label' is listed twice" s.tsv "$SST"
printf 'fine\n' > t.txt
bad 'corpus: {path: t.txt, id_field: id}' "needs a TSV, CSV or JSONL corpus" t.txt "$SST"
bad 'corpus: {path: t.txt, on_long: cut}' "corpus.on_long: 'cut' is not one of: truncate, skip" t.txt "$SST"
# a JSONL row without the id field is a bad row: exit 1 naming field and line, or skipped
printf '{"idx": "a", "text": "x = <mask> ;"}\n{"text": "y = <mask> ;"}\n' > m.jsonl
printf 'model: %s\ncorpus: {path: m.jsonl, id_field: idx}\nmethods: [saliency]\nout: m.h5\n' "$CODE" > j.yaml
"$BIN" run j.yaml --quiet > log 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "m.jsonl:2: missing field 'idx' (corpus.id_field)" log || fail "missing id field: $rc $(cat log)"
"$BIN" run j.yaml --quiet --set corpus.on_error=skip > log 2>&1 || fail "missing id field, skip: $(cat log)"
$PY -c "
import h5py; f = h5py.File('m.h5', 'r')
assert list(f['examples/id'].asstr()[:]) == ['a'] and list(f['examples/skipped_rows'][:]) == [1]" || fail "skipped id row"

# ---- corpus.on_long: skip, against the untruncated lengths ----
head -40 "$CLOZE" > l.jsonl
$PY -c "
import json, sys
for l in open('l.jsonl', encoding='utf-8'): print(json.dumps({'text': json.loads(l)['text']}))" |
    "$BIN" tokenize --model "$CODE" --max-length 1000000 > lens.jsonl || fail "attrun tokenize"
printf 'model: %s\ncorpus: {path: l.jsonl, max_length: 160, on_error: skip}\nmethods: []\nout: %s\n' "$CODE" lt.h5 > j.yaml
"$BIN" run j.yaml --quiet > log 2>&1 || fail "on_long truncate: $(cat log)"
"$BIN" run j.yaml --quiet --set corpus.on_long=skip --set out=ls.h5 > log 2>&1 || fail "on_long skip: $(cat log)"
$PY - <<'PY' || fail "on_long"
import h5py, json
import numpy as np
T = [len(json.loads(l)["ids"]) for l in open("lens.jsonl")]
t, s = h5py.File("lt.h5", "r"), h5py.File("ls.h5", "r")
long_rows = [i for i, n in enumerate(T) if n > 160]
assert 0 < len(long_rows) < len(T), long_rows
rows = list(s["examples/skipped_rows"][:])
why = [r.decode() for r in s["examples/skipped_reasons"][:]]
assert rows == long_rows, (rows, long_rows)
for r, w in zip(rows, why):
    assert f"l.jsonl:{r + 1}: too long: {T[r]} tokens > 160" in w, w
assert s.attrs["n_truncated"] == 0 and s.attrs["n_skipped"] == len(long_rows)
assert t.attrs["n_truncated"] > 0
# the rows kept are the same examples, token for token, as in the truncating job
ti, si = list(t["examples/index"][:]), list(s["examples/index"][:])
toff, soff = t["tokens/offsets"][:], s["tokens/offsets"][:]
for k, r in enumerate(si):
    j = ti.index(r)
    assert (s["tokens/ids"][soff[k]:soff[k + 1]] == t["tokens/ids"][toff[j]:toff[j + 1]]).all()
    assert soff[k + 1] - soff[k] == T[r] <= 160
for name in ("cls", "entropy"):
    assert np.array_equal(s[f"attention/stats/{name}"][:], t[f"attention/stats/{name}"][:][[ti.index(r) for r in si]])
print(f"on_long: {len(long_rows)} of {len(T)} rows longer than 160 tokens skipped")
PY
"$BIN" run j.yaml --quiet --set corpus.on_long=skip --set corpus.max_length=8 --set out=l8.h5 > log 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "every one of the 40 corpus rows was skipped" log && grep -q "too long: .* tokens > 8" log ||
    fail "every row too long: $rc $(cat log)"

# on_long: skip also applies to prompt + continuation rows (decoders; skipped without ../shared)
GPT=$SHARED/reference/models/tiny-gpt2
if [ -f "$GPT/model.safetensors" ]; then
    printf '{"text": "the cat sat", "cont": " on the mat"}\n{"text": "a", "cont": " b c d e f g h i j k l m n o p q r"}\n' > q.jsonl
    printf 'model: %s\ncorpus: {path: q.jsonl, continuation_field: cont, max_length: 12, on_long: skip}\nmethods: [saliency]\nbaseline: zero\nout: q.h5\n' \
        "$GPT" > j.yaml
    "$BIN" run j.yaml --quiet > log 2>&1 || fail "continuation on_long: $(cat log)"
    $PY -c "
import h5py; f = h5py.File('q.h5', 'r')
assert list(f['examples/skipped_rows'][:]) == [1] and f.attrs['n_truncated'] == 0, f['examples/skipped_rows'][:]
w = f['examples/skipped_reasons'][0].decode(); n = int(w.split('too long: ')[1].split()[0])
assert n > 12 and 'q.jsonl:2:' in w, w
assert set(f['examples/index'][:]) == {0}" || fail "continuation rows and on_long: skip"
else
    echo "(continuation on_long check skipped: $GPT absent)"
fi

# ---- conductance.save_attention ----
printf 'model: %s\ncorpus: {path: %s, limit: 3, max_length: 512, on_error: skip}\nmethods: [conductance]\nconductance: {steps: 2}\nbaseline: mask\nout: %s\n' \
    "$CODE" "$CLOZE" k0.h5 > j.yaml
"$BIN" run j.yaml --quiet > log 2>&1 || fail "conductance: $(cat log)"
"$BIN" run j.yaml --quiet --set conductance.save_attention=true --set out=k1.h5 > log 2>&1 || fail "save_attention: $(cat log)"
$PY - <<'PY' || fail "save_attention"
import h5py
import numpy as np
k0, k1 = h5py.File("k0.h5", "r"), h5py.File("k1.h5", "r")
assert "conductance/attention" not in k0 and "attention/offsets" not in k0
assert "conductance/attention" in k1 and "attention/offsets" in k1
names = sorted(k1["conductance/stats"].keys())
assert names and names == sorted(k0["conductance/stats"].keys())
for n in names + ["../delta", "../hidden/token_sum"]:
    p = f"conductance/stats/{n}" if not n.startswith("..") else "conductance/" + n[3:]
    assert np.array_equal(k0[p][:], k1[p][:], equal_nan=True), p
# 'self' recomputed from the saved conductance: mean over rows of the diagonal
off, aoff = k1["tokens/offsets"][:], k1["attention/offsets"][:]
L, H = k1["conductance"].attrs["num_layers"], k1["conductance"].attrs["num_heads"]
for e in range(len(off) - 1):
    T = off[e + 1] - off[e]
    C = k1["conductance/attention"][aoff[e]:aoff[e + 1]].reshape(L, H, T, T).astype(np.float64)
    want = np.einsum("lhii->lh", C) / T
    assert np.allclose(k1["conductance/stats/self"][e], want, rtol=1e-5, atol=1e-7), (e, want)
PY

# ---- classifier: /examples/correct from the logits; CSV carried fields with quotes and commas ----
$PY - "$SRC/data/sst2-dev.tsv" <<'PY' > c.csv
import csv, sys
r = list(csv.reader(open(sys.argv[1], encoding="utf-8"), delimiter="\t"))[1:31]
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["sentence", "label", "id", "note"])
for i, (s, l) in enumerate(r):
    w.writerow([s, "" if i == 7 else l, f"sst-{i}", f"a, \"quoted\" note {i}"])
PY
printf 'model: %s\ncorpus: {path: c.csv, id_field: id, keep_fields: [note]}\nmethods: []\nout: cls.h5\n' "$SST" > j.yaml
"$BIN" run j.yaml --quiet > log 2>&1 || fail "classifier: $(cat log)"
$PY - <<'PY' || fail "classifier correct"
import csv, h5py
import numpy as np
rows = list(csv.DictReader(open("c.csv", encoding="utf-8")))
f = h5py.File("cls.h5", "r")
lab = np.array([int(r["label"]) if r["label"] else -1 for r in rows])
assert (f["examples/label"][:] == lab).all()
pred = np.argmax(f["examples/logits"][:], axis=1)
want = np.where(lab < 0, -1, (pred == lab).astype(int))
got = f["examples/correct"][:]
assert (got == want).all(), (got, want)
assert got[7] == -1 and 0 in got and 1 in got
assert list(f["examples/id"].asstr()[:]) == [r["id"] for r in rows]
assert list(f["examples/fields/note"].asstr()[:]) == [r["note"] for r in rows]
print(f"classifier: {int((got == 1).sum())} of {int((got >= 0).sum())} labelled examples correct")
PY
# a job without any label has no /examples/correct
printf 'sentence\nfine\n' > n.tsv
printf 'model: %s\ncorpus: n.tsv\nmethods: []\nout: n.h5\n' "$SST" > j.yaml
"$BIN" run j.yaml --quiet > log 2>&1 || fail "unlabelled: $(cat log)"
$PY -c "import h5py; assert 'examples/correct' not in h5py.File('n.h5', 'r')" || fail "correct without labels"
echo "PASS"
