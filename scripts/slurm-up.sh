#!/usr/bin/env bash
# Start a private one-node Slurm (munged, slurmctld, slurmd) for tests and CI.
#
#   scripts/slurm-up.sh STATE_DIR      # then: export SLURM_CONF=STATE_DIR/slurm.conf
#   scripts/slurm-down.sh STATE_DIR    # stops the three daemons by their PIDs
#
# Everything (config, munge key and socket, state, logs, PID files) lives in STATE_DIR, so
# nothing in /etc is changed and nothing already running is touched. Debian's packages are
# installed when missing. No accounting (no slurmdbd): `sacct` does not work here, so
# Snakemake must be told `--slurm-status-command squeue`; MinJobAge=300 keeps finished jobs
# visible to squeue/scontrol long enough for that. Every finished job is also recorded, one line
# each, in STATE_DIR/log/jobcomp.log (jobcomp/filetxt: Slurm's own record, no database).
# SLURM_FAKE_GPUS=N declares N GPUs backed by /dev/null (no device: jobs only get the
# allocation), so that `--gpus` requests are scheduled for real on a machine without GPUs.
# SLURMCTLD_PORT / SLURMD_PORT pick the ports (default: free ones).
set -euo pipefail

state=${1:?usage: slurm-up.sh STATE_DIR}
mkdir -p "$state"
state=$(cd "$state" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

node=$(hostname -s)
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
real_mem=$((mem_mb * 9 / 10))    # a bit less than the machine has: room for the daemons and the OS
user=$(id -un)
ctld_port=${SLURMCTLD_PORT:-$(free_port)}
slurmd_port=${SLURMD_PORT:-$(free_port)}
gpus=${SLURM_FAKE_GPUS:-0}

mkdir -p "$state/munge" "$state/ctld" "$state/spool" "$state/log"
chmod 700 "$state/munge"
if [[ ! -s $state/munge/munge.key ]]; then
    head -c 1024 /dev/urandom >"$state/munge/munge.key"
    chmod 400 "$state/munge/munge.key"
fi

gres_types="" node_gres=""
if ((gpus > 0)); then
    gres_types="GresTypes=gpu" node_gres="Gres=gpu:$gpus"
    for ((i = 0; i < gpus; i++)); do echo "NodeName=$node Name=gpu File=/dev/null"; done >"$state/gres.conf"
fi

cat >"$state/slurm.conf" <<EOF
# One-node test cluster written by scripts/slurm-up.sh
# state: $state
ClusterName=vcbench
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/munge.socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
$gres_types
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$state/log/jobcomp.log
MpiDefault=none
ReturnToService=2
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem $node_gres State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

export SLURM_CONF=$state/slurm.conf
# Jobs call `srun` inside their allocation and the Snakemake jobstep plugin drops SLURM_* variables
# (SLURM_CONF too) for that call, so the clients must also find the file where Debian's Slurm
# looks: /etc/slurm/slurm.conf. Only a file that this script wrote is ever replaced.
system_conf=/etc/slurm/slurm.conf
marker="# One-node test cluster written by scripts/slurm-up.sh"
if [[ -e $system_conf ]] && ! head -n 1 "$system_conf" | grep -qxF "$marker"; then
    echo "slurm-up.sh: $system_conf exists and was not written by this script; not starting a test cluster" >&2
    exit 1
fi
mkdir -p /etc/slurm
cp "$SLURM_CONF" "$system_conf.tmp" && mv "$system_conf.tmp" "$system_conf"

munged --force --key-file="$state/munge/munge.key" --socket="$state/munge/munge.socket" \
    --pid-file="$state/munged.pid" --log-file="$state/log/munged.log" --seed-file="$state/munge/munged.seed"
slurmctld -c -f "$SLURM_CONF"   # -c: start from a clean state (no jobs of an earlier run)
slurmd -f "$SLURM_CONF"

# Ready when the node accepts jobs (the daemons fork and write their PID files first).
for _ in $(seq 1 120); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "Slurm is up: export SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 0.5
done
echo "slurm-up.sh: the node did not become idle within 60 s; see $state/log/" >&2
sinfo -N -l >&2 || true
"$here/slurm-down.sh" "$state" || true
exit 1
