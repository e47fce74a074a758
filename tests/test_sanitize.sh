#!/bin/bash
# Sanitizers and memcheck over attrun's own code:
#  1. a second build with -DATTRUN_SANITIZE=ON (ASan + UBSan, UB fatal) of attrun and the
#     CUnit unit tests (tests/test_*.c), which then run with leak detection on (Open MPI /
#     HDF5 / OpenBLAS process-lifetime allocations suppressed);
#  2. that attrun on a small job: one process with leak detection on, and `mpirun -np 2`
#     with detect_leaks=0 (Open MPI leaks by design at exit in every rank);
#  3. valgrind memcheck of the normal attrun ($ATTRUN_BIN) on one process, errors and
#     definite/indirect leaks fatal, with tests/valgrind.supp for the libraries' internals.
# The shell tests are not re-run here (they would re-run this test). Skips (77) without
# ../shared or without a working -fsanitize=address; step 3 skips itself without valgrind.
# Env: ATTRUN_SRC, ATTRUN_BIN, ATTRUN_SHARED (CTest); ATTRUN_SANITIZE_BUILD (build dir,
# default: "sanitize" next to ATTRUN_BIN, kept so that reruns build incrementally).
set -u
SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${ATTRUN_BIN:-$SRC/build/attrun}
SHARED=${ATTRUN_SHARED:-$SRC/../shared}
MODEL=$SHARED/reference/models/tiny-bert
B=${ATTRUN_SANITIZE_BUILD:-$(dirname "$BIN")/sanitize}
[ -d "$MODEL" ] || { echo "SKIPPED: $MODEL absent (set ATTRUN_SHARED)"; exit 77; }
CC=${CC:-cc}
T=$(mktemp -d /tmp/attrun-san.XXXXXX)
trap 'rm -rf "$T"' EXIT
echo 'int main(void){return 0;}' >"$T/t.c"
"$CC" -fsanitize=address,undefined "$T/t.c" -o "$T/t" 2>/dev/null && "$T/t" ||
    { echo "SKIPPED: $CC cannot build with -fsanitize=address,undefined"; exit 77; }

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# LeakSanitizer: the libraries' own process-lifetime allocations. fast_unwind_on_malloc=0:
# those libraries have no frame pointers, and only a full unwind reaches their frames.
cat >"$T/lsan.supp" <<'SUPP'
leak:libmpi.so
leak:libopen-pal.so
leak:libopen-rte.so
leak:libpmix.so
leak:libhwloc.so
leak:libevent
leak:libhdf5
leak:libopenblas
leak:/openmpi/lib/
SUPP
ASAN_LEAKS="detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=0:detect_stack_use_after_return=0"
export LSAN_OPTIONS="suppressions=$T/lsan.supp:print_suppressions=0"
# Open MPI unloads its MCA components (dlclose) in MPI_Finalize; their process-lifetime allocations
# then have no module name at leak-report time and escape the suppressions above. Keep them loaded.
export OMPI_MCA_mca_base_component_disable_dlclose=1
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# --- 1. sanitizer build and unit tests ---
UNIT=$(cd "$SRC/tests" && ls test_*.c | sed 's/\.c$//')
echo "== build ($B): attrun $(echo $UNIT)"
t0=$(date +%s)
if ! cmake -S "$SRC" -B "$B" -DATTRUN_SANITIZE=ON >"$T/cmake.log" 2>&1; then
    tail -20 "$T/cmake.log"
    echo "FAIL: cmake of the sanitizer build"
    exit 1
fi
if ! make -C "$B" -j2 attrun $UNIT >"$T/make.log" 2>&1; then
    grep -E 'error|Error' "$T/make.log" | head -20
    echo "FAIL: sanitizer build"
    exit 1
fi
echo "   built in $(($(date +%s) - t0)) s"

echo "== unit tests under ASan + UBSan (leak detection on)"
re="^($(echo $UNIT | tr ' ' '|'))\$"
t0=$(date +%s)
ASAN_OPTIONS=$ASAN_LEAKS ctest --test-dir "$B" -R "$re" -j2 --timeout 400 --output-on-failure >"$T/ctest.log" 2>&1
rc=$?
grep -E 'Test +#|tests passed|Skipped' "$T/ctest.log"
if [ $rc -ne 0 ]; then
    grep -E -A25 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T/ctest.log" | head -80
    fail "unit tests under sanitizers (ctest status $rc)"
fi
echo "   unit tests in $(($(date +%s) - t0)) s"

# --- 2. attrun itself: one process with leak checks, two MPI ranks ---
cd "$T" || exit 1
printf 'sentence\tlabel\nit is a charming and often affecting journey .\t1\nunflinchingly bleak and desperate\t0\nthe acting , costumes and music are astounding .\t1\n' >c.tsv
job() { # job FILE OUT: IG + GradientSHAP + Saliency + DeepLIFT on tiny-bert, 3 sentences
    printf 'model: %s\ncorpus: {path: c.tsv}\nmethods: [ig, gradshap, saliency, deeplift]\nig: {steps: 8}\ngradshap: {samples: 4, stdevs: 0.1}\nattention: {save: true}\nout: %s\n' "$MODEL" "$2" >"$1"
}
complete_of() { h5dump -a /complete "$1" 2>/dev/null | sed -n 's/.*(0): *\([0-9-]*\).*/\1/p' | head -1; }
check_run() { # check_run NAME STATUS LOG OUT
    if [ "$2" -ne 0 ] || grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$3"; then
        grep -E -A30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$3" | head -60
        tail -5 "$3"
        fail "$1 (status $2)"
    elif command -v h5dump >/dev/null && [ "$(complete_of "$4")" != 1 ]; then
        fail "$1: $4 not complete"
    else
        echo "   ok"
    fi
}
echo "== attrun run, 1 process, ASan + UBSan + LeakSanitizer"
job one.yaml one.h5
ASAN_OPTIONS=$ASAN_LEAKS timeout 300 "$B/attrun" run one.yaml >one.log 2>&1
st=$?
# LeakSanitizer stops the process's threads with a ptrace-based tracer at exit; on some kernels
# (seen on this project's Xeon VMs, about one run in two) the tracer itself dies ("Tracer caught
# signal 11 ... LeakSanitizer has encountered a fatal error") before any leak is examined. That is
# the tool failing, not attrun: retry once, then run ASan + UBSan without the leak pass and leave
# the leak check to valgrind below (which reports definitely/indirectly lost bytes).
if [ $st -ne 0 ] && grep -q "LeakSanitizer has encountered a fatal error" one.log; then
    echo "   LeakSanitizer's tracer crashed (environment); retrying once"
    rm -f one.h5
    ASAN_OPTIONS=$ASAN_LEAKS timeout 300 "$B/attrun" run one.yaml >one.log 2>&1
    st=$?
    if [ $st -ne 0 ] && grep -q "LeakSanitizer has encountered a fatal error" one.log; then
        echo "   tracer crashed again: ASan + UBSan without the leak pass; leaks are checked by valgrind below"
        rm -f one.h5
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 timeout 300 "$B/attrun" run one.yaml >one.log 2>&1
        st=$?
    fi
fi
check_run "attrun run under ASan (1 process)" $st one.log one.h5

echo "== mpirun -np 2 attrun run, ASan + UBSan (detect_leaks=0)"
job two.yaml two.h5
if command -v mpirun >/dev/null; then
    timeout 300 mpirun -np 2 --oversubscribe -x ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 -x UBSAN_OPTIONS \
        -x OPENBLAS_NUM_THREADS "$B/attrun" run two.yaml >two.log 2>&1
    check_run "attrun run under ASan (mpirun -np 2)" $? two.log two.h5
else
    fail "mpirun not found"
fi

# --- 3. valgrind memcheck of the normal build ---
echo "== valgrind memcheck: attrun run, 1 process"
if ! command -v valgrind >/dev/null; then
    echo "   skipped: valgrind not installed (Debian: valgrind)"
elif [ ! -x "$BIN" ]; then
    fail "attrun binary $BIN not found for valgrind"
else
    printf 'model: %s\ncorpus: {path: c.tsv}\nmethods: [ig, saliency]\nig: {steps: 4}\nout: vg.h5\n' "$MODEL" >vg.yaml
    # OPENBLAS_CORETYPE: valgrind does not emulate AVX-512, which OpenBLAS would pick on such CPUs.
    OPENBLAS_CORETYPE=Haswell timeout 400 valgrind --error-exitcode=1 --leak-check=full \
        --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --num-callers=40 \
        --suppressions="$SRC/tests/valgrind.supp" "$BIN" run vg.yaml >vg.log 2>&1
    rc=$?
    grep -E 'ERROR SUMMARY|definitely lost:|indirectly lost:' vg.log | sed 's/^/   /'
    if [ $rc -ne 0 ]; then
        grep -E -B2 -A25 'Invalid|uninitialised|Conditional jump|definitely lost in|indirectly lost in' vg.log | head -80
        fail "valgrind memcheck (status $rc)"
    else
        echo "   ok"
    fi
fi

[ $fails -eq 0 ] && echo "sanitize: all clean" || echo "sanitize: $fails failure(s)"
[ $fails -eq 0 ]
