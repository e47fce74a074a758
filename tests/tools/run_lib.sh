# Shared set-up of tests/test_run_*.sh (sourced): paths, a small corpus, helpers.
# Env (from CTest): ATTRUN_BIN, ATTRUN_SRC, ATTRUN_SHARED.
set -u
BIN=${ATTRUN_BIN:?ATTRUN_BIN is not set}
SRC=${ATTRUN_SRC:?ATTRUN_SRC is not set}
SHARED=${ATTRUN_SHARED:-$SRC/../shared}
MODEL=$SHARED/reference/models/tiny-bert
PY=/usr/bin/python3
H5CMP="$PY $SRC/tests/tools/h5compare.py"
MPIRUN="mpirun --oversubscribe"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
WORK=$(mktemp -d /tmp/attrun_test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() { echo "FAIL: $*"; exit 1; }

require_model() {
    if [ ! -f "$MODEL/model.safetensors" ]; then
        echo "SKIPPED: $MODEL is absent (reference models not available here)"
        exit 77
    fi
    if ! $PY -c "import h5py, numpy" 2>/dev/null; then
        echo "SKIPPED: $PY has no h5py/numpy"
        exit 77
    fi
}

# A small SST-2-like TSV: n rows of varied length (default 24).
write_tsv() {
    local n=${2:-24} i
    local words=(the movie is a charming and often affecting journey unflinchingly bleak desperate
                 funny but not quite as clever as it thinks it is with great performances dull plot)
    printf 'sentence\tlabel\n' > "$1"
    for ((i = 0; i < n; i++)); do
        local len=$(( 3 + (i * 7) % 17 )) s="" j
        for ((j = 0; j < len; j++)); do s+="${words[(i * 5 + j * 3) % ${#words[@]}]} "; done
        printf '%s.\t%d\n' "$s" $(( i % 2 )) >> "$1"
    done
}

# write_config FILE OUT [extra YAML lines...]
write_config() {
    # One line per top-level key: a later argument with the same key replaces an earlier one
    # (the config reader refuses duplicate keys), e.g. a test's own `corpus:` the default's.
    local f=$1 out=$2 l k
    shift 2
    local -a keys=() lines=()
    for l in "model: $MODEL" "corpus: {path: $WORK/corpus.tsv}" "out: $out" "$@"; do
        k=${l%%:*}
        local i found=0
        for i in "${!keys[@]}"; do
            if [[ ${keys[$i]} == "$k" ]]; then lines[$i]=$l; found=1; break; fi
        done
        ((found)) || { keys+=("$k"); lines+=("$l"); }
    done
    printf '%s\n' "${lines[@]}" > "$f"
}

complete_flag() { $PY -c "import h5py,sys; print(int(h5py.File(sys.argv[1],'r').attrs.get('complete', -1)))" "$1"; }
