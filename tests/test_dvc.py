"""data/ under DVC: push and pull through a local-directory remote restore it byte for byte, and
Snakemake then has nothing to redo (pulled files are new on disk, but sequences are ancient()).

Runs in a throw-away git repository holding a copy of the workflow and of this checkout's DVC
setup (.dvc/config with its placeholder remote, .dvcignore), configured as the README says.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from dag import run_snakemake, snakemake_env, workflow_copy

pytestmark = pytest.mark.slow

SEQUENCES = ["data/demo/bigbuckbunny.y4m", "data/demo/bikes.y4m"]
# One real job built on a sequence: it must survive the pull without being redone.
BITSTREAM = "results/smoke/demo/bikes/x265/qp51.hevc"


def run(workdir: Path, *cmd: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), cwd=workdir, env=snakemake_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return proc


def dvc(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run(workdir, sys.executable, "-m", "dvc", *args)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def repo(tmp_path):
    """A git + DVC repository with the workflow and this checkout's DVC configuration."""
    workdir = workflow_copy(tmp_path / "repo")
    run(workdir, "git", "init", "-q")
    dvc(workdir, "init", "-q")
    for name in (".dvc/config", ".dvcignore", ".gitignore"):
        shutil.copy2(REPO / name, workdir / name)
    return workdir


def test_push_pull_round_trip_restores_data_and_leaves_nothing_to_do(repo, tmp_path):
    made = run_snakemake(repo, *SEQUENCES, BITSTREAM, "--config", "preset=smoke")
    assert made.returncode == 0, made.stderr[-3000:]

    # Version data/ the documented way, and point the placeholder remote at a local folder.
    run(repo, str(Path(sys.executable).parent / "vcbench"), "data", "add")
    tracked = yaml.safe_load((repo / "data.dvc").read_text())["outs"][0]
    assert tracked["path"] == "data" and tracked["nfiles"] == 4 and tracked["md5"].endswith(".dir")
    assert "/data" in (repo / ".gitignore").read_text().split()
    remote = tmp_path / "dvc-storage"
    dvc(repo, "remote", "modify", "--local", "storage", "url", str(remote))
    dvc(repo, "remote", "default", "--local", "storage")
    dvc(repo, "push")
    assert any(remote.rglob("*")), "dvc push wrote nothing to the remote"

    before = snapshot(repo / "data")
    bitstream_mtime = (repo / BITSTREAM).stat().st_mtime_ns
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache")  # a fresh machine: only the remote has the data
    dvc(repo, "pull")

    assert snapshot(repo / "data") == before  # byte for byte, nothing more, nothing less
    # The pulled sequences are newer than the bitstream built on them...
    assert all((repo / s).stat().st_mtime_ns > bitstream_mtime for s in SEQUENCES)
    # ...and still nothing is redone.
    dry = run_snakemake(repo, "-n", *SEQUENCES, BITSTREAM, "--config", "preset=smoke")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
    assert dvc(repo, "status").stdout.strip().splitlines()[-1].startswith("Data and pipelines are up to date")


def test_data_add_refuses_a_sequence_that_differs_from_its_record(tmp_path):
    folder = tmp_path / "data" / "demo"
    folder.mkdir(parents=True)
    (folder / "clip.y4m").write_bytes(b"YUV4MPEG2 W2 H2\n")
    (folder / "clip.json").write_text('{"sha256": "0000"}')
    proc = subprocess.run([str(Path(sys.executable).parent / "vcbench"), "data", "add"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and "differs from the 0000 in clip.json" in proc.stderr
    assert not (tmp_path / "data.dvc").exists()
