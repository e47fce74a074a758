#!/usr/bin/env bash
# ig.steps: auto (adaptive IG, runner/ig_auto.h) end to end on the bundled trained model (models/sst2-tiny)
# and real SST-2 dev sentences (data/sst2-dev.tsv):
#  - every stored example is bit for bit the fixed run `ig.steps: rule_steps` (32 and 64 here);
#  - honesty: with the tightest tolerance, on every converged example the error against 512 fixed nodes
#    is within max(error_estimate, 1e-6) (1e-6: float32 rounding of the gradients) and within tolerance;
#    completeness |Σ attr − (F(x) − F(b))| small; steps_used = 16 + ... + rule_steps;
#  - np=1, np=3 and chunk=5 bitwise identical;
#  - kill -9 of a rank in a later round, then --resume on other ranks: identical to the uninterrupted run;
#  - config errors: auto with a Riemann rule, with smoothgrad over ig, a tolerance below 1e-6 (exit 2).
source "$(dirname "$0")/tools/run_lib.sh"
MODEL=$SRC/models/sst2-tiny
if [ ! -f "$MODEL/model.safetensors" ] || ! $PY -c "import h5py, numpy" 2>/dev/null; then
    echo "SKIPPED: $MODEL or h5py/numpy absent"; exit 77
fi
head -n 17 "$SRC/data/sst2-dev.tsv" > corpus.tsv   # header + 16 sentences
common=("methods: [ig]" "save_full: true" "threads: 1")
write_config auto.yaml a1.h5 "${common[@]}" "ig: {steps: auto, tolerance: 1e-6, max_steps: 512}"
"$BIN" run auto.yaml > log 2>&1 || { cat log; fail "auto np=1 failed"; }
grep -q "adaptive IG: 16 examples, " log || { cat log; fail "no adaptive IG summary line"; }
$H5CMP check a1.h5 || fail "auto: file invariants"
for n in 32 64 512; do
    write_config f$n.yaml f$n.h5 "${common[@]}" "ig: {steps: $n}"
    "$BIN" run f$n.yaml --quiet || fail "fixed $n failed"
done

$PY - a1.h5 f512.h5 f32.h5 f64.h5 <<'PYEOF' || fail "auto against the fixed rules"
import sys, h5py, numpy as np
a, ref = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
fixed = {int(p[1:-3]): h5py.File(p, "r") for p in sys.argv[3:]}  # f32.h5 -> 32
ig, off = a["attributions/ig"], a["tokens/offsets"][:]
n = len(off) - 1
su, rs, est, cv = ig["steps_used"][:], ig["rule_steps"][:], ig["error_estimate"][:], ig["converged"][:]
assert su.dtype == np.int32 and rs.dtype == np.int32 and est.dtype == np.float32 and cv.dtype == np.int8
levels = [16, 32, 64, 128, 256, 512]
full, rfull = ig["full"][:], ref["attributions/ig/full"][:]
compared = 0
for i in range(n):
    s = slice(off[i], off[i + 1])
    k = levels.index(rs[i])
    assert k >= 1 and su[i] == sum(levels[:k + 1]), (i, rs[i], su[i])
    assert cv[i] == (est[i] <= 1e-6), (i, cv[i], est[i])
    if rs[i] in fixed:  # the stored rule is bit for bit the fixed run's
        g = fixed[rs[i]]["attributions/ig"]
        for d in ("full", "token_sum", "token_l2"):
            assert np.array_equal(ig[d][s], g[d][s]), (i, d)
        for d in ("delta", "f_input", "f_baseline"):
            assert ig[d][i] == g[d][i], (i, d)
        compared += 1
    err = np.abs(full[s] - rfull[s]).max() / np.abs(rfull[s]).max()
    if cv[i]:
        assert err <= max(est[i], 1e-6), f"example {i}: error {err:.3e} > estimate {est[i]:.3e}"
    ts = ig["token_sum"][s].astype(np.float64).sum()
    gap = abs(ts - (ig["f_input"][i] - ig["f_baseline"][i]))
    assert gap <= 1e-4 * max(1.0, abs(ig["f_input"][i] - ig["f_baseline"][i])), (i, gap)
assert compared >= 8, f"only {compared} examples stopped at 32 or 64 nodes"
assert cv.sum() >= n // 2, f"only {cv.sum()} of {n} converged at tolerance 1e-6"
print(f"auto: {n} examples, mean steps {su.mean():.1f}, rules {sorted(set(rs.tolist()))}, {cv.sum()} converged,"
      f" {compared} compared bitwise with the fixed rule")
PYEOF

# ranks and chunking
$MPIRUN -np 3 "$BIN" run auto.yaml --set out=a3.h5 --quiet || fail "auto np=3 failed"
$H5CMP same a1.h5 a3.h5 || fail "auto: np=3 differs from np=1"
$MPIRUN -np 2 "$BIN" run auto.yaml --set out=a2c.h5 --set chunk=5 --quiet || fail "auto np=2 chunk=5 failed"
$H5CMP same a1.h5 a2c.h5 || fail "auto: chunk=5 differs"

# kill -9 of a rank once a later round runs (its plan line printed), then resume on 3 ranks
$MPIRUN -np 2 "$BIN" run auto.yaml --set out=k.h5 --set chunk=4 > klog 2>&1 &
mp=$!
killed=0
for ((i = 0; i < 1200; i++)); do
    if grep -q "need a finer rule, [1-9][0-9]* finished" klog; then
        f=$(ls k.h5.spool/rank1-*.bin 2>/dev/null | head -1)
        [ -n "$f" ] && { p=${f##*-}; kill -9 "${p%.bin}" && killed=1; }
        break
    fi
    sleep 0.02
done
expect_killed $mp k.h5 "or it finished before it: killed=$killed"
resume_same auto.yaml k.h5 a1.h5 3

# max_steps reached first: flagged, counted in a warning, the last rule stored
write_config cap.yaml c.h5 "${common[@]}" "ig: {steps: auto, tolerance: 1e-6, max_steps: 40}"
"$BIN" run cap.yaml > log 2>&1 || { cat log; fail "auto max_steps 40 failed"; }
$PY - c.h5 <<'PYEOF' > want || fail "max_steps 40: flags"
import sys, h5py, numpy as np
ig = h5py.File(sys.argv[1], "r")["attributions/ig"]
cv, est, rs, su = ig["converged"][:], ig["error_estimate"][:], ig["rule_steps"][:], ig["steps_used"][:]
assert ((cv == 0) == (est > 1e-6)).all()
assert ((rs == 40) | (rs == 32)).all() and (su[rs == 40] == 88).all() and (su[rs == 32] == 48).all()
assert (rs[cv == 0] == 40).all() and (cv == 0).sum() > 0, "expected some examples not converged within 40 nodes"
print((cv == 0).sum())
PYEOF
grep -q "warning: adaptive IG: $(cat want) of 16 examples did not reach ig.tolerance = 1e-06 within ig.max_steps = 40" log \
    || { cat log; fail "no warning counting the $(cat want) examples not converged"; }

# config errors (exit 2)
for bad in "ig: {steps: auto, rule: riemann_left}" "ig: {steps: auto, tolerance: 1e-7}" \
           "ig: {steps: auto, max_steps: 16}" "ig: {steps: autox}"; do
    write_config bad.yaml b.h5 "${common[@]}" "$bad"
    "$BIN" run bad.yaml --quiet > log 2>&1; rc=$?
    [ $rc -eq 2 ] || { cat log; fail "'$bad': exit $rc, expected 2"; }
done
write_config bad.yaml b.h5 "methods: [smoothgrad]" "smoothgrad: {base: ig}" "ig: {steps: auto}"
"$BIN" run bad.yaml --quiet > log 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "auto applies to the ig method only" log || { cat log; fail "smoothgrad over ig with auto: exit $rc"; }
echo "OK"
