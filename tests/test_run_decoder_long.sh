#!/usr/bin/env bash
# Long texts on decoders.
#  1. A 4096-token text on tiny-llama stacked to 4 layers (layer l = layer l mod 2,
#     max_position_embeddings 8192, RoPE), Saliency with a small activation_mib, so that the
#     backward keeps one layer's tensors and re-runs each layer's forward. The peak RSS of the
#     run (getrusage of the child) must stay below half of what keeping every layer's attention
#     probabilities alone takes (L·H·T²·4 bytes = 1 GiB here): no all-layer quadratic storage.
#     Then IG (6 Gauss–Legendre nodes, to keep the test short) on the same
#     text with the 2-layer tiny-llama (max_position_embeddings 8192): finite, F(input) the
#     logit of the target at the last position, Σattr within 15% of F(x) − F(b).
#  2. The recompute path gives the same bits: a 300-token job with activation_mib 1 and 0; and
#     microbatch_tokens 300 (one row per pass) agrees with the default to 1e-5.
#  3. Mistral sliding_window (tiny-llama as MistralForCausalLM, window 16, T ≈ 60 > window):
#     every layer's attention is 0 outside q − 16 < k ≤ q and sums to 1 inside; layer 0's
#     probabilities equal a numpy float64 computation from the weights (RMSNorm, q/k
#     projections, HF rotate_half RoPE, GQA, windowed causal softmax); rows q < 16 equal the
#     unwindowed Llama's, later rows differ.
#  4. The base forward's analysis streams each layer's attention as the engine computes it
#     (no (L,H,T,T) tensor): (a) T = 1024 with attention.save: the per-head statistics,
#     first/BOS, the rollout from the explained position and the norm-weighted statistics equal
#     numpy on /attention/probs and /attention/norm_weighted/value_norm; without attention.save
#     every other dataset is the same bits. (b) T = 4096, Saliency, activation_mib 64, analysis
#     (stats, rollout, agreement, norm_weighted) on and off: the peak RSS with it stays less than
#     half of one layer's attention (H·T²·4/2 = 128 MiB) above the run without (the whole-tensor
#     analysis kept L·H·T²·4 = 512 MiB more, and a T×T double matrix for the rollout); layer 0's
#     statistics at T = 4096 equal numpy float64 from the weights.
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
# 4. streamed analysis: (a) values at T = 1024 against numpy, save on/off the same bits
an="analysis: {stats: true, rollout: true, agreement: true, massive: false}"
for sv in true false; do
    printf 'model: %s\ncorpus: {path: long.jsonl, max_length: 1024}\nmethods: [saliency]\nbaseline: unk\n%s\nattention: {save: %s, norm_weighted: true}\nout: s%s.h5\n' \
        "$WORK/l2" "$an" $sv $sv > s$sv.yaml
    "$BIN" run s$sv.yaml --quiet > log 2>&1 || fail "T = 1024 analysis, save $sv: $(cat log)"
done
$PY - strue.h5 sfalse.h5 <<'PY' || fail "streamed analysis at T = 1024"
import sys, h5py, numpy as np
f, g = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
L, H = 2, 4
T = int(f["tokens/offsets"][1])
assert T == 1024, T
names = []
g.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
for n in names:
    x, y = f[n][()], g[n][()]
    assert (list(np.ravel(x)) == list(np.ravel(y))) if x.dtype == object else x.tobytes() == y.tobytes(), \
        f"{n}: attention.save changes it"
assert "attention/probs" not in g and len(names) > 20
P = f["attention/probs"][()].reshape(L, H, T, T).astype(np.float64)
def stats(p):  # p (L,H,T,T) -> name -> (L,H), docs/analysis.md
    d = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0).sum(-1).mean(-1)
    return {"self": np.einsum("lhii->lhi", p).mean(-1), "prev": np.einsum("lhii->lhi", p[..., 1:, :-1]).mean(-1),
            "next": np.einsum("lhii->lhi", p[..., :-1, 1:]).mean(-1), "entropy": ent,
            "distance": (p * d).sum(-1).mean(-1), "first": p[..., 0].mean(-1), "bos": p[..., 0].mean(-1)}
def close(a, b, what, tol=1e-5):
    err = np.max(np.abs(np.asarray(a, np.float64) - b)) / max(1e-6, np.max(np.abs(b)))
    assert err <= tol, f"{what}: relative error {err:.3g}"
    return err
worst = 0
for k, v in stats(P).items():
    worst = max(worst, close(f[f"attention/stats/{k}"][0], v, k))
vn = f["attention/norm_weighted/value_norm"][:T].astype(np.float64).transpose(1, 2, 0)  # (L,H,T)
N = P * vn[:, :, None, :]
N /= N.sum(-1, keepdims=True)
for k, v in stats(N).items():
    worst = max(worst, close(f[f"attention/norm_weighted/stats/{k}"][0], v, "norm-weighted " + k))
q = T - 1  # the causal LM explains the last position
r = None
for l in range(L - 1, -1, -1):
    A = P[l].mean(0) + np.eye(T)
    A /= A.sum(-1, keepdims=True)
    r = A[q] if r is None else r @ A
roll = f["attributions/rollout/token_sum"][:T]
worst = max(worst, close(roll, r, "rollout from the explained position"))
print(f"T {T}: streamed statistics, norm-weighted statistics, rollout vs numpy: max relative error {worst:.2e}; "
      f"{len(names)} datasets bitwise without attention.save")
PY

# (b) memory and layer-0 values at T = 4096
for a in on off; do
    if [ $a = on ]; then x="$an" nw=true; else x="$noan" nw=false; fi
    printf 'model: %s\ncorpus: {path: long.jsonl, max_length: 4096}\nmethods: [saliency]\nbaseline: unk\n%s\nattention: {norm_weighted: %s}\nactivation_mib: 64\nout: m%s.h5\n' \
        "$WORK/l2" "$x" $nw $a > m$a.yaml
    rss=$(peak_rss m$a.yaml)
    [ "$rss" -gt 0 ] || fail "4096-token run, analysis $a: $(cat log)"
    echo "$rss" > m$a.rss
done
$PY - "$SRC/tests/tools" l2 mon.h5 <<'PY' || fail "streamed analysis at T = 4096"
import sys, h5py, numpy as np
sys.path.insert(0, sys.argv[1])
import st_fixture as st
L, H, KV, hs = 2, 4, 2, 16
on, off = int(open("mon.rss").read()) * 1024, int(open("moff.rss").read()) * 1024
f = h5py.File(sys.argv[3], "r")
T = int(f["tokens/offsets"][1])
assert T == 4096, T
layer, every = H * T * T * 4, L * H * T * T * 4
print(f"T {T}: peak RSS {on / 2**20:.0f} MiB with the analysis, {off / 2**20:.0f} MiB without (+{(on - off) / 2**20:.0f} MiB); "
      f"one layer's attention {layer / 2**20:.0f} MiB, every layer's {every / 2**20:.0f} MiB")
assert on - off < layer / 2, "the analysis keeps quadratic memory beyond one layer's attention"
roll = f["attributions/rollout/token_sum"][:T].astype(np.float64)
assert np.isfinite(roll).all() and abs(roll.sum() - 1) < 1e-4 and (roll >= 0).all()
# layer 0's attention from the weights (RMSNorm, q/k projections, HF rotate_half RoPE, GQA, causal), float64
ts, _ = st.read(sys.argv[2] + "/model.safetensors")
w = {n: st.to_f32(*v).astype(np.float64) for n, v in ts.items()}
x = w["model.embed_tokens.weight"][f["tokens/ids"][:T]]
n1 = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-5) * w["model.layers.0.input_layernorm.weight"]
Q = (n1 @ w["model.layers.0.self_attn.q_proj.weight"].T).reshape(T, H, hs)
K = (n1 @ w["model.layers.0.self_attn.k_proj.weight"].T).reshape(T, KV, hs)
inv = (1.0 / (10000.0 ** (np.arange(0, hs, 2, dtype=np.float32) / hs))).astype(np.float32)
ang = (np.arange(T, dtype=np.float32)[:, None] * inv[None, :]).astype(np.float32)
cos = np.concatenate([np.cos(ang)] * 2, -1).astype(np.float64)[:, None, :]
sin = np.concatenate([np.sin(ang)] * 2, -1).astype(np.float64)[:, None, :]
rot = lambda v: np.concatenate([-v[..., hs // 2:], v[..., :hs // 2]], -1)
Q, K = Q * cos + rot(Q) * sin, K * cos + rot(K) * sin
d = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])
worst = 0
for h in range(H):  # one head at a time: T x T float64 is 128 MiB
    S = Q[:, h] @ K[:, h // (H // KV)].T / np.sqrt(hs)
    S[np.triu_indices(T, 1)] = -np.inf
    p = np.exp(S - S.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0).sum(-1).mean()
    ref = {"self": np.diag(p).mean(), "prev": np.diag(p, -1).mean(), "first": p[:, 0].mean(), "entropy": ent,
           "distance": (p * d).sum(-1).mean()}
    for k, v in ref.items():
        got = float(f[f"attention/stats/{k}"][0, 0, h])
        err = abs(got - v) / max(1e-6, abs(v))
        assert err <= 1e-4, f"layer 0 head {h} {k}: {got} vs numpy {v}"
        worst = max(worst, err)
print(f"T {T}: layer-0 statistics vs numpy float64 from the weights: max relative error {worst:.2e}")
PY

echo "PASS"
