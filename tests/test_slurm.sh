#!/usr/bin/env bash
# Runs scripts/slurm/attrun.sbatch on a real, private single-node Slurm cluster (started here by
# tests/slurm/start.sh from Debian's munge + slurmctld + slurmd + slurm-client, on 127.0.0.1,
# everything below one temp dir, stopped and removed at exit even on failure):
#   1. a plain job: tiny-bert attributions on a small corpus, 2 ranks via srun -> the HDF5
#      result has complete=1 and no spool is left;
#   2. the same job again, interrupted twice while it computes: first SIGUSR1 to the job steps
#      (what `#SBATCH --signal=USR1@300` does before the time limit), then SIGUSR1 to the batch
#      shell only (`--signal=B:USR1`, relayed to srun by the script). Each time attrun must leave
#      complete=0 + spool and exit 3, and the script must requeue the job (Slurm's Restarts
#      count goes up); each restart must take the --resume branch, and the final file must be
#      complete and hold exactly the attributions of job 1;
#   3. resubmitting onto the complete file does nothing; a foreign file in the output's place is
#      refused (exit 2) and left untouched.
# Skips (77) without ../shared (the tiny-bert model), without root, or when the Slurm/munge
# packages are missing and cannot be installed. Every wait is bounded.
set -uo pipefail

SRC=${ATTRUN_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${ATTRUN_BIN:-$SRC/build/attrun}
SHARED=${ATTRUN_SHARED:-$SRC/../shared}
MODEL=$SHARED/reference/models/tiny-bert
PY=/usr/bin/python3                      # has h5py + numpy (Debian python3-h5py)
SBATCH_SCRIPT=$SRC/scripts/slurm/attrun.sbatch
# Size of the job: long enough (~10 s on 2 ranks of a 2-core machine) to be signalled twice
# while computing, short enough to keep the whole test near a minute.
N_SENT=${SLURM_TEST_SENTENCES:-64}
IG_STEPS=${SLURM_TEST_IG_STEPS:-1024}

T=""
skip() { echo "SKIP: $*"; exit 77; }
fail() {
  echo "FAIL: $*"
  if [[ -n $T && -d $T ]]; then
    for f in "$T"/work/*.log "$T"/log/slurmctld.log "$T"/log/slurmd.log; do
      [[ -f $f ]] && { echo "----- $f (last 40 lines)"; tail -n 40 "$f"; }
    done
    [[ -n ${SLURM_CONF:-} ]] && { echo "----- squeue"; timeout 5 squeue 2>&1; }
  fi
  exit 1
}

[[ -f $MODEL/config.json ]] || skip "$MODEL absent (ATTRUN_SHARED=$SHARED): no model to run"
[[ -x $BIN ]] || fail "attrun binary '$BIN' not found (set ATTRUN_BIN)"
[[ -r $SBATCH_SCRIPT ]] || fail "$SBATCH_SCRIPT missing"
[[ $(id -u) -eq 0 ]] || skip "a private slurmd must run as root (it starts jobs as their user)"
[[ -x $PY ]] && $PY -c 'import h5py, numpy' 2>/dev/null || fail "$PY with h5py and numpy is needed to check results"

# --- Slurm packages -------------------------------------------------------------------------
PKGS=(munge slurmctld slurmd slurm-client)
have_slurm() { command -v munged && command -v sbatch && [[ -x /usr/sbin/slurmctld && -x /usr/sbin/slurmd ]]; } >/dev/null 2>&1
if ! have_slurm; then
  echo "slurm: installing Debian packages ${PKGS[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null 2>&1 ||
    { timeout 120 apt-get update -qq >/dev/null 2>&1 &&
      timeout 300 apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null 2>&1; }
  have_slurm || skip "Slurm cannot run here: packages ${PKGS[*]} are not installed and apt-get could not install them"
fi

# --- private cluster, always torn down ------------------------------------------------------
# Short path: munge's socket lives below it (Unix socket paths are limited to 108 bytes).
T=$(mktemp -d /tmp/attrun-slurm.XXXXXX) || fail "mktemp failed"
# cd / first: stop.sh ends stray processes whose working directory is inside T.
# SLURM_TEST_KEEP=1 keeps T (logs, results) for a look after the daemons are stopped.
cleanup() { cd / && bash "$SRC/tests/slurm/stop.sh" "$T" ${SLURM_TEST_KEEP:+--keep}; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

bash "$SRC/tests/slurm/start.sh" "$T"
rc=$?
((rc == 77)) && skip "Slurm daemons cannot start here (see above)"
((rc == 0)) || fail "could not start the private Slurm cluster (rc $rc)"
# shellcheck source=/dev/null
source "$T/env.sh"

# --- helpers --------------------------------------------------------------------------------
# field JOB NAME: one field of `scontrol show job` (e.g. JobState, Restarts, ExitCode).
field() { timeout 10 scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s.
wait_until() {
  local t=$1 what=$2; shift 2
  local end=$((SECONDS + t))
  until "$@"; do
    ((SECONDS < end)) || fail "timed out after ${t}s waiting for $what"
    sleep 0.2
  done
}
is_state() { [[ $(field "$1" JobState) == "$2" ]]; }
is_finished() { [[ $(field "$1" JobState) =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED)$ ]]; }
restarts_are() { [[ $(field "$1" Restarts) == "$2" ]]; }
# spool_bytes OUT: bytes of finished work units attrun has written to OUT.spool/.
# (attrun appends finished units to OUT.spool/rank<R>-<pid>.bin; the spool's copy of the job
# config is there from the start and is no progress.)
spool_bytes() { [[ -d $1.spool ]] && find "$1.spool" -type f -name '*.bin' -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
spool_grew() { local b; b=$(spool_bytes "$1"); [[ -n $b ]] && ((b > $2)); }
complete_of() { $PY -c 'import sys,h5py; print(int(h5py.File(sys.argv[1],"r").attrs["complete"]))' "$1" 2>/dev/null; }
# running_with_progress JOB OUT BYTES: the job runs and its spool holds more than BYTES; a job
# that already ended cannot be interrupted any more: fail at once with the reason.
running_with_progress() {
  local st; st=$(field "$1" JobState)
  [[ $st =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL)$ ]] &&
    fail "job $1 ended ($st) before it could be interrupted: the job is too short for this machine (raise SLURM_TEST_IG_STEPS)"
  [[ $st == RUNNING ]] && spool_grew "$2" "$3"
}

W=$T/work   # job working directory (inside T: stop.sh ends any stray job process by its cwd)
mkdir -p "$W"
cd "$W" || fail "cd $W"

# Corpus: N_SENT short sentences built from a few word lists (deterministic, varied lengths).
$PY - "$N_SENT" >corpus.txt <<'EOF' || fail "cannot write corpus"
import sys
subj = ["the film", "this movie", "the plot", "our waiter", "the soundtrack", "every scene"]
verb = ["was", "felt", "seemed", "turned out"]
adj = ["wonderful", "dull and far too long", "surprisingly moving", "a complete mess", "fine", "brilliant"]
tail = ["", " from start to finish", ", honestly", " despite the cast", " and I would watch it again"]
for i in range(int(sys.argv[1])):
    print(f"{subj[i % 6]} {verb[i % 4]} {adj[(i * 5) % 6]}{tail[(i * 7) % 5]}.")
EOF

cat >job.yaml <<EOF
# tests/test_slurm.sh: tiny-bert, two methods, enough IG steps to be interruptible.
model: $MODEL
corpus:
  path: corpus.txt
  format: text
methods: [ig, saliency]
ig:
  steps: $IG_STEPS
out: unused-by-sbatch.h5
EOF

# The job finds attrun on PATH, as a user's would after `cmake --install`: install the build
# into a private prefix and put its bin/ first on PATH (sbatch exports the submitting
# environment to the job). ATTRUN_BIN stays unset so the script's default is what is tested.
BUILD_DIR=$(dirname "$BIN")
if [[ -f $BUILD_DIR/cmake_install.cmake ]]; then
  cmake --install "$BUILD_DIR" --prefix "$T/prefix" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "cmake --install failed"; }
  [[ -x $T/prefix/bin/attrun ]] || fail "cmake --install did not install bin/attrun"
else   # a binary outside a CMake build dir (ATTRUN_BIN given by hand): put it on PATH as is
  mkdir -p "$T/prefix/bin" && ln -s "$BIN" "$T/prefix/bin/attrun"
fi
export PATH=$T/prefix/bin:$PATH
unset ATTRUN_BIN
NT=2; (($(nproc) < 2)) && NT=1   # ranks: two where the node has two CPUs
submit() { sbatch --parsable --ntasks=$NT --cpus-per-task=1 --time=10 --job-name="$1" \
  --output="$W/$1.log" "$SBATCH_SCRIPT" job.yaml "$1.h5"; }

# --- 1. plain job -----------------------------------------------------------------------------
t0=$SECONDS
J1=$(submit full) || fail "sbatch failed"
echo "job 1 ($J1): uninterrupted run on $NT rank(s)"
wait_until 120 "job $J1 to finish" is_finished "$J1"
[[ $(field "$J1" JobState) == COMPLETED && $(field "$J1" ExitCode) == 0:0 ]] ||
  fail "job $J1 ended $(field "$J1" JobState) exit $(field "$J1" ExitCode)"
[[ $(complete_of full.h5) == 1 ]] || fail "full.h5: root attribute complete is not 1"
[[ ! -e full.h5.spool ]] || fail "full.h5.spool left after a complete run"
grep -q "fresh run" full.log || fail "job $J1 did not take the fresh-run branch"
grep -q -- "--set threads=1" full.log || fail "job $J1: threads not set from SLURM_CPUS_PER_TASK"
echo "job 1 ($J1): COMPLETED in $((SECONDS - t0)) s, full.h5 complete=1"

# --- 2. interrupted twice, requeued, resumed --------------------------------------------------
t0=$SECONDS
J2=$(submit interrupted) || fail "sbatch failed"
echo "job 2 ($J2): same job, to be interrupted"

# interrupt N HOW: wait for computation to progress past what the spool held before, send
# SIGUSR1 (HOW: "steps" or "batch"), and check the requeue and the resumable state.
last_bytes=0
interrupt() {
  local n=$1 how=$2 before
  wait_until 60 "job $J2 (start $((n - 1))) to be running and add work to the spool" \
    running_with_progress "$J2" interrupted.h5 "$last_bytes"
  before=$(spool_bytes interrupted.h5)
  if [[ $how == steps ]]; then
    timeout 10 scancel --signal=USR1 "$J2" || fail "scancel --signal=USR1 $J2 failed"
  else
    timeout 10 scancel --signal=USR1 --batch "$J2" || fail "scancel --signal=USR1 --batch $J2 failed"
  fi
  wait_until 60 "job $J2 to be requeued (Restarts=$n)" restarts_are "$J2" "$n"
  wait_until 30 "job $J2 to be pending after its requeue" is_state "$J2" PENDING
  (($(grep -c "srun exited with status 3" interrupted.log) == n)) || fail "job $J2: attrun did not exit with status 3 on SIGUSR1 ($how)"
  [[ -d interrupted.h5.spool ]] || fail "job $J2: no interrupted.h5.spool/ after the interruption"
  [[ $(complete_of interrupted.h5) != 1 ]] || fail "job $J2: complete=1 after an interruption"
  last_bytes=$(spool_bytes interrupted.h5)
  echo "job 2 ($J2): SIGUSR1 to the $how at spool ${before} B -> exit 3, requeued (Restarts=$n), spool ${last_bytes} B"
  # A requeued job is held for 120 s (BeginTime=now+120); let it start again sooner, but not
  # within the same second as the kill: slurmd rejects a job credential issued in the second
  # it revoked the previous run's ("Job credential revoked") and the job would fail.
  sleep 2
  timeout 10 scontrol update JobId="$J2" StartTime=now || fail "scontrol update StartTime failed"
}
interrupt 1 steps
interrupt 2 batch
wait_until 120 "job $J2 to finish after its restarts" is_finished "$J2"
[[ $(field "$J2" JobState) == COMPLETED && $(field "$J2" ExitCode) == 0:0 ]] ||
  fail "job $J2 ended $(field "$J2" JobState) exit $(field "$J2" ExitCode)"
[[ $(complete_of interrupted.h5) == 1 ]] || fail "interrupted.h5: complete is not 1 after the resumed runs"
[[ ! -e interrupted.h5.spool ]] || fail "interrupted.h5.spool left after completion"
n_resume=$(grep -c "found interrupted.h5.spool/: resuming" interrupted.log)
((n_resume == 2)) || fail "job $J2: expected 2 restarts taking the --resume branch, log shows $n_resume"
grep -q -- "--overwrite" interrupted.log && fail "job $J2 used --overwrite"
echo "job 2 ($J2): COMPLETED after 2 requeues in $((SECONDS - t0)) s (incl. scheduling), complete=1"

# Same job, same data: every dataset must equal the uninterrupted run's, bit for bit (the
# engine's sums are order-independent), except provenance that records the run itself.
$PY - full.h5 interrupted.h5 <<'EOF' || fail "interrupted.h5 differs from full.h5"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
bn = []
b.visititems(lambda n, o: bn.append(n) if isinstance(o, h5py.Dataset) else None)
if sorted(names) != sorted(bn):
    sys.exit(f"dataset lists differ: {sorted(set(names) ^ set(bn))}")
bad, n_attr = [], 0
for n in names:
    x, y = a[n][()], b[n][()]
    if x.dtype.kind in "fiu":
        n_attr += x.size
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=True):
            bad.append(f"{n}: max|diff| {np.max(np.abs(x.astype(float) - y.astype(float))) if x.shape == y.shape else 'shape'}")
    elif not np.array_equal(x, y):
        bad.append(n)
if bad:
    sys.exit("differing datasets: " + "; ".join(bad))
if n_attr == 0:
    sys.exit("no numeric datasets in the results")
print(f"results equal: {len(names)} datasets, {n_attr} numbers")
EOF

[[ ! -e unused-by-sbatch.h5 ]] || fail "the config's out: was written although the output was given to the script"

# --- 3. resubmission onto a complete file, and onto a foreign file -----------------------------
# Job 3 names no output: the script must take it from the config's top-level out: key.
sed 's/^out: .*/out: "interrupted.h5"   # the finished result/' job.yaml >again.yaml
before=$(stat -c %Y.%s interrupted.h5)
J3=$(sbatch --parsable --ntasks=1 --cpus-per-task=1 --time=5 --output="$W/again.log" \
  "$SBATCH_SCRIPT" again.yaml) || fail "sbatch failed"
wait_until 60 "job $J3 to finish" is_finished "$J3"
[[ $(field "$J3" JobState) == COMPLETED ]] || fail "job $J3 (output already complete) ended $(field "$J3" JobState)"
grep -q "interrupted.h5 is already complete" again.log || fail "job $J3 did not report the complete output"
[[ $(stat -c %Y.%s interrupted.h5) == "$before" ]] || fail "job $J3 modified a complete output"

echo "not an attrun result" >foreign.h5
J4=$(sbatch --parsable --ntasks=1 --cpus-per-task=1 --time=5 --output="$W/foreign.log" \
  "$SBATCH_SCRIPT" job.yaml foreign.h5) || fail "sbatch failed"
wait_until 60 "job $J4 to finish" is_finished "$J4"
[[ $(field "$J4" JobState) == FAILED && $(field "$J4" ExitCode) == 2:0 ]] ||
  fail "job $J4 (foreign file) ended $(field "$J4" JobState) exit $(field "$J4" ExitCode), expected FAILED 2:0"
grep -q "not an attrun result" foreign.log || fail "job $J4: no message about the foreign file"
[[ $(cat foreign.h5) == "not an attrun result" ]] || fail "job $J4 touched the foreign file"
echo "jobs 3-4 ($J3, $J4): complete output left alone, foreign file refused"
echo "PASS"
