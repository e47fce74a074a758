#!/usr/bin/env bash
# Stops the private cluster started by tests/slurm/start.sh DIR and removes DIR:
#   tests/slurm/stop.sh DIR [--keep]     (--keep: leave DIR, e.g. to read logs)
# Safe to call on a half-started cluster and twice. Order: cancel all jobs (so slurmd's step
# daemons end their tasks), then slurmd, slurmctld, munged -- each by the pid recorded at start.
# Processes whose working directory is inside DIR (job tasks that outlived their step daemon)
# are ended last, by pid.
set -uo pipefail

DIR=${1:?usage: stop.sh DIR [--keep]}
[[ -d $DIR ]] || exit 0
DIR=$(cd "$DIR" && pwd)
export PATH=$PATH:/usr/sbin

if [[ -f $DIR/etc/slurm.conf && -f $DIR/run/slurmctld.bgpid ]]; then
  export SLURM_CONF=$DIR/etc/slurm.conf
  timeout 10 scancel --full --quiet --user=root 2>/dev/null
  # Wait (bounded) until no job is running or completing on our cluster.
  for _ in $(seq 1 40); do
    [[ -z $(timeout 5 squeue -h -t R,CG,S 2>/dev/null) ]] && break
    sleep 0.5
  done
fi

# stop_pid FILE: SIGTERM, wait up to 10 s, then SIGKILL.
stop_pid() {
  local f=$1 pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}
stop_pid "$DIR/run/slurmd.bgpid"
stop_pid "$DIR/run/slurmctld.bgpid"
stop_pid "$DIR/run/munged.bgpid"

# Leftovers: slurmstepd and job processes run detached from slurmd; find those that belong to
# this cluster by their working directory or command line naming DIR, and end them by pid.
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  [[ $pid == "$$" || $pid == "$PPID" ]] && continue   # never this script or its caller
  cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
  cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)
  if [[ $cwd == "$DIR" || $cwd == "$DIR"/* || $cmd == *"$DIR"/* ]]; then
    kill -KILL "$pid" 2>/dev/null
  fi
done

[[ ${2:-} == --keep ]] || rm -rf "$DIR"
exit 0
