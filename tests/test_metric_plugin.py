"""A metric is one module plus one registry line: tests/metric_plugin/ adds two toy metrics (a lower-is-better
per-frame one, a per-sequence one) through VCBENCH_METRICS alone, and every stage picks them up."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from conftest import REPO, write_sequence
from dag import SMOKE_ANCHORS, run_snakemake, workflow_copy
from vcbench.errors import ConfigError, VideoFormatError
from vcbench.metrics import registry
from vcbench.metrics.scoring import score_files
from vcbench.verify.compare import metric_tolerance
from vcbench.video import VideoFormat

PLUGIN = REPO / "tests" / "metric_plugin"


@pytest.fixture
def plugin(monkeypatch):
    monkeypatch.setenv(registry.PLUGIN_PATH, str(PLUGIN))


def test_a_module_on_vcbench_metrics_registers_its_metric(plugin):
    assert registry.available_metrics()[-2:] == ["toy_mae", "toy_sequence_psnr"]
    assert registry.lower_is_better("toy_mae") and not registry.lower_is_better("toy_sequence_psnr")
    assert registry.declared_metric_options("toy_mae").names() == ["scale"]
    assert metric_tolerance("toy_mae", same_device=False).absolute == 0.5
    assert metric_tolerance("toy_mae", same_device=True).absolute == 1e-9


def test_without_the_variable_the_toys_do_not_exist(monkeypatch):
    monkeypatch.delenv(registry.PLUGIN_PATH, raising=False)
    assert "toy_mae" not in registry.available_metrics()
    with pytest.raises(ConfigError, match="unknown metric 'toy_mae'; available metrics: psnr, ms_ssim"):
        registry.metric_spec("toy_mae")


def test_a_bad_plugin_folder_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv(registry.PLUGIN_PATH, str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="VCBENCH_METRICS: .*absent is not a folder"):
        registry.available_metrics()
    (tmp_path / "nospec.py").write_text("VALUE = 1\n")
    monkeypatch.setenv(registry.PLUGIN_PATH, str(tmp_path))
    with pytest.raises(ConfigError, match="nospec.py: a metric module on VCBENCH_METRICS must define SPEC"):
        registry.available_metrics()
    (tmp_path / "nospec.py").unlink()
    (tmp_path / "psnr_again.py").write_text("from vcbench.metrics.psnr import SPEC\n")
    with pytest.raises(ConfigError, match="metric 'psnr' is declared twice"):
        registry.available_metrics()


def test_frame_and_sequence_metrics_are_scored_side_by_side(plugin, make_y4m, tmp_path):
    reference = make_y4m(64, 48, frames=3, name="ref.y4m")
    distorted = write_sequence(tmp_path / "dist.y4m", VideoFormat(64, 48), 3, seed=1)
    scores = score_files(reference, distorted, ["toy_mae", "toy_sequence_psnr", "psnr"], progress=False,
                         metric_options={"toy_mae": {"scale": 2.0}})
    assert list(scores.columns) == ["frame", "toy_mae", "psnr_y", "psnr_u", "psnr_v", "psnr_yuv"]  # per frame only
    means = scores.means()
    assert means["toy_mae"] > 0 and 0 < means["toy_sequence_psnr"] < 100
    assert "toy_sequence_psnr" not in scores.to_csv().splitlines()[0]


def test_frames_smaller_than_a_metric_scores_are_refused_before_scoring(make_y4m):
    clip = make_y4m(16, 16, frames=2, name="tiny.y4m")
    with pytest.raises(VideoFormatError, match=r"tiny.y4m: vmaf scores frames of at least 18x18, these are 16x16 \(libvmaf crashes"):
        score_files(clip, clip, ["psnr", "vmaf"], progress=False)
    small = make_y4m(64, 48, frames=2, name="small.y4m")
    with pytest.raises(VideoFormatError, match="cambi scores frames of at least 18x18 with a longer side of 216, these are 64x48"):
        score_files(small, small, ["cambi"], progress=False)
    # MS-SSIM's limit leaves its column empty instead, with why
    assert "at least 161x161" in score_files(small, small, ["ms_ssim"], progress=False).not_computed["ms_ssim"]


@pytest.mark.slow
def test_a_plugin_metric_reaches_rd_bd_and_the_report_of_a_snakemake_run(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    proc = run_snakemake(workdir, "--configfile", str(SMOKE_ANCHORS), str(PLUGIN / "config.yaml"), "--config", "preset=smoke",
                         env={registry.PLUGIN_PATH: str(PLUGIN), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                         timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = workdir / "reports" / "smoke"
    rd = pd.read_csv(reports / "rd.csv")
    assert len(rd) == 6 and rd["toy_mae"].notna().all() and rd["toy_sequence_psnr"].notna().all()
    frames = pd.read_csv(next((workdir / "results").rglob("*.frames.csv")))
    assert "toy_mae" in frames and "toy_sequence_psnr" not in frames  # one value per sequence: rd.csv only
    bd = pd.read_csv(reports / "bd.csv")
    directions = dict(zip(bd["metric"], bd["direction"]))
    assert directions == {"psnr_y": "higher", "psnr_yuv": "higher", "toy_mae": "lower", "toy_sequence_psnr": "higher"}
    report = (reports / "report.md").read_text()
    assert "toy_mae (lower better)" in report and "Toy MAE (a test plugin)" in report and "toy_sequence_psnr" in report
    assert os.environ.get(registry.PLUGIN_PATH) is None  # the run's variable did not leak into this process
