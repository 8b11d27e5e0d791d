#!/usr/bin/env bash
# Debian packages that the test suite drives for real: Chromium renders the HTML report;
# Slurm (with munge) runs the smoke preset through `--profile slurm`. Installs only what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v sbatch >/dev/null || need+=(slurmctld slurmd slurm-client munge)
if ((${#need[@]})); then
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
