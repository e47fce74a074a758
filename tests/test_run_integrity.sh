#!/usr/bin/env bash
# Resume integrity (issue 18): the spools are bound to the job's content, so a --resume
# after the weights changed, the corpus was edited in place or a row was inserted refuses
# (exit 2, naming what changed) before computing anything; --resume of a complete file with
# another config or other weights refuses; a spool record with a bad payload CRC is
# recomputed and never used; ranks that read different examples or weights fail on every
# rank instead of hanging; a pipe as the corpus is refused under 2 ranks.
# A partial spool is made deterministically with a file-size limit (ulimit -f) that makes
# a spool write fail after some units (exit 1, finished units kept).
source "$(dirname "$0")/tools/run_lib.sh"
require_model
export PMIX_MCA_gds=hash   # keep PMIx's shared-memory store out of the file-size limit
cp -rL "$MODEL" m
write_tsv corpus.tsv 24
cp corpus.tsv corpus.orig
{ echo "model: $WORK/m"; echo "corpus: {path: $WORK/corpus.tsv}"; echo "out: p.h5"
  echo "methods: [ig, saliency]"; echo "ig: {steps: 16}"; echo "chunk: 4"; } > job.yaml
"$BIN" run job.yaml --set out=ref.h5 --quiet || fail "reference run failed"

# partial: a job stopped by EFBIG after some units; spools kept
partial() {
    rm -rf p.h5 p.h5.spool
    (trap '' XFSZ; ulimit -f 40; "$BIN" run job.yaml --quiet) > plog 2>&1; local rc=$?
    [ $rc -eq 1 ] || { cat plog; fail "partial run: exit $rc, expected 1"; }
    ls p.h5.spool/rank0-*.bin > /dev/null 2>&1 || fail "partial run left no spools"
}
# flip_weight NAME: negate a float32 tensor of m/model.safetensors in place
flip_weight() {
    $PY - "$1" <<'PY' || fail "cannot edit the weights"
import json, struct, sys, numpy as np
p = "m/model.safetensors"
b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
t = h[sys.argv[1]]; s, e = t["data_offsets"]; s += 8 + n; e += 8 + n
b[s:e] = (-np.frombuffer(bytes(b[s:e]), dtype="<f4")).tobytes()
open(p, "wb").write(b)
PY
}
refused() { # refused WHAT: the last run exited 2 and named WHAT; nothing marked complete
    [ "$rc" -eq 2 ] || { cat log; fail "$1: exit $rc, expected 2"; }
    grep -q "$2" log || { cat log; fail "$1: message does not name '$2'"; }
    [ "$(complete_flag p.h5)" != 1 ] || fail "$1: the result is marked complete"
}

# 0. control: an unchanged resume completes and equals the uninterrupted run
partial
"$BIN" run job.yaml --resume --quiet > log 2>&1 || { cat log; fail "resume of unchanged inputs failed"; }
$H5CMP same ref.h5 p.h5 || fail "resume differs from the uninterrupted run"

# 1. weights changed (sign of classifier.weight) between the runs
partial
cp m/model.safetensors w.orig
flip_weight classifier.weight
"$BIN" run job.yaml --resume > log 2>&1; rc=$?
refused "weights changed" "the weights in"
cp w.orig m/model.safetensors

# 2. corpus edited in place (one word of row 5), and 3. a row inserted
partial
sed -i '6s/movie/film/' corpus.tsv
"$BIN" run job.yaml --resume > log 2>&1; rc=$?
refused "corpus edited" "the examples of"
cp corpus.orig corpus.tsv
partial
sed -i '3i an inserted row .\t1' corpus.tsv
"$BIN" run job.yaml --resume > log 2>&1; rc=$?
refused "row inserted" "24 examples then, 25 now"
grep -q "examples/s" log && fail "row inserted: units were computed before the refusal"
cp corpus.orig corpus.tsv
# the refusals changed nothing: the old inputs resume
"$BIN" run job.yaml --resume --quiet > log 2>&1 || { cat log; fail "resume after restoring the inputs failed"; }
$H5CMP same ref.h5 p.h5 || fail "resume after the refusals differs"

# 4. --resume of a complete file: same job -> nothing to do; other config or weights -> exit 2
"$BIN" run job.yaml --resume > log 2>&1 || { cat log; fail "resume of a complete file failed"; }
grep -q "already complete" log || fail "no 'already complete' message"
"$BIN" run job.yaml --resume --set ig.steps=8 > log 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "different configuration" log || { cat log; fail "complete + other config: exit $rc"; }
"$BIN" run job.yaml --resume --set threads=1 > log 2>&1 || { cat log; fail "threads (not results-relevant) refused"; }
flip_weight classifier.weight
"$BIN" run job.yaml --resume > log 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "other weights" log || { cat log; fail "complete + other weights: exit $rc"; }
cp w.orig m/model.safetensors
$H5CMP same ref.h5 p.h5 || fail "a refused resume changed the complete file"

# 5. a spool record with a bad payload CRC: dropped, recomputed, never assembled
partial
f=$(ls p.h5.spool/rank0-*.bin | head -1)
# flip 4 bytes in the middle of the payload of the file's largest record (headers intact)
$PY - "$f" <<'PY' || fail "cannot damage the spool record"
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read()); pos = 0; best = None
while pos + 40 <= len(b):
    n = struct.unpack_from("<Q", b, pos + 24)[0]
    if best is None or n > best[1]: best = (pos, n)
    pos += 40 + n
o = best[0] + 40 + best[1] // 2
b[o:o + 4] = bytes(x ^ 0xFF for x in b[o:o + 4])
open(sys.argv[1], "wb").write(b)
PY
"$BIN" run job.yaml --resume --quiet > log 2>&1 || { cat log; fail "resume with a bad-CRC record failed"; }
$H5CMP same ref.h5 p.h5 || fail "resume with a bad-CRC record differs"

# 6. ranks that read different examples (node-local copies that differ) or weights:
#    an error on every rank, no hang
write_tsv other.tsv 25
cp -r m m2; (cd m2 && cp ../w.orig model.safetensors)
timeout 120 $MPIRUN -np 1 "$BIN" run job.yaml --set out=d.h5 : -np 1 "$BIN" run job.yaml --set out=d.h5 \
    --set corpus.path="$WORK/other.tsv" > log 2>&1; rc=$?
[ $rc -ne 124 ] || fail "ranks with different corpora hang"
[ $rc -ne 0 ] && grep -q "did not read the same inputs" log && grep -q "rank 1: other examples" log ||
    { cat log; fail "ranks with different corpora: exit $rc"; }
[ ! -e d.h5 ] && [ ! -e d.h5.spool ] || fail "ranks with different inputs left files"
flip_weight classifier.weight; mv m/model.safetensors m2/model.safetensors; cp w.orig m/model.safetensors
sed -i "s#model: .*#model: $WORK/m2#" job.yaml
timeout 120 $MPIRUN -np 1 "$BIN" run job.yaml --set out=d.h5 : -np 1 "$BIN" run job.yaml --set out=d.h5 \
    --set model="$WORK/m" > log 2>&1; rc=$?
[ $rc -ne 124 ] && [ $rc -ne 0 ] && grep -q "rank 1: other weights" log || { cat log; fail "different weights: exit $rc"; }
sed -i "s#model: .*#model: $WORK/m#" job.yaml

# 7. a pipe as the corpus under 2 ranks: refused before reading (exit 2), no hang
mkfifo fifo
timeout 60 $MPIRUN -np 2 "$BIN" run job.yaml --set out=f.h5 --set corpus.path="$WORK/fifo" > log 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "not a regular file" log || { cat log; fail "FIFO corpus under 2 ranks: exit $rc"; }
echo "PASS"
