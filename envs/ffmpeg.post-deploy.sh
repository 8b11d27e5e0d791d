#!/usr/bin/env bash
# Run by Snakemake (`--sdm conda`) inside the new environment, from the repository root: install
# vcbench itself without touching the pinned dependencies that the environment file installed.
set -euo pipefail
test -f pyproject.toml || { echo "post-deploy: run Snakemake from the vcbench repository root" >&2; exit 1; }
python -m pip install --no-deps --editable .
