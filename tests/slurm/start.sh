#!/usr/bin/env bash
# Starts a private, single-node Slurm cluster on this machine (127.0.0.1 only) for tests:
#   tests/slurm/start.sh DIR
# DIR: an empty directory, ideally short (/tmp/xxx): munge's socket path must fit the 108-byte
# limit of Unix sockets. Everything lives below DIR (keys, slurm.conf, state, spool, logs, pid
# files), so nothing in /etc or /run is touched and a system Slurm, if any, is left alone.
# On success it writes DIR/env.sh (source it: exports SLURM_CONF, whose AuthInfo names our
# munge socket, so sbatch/squeue/scontrol talk to this cluster only) and exits 0 once `sinfo`
# shows the node idle. Exit 77: Slurm/munge binaries are not installed. Exit 1: a daemon did
# not come up (its log is printed). Stop it all with tests/slurm/stop.sh DIR, also on failure.
# Needs root: slurmd runs jobs as the submitting user and SlurmUser=root keeps this one-user.
set -euo pipefail

DIR=${1:?usage: start.sh DIR}
DIR=$(cd "$DIR" && pwd)
BOOT_TIMEOUT=${SLURM_TEST_BOOT_TIMEOUT:-60}   # seconds for munged+slurmctld+slurmd to be ready

for b in munged slurmctld slurmd sinfo sbatch scontrol; do
  if ! command -v "$b" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$b ]]; then
    echo "slurm: '$b' not found (Debian packages: munge slurmctld slurmd slurm-client)" >&2
    exit 77
  fi
done
export PATH=$PATH:/usr/sbin
if [[ $(id -u) -ne 0 ]]; then
  echo "slurm: start.sh must run as root (slurmd starts job steps as the submitting user)" >&2
  exit 77
fi

mkdir -p "$DIR"/{etc,munge,state,spool,log,run}
chmod 700 "$DIR" "$DIR/munge"

# --- munge: a fresh random key, and munged on a private socket ---------------------------------
# munged refuses keys readable by others and, as root, needs --force.
dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$DIR/munge/munge.key"
SOCK=$DIR/munge/munge.sock
munged --force --foreground --socket="$SOCK" --key-file="$DIR/munge/munge.key" \
  --log-file="$DIR/log/munged.log" --pid-file="$DIR/run/munged.pid" \
  --seed-file="$DIR/munge/munged.seed" >"$DIR/log/munged.out" 2>&1 &
echo $! >"$DIR/run/munged.bgpid"

# --- two free TCP ports for slurmctld and slurmd -----------------------------------------------
# Read the ports in LISTEN state (st 0A) from /proc/net/tcp{,6}; pick the first free pair from a
# random start, so parallel test runs and a system Slurm (6817/6818) do not clash.
in_use=" "
for f in /proc/net/tcp /proc/net/tcp6; do
  [[ -r $f ]] || continue
  while read -r _ local _ st _; do
    [[ $st == 0A ]] && in_use+="$((16#${local##*:})) "
  done < <(tail -n +2 "$f")
done
port=$((20000 + RANDOM % 30000))
while [[ $in_use == *" $port "* || $in_use == *" $((port + 1)) "* ]]; do port=$((port + 2)); done
CTLD_PORT=$port SLURMD_PORT=$((port + 1))

CPUS=$(nproc)
HOST=$(hostname -s)
cat >"$DIR/etc/slurm.conf" <<CONF
# Private test cluster written by tests/slurm/start.sh; everything below $DIR.
ClusterName=attruntest
# slurmctld only starts on a host named in SlurmctldHost; the address keeps traffic on loopback.
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$DIR/etc/plugstack.conf
MailProg=/bin/true
# No cgroups (containers rarely allow them): track processes by parent pid, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
# No accounting daemon: nothing to store, nothing to gather.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# Trust the CPU count below even if slurmd detects a different socket/core layout.
SlurmdParameters=config_overrides
SlurmctldTimeout=30
SlurmdTimeout=30
MessageTimeout=10
KillWait=10
InactiveLimit=0
MinJobAge=600
JobRequeue=1
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$CPUS State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
: >"$DIR/etc/plugstack.conf"   # no SPANK plugins (ignore /etc/slurm/plugstack.conf.d)

cat >"$DIR/env.sh" <<ENV
# Source this to use the private test cluster in $DIR.
export SLURM_CONF=$DIR/etc/slurm.conf
export PATH=\$PATH:/usr/sbin
ENV
export SLURM_CONF=$DIR/etc/slurm.conf

fail() {
  echo "slurm: $*" >&2
  for f in "$DIR"/log/*; do echo "----- $f (last 30 lines)" >&2; tail -n 30 "$f" >&2; done
  exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.5 s until COMMAND succeeds.
wait_for() {
  local t=$1 what=$2; shift 2
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || fail "timed out after ${t}s waiting for $what"
    sleep 0.5
  done
}

wait_for "$BOOT_TIMEOUT" "munged socket $SOCK" test -S "$SOCK"

# -D: stay in the foreground so $! is the daemon itself (stop.sh ends exactly these pids).
# -c (slurmctld): cold start, no state from an earlier run. -N localhost: this slurmd is the node
# called "localhost" whatever the machine's hostname is.
slurmctld -D -c -f "$SLURM_CONF" >"$DIR/log/slurmctld.out" 2>&1 &
echo $! >"$DIR/run/slurmctld.bgpid"
wait_for "$BOOT_TIMEOUT" "slurmctld to answer (scontrol ping)" \
  bash -c 'scontrol ping | grep -q "is UP"'

slurmd -D -N localhost -f "$SLURM_CONF" >"$DIR/log/slurmd.out" 2>&1 &
echo $! >"$DIR/run/slurmd.bgpid"
wait_for "$BOOT_TIMEOUT" "node localhost to be idle in sinfo" \
  bash -c '[[ $(sinfo -h -n localhost -o %t) == idle ]]'
echo "slurm: private cluster up in $DIR (slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT, $CPUS CPUs)"
