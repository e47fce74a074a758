#!/usr/bin/env bash
# Interruptions: kill -9 of one rank mid-run, then --resume (other rank count) equals an
# uninterrupted run, also with a spool record cut short; SIGTERM to the ranks -> exit 3,
# complete = 0, resume; SIGTERM to mpirun, resume; --resume on a complete file.
source "$(dirname "$0")/tools/run_lib.sh"
require_model
write_tsv corpus.tsv 24
write_config job.yaml ref.h5 "methods: [ig, saliency]" "ig: {steps: 32}" "attention: {save: true}" "chunk: 1"
"$BIN" run job.yaml --quiet --set chunk=0 || fail "reference run failed"

# Sections 1-3 interrupt a longer job than job.yaml (1.3 s): that one can finish before a
# signal reaches the ranks, and the test would then see a complete file and fail by chance.
write_config job3.yaml ref3.h5 "methods: [ig, saliency]" "ig: {steps: 256}" "chunk: 16"
"$BIN" run job3.yaml --quiet || fail "reference run of the long job failed"

# 1. kill -9 of rank 1
kill_rank_mid_run k.h5 200000 600 $MPIRUN -np 2 "$BIN" run job3.yaml --set out=k.h5 --quiet
cut_last_record k.h5 0
resume_same job3.yaml k.h5 ref3.h5 3

# 2. SIGTERM to the ranks (as Slurm does): exit 3, complete = 0, spools kept
$MPIRUN -np 2 "$BIN" run job3.yaml --set out=t.h5 > log 2>&1 &
mp=$!
wait_records t.h5 0 200000 > /dev/null || fail "no spool records before SIGTERM"
for f in t.h5.spool/rank*.bin; do p=${f##*-}; kill -TERM "${p%.bin}"; done
wait $mp; rc=$?
[ $rc -eq 3 ] || { cat log; fail "SIGTERM to the ranks: exit $rc, expected 3"; }
grep -q -- "--resume" log || fail "no resume instructions after SIGTERM"
[ "$(complete_flag t.h5)" = 0 ] || fail "interrupted job: complete is not 0"
"$BIN" run job3.yaml --set out=t.h5 --quiet > log 2>&1; [ $? -eq 2 ] || fail "interrupted output not refused without --resume"
"$BIN" run job3.yaml --set out=t.h5 --set ig.steps=8 --resume > log 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "different configuration" log || fail "resume with other settings was not refused (exit $rc)"
"$BIN" run job3.yaml --set out=t.h5 --resume --quiet || fail "resume after SIGTERM"
$H5CMP same ref3.h5 t.h5 || fail "SIGTERM + resume differs"

# 3. SIGTERM to mpirun
$MPIRUN -np 2 "$BIN" run job3.yaml --set out=m.h5 > log 2>&1 &
mp=$!
wait_records m.h5 1 200000 > /dev/null || fail "no spool records before SIGTERM to mpirun"
kill -TERM $mp
wait $mp && fail "job not interrupted by SIGTERM to mpirun"
cf=$(complete_flag m.h5 2>&1); [ "$cf" = 0 ] || { cat log; fail "mpirun SIGTERM: complete is $cf, expected 0"; }
$MPIRUN -np 2 "$BIN" run job3.yaml --set out=m.h5 --resume --quiet || fail "resume after SIGTERM to mpirun"
$H5CMP same ref3.h5 m.h5 || fail "SIGTERM to mpirun + resume differs"

# 4. --resume of a complete file does nothing; --overwrite replaces it
before=$(stat -c %Y ref.h5)
"$BIN" run job.yaml --set chunk=0 --resume > log 2>&1 || fail "--resume on a complete file failed"
grep -q "already complete" log || fail "no message for resume on a complete file"
[ "$(stat -c %Y ref.h5)" = "$before" ] || fail "--resume rewrote a complete file"
"$BIN" run job.yaml --set ig.steps=8 --set chunk=0 --overwrite --quiet || fail "--overwrite"
$PY -c "import h5py; assert 'steps: 8' in h5py.File('ref.h5','r').attrs['config']" || fail "--overwrite did not rewrite"
echo "PASS"
