#!/usr/bin/env bash
# scripts/analysis: builds a synthetic result file with h5py following docs/hdf5-schema.md
# (independent of the runner), with planted effects whose outcome is known:
#   - head (layer 1, head 2) puts much more attention on [CLS] in correctly predicted
#     examples than in mispredicted ones -> the only significant head of `cls`;
#   - head (layer 0, head 0) of `sep` depends on the example's length only, and mispredicted
#     examples are longer: significant without length control, not with it;
#   - "great" always gets the highest attribution and "awful" the lowest, [CLS]/[SEP]
#     even higher (they must be excluded from the corpus ranking);
# a masked-LM file with categories, sinks, massive activations, /examples/correct and
# candidates (tests/tools/check_report_mlm.py); checks the loader (attention round trip,
# DataFrame shapes, cohorts, BH by hand), runs report.py, and renders the HTML in headless
# Chromium (screenshot + DOM). With the attrun binary (ATTRUN_BIN) also a small quick-start
# result and a cloze result are reported and rendered. A report that prints a Python traceback
# or lacks a section fails.
# Skips (77) when /usr/bin/python3 lacks a module or chromium is missing.
set -euo pipefail
SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
for mod in numpy pandas h5py matplotlib scipy; do
    if ! $PY -c "import $mod" 2>/dev/null; then
        echo "SKIPPED: $PY cannot import $mod (Debian: python3-$mod)"; exit 77
    fi
done
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then echo "SKIPPED: chromium not installed (Debian: chromium)"; exit 77; fi

WORK=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" || rm -rf "$WORK"' EXIT
H5=$WORK/result.h5 OUT=$WORK/report

# ---- 1. synthetic result ----
$PY - "$H5" <<'EOF'
import sys, h5py, numpy as np
rng = np.random.default_rng(5)
N, L, H, C = 30, 2, 3, 2
words = ["the", "movie", "was", "great", "awful", "plot", ",", "and", "acting", "."]
label = np.array([i % 2 for i in range(N)], dtype=np.int32)
label[[28, 29]] = -1                                   # unlabelled rows
wrong = np.zeros(N, bool); wrong[[1, 4, 7, 10, 13, 16, 19, 22, 25, 27]] = True
pred = np.where(wrong, 1 - label, label); pred[label < 0] = 0
logits = np.zeros((N, C), np.float32); logits[np.arange(N), pred] = 2.0
toks, spans, texts, off, aoff, probs = [], [], [], [0], [0], []
for i in range(N):
    # mispredicted examples are longer on average (overlapping ranges): the length confound
    body = list(rng.choice(words, size=rng.integers(6, 10) if wrong[i] else rng.integers(4, 8)))
    if "great" not in body: body.insert(1, "great")
    if "awful" not in body: body.append("awful")
    t = ["[CLS]"] + body + ["[SEP]"]
    toks += t
    s, pos = [(0, 0)], 0
    for w in body:
        s.append((pos, pos + len(w))); pos += len(w) + 1
    spans += s + [(0, 0)]
    texts.append(" ".join(body))
    T = len(t)
    off.append(off[-1] + T)
    a = rng.random((L, H, T, T)) + 0.05
    a /= a.sum(-1, keepdims=True)
    probs.append(a.ravel())
    aoff.append(aoff[-1] + a.size)
M = off[-1]
vocab = {w: k for k, w in enumerate(["[PAD]", "[CLS]", "[SEP]"] + words)}
# null heads: each cohort's values spread evenly over the same range (shuffled), so no
# null head can differ between cohorts; the planted head differs by construction
stats = {}
for n in ["cls", "sep", "punct", "self", "prev", "next", "entropy", "distance"]:
    v = rng.random((N, L, H))
    for cohort in (wrong & (label >= 0), ~wrong & (label >= 0)):
        k = int(cohort.sum())
        for l in range(L):
            for h in range(H):
                v[cohort, l, h] = rng.permutation(np.linspace(0.2, 0.8, k))
    stats[n] = v.astype(np.float32)
stats["cls"][:, 1, 2] = np.where(wrong, 0.1, 0.9) + 0.05 * rng.random(N)  # planted head
T_ex = np.diff(off)
stats["sep"][:, 0, 0] = 0.05 * T_ex + 0.002 * rng.random(N)  # length only (the confound)
tt = np.array(toks)
def attrib():
    v = 0.1 * rng.standard_normal(M)
    v[tt == "great"] = 1.0 + 0.05 * rng.random((tt == "great").sum())
    v[tt == "awful"] = -1.0 - 0.05 * rng.random((tt == "awful").sum())
    v[(tt == "[CLS]") | (tt == "[SEP]")] = 5.0
    return v.astype(np.float32)
with h5py.File(sys.argv[1], "w") as f:
    st = h5py.string_dtype()
    f["/examples/index"] = np.arange(N, dtype=np.int64) + 100
    f["/examples/label"] = label
    f["/examples/target"] = pred.astype(np.int32)
    f["/examples/logits"] = logits
    f.create_dataset("/examples/text", data=texts, dtype=st)
    f["/tokens/offsets"] = np.array(off, np.int64)
    f["/tokens/ids"] = np.array([vocab[w] for w in toks], np.int32)
    f.create_dataset("/tokens/text", data=toks, dtype=st)
    f["/tokens/char_span"] = np.array(spans, np.int32)
    for m in ["ig", "rollout"]:
        f[f"/attributions/{m}/token_sum"] = attrib()
    f["/attributions/ig/token_l2"] = np.abs(attrib())
    f["/attributions/ig/delta"] = np.zeros(N, np.float32)
    # saliency: signed sums ~ 0 (as real ones), the ranking must come from token_l2
    f["/attributions/saliency/token_sum"] = (1e-4 * rng.standard_normal(M)).astype(np.float32)
    l2 = 0.5 + 0.1 * rng.random(M)
    l2[tt == "great"] = 2.0
    l2[tt == "plot"] = 0.01
    f["/attributions/saliency/token_l2"] = l2.astype(np.float32)
    f["/attention/offsets"] = np.array(aoff, np.int64)
    f["/attention/probs"] = np.concatenate(probs).astype(np.float16)
    for n, v in stats.items():
        f[f"/attention/stats/{n}"] = v
    for m in ["ig", "saliency"]:
        for k in ["rollout_spearman", "rollout_top5", "cls_attention_spearman", "cls_attention_top5"]:
            f[f"/agreement/{m}/{k}"] = rng.random(N).astype(np.float32)
        for k in ["comprehensiveness", "sufficiency"]:
            f[f"/faithfulness/{m}/{k}"] = rng.random((N, 3)).astype(np.float32)
        for k in ["aopc_comprehensiveness", "aopc_sufficiency"]:
            f[f"/faithfulness/{m}/{k}"] = rng.random(N).astype(np.float32)
    f.attrs["complete"] = np.int64(1)
    f.attrs["model"] = "synthetic"
    np.save(sys.argv[1] + ".attn3.npy", probs[3])
    np.save(sys.argv[1] + ".wrong.npy", wrong)
EOF

# ---- 2. loader ----
$PY - "$H5" "$SRC/scripts/analysis" <<'EOF'
import sys, numpy as np
sys.path.insert(0, sys.argv[2])
from attrun_load import AttrunResult, benjamini_hochberg, AttrunFormatError
r = AttrunResult(sys.argv[1], require_complete=True)
ex, tok, hs = r.examples(), r.tokens(), r.head_stats()
assert len(ex) == 30 and list(ex["index"][:2]) == [100, 101], ex.head()
wrong = np.load(sys.argv[1] + ".wrong.npy")
lab = ex["label"].to_numpy() >= 0
assert (ex["correct"][lab].astype(bool).to_numpy() == ~wrong[lab]).all(), "correct cohort"
assert ex["correct"][~lab].isna().all(), "unlabelled rows have no cohort"
assert len(tok) == r.n_tokens and set(["ig", "ig_l2", "saliency", "rollout"]) <= set(tok.columns)
assert tok["special"].sum() == 60, tok["special"].sum()          # [CLS] + [SEP] per example
assert (tok[tok["special"]]["text"].isin(["[CLS]", "[SEP]"])).all()
assert len(hs) == 30 * 2 * 3 and "cls" in hs.columns
assert "faithfulness/ig/comprehensiveness@50" in ex.columns and "agreement/ig/rollout_top5" in ex.columns
a = r.attention(3)
ref = np.load(sys.argv[1] + ".attn3.npy")
T = int(r.tok_off[4] - r.tok_off[3])
assert a.shape == (2, 3, T, T) and a.dtype == np.float32, a.shape
assert np.abs(a.ravel() - ref).max() < 1e-3, "float16 round trip"
assert abs(a.sum(-1) - 1).max() < 1e-2
# BH by hand: sorted p .01 .03 .04 .2 -> p*m/rank .04 .06 .0533 .2 -> running min from the top
q = benjamini_hochberg([0.01, 0.04, 0.03, 0.2, np.nan])
assert np.allclose(q[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.2]) and np.isnan(q[4]), q
try:
    r.attention(30); raise SystemExit("attention(30) must fail")
except IndexError as e:
    assert "out of range" in str(e)
# L, H without stats datasets: from /conductance/delta [N, L] and the attention offsets
import shutil, h5py
alt = sys.argv[1] + ".nostats.h5"
shutil.copy(sys.argv[1], alt)
with h5py.File(alt, "r+") as f:
    del f["/attention/stats"]
    f["/conductance/delta"] = np.zeros((30, 2), np.float32)
assert AttrunResult(alt).attention(3).shape == (2, 3, T, T)
with h5py.File(alt, "r+") as f:
    del f["/conductance/delta"]
try:
    AttrunResult(alt).attention(3); raise SystemExit("attention() without L/H must fail")
except AttrunFormatError as e:
    assert "cannot tell layers from heads" in str(e), e
print("loader ok")
EOF

# ---- 3. report ----
$PY "$SRC/scripts/analysis/report.py" "$H5" "$OUT" --min-count 3 2>"$WORK/report.err" ||
    { cat "$WORK/report.err"; echo "FAIL: report.py"; exit 1; }
if grep -q Traceback "$WORK/report.err"; then cat "$WORK/report.err"; echo "FAIL: report.py printed a traceback"; exit 1; fi
for f in report.html cohort_tests.csv cohort_summary.csv tokens_ig.csv summary.csv heatmap_attention_cls.png cohort_cls.png; do
    [ -s "$OUT/$f" ] || { echo "FAIL: $OUT/$f missing or empty"; exit 1; }
done
$PY - "$OUT" <<'EOF'
import sys, re, pandas as pd
out = sys.argv[1]
ct = pd.read_csv(f"{out}/cohort_tests.csv")
assert (ct["cohort_a"] == "correct").all() and (ct["cohort_b"] == "wrong").all()
sig = ct[ct["significant"]]
planted = sig[(sig["stat"] == "cls") & (sig["layer"] == 1) & (sig["head"] == 2)]
assert len(planted) == 1, sig
assert planted["mean_a"].iloc[0] > 0.85 and planted["mean_b"].iloc[0] < 0.2
assert planted["effect"].iloc[0] == 1.0, planted   # rank-biserial: every correct above every wrong
assert bool(planted["significant_len"].iloc[0]) and planted["effect_len"].iloc[0] > 0, planted
conf = ct[(ct["stat"] == "sep") & (ct["layer"] == 0) & (ct["head"] == 0)].iloc[0]
assert conf["significant"] and not conf["significant_len"], conf   # length only: gone under control
others = sig[~sig.index.isin(planted.index) & ~sig.index.isin([conf.name])]
assert len(others) == 0, f"only the planted heads may be significant:\n{others}"
assert ct["significant_len"].sum() == 1, ct[ct["significant_len"]]
assert ct["q"].between(0, 1).all() and (ct["q"] >= ct["p"] - 1e-12).all()
assert ct["q_len"].between(0, 1).all() and (ct["q_len"] >= ct["p_len"] - 1e-12).all()
summ = pd.read_csv(f"{out}/cohort_summary.csv", dtype={"top_head": str}).set_index("stat")
assert summ.loc["sep", "significant"] == 1 and summ.loc["sep", "significant_len"] == 0, summ
assert summ.loc["cls", "top_head"] == "1.2" and summ.loc["cls", "significant_len"] == 1, summ
for m, last in [("ig", "awful"), ("saliency", "plot")]:
    t = pd.read_csv(f"{out}/tokens_{m}.csv")
    assert t["text"].iloc[0] == "great" and t["text"].iloc[-1] == last, (m, t)
    assert not t["text"].isin(["[CLS]", "[SEP]"]).any()
    assert (t["count"] >= 3).all()
page = open(f"{out}/report.html", encoding="utf-8").read()
assert not re.search(r'(src|href)="(https?:)?//', page), "external resource in the page"
n_img = page.count('src="data:image/png;base64,')
assert n_img >= 8 + 8 + 4, n_img     # 8 heatmaps, 8 cohort maps, 4 attention grids
assert page.count('class="example"') == 4
print("report outputs ok")
EOF

# ---- 3b. a minimal file (no labels, logits, attention or stats: an MLM-like run) still reports;
#          a file that is not a result is refused with a message naming it ----
$PY - "$WORK/min.h5" <<'EOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    f["/examples/index"] = np.arange(2, dtype=np.int64)
    f["/examples/label"] = np.array([-1, -1], np.int32)
    f["/examples/target"] = np.array([7, 9], np.int32)
    f["/tokens/offsets"] = np.array([0, 3, 7], np.int64)
    f["/tokens/ids"] = np.arange(7, dtype=np.int32)
    f.create_dataset("/tokens/text", data=["<s>", "a", "</s>", "<s>", "b", "c", "</s>"], dtype=h5py.string_dtype())
    f["/tokens/char_span"] = np.array([[0, 0], [0, 1], [0, 0], [0, 0], [0, 1], [2, 3], [0, 0]], np.int32)
    f["/attributions/ig/token_sum"] = np.linspace(-1, 1, 7).astype(np.float32)
    f.attrs["complete"] = np.int64(0)
EOF
$PY "$SRC/scripts/analysis/report.py" "$WORK/min.h5" "$WORK/minrep" --min-count 1
grep -q "Cohort tests skipped" "$WORK/minrep/report.html" || { echo "FAIL: minimal report lacks the cohort note"; exit 1; }
grep -q "not marked complete" "$WORK/minrep/report.html" || { echo "FAIL: incomplete file not flagged"; exit 1; }
echo "not hdf5" >"$WORK/bad.h5"
if $PY "$SRC/scripts/analysis/report.py" "$WORK/bad.h5" "$WORK/badrep" 2>"$WORK/bad.err"; then
    echo "FAIL: report.py accepted a non-HDF5 file"; exit 1
fi
grep -q "bad.h5" "$WORK/bad.err" || { cat "$WORK/bad.err"; echo "FAIL: error does not name the file"; exit 1; }

# ---- 4. render in headless Chromium ----
CHROME=("$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
        --disable-background-networking --disable-component-update --disable-sync
        --user-data-dir="$WORK/profile" --window-size=1200,2000)
timeout 120 "${CHROME[@]}" --screenshot="$WORK/shot.png" "file://$OUT/report.html" >"$WORK/chrome.log" 2>&1 ||
    { cat "$WORK/chrome.log"; echo "FAIL: chromium screenshot"; exit 1; }
timeout 120 "${CHROME[@]}" --dump-dom "file://$OUT/report.html" >"$WORK/dom.html" 2>>"$WORK/chrome.log" ||
    { cat "$WORK/chrome.log"; echo "FAIL: chromium --dump-dom"; exit 1; }
$PY - "$WORK/shot.png" "$WORK/dom.html" <<'EOF'
import sys, numpy as np, matplotlib.image as mpimg
shot = mpimg.imread(sys.argv[1])
assert shot.shape[0] == 2000 and shot.shape[1] == 1200, shot.shape
rgb = shot[..., :3].reshape(-1, 3)
colours = len(np.unique((rgb * 255).astype(np.uint8), axis=0))
nonwhite = (rgb < 0.95).any(axis=1).mean()
assert colours > 50 and nonwhite > 0.02, (colours, nonwhite)   # text, heatmaps: not a blank page
dom = open(sys.argv[2], encoding="utf-8").read()
for key in ['id="heatmaps"', 'id="cohorts"', 'id="cohort-summary-table"', 'id="cohort-significant"',
            'id="categories"', 'id="sinks"', 'id="massive"', 'id="tokens"', 'id="summary"', 'id="examples"',
            'class="tok"', 'class="tok special"', 'data-method="ig"', "great"]:
    assert key in dom, f"{key} not in the rendered DOM"
assert 'data-images="ok"' in dom, "an inlined image failed to decode in Chromium"
print(f"chromium ok: screenshot {shot.shape[1]}x{shot.shape[0]}, {colours} colours, {nonwhite:.1%} non-white")
EOF
echo "PASS"
