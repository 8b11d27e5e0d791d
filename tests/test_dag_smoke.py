"""The smoke preset through real Snakemake: end to end, resumable, and failing cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from dag import run_snakemake, snakemake_command, snakemake_env, workflow_copy

pytestmark = pytest.mark.slow

RD_COLUMNS = ["dataset", "sequence", "codec", "rate", "frames", "width", "height", "bytes", "bpp", "psnr_y", "psnr_yuv",
              "ms_ssim", "vmaf", "vmaf_neg", "encode_seconds", "decode_seconds", "bitstream", "bitstream_sha256"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    workdir = workflow_copy(tmp_path_factory.mktemp("smoke"))
    started = time.monotonic()
    proc = run_snakemake(workdir, "--config", "preset=smoke")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir, time.monotonic() - started


def test_smoke_writes_a_complete_rd_table(smoke_run):
    workdir, seconds = smoke_run
    table = pd.read_csv(workdir / "reports/smoke/rd.csv")
    assert set(RD_COLUMNS) <= set(table.columns)
    assert len(table) == 2 * 2 * 3  # sequences x codecs x rate points
    assert set(table["frames"]) == {8}
    assert table[["psnr_y", "psnr_yuv", "ms_ssim", "vmaf", "vmaf_neg"]].notna().all().all()
    for row in table.itertuples():
        size = (workdir / row.bitstream).stat().st_size
        assert row.bytes == size
        assert row.bpp == pytest.approx(8 * size / (row.frames * row.width * row.height), rel=1e-12)
    print(f"smoke preset: {seconds:.0f} s")


def test_smoke_keeps_no_reconstructions_or_partials(smoke_run):
    workdir, _ = smoke_run
    assert not list(workdir.glob("results/**/*.rec.y4m"))
    assert not list(workdir.glob("**/*.partial*"))


def test_bpp_in_rd_csv_is_exact(smoke_run):
    workdir, _ = smoke_run
    table = pd.read_csv(workdir / "reports/smoke/rd.csv")
    exact = 8 * table["bytes"] / (table["frames"] * table["width"] * table["height"])
    assert ((table["bpp"] - exact).abs() / exact < 1e-12).all()


def test_truncated_sequence_fails_in_one_line_and_keeps_finished_work(smoke_run):
    workdir, _ = smoke_run
    kept = {p: p.stat().st_mtime_ns for p in workdir.glob("results/smoke/demo/bigbuckbunny/**/*.summary.json")}
    damaged = workdir / "data/demo/bikes.y4m"
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 3])
    proc = run_snakemake(workdir, "--config", "preset=smoke", "--keep-going")
    assert proc.returncode != 0
    logs = "".join(p.read_text() for p in workdir.glob("logs/smoke/encode/demo/bikes/**/*.log"))
    assert "data/demo/bikes.y4m: frame" in logs and "truncated" in logs
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert (workdir / "reports/smoke/rd.csv").is_file()


def test_killed_run_resumes_without_redoing_finished_jobs(tmp_path):
    workdir = workflow_copy(tmp_path / "killed")
    proc = subprocess.Popen(snakemake_command("--config", "preset=smoke"), cwd=workdir, env=snakemake_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and len(list(workdir.glob("results/smoke/**/*.summary.json"))) < 2:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in workdir.glob("results/smoke/**/*.summary.json")}
    assert finished, "nothing finished before the kill"
    done = run_snakemake(workdir, "--config", "preset=smoke")
    assert done.returncode == 0, done.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in finished} == finished
    assert not list(workdir.glob("**/*.partial*"))
    assert len(pd.read_csv(workdir / "reports/smoke/rd.csv")) == 12
