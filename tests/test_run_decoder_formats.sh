#!/usr/bin/env bash
# Decoder checkpoints in other storage formats give the results of the original
# (tests/tools/st_fixture.py writes the fixtures by hand from ../shared's tiny models):
#  - sharded (model-0000i-of-0000N.safetensors + model.safetensors.index.json, same dtypes
#    and bytes): every dataset bitwise equal to the single-file original (tiny-gpt2 F32 in 3
#    shards, tiny-llama F32 in 2, tiny-qwen2 BF16 in 3);
#  - F16 (tiny-gpt2, tiny-llama, tiny-qwen2 from BF16): bitwise equal to an F32 checkpoint
#    holding the F16-rounded values (the load converts F16 exactly), and the change from the
#    original is the one the rounding implies: it is nonzero, and it is the first-order
#    response to the rounding error δ = round16(w) − w, checked against a third checkpoint
#    w + 2δ: out(w + δ) − out(w) ≈ (out(w + 2δ) − out(w)) / 2 within 10% of its size.
#    From BF16 (tiny-qwen2) only the 12 of 234048 weights below F16's normal range change:
#    there the results must stay within 1e-5 of the original's largest value.
# A fixed target keeps the explained logit the same in all variants (an argmax could flip).
source "$(dirname "$0")/tools/run_lib.sh"
MODEL=$SHARED/reference/models/tiny-gpt2
require_model
FIX="$PY $SRC/tests/tools/st_fixture.py"
head -4 "$SRC/data/sst2-dev.tsv" > dev3.tsv

job() { # model-dir out
    printf 'model: %s\ncorpus: {path: dev3.tsv}\nmethods: [ig, saliency]\nig: {steps: 8}\nbaseline: zero\ntarget: 7\nattention: {save: true}\nsave_full: true\nout: %s\n' \
        "$1" "$2" > "$2.yaml"
    "$BIN" run "$2.yaml" --quiet > log 2>&1 || fail "run on $1: $(cat log)"
}

for spec in tiny-gpt2:3 tiny-llama:2 tiny-qwen2:3; do
    fam=${spec%:*} n=${spec#*:}
    orig=$SHARED/reference/models/$fam
    $FIX shard "$orig" "$fam-sharded" "$n" || fail "$fam: shard fixture"
    [ ! -e "$fam-sharded/model.safetensors" ] && [ -f "$fam-sharded/model-0000$n-of-0000$n.safetensors" ] \
        || fail "$fam: the sharded fixture is not sharded"
    job "$orig" "$fam.h5"
    job "$WORK/$fam-sharded" "$fam-sharded.h5"
    $H5CMP same "$fam.h5" "$fam-sharded.h5" || fail "$fam: $n shards differ from the single file"

    $FIX convert "$orig" "$fam-f16" F16 || fail "$fam: F16 fixture"
    $FIX convert "$orig" "$fam-f16r" F16 --as-f32 || fail "$fam: F16-rounded F32 fixture"
    $FIX convert "$orig" "$fam-f16x2" F16 --scale-err 2 || fail "$fam: doubled-error fixture"
    job "$WORK/$fam-f16" "$fam-f16.h5"
    job "$WORK/$fam-f16r" "$fam-f16r.h5"
    job "$WORK/$fam-f16x2" "$fam-f16x2.h5"
    $H5CMP same "$fam-f16.h5" "$fam-f16r.h5" || fail "$fam: F16 load differs from its exact F32 values"
    $PY - "$fam" "$orig" <<'PY' || fail "$fam: F16 results are not the original's up to the rounding"
import sys, h5py, numpy as np
fam = sys.argv[1]
bf16 = '"BF16"' in open(sys.argv[2] + "/model.safetensors", "rb").read(1 << 16).decode("latin-1")
o, h, x2 = (h5py.File(f"{fam}{s}.h5", "r") for s in ("", "-f16", "-f16x2"))
for ds in ("examples/logits", "attributions/ig/full", "attributions/saliency/full", "attention/probs",
           "attributions/ig/f_input"):
    a, b, c = (f[ds][()].astype(np.float64) for f in (o, h, x2))
    d1, d2 = b - a, (c - a) / 2
    size = np.abs(d1).max()
    rel = size / np.abs(a).max()
    lin = np.abs(d1 - d2).max() / max(size, 1e-30)
    print(f"{fam} {ds}: max|F16 - orig| = {size:.3g} ({rel:.2e} of max|orig|), first-order mismatch {lin:.3f}")
    if bf16:
        assert rel < 1e-5, "BF16 -> F16 changes almost no weight, yet the result moved"
        continue
    assert size > 0, "the F16 rounding changed nothing: the fixture is not F16"
    assert rel < 2e-2, "F16 changes the result more than its rounding (2^-11 relative) can"
    assert lin < 0.1, "the change is not the first-order response to the rounding error"
PY
done
echo "PASS"
