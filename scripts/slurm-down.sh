#!/usr/bin/env bash
# Stop the one-node Slurm that scripts/slurm-up.sh started in STATE_DIR, by the PIDs it recorded
# (never by process name: other Slurm or munge daemons on the machine are left alone).
set -uo pipefail

state=${1:?usage: slurm-down.sh STATE_DIR}
state=$(cd "$state" 2>/dev/null && pwd) || exit 0
pids=()
for name in slurmd slurmctld munged; do
    file=$state/$name.pid
    [[ -s $file ]] || continue
    pid=$(<"$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" && pids+=("$pid")
    fi
done
# The copy in /etc/slurm (see slurm-up.sh) goes too when it describes this cluster.
if grep -qxF "# state: $state" /etc/slurm/slurm.conf 2>/dev/null; then
    rm -f /etc/slurm/slurm.conf
fi
# Give them 10 s to exit cleanly, then SIGKILL what is left.
for _ in $(seq 1 20); do
    alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    ((${#alive[@]})) || exit 0
    sleep 0.5
done
kill -KILL "${alive[@]}" 2>/dev/null || true
exit 0
