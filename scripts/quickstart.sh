#!/usr/bin/env bash
# README command 1: on a fresh Debian 12 machine, install what is missing, build, and run the
# quick-start job (IG with 50 steps + Saliency, attention saved) on the bundled SST-2 model and
# the 872 SST-2 dev sentences with 2 MPI ranks; then print a short summary of the result.
#   scripts/quickstart.sh [extra `attrun run` options, e.g. --set corpus.limit=100]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
NP=${NP:-2}
OUT=results/quickstart.h5
mkdir -p results
echo "quickstart: mpirun -np $NP build/attrun run configs/quickstart.yaml --overwrite $*"
mpirun --oversubscribe -np "$NP" build/attrun run configs/quickstart.yaml --overwrite "$@"
echo
echo "quickstart: wrote $OUT ($(du -h "$OUT" | cut -f1))"
/usr/bin/python3 scripts/summarize.py "$OUT"
