#!/usr/bin/env bash
# scripts/analysis/attrun_stats.py and the cohort comparison of report.py against hand-computed
# values (BH, Cohen's d, rank-biserial), scipy (Welch, Mann-Whitney, Student t), the
# Frisch-Waugh-Lovell identity (the length-controlled coefficient) and planted effects
# (a length-only difference must vanish under length control, a real one must stay).
# Skips (77) when /usr/bin/python3 lacks numpy, scipy or pandas.
set -euo pipefail
SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
for mod in numpy scipy pandas; do
    $PY -c "import $mod" 2>/dev/null || { echo "SKIPPED: $PY cannot import $mod (Debian: python3-$mod)"; exit 77; }
done
$PY "$SRC/tests/tools/check_analysis_pystats.py" "$SRC"
echo "PASS"
