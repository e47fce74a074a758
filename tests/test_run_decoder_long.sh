#!/usr/bin/env bash
# Long texts on decoders.
#  1. A 4096-token text on tiny-llama stacked to 4 layers (layer l = layer l mod 2,
#     max_position_embeddings 8192, RoPE), Saliency with a small activation_mib, so that the
#     backward keeps one layer's tensors and re-runs each layer's forward. The peak RSS of the
#     run (getrusage of the child) must stay below half of what keeping every layer's attention
#     probabilities alone takes (L·H·T²·4 bytes = 1 GiB here): no all-layer quadratic storage.
#     The base forward's statistics and rollout are off (they take every layer's attention,
#     L·H·T²·4 bytes). Then IG (6 Gauss–Legendre nodes, to keep the test short) on the same
#     text with the 2-layer tiny-llama (max_position_embeddings 8192): finite, F(input) the
#     logit of the target at the last position, Σattr within 15% of F(x) − F(b).
#  2. The recompute path gives the same bits: a 300-token job with activation_mib 1 and 0; and
#     microbatch_tokens 300 (one row per pass) agrees with the default to 1e-5.
#  3. Mistral sliding_window (tiny-llama as MistralForCausalLM, window 16, T ≈ 60 > window):
#     every layer's attention is 0 outside q − 16 < k ≤ q and sums to 1 inside; layer 0's
#     probabilities equal a numpy float64 computation from the weights (RMSNorm, q/k
#     projections, HF rotate_half RoPE, GQA, windowed causal softmax); rows q < 16 equal the
#     unwindowed Llama's, later rows differ.
source "$(dirname "$0")/tools/run_lib.sh"
MODEL=$SHARED/reference/models/tiny-llama
require_model
FIX="$PY $SRC/tests/tools/st_fixture.py"
$FIX stack-layers "$MODEL" l4 4 || fail "stacked fixture"
setcfg() { # dir json-updates
    $PY -c 'import json, sys; p = sys.argv[1] + "/config.json"; c = json.load(open(p)); c.update(json.loads(sys.argv[2])); json.dump(c, open(p, "w"), indent=2)' "$1" "$2" \
        || fail "config of $1"
}
setcfg l4 '{"num_hidden_layers": 4, "max_position_embeddings": 8192}'
$PY - <<'PY'
import json, random
random.seed(1)
w = ("the movie is a charming and often affecting journey unflinchingly bleak desperate funny but "
     "not quite as clever as it thinks it is with great performances dull plot").split()
open("long.jsonl", "w").write(json.dumps({"text": " ".join(random.choice(w) for _ in range(3000))}) + "\n")
open("mid.jsonl", "w").write(json.dumps({"text": " ".join(random.choice(w) for _ in range(40))}) + "\n")
PY
noan="analysis: {stats: false, rollout: false, agreement: false, massive: false}"
mkdir l2 && cp "$MODEL"/* l2/
setcfg l2 '{"max_position_embeddings": 8192}'
peak_rss() { # yaml: runs attrun on it, prints the child's peak RSS in KiB
    $PY -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open("log", "w"))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 else -1)' "$BIN" run "$1" --quiet
}
for m in l4:saliency l2:ig; do
    printf 'model: %s\ncorpus: {path: long.jsonl, max_length: 4096}\nmethods: [%s]\nig: {steps: 6}\nbaseline: unk\nsave_full: true\n%s\nactivation_mib: 64\nout: %s.h5\n' \
        "$WORK/${m%:*}" "${m#*:}" "$noan" "${m%:*}" > ${m%:*}.yaml
    rss=$(peak_rss ${m%:*}.yaml)
    [ "$rss" -gt 0 ] || fail "4096-token run on ${m%:*}: $(cat log)"
    echo "$rss" > ${m%:*}.rss
done
$PY - <<'PY' || fail "4096-token runs"
import h5py, numpy as np
for name, L in (("l4", 4), ("l2", 2)):
    rss = int(open(name + ".rss").read()) * 1024
    f = h5py.File(name + ".h5", "r")
    T, H = int(f["tokens/offsets"][1]), 4
    assert T == 4096, T
    all_layers = L * H * T * T * 4
    print(f"{name}: T {T}, peak RSS {rss / 2**20:.0f} MiB; every layer's attention probabilities {all_layers / 2**20:.0f} MiB")
    if L == 4:
        assert rss < all_layers / 2, "peak memory grows like every layer's T x T attention"
    m = "saliency" if L == 4 else "ig"
    a = f[f"attributions/{m}"]
    for ds in (f"attributions/{m}/full", "examples/logits"):
        assert np.isfinite(f[ds][()]).all(), ds
    assert np.abs(a["full"][-1]).max() > 0 and np.abs(a["full"][1]).max() > 0
    lg, tg = f["examples/logits"][0], f["examples/target"][0]
    assert tg == np.argmax(lg) and abs(a["f_input"][0] - lg[tg]) <= 1e-5 * np.abs(lg).max()
    if m == "ig":
        s = a["token_sum"][:].astype(np.float64).sum()
        d = float(a["f_input"][0] - a["f_baseline"][0])
        print(f"IG: sum {s:.4f}, F(x) - F(b) {d:.4f}, gap {(s - d) / d:.2%}")
        assert abs(s - d) <= 0.15 * abs(d), "IG completeness"
PY

# 2. recompute = keep: same bits
for mib in 0 1; do
    printf 'model: %s\ncorpus: {path: long.jsonl, max_length: 300}\nmethods: [saliency, ig, deeplift]\nig: {steps: 4}\nbaseline: unk\nsave_full: true\nactivation_mib: %s\nout: r%s.h5\n' \
        "$WORK/l4" "$mib" "$mib" > r$mib.yaml
    "$BIN" run r$mib.yaml --quiet > log 2>&1 || fail "activation_mib $mib: $(cat log)"
done
$H5CMP same r0.h5 r1.h5 || fail "the recomputing backward changes the results"
# microbatch_tokens: one row per pass (300 tokens) instead of all of an item block's: the same results
# but for the rounding of other GEMM shapes
sed 's/^out: r0.h5/out: mb.h5/' r0.yaml > mb.yaml && echo 'microbatch_tokens: 300' >> mb.yaml
"$BIN" run mb.yaml --quiet > log 2>&1 || fail "microbatch_tokens 300: $(cat log)"
$PY - <<'PY' || fail "microbatch_tokens changes the results"
import h5py, numpy as np
a, b = h5py.File("r0.h5", "r"), h5py.File("mb.h5", "r")
cfg = b.attrs["config"]
assert "microbatch_tokens: 300" in (cfg.decode() if isinstance(cfg, bytes) else cfg), cfg
for m in ("saliency", "ig", "deeplift"):
    x, y = a[f"attributions/{m}/full"][:], b[f"attributions/{m}/full"][:]
    err = np.abs(x - y).max() / np.abs(x).max()
    print(f"microbatch_tokens 300 vs 2048, {m}: max rel diff {err:.1e}")
    assert err <= 1e-5, (m, err)
PY

# 3. Mistral sliding window
mkdir mis && cp "$MODEL"/* mis/
setcfg mis '{"model_type": "mistral", "architectures": ["MistralForCausalLM"], "sliding_window": 16}'
for m in mis "$MODEL"; do
    n=$(basename "$m")
    printf 'model: %s\ncorpus: {path: mid.jsonl}\nbaseline: zero\nmethods: [saliency]\nattention: {save: true}\nout: %s.h5\n' "$m" "$n" > $n.yaml
    "$BIN" run $n.yaml --quiet > log 2>&1 || fail "$n: $(cat log)"
done
$PY - "$SRC/tests/tools" "$MODEL" <<'PY' || fail "Mistral sliding window"
import sys, h5py, numpy as np
sys.path.insert(0, sys.argv[1])
import st_fixture as st
W, L, H, KV, hs = 16, 2, 4, 2, 16
f, g = h5py.File("mis.h5", "r"), h5py.File("tiny-llama.h5", "r")
T = int(f["tokens/offsets"][1])
assert T > 3 * W, T
P = f["attention/probs"][()].reshape(L, H, T, T).astype(np.float64)
Pl = g["attention/probs"][()].reshape(L, H, T, T).astype(np.float64)
q, k = np.arange(T)[:, None], np.arange(T)[None, :]
inside = (k <= q) & (k > q - W)
assert (P[..., ~inside] == 0).all(), "attention outside the window"
assert (P[..., inside] > 0).all() and np.allclose(P.sum(-1), 1, atol=1e-5)
assert np.abs(P[:, :, :W] - Pl[:, :, :W]).max() <= 1e-6, "rows before the window fills differ from Llama's"
assert np.abs(P[:, :, W:] - Pl[:, :, W:]).max() > 1e-3, "the window changes nothing"
# layer 0 from the weights, float64
ts, _ = st.read(sys.argv[2] + "/model.safetensors")
w = {n: st.to_f32(*v).astype(np.float64) for n, v in ts.items()}
ids = f["tokens/ids"][:T]
x = w["model.embed_tokens.weight"][ids]
n1 = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-5) * w["model.layers.0.input_layernorm.weight"]
Q = (n1 @ w["model.layers.0.self_attn.q_proj.weight"].T).reshape(T, H, hs)
K = (n1 @ w["model.layers.0.self_attn.k_proj.weight"].T).reshape(T, KV, hs)
inv = (1.0 / (10000.0 ** (np.arange(0, hs, 2, dtype=np.float32) / hs))).astype(np.float32)
ang = (np.arange(T, dtype=np.float32)[:, None] * inv[None, :]).astype(np.float32)
cos = np.concatenate([np.cos(ang)] * 2, -1).astype(np.float64)[:, None, :]
sin = np.concatenate([np.sin(ang)] * 2, -1).astype(np.float64)[:, None, :]
rot = lambda v: np.concatenate([-v[..., hs // 2:], v[..., :hs // 2]], -1)
Q, K = Q * cos + rot(Q) * sin, K * cos + rot(K) * sin
K = np.repeat(K, H // KV, axis=1)
S = np.einsum("qhd,khd->hqk", Q, K) / np.sqrt(hs)
S = np.where(inside[None], S, -np.inf)
R = np.exp(S - S.max(-1, keepdims=True))
R /= R.sum(-1, keepdims=True)
err = np.abs(R - P[0]).max()
print(f"T {T}, window {W}: layer-0 attention vs numpy max err {err:.2e}")
assert err <= 1e-5
PY
echo "PASS"
