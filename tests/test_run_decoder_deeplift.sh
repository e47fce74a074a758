#!/usr/bin/env bash
# DeepLIFT `rules: captum` on decoders = what Captum's DeepLift hooks on transformers' decoder
# modules. Captum rescales only modules whose exact type is in its SUPPORTED_NON_LINEAR (nn.ReLU,
# nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softmax, nn.MaxPool*d). GPT-2's MLP
# activation is ACT2FN["gelu_new"] = NewGELUActivation, Llama's ACT2FN["silu"] = nn.SiLU, and
# every attention softmax is torch.nn.functional.softmax: nothing is hooked, so the "multipliers"
# are the plain gradient at the input row and DeepLIFT = (x − b) ⊙ ∇F(x) exactly. Checked here by
# hand derivation: x and b are the token-embedding rows of the ids and of the baseline ids, read
# from the checkpoint in numpy; ∇F(x) is the job's Saliency (the signed gradient, `full`).
# With activation_function "relu" (GPT2MLP's act = ACT2FN["relu"] = nn.ReLU: hooked) the FFN
# activation gets the Rescale rule and the result must differ from (x − b) ⊙ ∇F(x).
source "$(dirname "$0")/tools/run_lib.sh"
MODEL=$SHARED/reference/models/tiny-gpt2
require_model
head -4 "$SRC/data/sst2-dev.tsv" > dev3.tsv
mkdir relu && cp "$MODEL"/* relu/
$PY -c 'import json; p = "relu/config.json"; c = json.load(open(p)); c["activation_function"] = "relu"; json.dump(c, open(p, "w"))'
job() { # name model baseline-yaml
    printf 'model: %s\ncorpus: {path: dev3.tsv}\nmethods: [deeplift, saliency]\ndeeplift: {rules: captum}\n%s\nsave_full: true\nout: %s.h5\n' \
        "$2" "$3" "$1" > "$1.yaml"
    "$BIN" run "$1.yaml" --quiet > log 2>&1 || fail "$1: $(cat log)"
}
job gpt2 "$MODEL" $'baseline: token\nbaseline_token: eos'
job llama "$SHARED/reference/models/tiny-llama" "baseline: unk"
job relu "$WORK/relu" $'baseline: token\nbaseline_token: eos'
$PY - "$SRC/tests/tools" "$MODEL" "$SHARED/reference/models/tiny-llama" <<'PY' || fail "DeepLIFT (captum rules) on decoders"
import sys, h5py, numpy as np
sys.path.insert(0, sys.argv[1])
import st_fixture as st

def emb(d, name):
    ts, _ = st.read(d + "/model.safetensors")
    return st.to_f32(*ts[name]).astype(np.float64)

cases = (("gpt2", emb(sys.argv[2], "transformer.wte.weight"), 2256, False, True),
         ("llama", emb(sys.argv[3], "model.embed_tokens.weight"), 0, True, True),
         ("relu", emb(sys.argv[2], "transformer.wte.weight"), 2256, False, False))
for name, E, fill, keep_bos, plain in cases:
    f = h5py.File(name + ".h5", "r")
    off, ids = f["tokens/offsets"][:], f["tokens/ids"][:]
    dl = f["attributions/deeplift/full"][()].astype(np.float64)
    g = f["attributions/saliency/full"][()].astype(np.float64)
    worst = 0.0
    for e in range(len(off) - 1):
        x = ids[off[e]:off[e + 1]]
        b = np.full_like(x, fill)
        if keep_bos:
            b[0] = x[0]
        want = (E[x] - E[b]) * g[off[e]:off[e + 1]]
        got = dl[off[e]:off[e + 1]]
        worst = max(worst, np.abs(got - want).max() / np.abs(want).max())
    print(f"{name}: max |DeepLIFT - (x - b) * grad F(x)| / max = {worst:.2e}")
    if plain:
        assert worst <= 1e-5, f"{name}: Captum hooks nothing on this model, yet DeepLIFT is not the plain gradient"
    else:
        assert worst > 1e-3, "relu: the hooked nn.ReLU got no Rescale rule"
PY
echo "PASS"
