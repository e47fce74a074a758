#!/usr/bin/env bash
# output: logprob end to end: every job runs once with output: prob and once with output: logprob
# (same config otherwise) and, checked in numpy from the files:
#   - F(x) and F(baseline) of every method: logprob = log(prob) to 1e-6·max(1, |logprob|) (float32's
#     rounding of a stored log-probability near -10, as the 30522-token MLM head gives, is 5e-7);
#   - where the file has the logits (classifier, causal LM, continuations): F(x) = log_softmax(logits)[target]
#     computed here in float64, to 1e-5·max(1, |F|);
#   - IG completeness with logprob: Σ_tokens attr = F(x) − F(baseline) to 1e-4 of max(1, |F(x) − F(b)|)
#     (Gauss–Legendre, 64 steps), computed here from token_sum, not read from /delta;
#   - the config attribute records `output: logprob`.
# Jobs: the bundled sst2-tiny classifier and tiny-bert-mlm (masked LM) always; then, from ../shared,
# tiny-qwen2 (causal LM, fixed target id, IG, Saliency, DeepLIFT, GradientSHAP, SmoothGrad, LayerConductance) and
# tiny-gpt2 continuations (every continuation token a row), skipped when ../shared is absent.
source "$(dirname "$0")/tools/run_lib.sh"
$PY -c "import h5py, numpy" 2>/dev/null || { echo "SKIPPED: $PY has no h5py/numpy"; exit 77; }
SST=$SRC/models/sst2-tiny MLM=$SRC/models/tiny-bert-mlm
[ -f "$SST/model.safetensors" ] && [ -f "$MLM/model.safetensors" ] || { echo "SKIPPED: bundled models absent"; exit 77; }

# pair NAME MODEL CORPUS METHODS [extra yaml lines]: NAME_prob.h5 and NAME_logprob.h5
pair() {
    local name=$1 model=$2 corpus=$3 methods=$4 o
    shift 4
    for o in prob logprob; do
        { printf 'model: %s\ncorpus: %s\nmethods: %s\nig: {steps: 64}\noutput: %s\nout: %s_%s.h5\n' \
              "$model" "$corpus" "$methods" $o "$name" $o
          local l; for l in "$@"; do printf '%s\n' "$l"; done; } > "${name}_$o.yaml"
        "$BIN" run "${name}_$o.yaml" --quiet > log 2>&1 || fail "$name ($o): $(cat log)"
        $H5CMP check "${name}_$o.h5" > log 2>&1 || fail "${name}_$o.h5 fails the schema check: $(cat log)"
    done
}

# check NAME METHODS...: the comparisons above on NAME_prob.h5 / NAME_logprob.h5
check() {
    $PY - "$@" <<'PY' || fail "$1: logprob results"
import sys
import h5py, numpy as np
name, methods = sys.argv[1], sys.argv[2:]
p, l = h5py.File(f"{name}_prob.h5", "r"), h5py.File(f"{name}_logprob.h5", "r")
cfg = l.attrs["config"]
cfg = cfg.decode() if isinstance(cfg, bytes) else cfg
assert "output: logprob" in cfg, cfg
assert np.array_equal(p["examples/target"][:], l["examples/target"][:])
tgt = l["examples/target"][:]
for m in methods:
    g = "conductance" if m == "conductance" else f"attributions/{m}"
    assert f"{g}/f_input" in l, (m, "no f_input")
    for k in ("f_input", "f_baseline"):
        if f"{g}/{k}" not in l:  # Saliency, SmoothGrad over Saliency: no baseline
            continue
        fp, fl = p[f"{g}/{k}"][:].astype(np.float64), l[f"{g}/{k}"][:].astype(np.float64)
        assert np.all(fp > 0) and np.all(fl < 0), (m, k)
        err = (np.abs(fl - np.log(fp)) / np.maximum(1.0, np.abs(fl))).max()
        print(f"{name} {m} {k}: max |logprob - log(prob)| / max(1, |logprob|) {err:.1e}")
        assert err <= 1e-6, (m, k, err)
fx = l[f"attributions/{methods[0]}/f_input"][:].astype(np.float64)
if "examples/logits" in l:
    z = l["examples/logits"][:].astype(np.float64)
    mx = z.max(axis=1, keepdims=True)
    lsm = z - mx - np.log(np.exp(z - mx).sum(axis=1, keepdims=True))
    want = lsm[np.arange(len(tgt)), tgt]
    err = (np.abs(fx - want) / np.maximum(1.0, np.abs(want))).max()
    print(f"{name}: max |F(x) - log_softmax(logits)[target]| / max(1, |F|) {err:.1e} over {len(tgt)} rows")
    assert err <= 1e-5, err
if "ig" in methods:
    off = l["tokens/offsets"][:]
    ts = l["attributions/ig/token_sum"][:].astype(np.float64)
    diff = fx - l["attributions/ig/f_baseline"][:].astype(np.float64)
    s = np.array([ts[off[e]:off[e + 1]].sum() for e in range(len(off) - 1)])
    rel = np.abs(s - diff) / np.maximum(1.0, np.abs(diff))
    print(f"{name}: IG completeness |sum attr - (F(x) - F(b))| / max(1, |F(x) - F(b)|) max {rel.max():.1e}, "
          f"|F(x) - F(b)| up to {np.abs(diff).max():.2f}")
    assert np.abs(diff).max() > 0.05, "F(x) - F(b) too small for the check to mean anything"
    assert rel.max() <= 1e-4, rel.max()
PY
}

write_tsv corpus.tsv 6
pair cls "$SST" "{path: corpus.tsv}" "[ig, saliency, deeplift, gradshap]" "target: label" "baseline: [pad, unk]"
check cls ig saliency deeplift gradshap
printf '%s\n' '{"text": "the movie is [MASK] and often affecting."}' '{"text": "a [MASK] journey"}' \
    '{"text": "it is not quite as [MASK] as it thinks it is with great performances"}' > mlm.jsonl
pair mlm "$MLM" "{path: mlm.jsonl}" "[ig, saliency, smoothgrad]" "target: good" "baseline: mask"
check mlm ig saliency smoothgrad

QWEN=$SHARED/reference/models/tiny-qwen2 GPT2=$SHARED/reference/models/tiny-gpt2
if [ ! -f "$QWEN/model.safetensors" ] || [ ! -f "$GPT2/model.safetensors" ]; then
    echo "SKIPPED: the decoder part ($SHARED/reference/models absent; encoder part passed)"
    exit 77
fi
pair lm "$QWEN" "{path: corpus.tsv}" "[ig, saliency, deeplift, gradshap, smoothgrad, conductance]" "target: 11" \
    "baseline: token" "baseline_token: eos" "conductance: {steps: 8}"
check lm ig saliency deeplift gradshap smoothgrad conductance
$PY - "$SRC/data/sst2-dev.tsv" > cont.jsonl <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t")[0].strip() for l in open(sys.argv[1], encoding="utf-8")][1:]
rows = [r.split() for r in rows if len(r.split()) >= 4][:4]
for w in rows:  # prompt: the first half of the words; continuation: " " + the rest
    h = len(w) // 2
    print(json.dumps({"text": " ".join(w[:h]), "cont": " " + " ".join(w[h:])}))
PY
pair cont "$GPT2" "{path: cont.jsonl, continuation_field: cont}" "[ig, saliency]" "baseline: token" \
    "baseline_token: eos"
check cont ig saliency
echo "PASS"
