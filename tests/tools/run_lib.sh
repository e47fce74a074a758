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

# ---- kill -9 of a rank mid-run, then --resume (test_run_resume.sh and the tests that repeat
# its pattern on other models and methods) ----

# wait_records OUT RANK MIN_BYTES [TRIES]: until that rank's spool file holds more than MIN_BYTES
# (what "some records" is depends on the job's unit size), polling every 0.05 s up to TRIES
# times (600); prints the rank's pid (the spool is OUT.spool/rank<R>-<pid>.bin). Returns 1 when
# no such file grows that far.
wait_records() {
    local out=$1 rank=$2 min=$3 tries=${4:-600} f i
    for ((i = 0; i < tries; i++)); do
        f=$(ls "$out".spool/rank"$rank"-*.bin 2>/dev/null | head -1)
        if [ -n "$f" ] && [ "$(stat -c %s "$f")" -gt "$min" ]; then
            f=${f##*-}; echo "${f%.bin}"; return 0
        fi
        sleep 0.05
    done
    return 1
}

# expect_killed PID OUT [WHY]: the background job PID, one of whose ranks the caller killed,
# failed and left OUT marked incomplete. WHY is added to the message when the job survived
# (usually: it finished before the kill landed).
expect_killed() {
    wait "$1" && fail "the job survived kill -9 of a rank${3:+ ($3)}"
    [ "$(complete_flag "$2")" = 0 ] || fail "killed job: complete is not 0"
}

# kill_rank_mid_run OUT MIN_BYTES TRIES COMMAND...: runs COMMAND (an mpirun of two or more
# ranks writing OUT; output to ./log) in the background, kill -9 of rank 1 once its spool holds
# more than MIN_BYTES, then expect_killed.
kill_rank_mid_run() {
    local out=$1 min=$2 tries=$3 mp pid
    shift 3
    "$@" > log 2>&1 &
    mp=$!
    pid=$(wait_records "$out" 1 "$min" "$tries") || fail "rank 1 wrote no spool records"
    kill -9 "$pid"
    expect_killed "$mp" "$out" "or it finished before the kill: make the job longer"
}

# cut_last_record OUT RANK: the last record of that rank's spool cut short, as if the rank was
# killed while writing it (resume must drop the torn record and redo its unit).
cut_last_record() {
    local f
    f=$(ls "$1".spool/rank"$2"-*.bin 2>/dev/null | head -1)
    [ -n "$f" ] || fail "no spool of rank $2 to cut short"
    truncate -s -100 "$f"
}

# resume_same YAML OUT REF NP: --resume of job YAML into OUT on NP ranks; it must say that it
# resumes, produce a file bitwise equal to REF (the uninterrupted run) and leave no spools.
resume_same() {
    local yaml=$1 out=$2 ref=$3 np=$4
    $MPIRUN -np "$np" "$BIN" run "$yaml" --set out="$out" --resume > log 2>&1 ||
        fail "resume after kill -9: $(cat log)"
    grep -q "resuming" log || fail "resume did not report resuming: $(cat log)"
    $H5CMP same "$ref" "$out" || fail "kill -9 + resume differs from the uninterrupted run"
    [ ! -e "$out.spool" ] || fail "spools left after resume completed"
}
