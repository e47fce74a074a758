#!/usr/bin/env bash
# attrun run: --help, --version, usage and config errors (exit 2, key and line named),
# refusing an existing output, a missing output directory. Needs no model: all of
# these are decided before the model is loaded.
source "$(dirname "$0")/tools/run_lib.sh"

out=$("$BIN" run --help) || fail "run --help exited $?"
echo "$out" | grep -q -- "--resume" || fail "run --help does not document --resume"
echo "$out" | grep -q "exit status" || fail "run --help does not document the exit status"
"$BIN" --version | grep -q "^attrun " || fail "--version"

"$BIN" run > log 2>&1; rc=$?
[ $rc -eq 2 ] || fail "run without a config: exit $rc, expected 2"
grep -q "missing CONFIG" log || fail "no message for a missing config: $(cat log)"

"$BIN" run job.yaml --bogus > log 2>&1; [ $? -eq 2 ] || fail "unknown option accepted"

printf 'model: m\ncorpus: c.tsv\nout: o.h5\nig:\n  stepz: 3\n' > bad.yaml
"$BIN" run bad.yaml > log 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown key: exit $rc, expected 2"
grep -q "bad.yaml:5: ig.stepz" log || fail "unknown key message lacks file:line: key: $(cat log)"

printf 'model: m\ncorpus: c.tsv\nout: o.h5\n' > ok.yaml
"$BIN" run ok.yaml --set gradshap.stdevs=-1 > log 2>&1; rc=$?
[ $rc -eq 2 ] || fail "--set bad value: exit $rc"
grep -q "gradshap.stdevs" log || fail "--set message lacks the key: $(cat log)"

# an existing output is refused, untouched
echo "precious" > o.h5
"$BIN" run ok.yaml > log 2>&1; rc=$?
[ $rc -eq 2 ] || fail "existing output: exit $rc, expected 2"
grep -q "already exists" log || fail "no message for an existing output: $(cat log)"
[ "$(cat o.h5)" = "precious" ] || fail "existing output was modified"
[ ! -e o.h5.spool ] || fail "a refused run created spools"

# the output directory must exist
"$BIN" run ok.yaml --set out=nodir/x.h5 > log 2>&1; rc=$?
[ $rc -eq 2 ] || fail "missing output dir: exit $rc"
grep -q "nodir does not exist" log || fail "missing-dir message: $(cat log)"
mkdir ro && chmod 555 ro
if [ "$(id -u)" != 0 ]; then  # root may write anywhere
    "$BIN" run ok.yaml --set out=ro/x.h5 > log 2>&1; rc=$?
    [ $rc -eq 2 ] || fail "read-only output dir: exit $rc"
    grep -q "not writable" log || fail "read-only dir message: $(cat log)"
fi
"$BIN" run ok.yaml --resume --overwrite > log 2>&1; [ $? -eq 2 ] || fail "--resume with --overwrite accepted"
echo "PASS"
