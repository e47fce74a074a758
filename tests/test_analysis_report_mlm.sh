#!/usr/bin/env bash
# scripts/analysis on a synthetic masked-LM result (tests/tools/check_report_mlm.py): a fixed
# target that is not the prediction, /examples/correct as the cohort source, candidates and
# top-5 ids decoded from the model's vocabulary, categories, sinks, massive activations, the
# rollout from the mask, an undocumented dataset loaded by its shape, external cohort files and
# columns, bad cohort options refused with exit 2.
# Skips (77) when /usr/bin/python3 lacks a module.
set -euo pipefail
SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
for mod in numpy pandas h5py matplotlib scipy; do
    $PY -c "import $mod" 2>/dev/null || { echo "SKIPPED: $PY cannot import $mod (Debian: python3-$mod)"; exit 77; }
done
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
$PY "$SRC/tests/tools/check_report_mlm.py" "$SRC" "$WORK" 2>&1 | tee "$WORK/log"
if grep -q Traceback "$WORK/log"; then echo "FAIL: a Python traceback"; exit 1; fi
echo "PASS"
