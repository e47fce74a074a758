#!/usr/bin/env bash
# Bitwise regression against the pre-redesign code: reruns every job of tests/data/golden/jobs.txt with the
# current binary (np = 1 and np = 2 under mpirun) and compares each result file with the golden file that
# commit 655a011's code wrote for the same job (generated ONCE, tests/data/golden/README.md; never
# regenerate them with later code to make this pass). tests/data/golden/golden_compare.py compares every
# object, datatype, shape, storage layout, value bits and attribute; only the attributes it lists (times,
# git commit, paths) are exempt.
# The jobs cover every method, every family and head, pair inputs, output prob, layer embeddings,
# save_full, float16 attention and the analysis outputs. Jobs whose model lies in ../shared/reference are
# skipped (listed) when it is absent; the test exits 77 only if no job could run.
source "$(dirname "$0")/tools/run_lib.sh"
G=$SRC/tests/data/golden
$PY -c "import h5py, numpy" 2>/dev/null || { echo "SKIPPED: $PY has no h5py/numpy"; exit 77; }
# The golden bits come from OpenBLAS's Haswell kernels (MANIFEST) and the engine's x86-64-v3/v4 clones
# (engine/ops.h HOT): a CPU without AVX2 + FMA cannot reproduce them.
if ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo; then
    echo "SKIPPED: this CPU has no AVX2/FMA; the golden files were made with x86-64-v3 kernels (tests/data/golden/MANIFEST)"
    exit 77
fi
export OPENBLAS_CORETYPE=Haswell

ran=0 failed=() skipped=()
cd "$SRC"
while read -r name np; do
    case "$name" in ''|'#'*) continue ;; esac
    job=$G/jobs/$name.yaml gold=$G/$name.np$np.h5.gz out=$WORK/$name.np$np.h5
    [ -f "$gold" ] || fail "$gold is missing"
    model=$(sed -n 's/^model: *//p' "$job")
    set_model=()
    case "$model" in
        ../shared/*)
            rel=${model#../shared/}
            if [ ! -f "$SHARED/$rel/model.safetensors" ]; then skipped+=("$name np=$np ($SHARED/$rel absent)"); continue; fi
            # the same models when ATTRUN_SHARED points elsewhere (golden_compare.py compares the path's last part)
            [ "$(realpath "$SHARED")" = "$(realpath -m "$SRC/../shared")" ] || set_model=(--set "model=$SHARED/$rel") ;;
    esac
    if [ "$np" = 1 ]; then
        "$BIN" run "$job" "${set_model[@]}" --set "out=$out" --quiet < /dev/null > "$WORK/$name.np$np.log" 2>&1
    else
        timeout 300 $MPIRUN -x OPENBLAS_CORETYPE -np "$np" "$BIN" run "$job" "${set_model[@]}" --set "out=$out" --quiet \
            < /dev/null > "$WORK/$name.np$np.log" 2>&1
    fi
    rc=$?
    ran=$((ran + 1))
    if [ $rc != 0 ]; then
        echo "FAIL $name np=$np: attrun exited $rc"; cat "$WORK/$name.np$np.log"; failed+=("$name np=$np"); continue
    fi
    gzip -dc "$gold" > "$WORK/golden.h5" || fail "cannot decompress $gold"
    if $PY "$G/golden_compare.py" "$WORK/golden.h5" "$out" > "$WORK/cmp.txt"; then
        echo "ok   $name np=$np: $(tail -1 "$WORK/cmp.txt")"
    else
        echo "FAIL $name np=$np differs from the golden file $gold:"; sed 's/^/    /' "$WORK/cmp.txt"
        failed+=("$name np=$np")
    fi
    rm -f "$out" "$WORK/golden.h5"
done < "$G/jobs.txt"

for s in "${skipped[@]}"; do echo "SKIPPED $s"; done
[ $ran -gt 0 ] || { echo "SKIPPED: no golden job could run"; exit 77; }
[ ${#failed[@]} = 0 ] || fail "${#failed[@]} of $ran golden jobs differ: ${failed[*]}"
echo "PASS: $ran golden jobs bitwise identical (${#skipped[@]} skipped)"
