#!/usr/bin/env bash
# attrun run under mpirun -np 1..4: every dataset bitwise identical; chunk = 1 and
# automatic chunking (few examples, many ranks: items split across ranks) identical;
# the file's invariants and per-example consistency (IG completeness, argmax target).
# The analysis datasets (statistics, rollout, agreement, faithfulness, conductance
# statistics) are among those compared.
source "$(dirname "$0")/tools/run_lib.sh"
require_model
write_tsv corpus.tsv 24
common=("methods: [ig, saliency, gradshap, deepliftshap]" "baseline: [pad, mask]" "ig: {steps: 16}"
        "gradshap: {samples: 6, stdevs: 0.05, seed: 3}" "attention: {save: true, dtype: float16}"
        "save_full: true" "analysis: {faithfulness: true}")
write_config job.yaml r1.h5 "${common[@]}"

"$BIN" run job.yaml --quiet || fail "np=1 run failed"
$H5CMP check r1.h5 || fail "np=1 file invariants"
for np in 2 3 4; do
    $MPIRUN -np $np "$BIN" run job.yaml --set out=r$np.h5 --quiet || fail "np=$np run failed"
    $H5CMP same r1.h5 r$np.h5 || fail "np=$np differs from np=1"
done
$MPIRUN -np 2 "$BIN" run job.yaml --set out=rc1.h5 --set chunk=1 --quiet || fail "chunk=1 run failed"
$H5CMP same r1.h5 rc1.h5 || fail "chunk=1 differs from automatic chunks"

# 3 examples on 4 ranks: automatic chunking splits items of one example across ranks
write_config few.yaml f1.h5 "${common[@]}" "corpus: {path: $WORK/corpus.tsv, limit: 3}" "conductance: {steps: 8}" \
    "methods: [ig, saliency, gradshap, deepliftshap, conductance]"
"$BIN" run few.yaml --quiet || fail "few examples np=1"
$MPIRUN -np 4 "$BIN" run few.yaml --set out=f4.h5 --quiet || fail "few examples np=4"
$H5CMP same f1.h5 f4.h5 || fail "few examples: np=4 differs from np=1"
$MPIRUN -np 3 "$BIN" run few.yaml --set out=f3.h5 --set chunk=5 --quiet || fail "few examples np=3 chunk=5"
$H5CMP same f1.h5 f3.h5 || fail "few examples: chunk=5 differs"
$PY -c "import h5py, sys; sys.exit(0 if 'conductance/stats/self' in h5py.File('f1.h5', 'r') else 'no conductance stats')" \
    || fail "few examples: /conductance/stats not written"

# consistency of what was stitched together: offsets, IG completeness, targets, spools removed
$PY - r1.h5 <<'PYEOF' || fail "per-example consistency"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
off = f["tokens/offsets"][:]
n = len(off) - 1
assert n == 24, n
assert f.attrs["complete"] == 1 and f.attrs["ranks"] == 1
ig = f["attributions/ig"]
s = np.add.reduceat(ig["token_sum"][:].astype(np.float64), off[:-1])
gap = s - (ig["f_input"][:] - ig["f_baseline"][:])
# Captum's delta is exactly this gap (up to float32 rounding of the stored values)
err = np.max(np.abs(gap - ig["delta"][:])) / max(1e-6, np.max(np.abs(s)))
assert err < 1e-4, f"IG completeness vs delta: {err}"
full = ig["full"][:]
assert np.allclose(full.sum(1), ig["token_sum"][:], rtol=1e-4, atol=1e-5)
assert np.allclose(np.sqrt((full.astype(np.float64) ** 2).sum(1)), ig["token_l2"][:], rtol=1e-4, atol=1e-6)
lg = f["examples/logits"][:]
assert (np.argmax(lg, 1) == f["examples/target"][:]).all(), "target is not the argmax (target: predicted)"
assert np.allclose(ig["f_input"][:], lg[np.arange(n), f["examples/target"][:]], rtol=1e-5, atol=1e-5)
assert f["attributions/gradshap/delta"].shape == (n, 6)
assert f["attributions/deepliftshap/delta"].shape == (n, 2)
ids = f["tokens/ids"][:]
assert (ids[off[:-1]] == 101).all() and (ids[off[1:] - 1] == 102).all(), "each example is [CLS] ... [SEP]"
aoff = f["attention/offsets"][:]
p = f["attention/probs"]
assert p.dtype == np.float16
T = off[1] - off[0]
a0 = p[aoff[0]:aoff[1]].astype(np.float64).reshape(-1, T, T)
assert np.allclose(a0.sum(-1), 1, atol=5e-3), "attention rows sum to 1"
for g in ("attention/stats/cls", "attributions/rollout/token_sum", "agreement/gradshap/rollout_spearman",
          "faithfulness/deepliftshap/comprehensiveness", "faithfulness/saliency/aopc_sufficiency"):
    assert g in f, f"{g} missing: the np comparisons would not cover it"
txt = f["examples/text"][0]
assert (txt.decode() if isinstance(txt, bytes) else txt).startswith("the ")
print("consistency OK:", n, "examples; IG completeness err", err)
PYEOF
[ ! -e r1.h5.spool ] || fail "spools not removed after a complete file"
echo "PASS"
