"""Jobs use what they ask for: thread pools follow the job's threads (never the node's cores), and
a job that asks for one GPU gets one of the machine's GPUs to itself (tested with a fake device list)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vcbench.codecs.base import RatePoint
from vcbench.codecs.registry import create_codec
from vcbench.tools import threads as job_threads_module
from vcbench.tools.gpus import JOB_GPUS_VARIABLE, LOCK_DIR_VARIABLE, visible_gpus
from vcbench.tools.threads import job_threads, usable_cpus


def test_usable_cpus_is_the_affinity_mask_not_the_node(monkeypatch):
    monkeypatch.setattr(job_threads_module.os, "sched_getaffinity", lambda pid: {0, 5, 9})
    monkeypatch.setattr(job_threads_module.os, "cpu_count", lambda: 128)
    assert usable_cpus() == 3


@pytest.mark.parametrize(("requested", "omp", "expected"), [(6, "2", 6), (0, "2", 2), (0, "16", 3), (0, None, 3), (0, "x", 3)])
def test_job_threads_follow_the_request_then_the_jobs_threads_then_the_affinity(monkeypatch, requested, omp, expected):
    monkeypatch.setattr(job_threads_module.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    assert job_threads(requested) == expected


@pytest.mark.parametrize(("name", "stated"), [("x265", "pools=2"), ("vvenc", "-threads 2"), ("svtav1", "lp=2")])
def test_an_anchor_encodes_with_the_jobs_threads(make_y4m, tmp_path, monkeypatch, name, stated):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # as Snakemake sets it to the rule's threads
    monkeypatch.setattr(job_threads_module.os, "sched_getaffinity", lambda pid: set(range(64)))
    codec = create_codec(name)  # threads=0: the job's
    record = codec.encode(make_y4m(64, 64, 2), tmp_path / f"out.{codec.extension}", RatePoint("q", {"qp": 40}))
    assert stated in record["command"]
    assert record["settings"]["threads"] == 0  # the option as configured: the bytes do not depend on it


def test_the_policy_table_states_no_thread_count():
    for name in ("x265", "vvenc", "svtav1"):
        words = [word for s in create_codec(name).policy("QP") for word in (*s.args, *s.params)]
        assert "-threads" not in words and not any(word.startswith(("pools=", "lp=")) for word in words)


def test_psnr_and_torch_pools_follow_the_jobs_threads():
    code = ("import torch; from vcbench.metrics import psnr; from vcbench.tools.device import prepare_torch;"
            "prepare_torch('cpu', 0, 'test'); print(psnr._POOL._max_workers, torch.get_num_threads())")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1", "1"]


def _claimer(tmp_path, devices: str, wanted: str, hold: float = 0.0) -> subprocess.Popen:
    """A process that claims its GPUs as `vcbench` does first, prints CUDA_VISIBLE_DEVICES, and holds them ``hold`` s."""
    code = ("import os, sys, time; from vcbench.tools.gpus import claim_job_gpus; from vcbench.errors import VcbenchError\n"
            "try:\n    claim_job_gpus()\nexcept VcbenchError as err:\n    print('error:', err, flush=True); sys.exit(2)\n"
            f"print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True); time.sleep({hold})\n")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": devices, JOB_GPUS_VARIABLE: wanted, LOCK_DIR_VARIABLE: str(tmp_path / "locks")}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def test_jobs_side_by_side_each_get_their_own_gpu_and_a_freed_gpu_is_reused(tmp_path):
    first, second = _claimer(tmp_path, "3,5", "1", hold=30), _claimer(tmp_path, "3,5", "1", hold=30)
    try:
        firsts = first.stdout.readline().strip()  # which of the two it got depends on which claimer ran first
        assert {firsts, second.stdout.readline().strip()} == {"3", "5"}
        third = _claimer(tmp_path, "3,5", "1")
        out, _ = third.communicate(timeout=60)
        assert third.returncode == 2 and out.count("\n") == 1
        assert "asked for 1 GPU(s) but only 0 of CUDA_VISIBLE_DEVICES=3,5 are free" in out and "--resources gpu=2" in out
        first.kill()  # a killed job frees its GPU: the lock dies with the process
        first.wait(timeout=30)
        time.sleep(0.2)
        fourth = _claimer(tmp_path, "3,5", "1")
        assert fourth.communicate(timeout=60)[0].strip() == firsts
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.parametrize(("devices", "wanted", "expected"), [("0,1,2,3", "2", "0,1"), ("0,1", "0", ""), ("", "1", ""), ("7", "2", "7")])
def test_a_job_sees_the_gpus_it_asked_for_and_no_more(tmp_path, devices, wanted, expected):
    proc = _claimer(tmp_path, devices, wanted)
    assert proc.communicate(timeout=60)[0].rstrip("\n") == expected


def test_a_job_that_sees_only_its_own_gpu_takes_it_without_a_lock(tmp_path):
    """Under Slurm, jobs sharing a node may each see their own GPU as device 0: no lock between them."""
    first = _claimer(tmp_path, "0,1", "1", hold=30)  # a local job holding GPU 0
    try:
        assert first.stdout.readline().strip() == "0"
        assert _claimer(tmp_path, "0", "1").communicate(timeout=60)[0].strip() == "0"
    finally:
        first.kill()
        first.wait(timeout=30)


def test_without_a_job_gpu_count_nothing_changes(tmp_path):
    code = "import os; from vcbench.tools.gpus import claim_job_gpus; print(claim_job_gpus(), os.environ['CUDA_VISIBLE_DEVICES'])"
    env = {k: v for k, v in os.environ.items() if k != JOB_GPUS_VARIABLE} | {"CUDA_VISIBLE_DEVICES": "4,6"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.split() == ["None", "4,6"]


def test_visible_gpus_reads_the_device_list():
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-1a2b, 7"}) == ["GPU-1a2b", "7"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []


def test_the_cli_claims_the_jobs_gpus_before_any_command(tmp_path):
    holders = [_claimer(tmp_path, "1,2", "1", hold=30) for _ in range(2)]
    try:
        assert {holder.stdout.readline().strip() for holder in holders} == {"1", "2"}
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "1,2", JOB_GPUS_VARIABLE: "1", LOCK_DIR_VARIABLE: str(tmp_path / "locks")}
        proc = subprocess.run([str(Path(sys.executable).parent / "vcbench"), "--help"], env=env, capture_output=True, text=True)
        assert proc.returncode == 2
        assert proc.stderr.count("\n") == 1 and "asked for 1 GPU(s) but only 0 of CUDA_VISIBLE_DEVICES=1,2 are free" in proc.stderr
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(timeout=30)
