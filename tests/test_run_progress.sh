#!/usr/bin/env bash
# The progress line (issue 19): rate and ETA come from the finished units weighted by their
# estimated cost, so they are meaningful from the first units, while no example is complete
# yet (longest-first order finishes examples late). --progress-every makes rank 0 print a
# line after (nearly) every unit.
source "$(dirname "$0")/tools/run_lib.sh"
require_model
write_tsv corpus.tsv 12
write_config job.yaml out.h5 "methods: [ig, saliency]" "ig: {steps: 16}" "chunk: 4"
"$BIN" run job.yaml --progress-every 0.001 > log 2>&1 || { cat log; fail "run failed"; }
grep '^attrun: units ' log > lines || fail "no progress line: $(cat log)"
[ "$(wc -l < lines)" -ge 3 ] || fail "fewer than 3 progress lines: $(cat lines)"
# a line printed while no example was finished yet shows a rate > 0 and a finite ETA
early=$(grep -m1 -E 'examples 0/12 ' lines) || fail "no line before the first example finished: $(cat lines)"
rate=$(echo "$early" | sed -E 's/.* ([0-9.]+) examples\/s.*/\1/')
awk -v r="$rate" 'BEGIN { exit !(r > 0) }' || fail "rate 0 before the first example finished: $early"
echo "$early" | grep -qE 'ETA [0-9]+:[0-9]{2}' || fail "no ETA before the first example finished: $early"
echo "$early" | grep -qE 'work [0-9.]+%' || fail "no share of the work done: $early"
# the last line: all work done
tail -1 lines | grep -qE 'units ([0-9]+)/\1  work 100.0%  examples 12/12 .* ETA 0:00' ||
    fail "last line: $(tail -1 lines)"
# a bad interval is a usage error
"$BIN" run job.yaml --progress-every 0 > log 2>&1; [ $? -eq 2 ] || fail "--progress-every 0 accepted"
"$BIN" run job.yaml --progress-every x > log 2>&1; [ $? -eq 2 ] || fail "--progress-every x accepted"
echo "PASS"
