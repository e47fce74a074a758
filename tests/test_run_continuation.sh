#!/usr/bin/env bash
# Continuations (corpus.continuation_field) end to end on the three tiny decoders: every
# continuation token is one row, explained by teacher forcing over its prefix.
# 1. The reference's continuation prompts (captum/decoder_{gpt2,llama,qwen2}.json.gz, written
#    to JSONL here): rows, prefixes, target ids, IG attributions (full and token_sum), F(x),
#    F(baseline), delta and the next-token logits within 1e-4 of the largest reference
#    magnitude; Input×Gradient = embedding · Saliency (embeddings read from model.safetensors
#    here, not by attrun); the loader's continuation() matrix.
# 2. np=1 and np=3 (other chunk) bitwise identical; kill -9 of a rank mid-run, then --resume
#    on 3 ranks equals the uninterrupted run.
# 3. Bad input: exit 2 and a message naming the cause (encoder model, fixed target, pair_field,
#    plain-text corpus, missing column); an empty continuation fails the row (exit 1, file:line)
#    or, with on_error: skip, is listed in /examples/skipped_reasons.
source "$(dirname "$0")/tools/run_lib.sh"
MODEL=$SHARED/reference/models/tiny-gpt2
require_model
for m in gpt2 llama qwen2; do
    [ -f "$SHARED/reference/captum/decoder_$m.json.gz" ] || { echo "SKIPPED: decoder_$m.json.gz is absent"; exit 77; }
done

# job NAME MODEL CORPUS BASELINE_TOKEN [extra yaml lines]
job() {
    local name=$1 model=$2 corpus=$3 bt=$4
    shift 4
    { printf 'model: %s\ncorpus: {path: %s, continuation_field: cont}\nmethods: [ig, saliency, inputxgradient]\n' \
          "$SHARED/reference/models/$model" "$corpus"
      printf 'baseline: token\nbaseline_token: %s\nsave_full: true\nout: %s.h5\n' "$bt" "$name"
      local l; for l in "$@"; do printf '%s\n' "$l"; done; } > "$name.yaml"
}

# ---- 1. against the reference ----
for m in gpt2 llama qwen2; do
    $PY - "$SHARED/reference/captum/decoder_$m.json.gz" > "ref_$m.jsonl" <<'PY' || fail "cannot write ref_$m.jsonl"
import gzip, json, sys
for c in json.load(gzip.open(sys.argv[1]))["continuation"]:
    print(json.dumps({"text": c["prompt"], "cont": c["continuation"]}))
PY
    bt=eos; [ $m = llama ] && bt=unk # the reference's fill ids: <|endoftext|> 2256, Llama <unk> 0
    job "$m" "tiny-$m" "ref_$m.jsonl" $bt
    "$BIN" run "$m.yaml" --quiet > log 2>&1 || fail "$m continuation run: $(cat log)"
    $H5CMP check "$m.h5" > log 2>&1 || fail "$m.h5 fails the schema check: $(cat log)"
done

PYTHONPATH=$SRC/scripts/analysis $PY - "$SHARED" <<'PY' || fail "continuation results differ from the reference"
import gzip, json, struct, sys
import h5py, numpy as np
from attrun_load import AttrunResult

def embeddings(path, name):
    """One tensor of a safetensors file (F32 or BF16), read without attrun."""
    with open(path, "rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        hdr = json.loads(fh.read(n))
        t = hdr[name]
        a, b = t["data_offsets"]
        fh.seek(8 + n + a)
        raw = fh.read(b - a)
    if t["dtype"] == "F32":
        x = np.frombuffer(raw, "<f4")
    elif t["dtype"] == "BF16":
        x = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        raise SystemExit(f"unexpected dtype {t['dtype']}")
    return x.reshape(t["shape"])

shared, ok = sys.argv[1], True
for m, emb_name in (("gpt2", "transformer.wte.weight"), ("llama", "model.embed_tokens.weight"),
                    ("qwen2", "model.embed_tokens.weight")):
    conts = json.load(gzip.open(f"{shared}/reference/captum/decoder_{m}.json.gz"))["continuation"]
    wte = embeddings(f"{shared}/reference/models/tiny-{m}/model.safetensors", emb_name)
    f = h5py.File(f"{m}.h5", "r")
    off, ids = f["tokens/offsets"][:], f["tokens/ids"][:]
    ex, step = f["continuation/example"][:], f["continuation/step"][:]
    pl, ppl = f["continuation/prefix_len"][:], f["continuation/prompt_len"][:]
    R = len(ex)
    assert R == sum(len(c["steps"]) for c in conts), f"{m}: {R} rows"
    worst = {}
    def upd(k, v):
        worst[k] = max(worst.get(k, 0.0), float(v))
    for r in range(R):
        c = conts[ex[r]]
        s = c["steps"][step[r]]
        p = s["prefix_len"]
        assert ppl[r] == c["prompt_len"] and pl[r] == p == c["prompt_len"] + step[r], (m, r)
        assert off[r + 1] - off[r] == p, (m, r)
        assert list(ids[off[r]:off[r + 1]]) == c["ids"][:p], (m, r, "prefix ids")
        assert f["examples/target"][r] == s["target"] == c["ids"][p], (m, r, "target")
        a = np.array(s["attr"])
        upd("attr", np.abs(f["attributions/ig/full"][off[r]:off[r + 1]] - a).max() / np.abs(a).max())
        ts = np.array(s["attr_sum"])
        upd("token_sum", np.abs(f["attributions/ig/token_sum"][off[r]:off[r + 1]] - ts).max() / np.abs(ts).max())
        lg = np.array(s["logits"])
        lmax = np.abs(lg).max()
        upd("logits", np.abs(f["examples/logits"][r] - lg).max() / lmax)
        upd("f_input", abs(f["attributions/ig/f_input"][r] - s["f_input"]) / lmax)
        scale = max(lmax, abs(s["f_baseline"]))
        upd("f_baseline", abs(f["attributions/ig/f_baseline"][r] - s["f_baseline"]) / scale)
        upd("delta", abs(f["attributions/ig/delta"][r] - s["delta"]) / scale)
        # Input×Gradient at the token embeddings = embedding · Saliency (the same gradient)
        sal = f["attributions/saliency/full"][off[r]:off[r + 1]]
        ixg = f["attributions/inputxgradient/full"][off[r]:off[r + 1]]
        e = wte[ids[off[r]:off[r + 1]]]
        upd("ixg=emb*sal", np.abs(ixg - e * sal).max() / max(np.abs(ixg).max(), 1e-30))
        upd("saliency_f_input", abs(f["attributions/saliency/f_input"][r] - s["f_input"]) / lmax)
    # the loader: pair 0's matrix row j is row r's token_sum over its prefix, NaN past it
    rows, mat, targets, toks = AttrunResult(f"{m}.h5").continuation(0, "ig")
    for k, r in enumerate(rows):
        n = off[r + 1] - off[r]
        assert np.array_equal(mat[k, :n], f["attributions/ig/token_sum"][off[r]:off[r + 1]]) and \
            np.all(np.isnan(mat[k, n:])), (m, "loader matrix")
    assert list(targets) == [conts[0]["ids"][conts[0]["prompt_len"] + j] for j in range(len(rows))]
    print(f"[{m}] max rel err vs reference: " + " ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    ok &= max(worst.values()) <= 1e-4
sys.exit(0 if ok else 1)
PY

# every other method and an IG Riemann rule run on the units: each explains the same F(x) (the
# reference's f_input) and the file passes the schema check
job more tiny-gpt2 ref_gpt2.jsonl eos "ig: {steps: 16, rule: riemann_trapezoid}" "conductance: {steps: 8}" \
    "gradshap: {samples: 4}" "smoothgrad: {samples: 4}" "analysis: {faithfulness: true}"
sed -i 's/^methods: .*/methods: [ig, gradshap, deeplift, deepliftshap, smoothgrad, conductance]/' more.yaml
"$BIN" run more.yaml --quiet > log 2>&1 || fail "continuation run of the other methods: $(cat log)"
$H5CMP check more.h5 > log 2>&1 || fail "more.h5 fails the schema check: $(cat log)"
$PY - "$SHARED/reference/captum/decoder_gpt2.json.gz" <<'PY' || fail "the methods explain different outputs"
import gzip, json, sys
import h5py, numpy as np
steps = [s for c in json.load(gzip.open(sys.argv[1]))["continuation"] for s in c["steps"]]
f = h5py.File("more.h5", "r")
fx = np.array([s["f_input"] for s in steps])
for m in ("ig", "gradshap", "deeplift", "deepliftshap", "smoothgrad"):
    err = np.abs(f[f"attributions/{m}/f_input"][:] - fx).max() / np.abs(fx).max()
    assert err <= 1e-5, (m, err)
assert np.abs(f["conductance/f_input"][:] - fx).max() <= 1e-5 * np.abs(fx).max()
PY

# ---- 2. rank and chunk independence, resume after kill -9 ----
$PY - "$SRC/data/sst2-dev.tsv" > sst.jsonl <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t")[0].strip() for l in open(sys.argv[1], encoding="utf-8")][1:]
rows = [r.split() for r in rows if len(r.split()) >= 4][:6]
for w in rows:  # prompt: the first half of the words; continuation: " " + the rest
    h = len(w) // 2
    print(json.dumps({"text": " ".join(w[:h]), "cont": " " + " ".join(w[h:])}))
PY
job np1 tiny-gpt2 sst.jsonl eos "ig: {steps: 16}" "attention: {save: true}"
"$BIN" run np1.yaml --quiet > log 2>&1 || fail "np=1 run: $(cat log)"
$MPIRUN -np 3 "$BIN" run np1.yaml --set out=np3.h5 --set chunk=3 --quiet > log 2>&1 || fail "np=3 run: $(cat log)"
$H5CMP same np1.h5 np3.h5 || fail "np=1 and np=3 (chunk 3) results differ"

# a job long enough to be killed mid-run (each unit is small: tiny-gpt2, short prefixes)
job kref tiny-llama sst.jsonl unk "ig: {steps: 128}" "chunk: 8"
"$BIN" run kref.yaml --quiet > log 2>&1 || fail "uninterrupted run: $(cat log)"
kill_rank_mid_run k.h5 100000 1200 $MPIRUN -np 2 "$BIN" run kref.yaml --set out=k.h5 --quiet
resume_same kref.yaml k.h5 kref.h5 3

# ---- 3. bad input ----
# expect_exit RC CODE PATTERN WHAT: the last run exited CODE with PATTERN in its message
expect_exit() {
    local rc=$1 want=$2 pat=$3 what=$4
    [ "$rc" -eq "$want" ] || fail "$what: exit $rc, expected $want: $(cat log)"
    grep -q -- "$pat" log || fail "$what: message does not say '$pat': $(cat log)"
}
job bad tiny-gpt2 ref_gpt2.jsonl eos
"$BIN" run bad.yaml --set model="$SHARED/reference/models/tiny-bert" > log 2>&1
expect_exit $? 2 "continuation_field.*needs a causal-LM model" "continuation on an encoder"
"$BIN" run bad.yaml --set target=5 > log 2>&1
expect_exit $? 2 "each continuation token is the target" "continuation with a fixed target"
"$BIN" run bad.yaml --set target=label > log 2>&1
expect_exit $? 2 "each continuation token is the target" "continuation with target: label"
"$BIN" run bad.yaml --set corpus.pair_field=text > log 2>&1
expect_exit $? 2 "continuation_field and corpus.pair_field" "continuation with pair_field"
printf 'a b c\n' > plain.txt
"$BIN" run bad.yaml --set corpus.path=plain.txt > log 2>&1
expect_exit $? 2 "needs a TSV, CSV or JSONL corpus" "continuation on a plain-text corpus"
printf 'sentence\tlabel\nit is\t1\n' > nocol.tsv
"$BIN" run bad.yaml --set corpus.path=nocol.tsv > log 2>&1
expect_exit $? 2 "no column 'cont' (continuation_field)" "missing continuation column"
[ ! -e bad.h5 ] || fail "a refused job left bad.h5 behind"

printf '%s\n' '{"text": "it is", "cont": " a charming journey"}' '{"text": "so bleak", "cont": "  "}' \
    '{"text": "no field here"}' '{"text": "and often", "cont": " affecting"}' > rows.jsonl
"$BIN" run bad.yaml --set corpus.path=rows.jsonl > log 2>&1
expect_exit $? 1 "rows.jsonl:2: empty continuation in field 'cont'" "empty continuation"
"$BIN" run bad.yaml --set corpus.path=rows.jsonl --set corpus.on_error=skip --quiet > log 2>&1 ||
    fail "on_error: skip run: $(cat log)"
$PY - <<'PY' || fail "skipped continuation rows not recorded"
import h5py
f = h5py.File("bad.h5", "r")
why = [s.decode() if isinstance(s, bytes) else s for s in f["examples/skipped_reasons"][:]]
assert list(f["examples/skipped_rows"][:]) == [1, 2], f["examples/skipped_rows"][:]
assert "empty continuation" in why[0] and "missing field 'cont'" in why[1], why
ex = f["continuation/example"][:]
assert sorted(set(ex)) == [0, 1] and list(f["examples/index"][ex == 1])[0] == 3, (ex, f["examples/index"][:])
PY
echo "PASS"
