"""Run the real Snakemake workflow in an isolated copy of the repository (shared by DAG tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import REPO

# the workflow and the committed trained models (a fresh clone has them; the DAG must not retrain them)
WORKFLOW_FILES = ["Snakefile", "workflow", "config", "profiles", "slurm", "envs", "models/embedded", "models/diffvc"]
# Overlay (--configfile): the smoke preset's anchors on one sequence, for tests of the DAG's mechanics.
SMOKE_ANCHORS = REPO / "tests" / "configs" / "smoke-anchors.yaml"


def workflow_copy(dest: Path) -> Path:
    """A fresh working directory holding the workflow (not results) of this checkout."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


# The DAG tests plan as a machine without pretrained weights does (no FID jobs, no LPIPS/DISTS),
# whatever this machine's caches hold; a test that wants weights passes its own folder.
NO_ASSETS = tempfile.mkdtemp(prefix="vcbench-no-assets-")


def snakemake_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["VCBENCH_ASSETS_DIR"] = NO_ASSETS
    # The rules call `vcbench`: the interpreter running the tests must provide it.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def snakemake_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", "2", *args]


def run_snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_command(*args), cwd=workdir, env=snakemake_env(env), capture_output=True, text=True, timeout=timeout)
