#!/usr/bin/env bash
# The progress line (issue 19): rate and ETA come from the finished units weighted by their
# estimated cost, so they are meaningful from the first units, while no example is complete
# yet (longest-first order finishes examples late). --progress-every makes rank 0 print a
# line after (nearly) every unit. With continuations the lines count continuation tokens, not
# examples.
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
# continuations (corpus.continuation_field): each example is one continuation token (one row of the
# file), and every line that counts them says so
GPT2=$SHARED/reference/models/tiny-gpt2
if [ -f "$GPT2/model.safetensors" ]; then
    printf '%s\n' '{"text": "the movie is", "cont": " a charming and often affecting journey"}' \
        '{"text": "unflinchingly bleak", "cont": " and desperate"}' > cont.jsonl
    printf 'model: %s\ncorpus: {path: cont.jsonl, continuation_field: cont}\nmethods: [ig]\nig: {steps: 8}\nbaseline: token\nbaseline_token: eos\nout: cont.h5\n' \
        "$GPT2" > cont.yaml
    "$BIN" run cont.yaml --progress-every 0.001 > log 2>&1 || { cat log; fail "continuation run failed"; }
    R=$($PY -c "import h5py; print(len(h5py.File('cont.h5', 'r')['continuation/example']))")
    grep '^attrun: units ' log > lines || fail "no progress line with continuations: $(cat log)"
    grep -q 'examples' lines && fail "continuation progress lines count 'examples': $(cat lines)"
    grep -qE "  continuation tokens [0-9]+/$R  [0-9.]+ continuation tokens/s  ETA" lines ||
        fail "progress lines do not count the $R continuation tokens: $(cat lines)"
    tail -1 lines | grep -qE "work 100.0%  continuation tokens $R/$R " || fail "last line: $(tail -1 lines)"
    grep -qE "^attrun: 1 rank, $R continuation tokens \(rows\) of 2 prompt/continuation pairs \([0-9]+ prefix tokens" log ||
        fail "set-up line: $(grep '^attrun: 1 rank' log)"
    grep -qE "^attrun: done in .*: $R continuation tokens, [0-9.]+ continuation tokens/s;" log ||
        fail "summary line: $(grep '^attrun: done' log)"
else
    echo "note: $GPT2 absent, continuation wording not checked"
fi
# a bad interval is a usage error
"$BIN" run job.yaml --progress-every 0 > log 2>&1; [ $? -eq 2 ] || fail "--progress-every 0 accepted"
"$BIN" run job.yaml --progress-every x > log 2>&1; [ $? -eq 2 ] || fail "--progress-every x accepted"
echo "PASS"
