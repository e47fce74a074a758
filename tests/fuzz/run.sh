#!/bin/bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan, separate build dir) and fuzzes
# each for SECONDS, two at a time, at low priority.
#   tests/fuzz/run.sh SECONDS [target...]      (targets: safetensors config_json vocab ...;
#                                               default: every tests/fuzz/fuzz_*.c)
#   SECONDS = 0 only builds.
# Environment:
#   FUZZ_BUILD   build dir (default <repo>/build-fuzz)
#   FUZZ_CORPUS  where the growing corpora live (default $FUZZ_BUILD/corpus); the seeds in
#                tests/fuzz/seeds/<target>/ are read, never written
#   FUZZ_JOBS    harnesses run at once (default 2)    FUZZ_NICE  nice level (default 10)
#   FUZZ_RSS_MB  per-harness memory limit (default 2048)
#   FUZZ_ARTIFACTS  where findings go (default $FUZZ_BUILD/artifacts)
#   FUZZ_SEED    libFuzzer's -seed (default: a new random seed each run); with a fixed seed two
#                runs of one build explore the same mutations (as far as the slower one gets)
# Crashes, leaks, timeouts and OOMs land in $FUZZ_BUILD/artifacts/<target>/, logs in
# $FUZZ_BUILD/logs/<target>.log. Prints one line per harness (seconds, executions,
# findings); exits 1 when any harness found something or failed to build.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SECS=${1:?usage: run.sh SECONDS [target...]}
shift
BUILD=${FUZZ_BUILD:-$ROOT/build-fuzz}
CORPUS=${FUZZ_CORPUS:-$BUILD/corpus}
JOBS=${FUZZ_JOBS:-2}
NICE=${FUZZ_NICE:-10}
RSS=${FUZZ_RSS_MB:-2048}

if [ $# -eq 0 ]; then
    set -- $(cd "$HERE" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi
command -v clang >/dev/null || { echo "run.sh: clang not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

ART=${FUZZ_ARTIFACTS:-$BUILD/artifacts}
mkdir -p "$BUILD/logs" "$ART"
# Configured every time (fast) so that new harnesses are picked up.
CC=clang cmake -S "$HERE" -B "$BUILD" >"$BUILD/logs/cmake.log" 2>&1 ||
    { cat "$BUILD/logs/cmake.log" >&2; echo "run.sh: cmake failed" >&2; exit 2; }
built=()
status=0
for t in "$@"; do
    if nice -n "$NICE" make -C "$BUILD" -j2 "fuzz_$t" >"$BUILD/logs/$t.build.log" 2>&1; then
        built+=("$t")
    else
        echo "run.sh: fuzz_$t does not build (see $BUILD/logs/$t.build.log):" >&2
        grep -E 'error' "$BUILD/logs/$t.build.log" | head -5 >&2
        status=1
    fi
done
[ "$SECS" = 0 ] && exit $status

run_one() {
    local t=$1
    local art="$ART/$t/" seeds="$HERE/seeds/$t"
    mkdir -p "$CORPUS/$t" "$art"
    local dict=()
    [ -f "$HERE/$t.dict" ] && dict=(-dict="$HERE/$t.dict")
    [ -n "${FUZZ_SEED:-}" ] && dict+=(-seed="$FUZZ_SEED")
    # -timeout: one input taking 10 s is a hang.
    nice -n "$NICE" "$BUILD/fuzz_$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb="$RSS" \
        -malloc_limit_mb="$RSS" -print_final_stats=1 -artifact_prefix="$art" "${dict[@]}" \
        "$CORPUS/$t" "$seeds" >"$BUILD/logs/$t.log" 2>&1
    echo $? >"$BUILD/logs/$t.rc"
}

pids=()
for t in "${built[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
    rm -f "$BUILD/logs/$t.rc"
    run_one "$t" &
done
wait

printf '%-14s %8s %12s %8s %s\n' target seconds executions findings status
for t in "${built[@]}"; do
    log="$BUILD/logs/$t.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -z "$execs" ] && execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE '[0-9]+ second' | grep -oE '[0-9]+')
    rc=$(cat "$BUILD/logs/$t.rc" 2>/dev/null || echo '?')
    found=$(grep -cE '^==[0-9]+==ERROR|^SUMMARY: (Address|Undefined|Leak)|runtime error:|ERROR: libFuzzer' "$log")
    st=ok
    if [ "$rc" != 0 ] || [ "$found" != 0 ]; then
        st="FAILED (rc $rc, see $log; inputs in $ART/$t/)"
        status=1
    fi
    printf '%-14s %8s %12s %8s %s\n' "$t" "${secs:-$SECS}" "${execs:-?}" "$found" "$st"
done
exit $status
