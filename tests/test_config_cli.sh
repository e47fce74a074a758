#!/bin/bash
# `attrun config` and the configuration warnings, through the real CLI (no model needed):
# status 0 / 2, the resolved YAML, --set forms, and the warning for `threads` above the CPUs
# this process may run on (its affinity mask; taskset narrows it to one CPU here).
# Env: ATTRUN_BIN, ATTRUN_SRC (set by CTest).
set -u
SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${ATTRUN_BIN:-$SRC/build/attrun}
[ -x "$BIN" ] || { echo "FAIL: attrun binary $BIN not found"; exit 1; }
T=$(mktemp -d /tmp/attrun-cfgcli.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
printf 'model: m\ncorpus: c.tsv\nout: o.h5\n' >job.yaml

# valid: status 0, the resolved configuration on stdout, nothing written
"$BIN" config job.yaml --set ig.steps=7 --set 'methods=[ig, saliency]' >out.yaml 2>err.txt
rc=$?
[ $rc -eq 0 ] || fail "valid config: status $rc ($(cat err.txt))"
grep -qx '  steps: 7' out.yaml || fail "resolved config lacks 'steps: 7'"
grep -qx 'methods: \[ig, saliency\]' out.yaml || fail "resolved config lacks the methods"
[ -e o.h5 ] && fail "attrun config wrote o.h5"
# invalid: status 2 and the message names the key
"$BIN" config job.yaml --set ig.steps=0 >out.yaml 2>err.txt
rc=$?
[ $rc -eq 2 ] || fail "invalid config: status $rc, not 2"
grep -qF -- '--set: ig.steps: must be in [1, 100000] (got 0)' err.txt || fail "message: $(cat err.txt)"
"$BIN" config job.yaml other.yaml >/dev/null 2>err.txt
[ $? -eq 2 ] && grep -qF 'more than one config file' err.txt || fail "two config files: $(cat err.txt)"
"$BIN" config --keys-markdown | grep -q '^| `ig.steps` | `50` | 1 to 100000' || fail "--keys-markdown"

# threads above the CPUs of the affinity mask: warned about (the job still runs)
if command -v taskset >/dev/null; then
    taskset -c 0 "$BIN" config job.yaml --set threads=2 >/dev/null 2>err.txt
    rc=$?
    [ $rc -eq 0 ] || fail "threads: 2 on one CPU: status $rc"
    grep -qF 'warning: job.yaml: threads: 2 OpenBLAS threads per rank, but this process may run on only 1 CPU' \
        err.txt || fail "no warning for threads: 2 on one CPU: '$(cat err.txt)'"
    taskset -c 0 "$BIN" config job.yaml --set threads=1 >/dev/null 2>err.txt
    [ -s err.txt ] && fail "a warning for threads: 1 on one CPU: $(cat err.txt)"
else
    echo "note: taskset absent (util-linux); checking against all CPUs"
fi
ncpu=$(nproc)
"$BIN" config job.yaml --set threads=$((ncpu + 1)) >/dev/null 2>err.txt
grep -qF "threads: $((ncpu + 1)) OpenBLAS threads per rank" err.txt || fail "no warning for threads: $((ncpu + 1))"
"$BIN" config job.yaml --set threads="$ncpu" >/dev/null 2>err.txt
[ -s err.txt ] && fail "a warning for threads: $ncpu on $ncpu CPUs: $(cat err.txt)"

[ $fails -eq 0 ] && echo "attrun config: all checks passed"
[ $fails -eq 0 ]
