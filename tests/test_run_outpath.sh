#!/usr/bin/env bash
# Output-path safety (issue 18): out naming one of the job's inputs (the corpus, the config
# file, the weights, another spelling of them) or a file attrun did not write is refused
# with --resume, --overwrite and without (exit 2, the file intact); a spool directory with
# foreign files is not emptied; a path of 1200 characters works and never deletes its
# parent directory; a path over PATH_MAX is refused before anything is written; a
# 300-character path under 2 ranks does not crash in Open MPI's sharedfp/lockedfile; a
# second job on the same out is refused while the first runs, and the lock of a killed job
# does not block; a job that finds its out written by another while it was loading refuses.
source "$(dirname "$0")/tools/run_lib.sh"
require_model
cp -rL "$MODEL" m
write_tsv corpus.tsv 12
cp corpus.tsv corpus.orig
cp m/model.safetensors w.orig
{ echo "model: $WORK/m"; echo "corpus: {path: $WORK/corpus.tsv}"; echo "out: r.h5"
  echo "methods: [saliency]"; } > job.yaml
cp job.yaml job.orig

# 1. out is an input: every spelling, every mode; the input stays intact
ln -s corpus.tsv link.tsv
for out in corpus.tsv ./corpus.tsv "$WORK/corpus.tsv" link.tsv job.yaml m/model.safetensors m/vocab.txt m/config.json; do
    for mode in "" --resume --overwrite; do
        "$BIN" run job.yaml --set out="$out" $mode > log 2>&1; rc=$?
        [ $rc -eq 2 ] || { cat log; fail "out=$out $mode: exit $rc, expected 2"; }
        grep -Eq "is (the corpus|the job's config file|a file of the model directory)|not an attrun result" log ||
            { cat log; fail "out=$out $mode: message does not say why"; }
        cmp -s corpus.tsv corpus.orig && cmp -s m/model.safetensors w.orig && cmp -s job.yaml job.orig ||
            fail "out=$out $mode: an input was changed"
        [ ! -e "$out.spool" ] || fail "out=$out $mode: spools created"
    done
done
ln corpus.tsv hard.tsv   # a hard link: same inode, other name
"$BIN" run job.yaml --set out=hard.tsv --overwrite > log 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "is the corpus" log || { cat log; fail "hard link to the corpus: exit $rc"; }

# 2. an existing file attrun did not write: refused with every mode, untouched
printf 'a\tb\n1\t2\n' > table.tsv; cp table.tsv table.orig
for mode in "" --resume --overwrite; do
    "$BIN" run job.yaml --set out=table.tsv $mode > log 2>&1; rc=$?
    [ $rc -eq 2 ] && grep -q "not an attrun result" log || { cat log; fail "foreign out $mode: exit $rc"; }
    cmp -s table.tsv table.orig || fail "foreign out $mode: file changed"
done
# an attrun result is replaced, but its spool directory is not emptied of foreign files
"$BIN" run job.yaml --quiet || fail "plain run failed"
mkdir r.h5.spool; echo keep > r.h5.spool/notes.txt
"$BIN" run job.yaml --overwrite > log 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "notes.txt" log || { cat log; fail "foreign file in the spool dir: exit $rc"; }
[ "$(cat r.h5.spool/notes.txt)" = keep ] || fail "a foreign file in the spool dir was deleted"
[ "$(complete_flag r.h5)" = 1 ] || fail "the refused --overwrite damaged the old result"
rm -r r.h5.spool

# 3. a 1200-character path: works, and --overwrite/--resume never touch the parent directory
seg=$(printf 'd%.0s' {1..199})
long=$WORK/$seg/$seg/$seg/$seg/$seg/${seg:0:120}
mkdir -p "$long"
echo canary > "$long/../canary"
out=$long/result-with-a-long-name.h5
[ ${#out} -ge 1100 ] || fail "test path too short (${#out})"
"$BIN" run job.yaml --set out="$out" --quiet > log 2>&1 || { cat log; fail "1200-char path failed"; }
"$BIN" run job.yaml --set out="$out" --overwrite --quiet > log 2>&1 || { cat log; fail "1200-char --overwrite failed"; }
[ "$(cat "$long/../canary")" = canary ] && [ -d "$long" ] || fail "the parent directory of a long out was damaged"
[ "$(complete_flag "$out")" = 1 ] || fail "1200-char path: result not complete"
# 4. over PATH_MAX: refused at once (exit 2), nothing written
huge=$long/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg/$seg/x.h5
"$BIN" run job.yaml --set out="$huge" > log 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "use a shorter path" log || { cat log; fail "path over PATH_MAX: exit $rc"; }

# 5. a ~300-character path under 2 ranks (Open MPI 4.1 sharedfp/lockedfile overflowed here)
mid=$WORK/$seg/${seg:0:90}
mkdir -p "$mid"
out=$mid/r.h5
[ ${#out} -ge 290 ] || fail "test path too short (${#out})"
timeout 300 $MPIRUN -np 2 "$BIN" run job.yaml --set out="$out" --quiet > log 2>&1; rc=$?
[ $rc -eq 0 ] || { tail -20 log; fail "${#out}-char path under 2 ranks: exit $rc"; }
[ "$(complete_flag "$out")" = 1 ] || fail "${#out}-char path: not complete"

# 6. two jobs on one out: the second is refused while the first runs; a killed job's lock
#    does not block
write_tsv corpus.tsv 24
{ echo "model: $WORK/m"; echo "corpus: {path: $WORK/corpus.tsv}"; echo "out: L.h5"
  echo "methods: [ig]"; echo "ig: {steps: 512}"; echo "chunk: 8"; } > long.yaml
"$BIN" run long.yaml --quiet > log1 2>&1 &
p1=$!
for ((i = 0; i < 400; i++)); do [ -s L.h5.spool/lock ] && break; sleep 0.05; done
[ -s L.h5.spool/lock ] || { kill -9 $p1; cat log1; fail "the first job took no lock"; }
"$BIN" run long.yaml --resume > log 2>&1; rc=$?
kill -0 $p1 2>/dev/null || fail "the first job ended before the second was tried (make it longer)"
[ $rc -eq 2 ] && grep -q "another attrun job" log && grep -q "pid $p1 on" log ||
    { kill -9 $p1; cat log; fail "second job on the same out: exit $rc"; }
kill -9 $p1; wait $p1 2>/dev/null
[ -e L.h5.spool/lock ] || fail "the killed job's lock file is gone (test premise)"
"$BIN" run long.yaml --resume --set ig.steps=512 --quiet > log 2>&1 || { cat log; fail "resume after a killed job's lock"; }
[ "$(complete_flag L.h5)" = 1 ] || fail "resume after the stale lock: not complete"
# 7. a job that finds its output written by another job when it has finished loading
#    (it was blocked reading a FIFO corpus meanwhile) refuses instead of truncating it
mkfifo fifo
"$BIN" run job.yaml --set out=race.h5 --set corpus.path="$WORK/fifo" --quiet > logB 2>&1 &
pB=$!
sleep 1
"$BIN" run job.yaml --set out=race.h5 --quiet || fail "the first job on race.h5 failed"
before=$(md5sum < race.h5)
cat corpus.tsv > fifo
wait $pB; rc=$?
[ $rc -eq 2 ] && grep -q "appeared while this job was loading" logB || { cat logB; fail "late job on a written out: exit $rc"; }
[ "$(md5sum < race.h5)" = "$before" ] && [ "$(complete_flag race.h5)" = 1 ] || fail "the late job changed the first job's result"
echo "PASS"
