#!/usr/bin/env bash
# report.py on real attrun results, rendered in headless Chromium (screenshot + DOM):
#   1. the quick-start job (configs/quickstart.yaml: bundled SST-2 model, IG + Saliency, attention
#      saved), cut to 80 sentences and 8 IG steps to stay fast;
#   2. a cloze job (configs/cloze-java.yaml: bundled tiny CodeBERT-MLM) with java categories,
#      attention saved, candidates [max, min], a fixed target 'Ġmax' and cohorts from a CSV file.
# Fails when report.py exits non-zero or prints a traceback, when a section, table or image is
# missing, or when an image does not decode in Chromium. Also checks the loader against the
# C side: the rollout from position 0 recomputed from /attention/probs equals
# /attributions/rollout/token_sum, and the prediction is the model's argmax, not the fixed target.
# Skips (77) without the attrun binary, the bundled models, a Python module or chromium.
set -euo pipefail
SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${ATTRUN_BIN:-$SRC/build/attrun}
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "SKIPPED: no attrun binary at $BIN"; exit 77; }
for m in sst2-tiny tiny-codebert-mlm; do
    [ -f "$SRC/models/$m/model.safetensors" ] || { echo "SKIPPED: models/$m is absent"; exit 77; }
done
for mod in numpy pandas h5py matplotlib scipy; do
    $PY -c "import $mod" 2>/dev/null || { echo "SKIPPED: $PY cannot import $mod (Debian: python3-$mod)"; exit 77; }
done
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "SKIPPED: chromium not installed (Debian: chromium)"; exit 77; }
WORK=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" || rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cd "$SRC"  # the configs name the bundled model and corpus relative to the repository root
"$BIN" run configs/quickstart.yaml --quiet --set out="$WORK/qs.h5" --set corpus.limit=80 --set ig.steps=8 \
    >"$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; fail "quick-start run"; }
"$BIN" run configs/cloze-java.yaml --quiet --set out="$WORK/cloze.h5" --set corpus.limit=4 --set ig.steps=4 \
    --set analysis.categories=java --set attention.save=true --set target=Ġmax --set 'mlm.candidates=[max, min]' \
    >"$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; fail "cloze run"; }

# cloze cohorts from a file (the bundled functions have no gold word): examples 0, 1 vs 2, 3
printf 'example,cohort\n0,early\n1,early\n2,late\n3,late\n' >"$WORK/cohorts.csv"
declare -A extra=([qs]="" [cloze]="--cohort-file $WORK/cohorts.csv --test welch")
for name in qs cloze; do
    # shellcheck disable=SC2086
    $PY scripts/analysis/report.py "$WORK/$name.h5" "$WORK/$name" --n-examples 2 ${extra[$name]} >"$WORK/$name.log" 2>&1 ||
        { cat "$WORK/$name.log"; fail "report.py on the $name result"; }
    if grep -q Traceback "$WORK/$name.log"; then cat "$WORK/$name.log"; fail "report.py printed a traceback ($name)"; fi
done

$PY - "$WORK" <<'EOF' || fail "loader and report outputs"
import os, sys
import numpy as np, pandas as pd
sys.path.insert(0, "scripts/analysis")
from attrun_load import AttrunResult
w = sys.argv[1]
r = AttrunResult(f"{w}/qs.h5", require_complete=True)
ex = r.examples()
logits = r.f["/examples/logits"][...]
assert (ex["predicted"].to_numpy() == logits.argmax(1)).all()
ro = r.f["/attributions/rollout/token_sum"][...]
for i in (0, 7, 79):   # the C rollout (from [CLS]) = the loader's, recomputed from the saved probabilities
    a, b = r.tok_off[i], r.tok_off[i + 1]
    assert np.abs(r.rollout(i, 0) - ro[a:b]).max() < 1e-5, i
assert all(d["documented"] for _, d in r.datasets().iterrows()), r.datasets()[~r.datasets()["documented"]]
ct = pd.read_csv(f"{w}/qs/cohort_tests.csv")
assert {"effect", "q", "effect_len", "q_len"} <= set(ct.columns) and len(ct) == 11 * 2 * 4, ct.columns
c = AttrunResult(f"{w}/cloze.h5", require_complete=True)
cx = c.examples()
assert (cx["target_token"] == "Ġmax").all(), cx["target_token"]
# with candidates the prediction is the candidates' argmax (max or min), whatever the fixed target
ids, lg = c.f["/examples/candidate_ids"][...], c.f["/examples/candidate_logits"][...]
assert (cx["predicted"].to_numpy() == ids[np.arange(c.n), lg.argmax(1)]).all()
assert set(cx["predicted_token"]) <= {"max", "min"} and set(cx["candidate_tokens@0"]) == {"max"}, cx["predicted_token"]
cc = pd.read_csv(f"{w}/cloze/cohort_tests.csv")
assert (cc["cohort_a"] == "early").all() and (cc["n_a"] == 2).all() and (cc["n_b"] == 2).all()
t = c.tokens()
assert t["explained"].sum() == c.n and "category" in t.columns
for f in ("categories_attention.png", "categories.csv", "category_mass.csv", "sinks.csv", "massive.csv"):
    assert os.path.getsize(f"{w}/cloze/{f}") > 0, f
print("real results ok")
EOF

CHROME=("$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
        --disable-background-networking --disable-component-update --disable-sync
        --user-data-dir="$WORK/profile" --window-size=1200,2400)
for name in qs cloze; do
    timeout 120 "${CHROME[@]}" --screenshot="$WORK/$name.png" "file://$WORK/$name/report.html" >"$WORK/chrome.log" 2>&1 ||
        { cat "$WORK/chrome.log"; fail "chromium screenshot ($name)"; }
    timeout 120 "${CHROME[@]}" --dump-dom "file://$WORK/$name/report.html" >"$WORK/$name.dom" 2>>"$WORK/chrome.log" ||
        { cat "$WORK/chrome.log"; fail "chromium --dump-dom ($name)"; }
done
$PY - "$WORK" <<'EOF' || fail "rendered pages"
import sys, numpy as np, matplotlib.image as mpimg
w = sys.argv[1]
common = ['id="meta"', 'id="heatmaps"', 'id="cohorts"', 'id="categories"', 'id="sinks"', 'id="sink-table"',
          'id="massive"', 'id="massive-table"', 'id="tokens"', 'id="summary"', 'id="examples"',
          'class="example"', 'data-method="ig"', 'data-method="saliency"']
want = {"qs": common + ['id="cohort-summary-table"', 'id="n-significant"', 'alt="cohort cls"',
                        'alt="attention example 0"'],
        "cloze": common + ['(masked LM)', 'alt="categories attention"', 'id="category-mass"',
                           'class="tok special explained"', 'data-method="rollout-mask"',
                           "explained target 'Ġmax'", 'class="mlm-top"', 'class="mlm-candidates"',
                           'id="cohort-summary-table"', "Welch"]}
for name, keys in want.items():
    shot = mpimg.imread(f"{w}/{name}.png")
    assert shot.shape[:2] == (2400, 1200), shot.shape
    rgb = shot[..., :3].reshape(-1, 3)
    colours = len(np.unique((rgb * 255).astype(np.uint8), axis=0))
    nonwhite = (rgb < 0.95).any(axis=1).mean()
    assert colours > 50 and nonwhite > 0.02, (name, colours, nonwhite)
    dom = open(f"{w}/{name}.dom", encoding="utf-8").read()
    for k in keys:
        assert k in dom, f"{name}: {k} not in the rendered DOM"
    assert 'data-images="ok"' in dom, f"{name}: an inlined image failed to decode in Chromium"
    assert "Traceback" not in dom
    print(f"chromium ok ({name}): {colours} colours, {nonwhite:.1%} non-white")
EOF
echo "PASS"
