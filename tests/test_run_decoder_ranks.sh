#!/usr/bin/env bash
# Decoder jobs do not depend on the rank count and survive interruptions (the patterns of
# test_run_ranks.sh and test_run_resume.sh on tiny-llama and tiny-qwen2):
#  - np=1 and np=3 (oversubscribed), automatic chunking and chunk=1: every dataset bitwise equal;
#  - kill -9 of one rank mid-run, the last spool record of another cut short, then --resume
#    with another rank count: bitwise equal to the uninterrupted run;
#  - decoder analysis names: no cls/sep statistics, agreement with the explained position's
#    attention row (/agreement/<m>/explained_attention_*), recomputed from the saved attention.
source "$(dirname "$0")/tools/run_lib.sh"
MODEL=$SHARED/reference/models/tiny-llama
require_model
write_tsv corpus.tsv 12
common=("methods: [ig, saliency, gradshap, deepliftshap]" "baseline: [zero, unk]" "ig: {steps: 12}"
        "gradshap: {samples: 4, stdevs: 0.05, seed: 3}" "attention: {save: true}" "save_full: true"
        "analysis: {faithfulness: true}")
for fam in tiny-llama tiny-qwen2; do
    extra=()
    [ $fam = tiny-qwen2 ] && extra=("baseline: [zero, token]" "baseline_token: eos")
    MODEL=$SHARED/reference/models/$fam
    write_config $fam.yaml $fam-1.h5 "${common[@]}" "${extra[@]}"
    "$BIN" run $fam.yaml --quiet > log 2>&1 || fail "$fam np=1: $(cat log)"
    $H5CMP check $fam-1.h5 || fail "$fam np=1 file invariants"
    $MPIRUN -np 3 "$BIN" run $fam.yaml --set out=$fam-3.h5 --quiet > log 2>&1 || fail "$fam np=3: $(cat log)"
    $H5CMP same $fam-1.h5 $fam-3.h5 || fail "$fam: np=3 differs from np=1"
    $MPIRUN -np 2 "$BIN" run $fam.yaml --set out=$fam-c1.h5 --set chunk=1 --quiet > log 2>&1 \
        || fail "$fam chunk=1: $(cat log)"
    $H5CMP same $fam-1.h5 $fam-c1.h5 || fail "$fam: chunk=1 differs from automatic chunks"
done
$PY - tiny-llama-1.h5 <<'PY' || fail "decoder file consistency"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
off = f["tokens/offsets"][:]
assert len(off) - 1 == 12
for g in ("attention/stats/first", "attributions/rollout/token_sum", "faithfulness/ig/comprehensiveness",
          "attributions/deepliftshap/delta"):
    assert g in f, f"{g} missing: the np comparison would not cover it"
ids = f["tokens/ids"][:]
assert (ids[off[:-1]] == 1).all(), "each Llama example starts with <s>"
# decoders: no [CLS]/[SEP]-named statistics; the agreement's attention row is the explained
# (last) position's, recomputed here from the saved attention (Spearman of average ranks,
# special tokens left out)
for g in ("attention/stats/cls", "attention/stats/sep", "agreement/ig/cls_attention_spearman"):
    assert g not in f, f"{g} written for a decoder"
L, H = 2, 4
aoff, P = f["attention/offsets"][:], f["attention/probs"]
spec = f["tokens/special"][:]
def ranks(v):
    o = np.argsort(v, kind="stable"); r = np.empty(len(v)); r[o] = np.arange(len(v))
    for u in np.unique(v):
        r[v == u] = r[v == u].mean()
    return r
for e in range(len(off) - 1):
    T = off[e + 1] - off[e]
    p = P[aoff[e]:aoff[e + 1]].astype(np.float64).reshape(L, H, T, T)
    row = p[L - 1, :, T - 1, :].mean(0)
    keep = spec[off[e]:off[e + 1]] == 0
    s = f["attributions/ig/token_sum"][off[e]:off[e + 1]].astype(np.float64)
    if keep.sum() < 2:
        continue
    rho = np.corrcoef(ranks(s[keep]), ranks(row.astype(np.float32).astype(np.float64)[keep]))[0, 1]
    got = f["agreement/ig/explained_attention_spearman"][e]
    assert abs(rho - got) <= 1e-5, (e, rho, got)
print("explained_attention_spearman matches the last position's attention row")
comp = f["faithfulness/ig/comprehensiveness"][:]
assert np.isfinite(comp).all() and (np.abs(comp) > 0).mean() > 0.5, f"decoder faithfulness is empty: {comp}"

PY

# kill -9 of rank 1 mid-run, then resume on 3 ranks (a long job, so that the kill lands mid-run)
MODEL=$SHARED/reference/models/tiny-llama
write_config long.yaml ref.h5 "methods: [ig, saliency]" "baseline: zero" "ig: {steps: 256}" "chunk: 16"
"$BIN" run long.yaml --quiet > log 2>&1 || fail "reference run of the long job: $(cat log)"
kill_rank_mid_run k.h5 20000 600 $MPIRUN -np 2 "$BIN" run long.yaml --set out=k.h5 --quiet
cut_last_record k.h5 0
resume_same long.yaml k.h5 ref.h5 3
echo "PASS"
