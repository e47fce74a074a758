#!/bin/bash
# Smoke test of the libFuzzer harnesses (tests/fuzz/): builds every harness with clang
# (ASan + UBSan + libFuzzer, build dir kept next to the attrun binary) and runs each over
# its seed corpus (-runs=0: every seed must pass its checks), then fuzzes each for a few
# seconds (FUZZ_SMOKE_SECONDS, default 5) from a fresh corpus. Any crash, sanitizer report,
# leak, or broken invariant fails the test; a harness that does not build fails it too.
# The fuzzing uses a fixed libFuzzer seed (FUZZ_SMOKE_SEED, default 1) so that a gate in CI
# explores the same mutations on every run instead of failing at random on whatever a new
# seed happens to reach; exploring is tests/fuzz/run.sh's job (a new seed each run), and what
# it finds is kept in tests/fuzz/seeds/<target>/regress_*.
# Skips (77) when clang or its libFuzzer runtime is unavailable (Debian: clang,
# libclang-rt-14-dev), or without ../shared (the tokenizer harness loads real vocabularies).
set -u
SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${ATTRUN_BIN:-$SRC/build/attrun}
export ATTRUN_SHARED=${ATTRUN_SHARED:-$SRC/../shared}
SECS=${FUZZ_SMOKE_SECONDS:-5}
[ -d "$ATTRUN_SHARED/reference/models/tiny-bert" ] || { echo "SKIPPED: ../shared absent"; exit 77; }
command -v clang >/dev/null || { echo "SKIPPED: clang not installed"; exit 77; }
T=$(mktemp -d /tmp/attrun-fuzz-smoke.XXXXXX)
trap 'rm -rf "$T"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n){return 0;}\n' >"$T/t.c"
clang -fsanitize=fuzzer,address,undefined "$T/t.c" -o "$T/t" 2>/dev/null && "$T/t" -runs=1 >/dev/null 2>&1 ||
    { echo "SKIPPED: clang's libFuzzer/ASan runtime is unavailable (Debian: libclang-rt-14-dev)"; exit 77; }

export FUZZ_BUILD=${FUZZ_SMOKE_BUILD:-$(dirname "$BIN")/fuzz}
TARGETS=$(cd "$SRC/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fails=0
echo "== seeds only (-runs=0)"
export FUZZ_ARTIFACTS="$T/art"
"$SRC/tests/fuzz/run.sh" 0 $TARGETS >"$T/build.txt" 2>&1   # build only; failures reported below
for t in $TARGETS; do
    if grep -q "fuzz_$t does not build" "$T/build.txt" || [ ! -x "$FUZZ_BUILD/fuzz_$t" ]; then
        echo "FAIL: fuzz_$t did not build"
        sed 's/^/   | /' "$FUZZ_BUILD/logs/$t.build.log" 2>/dev/null | grep -E 'error' | head -5
        fails=$((fails + 1))
        continue
    fi
    mkdir -p "$T/art/$t"
    if "$FUZZ_BUILD/fuzz_$t" -runs=0 -artifact_prefix="$T/art/$t/" "$SRC/tests/fuzz/seeds/$t" >"$T/$t.seeds.log" 2>&1; then
        echo "   $t: $(ls "$SRC/tests/fuzz/seeds/$t" | wc -l) seeds ok"
    else
        echo "FAIL: $t on its seeds"
        grep -E -A20 '==ERROR|runtime error|fuzz:' "$T/$t.seeds.log" | head -30
        fails=$((fails + 1))
    fi
done
echo "== $SECS s of fuzzing each (fresh corpus)"
FUZZ_SEED=${FUZZ_SMOKE_SEED:-1} FUZZ_CORPUS="$T/corpus" "$SRC/tests/fuzz/run.sh" "$SECS" $TARGETS >"$T/run.txt" 2>&1
rc=$?
cat "$T/run.txt"
if [ $rc -ne 0 ]; then
    fails=$((fails + 1))
    # The logs and inputs live in the temporary directory (removed at exit) or the build tree a
    # CI clone discards: print what was found and the input itself, so the report can be acted on.
    for t in $(sed -n 's/^\([a-z_]*\) .*FAILED.*/\1/p' "$T/run.txt"); do
        echo "---- $t: first report in $FUZZ_BUILD/logs/$t.log"
        grep -E -m1 -A14 '^==[0-9]+== ?ERROR|runtime error:|^fuzz:' "$FUZZ_BUILD/logs/$t.log" | sed 's/^/   | /'
        for f in "$T/art/$t"/*; do
            [ -f "$f" ] || continue
            echo "---- $t: input $(basename "$f") ($(wc -c <"$f") bytes, base64)"
            head -c 4096 "$f" | base64 -w 100 | sed 's/^/   | /'
        done
    done
fi
[ $fails -eq 0 ]
