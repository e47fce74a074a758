#!/usr/bin/env bash
# Failure hygiene (issue 18): a failed start (missing corpus, target out of range, max_length
# beyond the model) exits 2 and leaves no output or spool, so the corrected plain rerun
# works; every row skipped by on_error: skip exits 1 with the first reasons; a signal during
# set-up (here: blocked opening a FIFO corpus nobody writes) ends the job at once with exit 3,
# also SIGUSR1 to mpirun; a reader holding the result open (HDF5 file locking) is named
# with the way around it.
source "$(dirname "$0")/tools/run_lib.sh"
require_model
write_tsv corpus.tsv 8
write_config job.yaml r.h5 "methods: [saliency]"
nothing_left() { [ ! -e r.h5 ] && [ ! -e r.h5.spool ] || fail "$1: files left behind: $(ls -d r.h5* 2>/dev/null)"; }

# 1. failed starts: exit 2, nothing written, the corrected rerun needs no flags
"$BIN" run job.yaml --set corpus.path="$WORK/missing.tsv" > log 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "missing.tsv" log || { cat log; fail "missing corpus: exit $rc, expected 2"; }
nothing_left "missing corpus"
"$BIN" run job.yaml --set target=5 > log 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "target: 5 is out of range" log || { cat log; fail "target 5: exit $rc, expected 2"; }
nothing_left "target 5"
"$BIN" run job.yaml --set corpus.max_length=600 > log 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "max_length" log || { cat log; fail "max_length 600: exit $rc, expected 2"; }
nothing_left "max_length 600"
$MPIRUN -np 2 "$BIN" run job.yaml --set target=5 > log 2>&1; rc=$?
[ $rc -eq 2 ] || { cat log; fail "target 5 under 2 ranks: exit $rc, expected 2"; }
nothing_left "target 5, 2 ranks"
"$BIN" run job.yaml --quiet > log 2>&1 || { cat log; fail "the corrected rerun failed"; }
[ "$(complete_flag r.h5)" = 1 ] || fail "corrected rerun not complete"
rm -f r.h5

# 2. every row skipped: exit 1 and the first reasons
printf 'sentence\tlabel\n' > bad.tsv
for i in 1 2 3 4 5 6 7; do printf 'row %d\t7\n' $i >> bad.tsv; done
"$BIN" run job.yaml --set corpus.path="$WORK/bad.tsv" --set target=label --set corpus.on_error=skip > log 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "every one of the 7 corpus rows was skipped" log && grep -q "bad.tsv:2: label.*out of range" log ||
    { cat log; fail "all rows skipped: exit $rc, expected 1 with reasons"; }
[ "$(grep -c "out of range" log)" -le 5 ] || fail "all rows skipped: more than 5 reasons printed"
nothing_left "all rows skipped"

# 3. signals during set-up: exit 3 at once, nothing written
mkfifo fifo
"$BIN" run job.yaml --set corpus.path="$WORK/fifo" > log 2>&1 &
p=$!
sleep 1.5
kill -0 $p 2>/dev/null || { cat log; fail "the job did not block on the FIFO (test premise)"; }
t0=$(date +%s.%N)
kill -TERM $p
timeout 10 tail --pid=$p -f /dev/null || { kill -9 $p; fail "SIGTERM during set-up ignored"; }
wait $p; rc=$?
[ $rc -eq 3 ] && grep -q "interrupted by a signal during set-up" log || { cat log; fail "SIGTERM during set-up: exit $rc, expected 3"; }
nothing_left "SIGTERM during set-up"
$MPIRUN -np 1 "$BIN" run job.yaml --set corpus.path="$WORK/fifo" > log 2>&1 &
p=$!
sleep 2
kill -USR1 $p   # Open MPI's mpirun forwards SIGUSR1 and returns the ranks' status
timeout 20 tail --pid=$p -f /dev/null || { kill -9 $p; fail "SIGUSR1 to mpirun during set-up ignored"; }
wait $p; rc=$?
[ $rc -eq 3 ] || { cat log; fail "SIGUSR1 to mpirun during set-up: exit $rc, expected 3"; }
nothing_left "SIGUSR1 to mpirun"

# 4. a reader holding the (incomplete) result open: the resume says why it cannot write and
#    how to avoid it, before computing; --overwrite replaces the file (the reader keeps the old one)
export PMIX_MCA_gds=hash
(trap '' XFSZ; ulimit -f 24; "$BIN" run job.yaml --set methods=[ig] --quiet) > log 2>&1
[ -d r.h5.spool ] && [ -e r.h5 ] || { cat log; fail "no partial job for the reader test"; }
$PY -c "import h5py, time; f = h5py.File('r.h5', 'r'); open('reader.ready', 'w').close(); time.sleep(60)" &
rp=$!
for ((i = 0; i < 100; i++)); do [ -e reader.ready ] && break; sleep 0.1; done
"$BIN" run job.yaml --set methods=[ig] --resume > log 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "HDF5 file locking" log && grep -q "HDF5_USE_FILE_LOCKING=FALSE" log ||
    { kill $rp; cat log; fail "result held by a reader: exit $rc without naming the lock"; }
kill $rp; wait $rp 2>/dev/null
"$BIN" run job.yaml --set methods=[ig] --resume --quiet > log 2>&1 || { cat log; fail "resume after the reader closed"; }
[ "$(complete_flag r.h5)" = 1 ] || fail "not complete after the reader closed"
echo "PASS"
