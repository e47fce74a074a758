#!/usr/bin/env bash
# *ForSequenceClassification decoders end to end. The checkpoints are tiny-gpt2 / tiny-llama
# plus a random `score.weight` [3, D] (no bias; tests/tools/st_fixture.py add-score) and
# config.json's architectures, num_labels, id2label and pad_token_id. Checked with HF's
# semantics reimplemented here, not with attrun's:
#  - the pooled position: the last token whose id != pad_token_id, 0 when all are pad, the last
#    position when pad_token_id is null; the logits must equal score · final_norm(h_L[pos])
#    computed in numpy from the stored last-layer hidden states (/hidden/states) and the
#    checkpoint's final-norm weights, and must not match at the other positions;
#  - targets: predicted (argmax), label (the corpus column), a class index;
#  - IG completeness Σattr = F(x) − F(b) (64 Gauss–Legendre nodes) wherever the baseline pools
#    at the input's position (GPT-2: zero baseline, every example; Llama: unk baseline, the
#    examples without trailing pads);
#  - F(baseline) is the model on the baseline ids, pooled at the baseline's own last non-pad
#    token (Captum's delta runs the model on the baseline): with the pad token as GPT-2's
#    baseline every baseline is all pad and pools at 0, where a causal model's output is that
#    of the one-token text <|endoftext|> — the logits of the all-pad example.
source "$(dirname "$0")/tools/run_lib.sh"
MODEL=$SHARED/reference/models/tiny-gpt2
require_model
FIX="$PY $SRC/tests/tools/st_fixture.py"

mkcls() { # family arch pad(json) out
    $FIX add-score "$SHARED/reference/models/$1" "$4" 3 11 || fail "$1: score fixture"
    $PY - "$4/config.json" "$2" "$3" <<'PY' || fail "$1: config fixture"
import json, sys
p, arch, pad = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
c = json.load(open(p))
c.update(architectures=[arch], num_labels=3, pad_token_id=pad,
         id2label={"0": "neg", "1": "neu", "2": "pos"}, label2id={"neg": 0, "neu": 1, "pos": 2})
json.dump(c, open(p, "w"), indent=2)
PY
}
mkcls tiny-gpt2 GPT2ForSequenceClassification 2256 gpt2-cls
mkcls tiny-gpt2 GPT2ForSequenceClassification null gpt2-cls-nopad
mkcls tiny-llama LlamaForSequenceClassification 2 llama-cls

E='<|endoftext|>'
printf 'sentence\tlabel\n' > gpt2.tsv
printf 'the movie is a charming journey%s%s\t2\n' "$E" "$E" >> gpt2.tsv   # pools before the two pads
printf '%s%s%s\t0\n' "$E" "$E" "$E" >> gpt2.tsv                              # all pad: position 0
printf 'bleak and desperate\t1\n' >> gpt2.tsv                                # no pad: the last
printf 'funny%s but dull%s\t0\n' "$E" "$E" >> gpt2.tsv                       # a pad inside, one at the end
printf 'sentence\tlabel\n' > llama.tsv
printf 'the movie is a charming journey</s></s>\t2\n' >> llama.tsv
printf 'bleak and desperate\t1\n' >> llama.tsv
printf 'funny</s> but dull\t0\n' >> llama.tsv
printf 'a great plot</s>\t1\n' >> llama.tsv

job() { # name model corpus baseline target [extra yaml]
    printf 'model: %s\ncorpus: {path: %s}\nmethods: [ig, saliency]\nig: {steps: 64}\nbaseline: %s\ntarget: %s\nanalysis: {save_hidden: true}\nsave_full: true\nout: %s.h5\n%s\n' \
        "$WORK/$2" "$3" "$4" "$5" "$1" "${6:-}" > "$1.yaml"
    "$BIN" run "$1.yaml" --quiet > log 2>&1 || fail "$1: $(cat log)"
    $H5CMP check "$1.h5" > log 2>&1 || fail "$1.h5 fails the schema check: $(cat log)"
}
job g-pred gpt2-cls gpt2.tsv zero predicted
job g-label gpt2-cls gpt2.tsv zero label
job g-class gpt2-cls gpt2.tsv zero 2
job g-padbase gpt2-cls gpt2.tsv token predicted "baseline_token: eos"
job g-nopad gpt2-cls-nopad gpt2.tsv zero predicted
job l-pred llama-cls llama.tsv unk predicted
job l-label llama-cls llama.tsv unk label

$PY - "$SRC/tests/tools" "$WORK" <<'PY' || fail "sequence-classification results"
import sys, h5py, numpy as np
sys.path.insert(0, sys.argv[1])
import st_fixture as st
W = sys.argv[2]

def weights(d):
    ts, _ = st.read(f"{W}/{d}/model.safetensors")
    return {k: st.to_f32(*v).astype(np.float64) for k, v in ts.items()}

def hf_position(ids, pad):  # transformers' *ForSequenceClassification pooling
    if pad is None:
        return len(ids) - 1
    nonpad = np.nonzero(np.asarray(ids) != pad)[0]
    return int(nonpad[-1]) if len(nonpad) else 0

def final_norm(h, w, gpt2):
    if gpt2:
        mu = h.mean(-1, keepdims=True)
        var = ((h - mu) ** 2).mean(-1, keepdims=True)
        return (h - mu) / np.sqrt(var + 1e-5) * w["transformer.ln_f.weight"] + w["transformer.ln_f.bias"]
    return h / np.sqrt((h ** 2).mean(-1, keepdims=True) + 1e-5) * w["model.norm.weight"]

def check(name, d, pad, gpt2, target, labels=None, base_pad_fill=None):
    f = h5py.File(f"{W}/{name}.h5", "r")
    w = weights(d)
    off, ids = f["tokens/offsets"][:], f["tokens/ids"][:]
    hid = f["hidden/states"][:].astype(np.float64)       # [M, L, D]
    lg = f["examples/logits"][:].astype(np.float64)
    tg = f["examples/target"][:]
    ig = f["attributions/ig"]
    gap = np.add.reduceat(ig["token_sum"][:].astype(np.float64), off[:-1]) - (ig["f_input"][:] - ig["f_baseline"][:])
    n_compl = 0
    for e in range(len(off) - 1):
        ex = ids[off[e]:off[e + 1]]
        pos = hf_position(ex, pad)
        z = final_norm(hid[off[e]:off[e + 1], -1], w, gpt2) @ w["score.weight"].T   # [T, 3]
        err = np.abs(z - lg[e]).max(1)
        scale = np.abs(lg[e]).max()
        assert err[pos] <= 1e-4 * scale, f"{name} ex {e}: logits != score·norm(h[{pos}]) (err {err[pos]:.2e})"
        others = [t for t in range(len(ex)) if t != pos]
        assert all(err[t] > 1e-3 * scale for t in others), f"{name} ex {e}: logits also match elsewhere"
        want = {"predicted": int(np.argmax(lg[e])), "label": None if labels is None else labels[e]}.get(target, target)
        assert tg[e] == want, f"{name} ex {e}: target {tg[e]}, expected {want}"
        assert abs(ig["f_input"][e] - lg[e][tg[e]]) <= 1e-5 * max(1, scale)
        bpos = pos if base_pad_fill is None else hf_position([ex[0]] + [base_pad_fill] * (len(ex) - 1), pad)
        if bpos == pos:
            assert abs(gap[e]) <= 2e-3 * max(1.0, abs(ig["f_input"][e] - ig["f_baseline"][e])), \
                f"{name} ex {e}: IG completeness gap {gap[e]:.3g}"
            n_compl += 1
        print(f"{name} ex {e}: T {len(ex)} pooled at {pos}, head err {err[pos]:.1e}, target {tg[e]}, gap {gap[e]:.2e}")
    assert n_compl >= 2, f"{name}: completeness checked on {n_compl} examples only"

labels = [2, 0, 1, 0]
check("g-pred", "gpt2-cls", 2256, True, "predicted")
check("g-label", "gpt2-cls", 2256, True, "label", labels)
check("g-class", "gpt2-cls", 2256, True, 2)
check("g-nopad", "gpt2-cls-nopad", None, True, "predicted")
check("l-pred", "llama-cls", 2, False, "predicted", base_pad_fill=0)
check("l-label", "llama-cls", 2, False, "label", [2, 1, 0, 1], base_pad_fill=0)
f = h5py.File(f"{W}/g-padbase.h5", "r")
lg, tg, fb = f["examples/logits"][:], f["examples/target"][:], f["attributions/ig/f_baseline"][:]
for e in range(4):
    assert abs(fb[e] - lg[1][tg[e]]) <= 1e-5 * np.abs(lg).max(), \
        f"pad baseline ex {e}: F(b) {fb[e]} is not the all-pad text's logit {lg[1][tg[e]]} (pooled at 0)"
print("pad baseline F(b) pooled at 0:", fb, [lg[1][t] for t in tg])
f = h5py.File(f"{W}/g-pred.h5", "r")
ids = f["tokens/ids"][:]
off = f["tokens/offsets"][:]
assert list(ids[off[1]:off[2]]) == [2256] * 3 and hf_position(ids[off[0]:off[1]], 2256) == off[1] - off[0] - 3, \
    "the corpus does not exercise trailing pads / all-pad rows"
PY
echo "PASS"
