#!/usr/bin/env bash
# attrun run on decoder-only LMs end to end: tiny-gpt2 (vocab.json + merges.txt), causal-LM
# target = next-token argmax at the last position, IG with the eos token baseline and the zero
# baseline, saliency; the stored attributions must equal Captum's (decoder_gpt2.json.gz, SST-2 dev
# sentences 0 and 1) within 1e-4 of the largest reference magnitude. Then the config errors: a
# baseline needing a token the tokenizer lacks (pad on GPT-2), baseline: token without
# baseline_token, an unknown baseline_token; and every family runs (tiny-llama, tiny-qwen2).
source "$(dirname "$0")/tools/run_lib.sh"
MODEL=$SHARED/reference/models/tiny-gpt2
REF=$SHARED/reference/captum/decoder_gpt2.json.gz
require_model
[ -f "$REF" ] || { echo "SKIPPED: $REF is absent"; exit 77; }

head -3 "$SRC/data/sst2-dev.tsv" > dev2.tsv
job() { # name baseline [extra yaml]
    printf 'model: %s\ncorpus:\n  path: dev2.tsv\nmethods: [ig, saliency]\nbaseline: %s\n%s\nsave_full: true\nout: %s.h5\n' \
        "$MODEL" "$2" "${3:-}" "$1" > "$1.yaml"
}
job tok token "baseline_token: eos"
"$BIN" run tok.yaml > log 2>&1 || fail "gpt2 token-baseline run: $(cat log)"
job zero zero
"$BIN" run zero.yaml > log 2>&1 || fail "gpt2 zero-baseline run: $(cat log)"
$H5CMP check tok.h5 > log 2>&1 || fail "tok.h5 fails the schema check: $(cat log)"

$PY - "$REF" <<'PY' || fail "attributions differ from Captum's"
import gzip, json, sys
import h5py, numpy as np
ref = json.load(gzip.open(sys.argv[1]))["causal_lm"]
worst = 0.0
for name, bl in (("tok", "token"), ("zero", "zero")):
    f = h5py.File(name + ".h5", "r")
    off = f["tokens/offsets"][:]
    ids = f["tokens/ids"][:]
    for e in range(2):
        T0, T1 = off[e], off[e + 1]
        mine_ids = list(ids[T0:T1])
        for meth, ds in (("ig", "ig"), ("saliency", "saliency")):
            r = [x for x in ref if x["method"] == meth and x["ids"] == mine_ids and
                 (meth == "saliency" or x["baseline"] == bl)]
            assert r, f"no reference for example {e} ({meth}, {bl}): ids {mine_ids}"
            r = r[0]
            assert f["examples/target"][e] == r["target"], (f["examples/target"][e], r["target"])
            full = f[f"attributions/{ds}/full"][T0:T1]
            a = np.array(r["attr"])
            err = np.abs(full - a).max() / np.abs(a).max()
            print(f"{name} example {e} {meth}: max rel err {err:.2e}")
            worst = max(worst, err)
            if meth == "ig":
                fb = f[f"attributions/ig/f_baseline"][e]
                assert abs(fb - r["f_baseline"]) <= 1e-4 * max(1, abs(r["f_baseline"])), (fb, r["f_baseline"])
sys.exit(0 if worst <= 1e-4 else 1)
PY

job pad pad
"$BIN" run pad.yaml > log 2>&1; rc=$?
[ $rc -eq 2 ] || fail "pad baseline on gpt2: exit $rc, expected 2: $(cat log)"
grep -q "needs a pad token" log || fail "pad baseline message does not name the token: $(cat log)"
[ ! -e pad.h5 ] || fail "a config error left pad.h5 behind"
job notok token
"$BIN" run notok.yaml > log 2>&1; [ $? -eq 2 ] || fail "baseline: token without baseline_token accepted"
grep -q "baseline_token" log || fail "message does not name baseline_token: $(cat log)"
job badtok token "baseline_token: no-such-token"
"$BIN" run badtok.yaml > log 2>&1; [ $? -eq 2 ] || fail "unknown baseline_token accepted"
grep -q "no-such-token" log || fail "message does not name the token: $(cat log)"

for fam in tiny-llama tiny-qwen2; do
    sed "s#tiny-gpt2#$fam#; s#tok.h5#$fam.h5#" tok.yaml > $fam.yaml
    "$BIN" run $fam.yaml > log 2>&1 || fail "$fam run: $(cat log)"
    $H5CMP check $fam.h5 > log 2>&1 || fail "$fam.h5 fails the schema check: $(cat log)"
done
echo "PASS"
