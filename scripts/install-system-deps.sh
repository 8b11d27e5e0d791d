#!/usr/bin/env bash
# Debian packages that the test suite drives for real: Chromium renders the HTML report and, driven by
# chromium-driver, runs a subjective-study session; libjxl's butteraugli_main and library are Butteraugli's reference;
# Slurm (with munge) runs the smoke preset through `--profile slurm`; four packages of desktop
# backgrounds are training photos of the embedded models (vcbench.diffusion.material). Installs only what is missing.
# `--demo`: only what the demo itself needs (libjxl's library: Butteraugli, scored by every preset).
set -euo pipefail
need=()
dpkg -s libjxl0.7 >/dev/null 2>&1 || need+=(libjxl0.7)
if [[ ${1:-} != --demo ]]; then
    command -v chromium >/dev/null || need+=(chromium)
    command -v chromedriver >/dev/null || need+=(chromium-driver)
    command -v butteraugli_main >/dev/null || need+=(libjxl-devtools)
    command -v sbatch >/dev/null || need+=(slurmctld slurmd slurm-client munge)
    for package in mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 ukui-wallpapers; do
        dpkg -s "$package" >/dev/null 2>&1 || need+=("$package")
    done
fi
if ((${#need[@]})); then
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
