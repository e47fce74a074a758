#!/usr/bin/env bash
# The attention-bias analysis of attrun run (runner/analysis.c), checked by hand in numpy
# against the file's own raw data (not against the C functions):
#   /attention/stats/*    recomputed from /attention/probs (float32) and the token strings
#   /attributions/rollout numpy rollout of /attention/probs
#   /agreement/*          scipy Spearman and a numpy top-5 overlap of the stored scores
#                         (saliency: token_l2), specials excluded
#   /conductance/stats/*  recomputed from /conductance/attention (no entropy dataset)
#   /faithfulness/*       top-k chosen in numpy; each perturbed input is written as a text
#                         with literal [PAD] tokens and run through attrun again with
#                         target: label = the first run's target: its f_input is F(x'), so
#                         comprehensiveness = F(x) - F(x') is checked end to end
# plus the defaults (stats on, attention probs off), analysis switched off, the config
# refusal of faithfulness without a per-token method, and the RoBERTa pad-baseline warning.
source "$(dirname "$0")/tools/run_lib.sh"
require_model
$PY -c "import scipy" 2>/dev/null || { echo "SKIPPED: $PY has no scipy (Debian: python3-scipy)"; exit 77; }
write_tsv corpus.tsv 12
write_config job.yaml a.h5 "methods: [ig, saliency, conductance]" "ig: {steps: 8}" "conductance: {steps: 4, save_attention: true}" \
    "attention: {save: true}" "analysis: {faithfulness: true}"
"$BIN" run job.yaml --quiet || fail "analysis run failed"
$H5CMP check a.h5 || fail "file invariants"

# ---- statistics, rollout, agreement, conductance statistics by hand; perturbed corpora ----
$PY - a.h5 <<'PYEOF' || fail "hand checks of the analysis datasets"
import sys, h5py, numpy as np
from scipy.stats import spearmanr
f = h5py.File(sys.argv[1], "r")
off = f["tokens/offsets"][:]; aoff = f["attention/offsets"][:]
N = len(off) - 1
L, H = int(f["attention"].attrs["num_layers"]), int(f["attention"].attrs["num_heads"])
assert (L, H) == (2, 4), (L, H)
toks = [t.decode() if isinstance(t, bytes) else t for t in f["tokens/text"][:]]
ids = f["tokens/ids"][:]
span = f["tokens/char_span"][:]
PUNCT = set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~')
def is_punct(t):
    s = t[2:] if t.startswith("##") and len(t) > 2 else t
    return len(s) > 0 and all(c in PUNCT for c in s)

def stats(p, cls, sep, pun, with_entropy=True):
    """p [L,H,T,T] -> dict name -> [L,H] (docs/analysis.md definitions)."""
    p = p.astype(np.float64); T = p.shape[-1]
    i, j = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    out = {"cls": p[..., cls].sum(-1).mean(-1), "sep": p[..., sep].sum(-1).mean(-1),
           "punct": p[..., pun].sum(-1).mean(-1), "self": np.einsum("lhii->lhi", p).mean(-1),
           "prev": np.array([[np.mean([p[l, h, a, a - 1] for a in range(1, T)]) for h in range(H)] for l in range(L)]),
           "next": np.array([[np.mean([p[l, h, a, a + 1] for a in range(T - 1)]) for h in range(H)] for l in range(L)]),
           "distance": (p * np.abs(i - j)).sum(-1).mean(-1)}
    if with_entropy:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["entropy"] = -np.where(p > 0, p * np.log(p), 0).sum(-1).mean(-1)
    return out

def close(a, b, what, tol=1e-5):
    err = np.max(np.abs(np.asarray(a, np.float64) - b)) / max(1e-6, np.max(np.abs(b)))
    assert err <= tol, f"{what}: relative error {err:.3g}"
    return err

worst = {}
for e in range(N):
    a, b = off[e], off[e + 1]; T = b - a
    P = f["attention/probs"][aoff[e]:aoff[e + 1]].reshape(L, H, T, T)
    cls, sep = ids[a:b] == 101, ids[a:b] == 102
    pun = np.array([is_punct(t) for t in toks[a:b]])
    assert pun.sum() >= 1 and cls[0] and sep[-1], "every example has [CLS] ... . [SEP]"
    ref = stats(P, cls, sep, pun)
    # the brief's hand check: cls = mean over query rows of probs[..., 0]
    close(f["attention/stats/cls"][e], P[..., 0].astype(np.float64).mean(-1), f"example {e} cls vs probs[...,0]")
    for k, v in ref.items():
        worst[k] = max(worst.get(k, 0), close(f[f"attention/stats/{k}"][e], v, f"example {e} stat {k}"))
    # rollout: R = Â_L ... Â_1, Â = rownorm(mean_h A + I); stored R[0, :]
    R = np.eye(T)
    for l in range(L):
        Ah = P[l].astype(np.float64).mean(0) + np.eye(T)
        R = (Ah / Ah.sum(-1, keepdims=True)) @ R
    roll = f["attributions/rollout/token_sum"][a:b]
    worst["rollout"] = max(worst.get("rollout", 0), close(roll, R[0], f"example {e} rollout"))
    assert abs(roll.sum() - 1) < 1e-5
    clsatt = P[L - 1, :, 0, :].astype(np.float64).mean(0)
    # agreement: specials ((0,0) spans) excluded from both sides
    keep = ~((span[a:b, 0] == 0) & (span[a:b, 1] == 0))
    for m, col in (("ig", "token_sum"), ("saliency", "token_l2")):
        s = f[f"attributions/{m}/{col}"][a:b].astype(np.float64)
        for refname, r in (("rollout", roll.astype(np.float64)), ("cls_attention", clsatt)):
            rho = spearmanr(s[keep], r[keep]).correlation
            got = f[f"agreement/{m}/{refname}_spearman"][e]
            assert abs(got - rho) < 1e-5, f"example {e} {m} {refname} spearman {got} vs scipy {rho}"
            k = min(5, keep.sum())
            top = lambda v: set(np.flatnonzero(keep)[np.lexsort((np.flatnonzero(keep), -v[keep]))[:k]])
            ov = len(top(s) & top(r)) / k
            assert f[f"agreement/{m}/{refname}_top5"][e] == np.float32(ov), f"example {e} {m} {refname} top5"
    # conductance of attention: the same statistics, entropy not written
    C = f["conductance/attention"][aoff[e]:aoff[e + 1]].reshape(L, H, T, T)
    for k, v in stats(C, cls, sep, pun, with_entropy=False).items():
        worst["cond_" + k] = max(worst.get("cond_" + k, 0),
                                 close(f[f"conductance/stats/{k}"][e], v, f"example {e} conductance {k}", 1e-4))
assert "conductance/stats/entropy" not in f and "attention/stats/entropy" in f
assert "agreement/conductance" not in f and "faithfulness/conductance" not in f
print("max relative errors:", {k: float(f"{v:.2g}") for k, v in worst.items()})

# faithfulness: perturbed inputs as texts with literal [PAD]; every token must be a whole word
# (no ##) so that joining the tokens with spaces gives back exactly the same ids
assert list(f["faithfulness/ig/comprehensiveness"].attrs["k_percent"]) == [10, 20, 50]
tgt = f["examples/target"][:]
rows = []
for m, col in (("ig", "token_sum"), ("saliency", "token_l2")):
    for e in range(N):
        a, b = off[e], off[e + 1]
        words = toks[a + 1:b - 1]
        if any(w.startswith("##") for w in words):
            continue
        s = f[f"attributions/{m}/{col}"][a + 1:b - 1].astype(np.float64)
        n = len(words)
        for q, kp in enumerate((10, 20, 50)):
            cnt = max(1, -(-kp * n // 100))
            top = set(np.lexsort((np.arange(n), -s))[:cnt])
            comp = " ".join("[PAD]" if i in top else w for i, w in enumerate(words))
            suff = " ".join(w if i in top else "[PAD]" for i, w in enumerate(words))
            rows.append((m, e, q, "comprehensiveness", comp, tgt[e]))
            rows.append((m, e, q, "sufficiency", suff, tgt[e]))
assert len(rows) >= 60, len(rows)
with open("pert.tsv", "w") as o:
    o.write("sentence\tlabel\n")
    for r in rows:
        o.write(f"{r[4]}\t{r[5]}\n")
with open("pert.idx", "w") as o:
    for r in rows:
        o.write(f"{r[0]} {r[1]} {r[2]} {r[3]}\n")
PYEOF
write_config pert.yaml p.h5 "corpus: {path: $WORK/pert.tsv}" "methods: [saliency]" "target: label" \
    "analysis: {stats: false, rollout: false, agreement: false}"
"$BIN" run pert.yaml --quiet || fail "run on the perturbed texts failed"
$PY - a.h5 p.h5 <<'PYEOF' || fail "faithfulness against attrun on perturbed texts"
import sys, h5py, numpy as np
f, g = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
off, poff = f["tokens/offsets"][:], g["tokens/offsets"][:]
ids, pids = f["tokens/ids"][:], g["tokens/ids"][:]
fx = f["attributions/ig/f_input"][:]
fp = g["attributions/saliency/f_input"][:]
worst = 0
for i, line in enumerate(open("pert.idx")):
    m, e, q, kind = line.split(); e, q = int(e), int(q)
    a, b = off[e], off[e + 1]
    x, xp = ids[a:b], pids[poff[i]:poff[i + 1]]
    assert len(x) == len(xp), f"perturbed text {i} re-tokenized to another length"
    changed = x != xp
    assert (xp[changed] == 0).all(), "only [PAD] (id 0) replaces tokens"
    want = fx[e] - fp[i]
    got = f[f"faithfulness/{m}/{kind}"][e, q]
    err = abs(got - want) / max(1e-3, abs(fx[e]))
    worst = max(worst, err)
    assert err < 1e-4, f"{m} example {e} {kind}@{q}: stored {got}, F(x) - F(x') = {want}"
for m in ("ig", "saliency"):
    for kind in ("comprehensiveness", "sufficiency"):
        v = f[f"faithfulness/{m}/{kind}"][:]
        aopc = f[f"faithfulness/{m}/aopc_{kind}"][:]
        assert np.allclose(aopc, v.astype(np.float64).mean(1), rtol=1e-6, atol=1e-6), f"{m} aopc_{kind}"
print(f"faithfulness: {i + 1} perturbed inputs, max relative error {worst:.2g}")
PYEOF

# ---- the Python loader and report on this real file (skipped without pandas/matplotlib) ----
if $PY -c "import pandas, matplotlib" 2>/dev/null; then
    $PY "$SRC/scripts/analysis/report.py" a.h5 rep > log 2>&1 || { cat log; fail "report.py on a real result"; }
    $PY - a.h5 "$SRC" <<'PYEOF' || fail "loader and report on a real result"
import sys, os, h5py, numpy as np, pandas as pd
sys.path.insert(0, os.path.join(sys.argv[2], "scripts/analysis"))
from attrun_load import AttrunResult
r = AttrunResult(sys.argv[1], require_complete=True)
f = h5py.File(sys.argv[1], "r")
assert r.layers_heads() == (2, 4)
ex, hs = r.examples(), r.head_stats()
assert len(hs) == r.n * 8 and np.array_equal(hs["cls"].to_numpy(), f["attention/stats/cls"][:].astype(np.float64).ravel())
for c in ("agreement/ig/rollout_spearman", "agreement/saliency/cls_attention_top5",
          "faithfulness/ig/comprehensiveness@10", "faithfulness/saliency/sufficiency@50",
          "faithfulness/ig/aopc_sufficiency"):
    assert c in ex.columns, c
assert np.array_equal(ex["faithfulness/ig/comprehensiveness@50"].to_numpy(), f["faithfulness/ig/comprehensiveness"][:, 2])
assert "rollout" in r.methods() and "conductance" not in r.methods()
assert len(r.head_stats("/conductance/stats").columns) == 3 + 7
summ = pd.read_csv("rep/summary.csv")
assert len(summ) == 2 * 4 + 2 * 8, summ["quantity"].tolist()
for name in ("heatmap_attention_cls.png", "heatmap_conductance_self.png", "tokens_rollout.csv", "report.html"):
    assert os.path.getsize(os.path.join("rep", name)) > 0, name
assert not os.path.exists("rep/heatmap_conductance_entropy.png")
PYEOF
else
    echo "report.py not run: $PY lacks pandas or matplotlib (Debian: python3-pandas python3-matplotlib)"
fi

# ---- defaults: stats, rollout, agreement on; probs and faithfulness off ----
write_config def.yaml d.h5 "methods: [ig]" "ig: {steps: 4}"
"$BIN" run def.yaml --quiet || fail "default run failed"
$PY - d.h5 a.h5 <<'PYEOF' || fail "defaults"
import sys, h5py, numpy as np
d, a = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert "attention/probs" not in d and "faithfulness" not in d
for k in ("cls", "sep", "punct", "self", "prev", "next", "entropy", "distance"):
    # the same model and inputs: the statistics do not depend on attention.save or the methods
    assert d[f"attention/stats/{k}"][:].tobytes() == a[f"attention/stats/{k}"][:].tobytes(), k
assert d["attributions/rollout/token_sum"][:].tobytes() == a["attributions/rollout/token_sum"][:].tobytes()
assert "agreement/ig/rollout_spearman" in d
assert int(d["attention"].attrs["num_layers"]) == 2
PYEOF
"$BIN" run def.yaml --quiet --set out=off.h5 \
    --set "analysis={stats: false, rollout: false, agreement: false}" || fail "run without analysis failed"
$PY -c "
import h5py, sys; f = h5py.File('off.h5', 'r')
bad = [g for g in ('attention', 'agreement', 'faithfulness', 'attributions/rollout') if g in f]
sys.exit('groups written with the analysis off: %s' % bad if bad else 0)" || fail "analysis off"

# ---- edge cases: one word (Spearman undefined), only specials (agreement, faithfulness undefined) ----
printf 'sentence\tlabel\ngreat\t1\n[PAD]\t0\nnot good .\t0\n' > edge.tsv
write_config edge.yaml e1.h5 "corpus: {path: $WORK/edge.tsv}" "methods: [ig, saliency]" "ig: {steps: 4}" \
    "analysis: {faithfulness: true}"
"$BIN" run edge.yaml --quiet || fail "edge cases run failed"
$MPIRUN -np 2 "$BIN" run edge.yaml --quiet --set out=e2.h5 || fail "edge cases np=2"
$H5CMP same e1.h5 e2.h5 || fail "edge cases: np=2 differs"
$H5CMP check e1.h5 || fail "edge cases: NaN only where documented"
$PY - e1.h5 <<'PYEOF' || fail "edge cases: NaN placement"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert list(f["tokens/offsets"][:]) == [0, 3, 6, 11]
sp, t5 = f["agreement/ig/rollout_spearman"][:], f["agreement/ig/rollout_top5"][:]
assert np.isnan(sp[0]) and t5[0] == 1.0, "one word: rho undefined, top-5 overlap of 1 token is 1"
assert np.isnan(sp[1]) and np.isnan(t5[1]), "no non-special token: both undefined"
assert np.isfinite(sp[2]) and np.isfinite(t5[2])
c = f["faithfulness/ig/comprehensiveness"][:]
assert np.isnan(c[1]).all() and np.isfinite(c[[0, 2]]).all()
assert np.isnan(f["faithfulness/saliency/aopc_sufficiency"][1])
assert all(np.isfinite(f[f"attention/stats/{k}"][:]).all() for k in f["attention/stats"])
PYEOF

# ---- configs/example-full.yaml (every key, analysis included) runs as documented ----
"$BIN" run "$SRC/configs/example-full.yaml" --quiet --set model=$MODEL --set corpus.path=$WORK/corpus.tsv \
    --set corpus.limit=2 --set out=full.h5 --set analysis.faithfulness=true || fail "configs/example-full.yaml"
$H5CMP check full.h5 || fail "example-full: file invariants"

# ---- refusals and warnings ----
"$BIN" run def.yaml --quiet --set out=x.h5 --set methods=[conductance] --set analysis.faithfulness=true \
    > log 2>&1 && fail "faithfulness with only conductance was accepted"
grep -q "def.yaml: analysis.faithfulness: needs a method with per-token attributions" log || \
    { cat log; fail "faithfulness refusal message"; }
"$BIN" run def.yaml --quiet --set out=x.h5 --set analysis.rollouts=true > log 2>&1 && fail "unknown key accepted"
grep -q "analysis.rollouts: unknown key (known under analysis: stats, rollout, agreement, faithfulness, categories, sink_epsilon, massive, save_hidden)" log || \
    { cat log; fail "unknown analysis key message"; }
RMODEL=$SHARED/reference/models/tiny-roberta
if [ -f "$RMODEL/model.safetensors" ]; then
    write_config rob.yaml rob.h5 "model: $RMODEL" "methods: [ig]" "ig: {steps: 2}" "corpus: {path: $WORK/corpus.tsv, limit: 2}"
    $MPIRUN -np 2 "$BIN" run rob.yaml --quiet > log 2>&1 || { cat log; fail "RoBERTa run failed"; }
    [ "$(grep -c "warning: .* is a RoBERTa model and ig uses the 'pad' baseline" log)" = 1 ] || \
        { cat log; fail "RoBERTa pad warning not printed exactly once"; }
    "$BIN" run rob.yaml --quiet --set out=rob2.h5 --set baseline=mask > log 2>&1 || fail "RoBERTa mask run failed"
    grep -q "warning" log && { cat log; fail "warning printed for the mask baseline"; }
    "$BIN" run rob.yaml --quiet --set out=rob3.h5 --set methods=[saliency] > log 2>&1 || fail "RoBERTa saliency"
    grep -q "warning" log && { cat log; fail "warning printed for a method without a baseline"; }
fi
echo "PASS"
