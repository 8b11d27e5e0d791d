#!/usr/bin/env bash
# The GPU check (scripts/gpu_check.py): every neural codec encoded, decoded twice and compared, decoded
# on the CPU and compared within tolerance, each trainer run a few steps; timings and peak GPU memory to
# one JSON. On a machine without CUDA, or with --cpu, its CPU part.
#   scripts/gpu-check.sh [--cpu] [--out gpu-check.json] [--threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
[ -x "$python" ] || python=python3
exec "$python" scripts/gpu_check.py "$@"
