#!/usr/bin/env bash
# docs/analysis.md §1 (issue 19): the hidden states of a layer are a cut, so their conductance
# sums to F(x) − F(b) with an error that shrinks with the steps; /conductance/delta adds the
# attention probabilities (as Captum does) and stays a large share of F(x) − F(b).
source "$(dirname "$0")/tools/run_lib.sh"
require_model
write_tsv corpus.tsv 3
for s in 10 50; do
    write_config j$s.yaml s$s.h5 "methods: [conductance]" "conductance: {steps: $s}"
    "$BIN" run j$s.yaml --quiet > log 2>&1 || { cat log; fail "run with $s steps failed"; }
done
$PY - <<'PY' || fail "conductance completeness"
import h5py, numpy as np
def rel(p):
    f = h5py.File(p, "r"); off = f["tokens/offsets"][:]
    dF = f["conductance/f_input"][:] - f["conductance/f_baseline"][:]
    h = np.array([f["conductance/hidden/token_sum"][off[e]:off[e + 1]].sum(axis=0) for e in range(len(off) - 1)])
    return np.abs(h - dF[:, None]) / np.abs(dF[:, None]), np.abs(f["conductance/delta"][:]) / np.abs(dF[:, None])
h10, d10 = rel("s10.h5"); h50, d50 = rel("s50.h5")
print("hidden-only error 10/50 steps:", h10.max(), h50.max(), " delta share:", d10.max(), d50.max())
assert h50.max() < 0.5 * h10.max(), "hidden-state completeness error does not shrink with the steps"
assert h50.max() < 0.1, h50.max()
assert d50.max() > 0.1 and d50.max() > 0.5 * d10.max(), "the delta was expected to stay large (attention share)"
PY
echo "PASS"
