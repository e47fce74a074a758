#!/usr/bin/env bash
# `cmake --install` as a user runs it (issue: install and run like a tool):
#   1. installs the build into a private prefix P; P/bin/attrun, the analysis and Slurm scripts
#      and the quick-start material (configs, bundled model, corpus) and docs must be there;
#   2. runs the quick-start job (made small: 24 sentences, 8 IG steps) with the INSTALLED binary,
#      found on PATH, from a directory outside the source tree, and checks the result is complete
#      and the installed summarize.py reads it;
#   3. the installed binary's result equals the build tree binary's, bit for bit (same job).
set -uo pipefail
SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${ATTRUN_BIN:-$SRC/build/attrun}
PY=/usr/bin/python3
BUILD_DIR=$(dirname "$BIN")
fail() { echo "FAIL: $*"; exit 1; }
[[ -f $BUILD_DIR/cmake_install.cmake ]] || fail "$BUILD_DIR is not a CMake build directory"
T=$(mktemp -d /tmp/attrun-install.XXXXXX) || fail "mktemp"
trap 'rm -rf "$T"' EXIT
P=$T/prefix

cmake --install "$BUILD_DIR" --prefix "$P" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "cmake --install"; }
for f in bin/attrun share/attrun/analysis/report.py share/attrun/analysis/attrun_load.py \
         share/attrun/analysis/summarize.py share/attrun/slurm/attrun.sbatch \
         share/attrun/configs/quickstart.yaml share/attrun/models/sst2-tiny/model.safetensors \
         share/attrun/data/sst2-dev.tsv share/doc/attrun/README.md share/doc/attrun/hdf5-schema.md; do
    [[ -e $P/$f ]] || fail "not installed: $f"
done
[[ -x $P/bin/attrun ]] || fail "bin/attrun is not executable"
echo "ok: installed into $P"

mkdir -p "$T/elsewhere" && cd "$T/elsewhere" || fail "cd"
export PATH=$P/bin:$PATH
[[ $(command -v attrun) == "$P/bin/attrun" ]] || fail "attrun on PATH is $(command -v attrun)"
S=$P/share/attrun
args=(--set "model=$S/models/sst2-tiny" --set "corpus.path=$S/data/sst2-dev.tsv" --set corpus.limit=24
      --set ig.steps=8 --set threads=1)
attrun run "$S/configs/quickstart.yaml" "${args[@]}" --set out=installed.h5 --quiet >run.log 2>&1 ||
    { cat run.log; fail "installed attrun run failed"; }
"$BIN" run "$S/configs/quickstart.yaml" "${args[@]}" --set out=built.h5 --quiet >run2.log 2>&1 ||
    { cat run2.log; fail "build-tree attrun run failed"; }
echo "ok: quick-start job with the installed binary from $(pwd)"
$PY "$S/analysis/summarize.py" installed.h5 >summary.txt 2>&1 || { cat summary.txt; fail "installed summarize.py"; }
grep -q "accuracy" summary.txt || { cat summary.txt; fail "summary has no accuracy line"; }
echo "ok: installed summarize.py"
# the installed loader reads the installed schema document (share/doc/attrun/hdf5-schema.md)
$PY - "$S/analysis" "$P" installed.h5 <<'PYEOF' || fail "installed attrun_load"
import os, sys
sys.path.insert(0, sys.argv[1])
from attrun_load import AttrunResult
r = AttrunResult(sys.argv[3], require_complete=True)
assert r.schema.source == os.path.realpath(os.path.join(sys.argv[2], "share/doc/attrun/hdf5-schema.md")), r.schema.source
ds = r.datasets()
assert ds["documented"].all(), ds[~ds["documented"]]
print(f"ok: installed attrun_load, {len(ds)} datasets with named dims")
PYEOF
$PY - installed.h5 built.h5 <<'PYEOF' || fail "installed and build-tree results differ"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert int(a.attrs["complete"]) == 1, "installed result not complete"
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert names, "no datasets"
for n in names:
    x, y = a[n][()], b[n][()]
    if isinstance(x, np.ndarray) and x.dtype.kind != "O":
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), n
    else:
        assert np.array_equal(np.asarray(x), np.asarray(y)), n
print(f"ok: {len(names)} datasets equal")
PYEOF
echo "install: all checks passed"
