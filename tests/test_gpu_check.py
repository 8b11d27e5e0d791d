"""Determinism set in one place, the decode record's platform, verify's same-platform rule, training's
device and perceptual-loss choice, and the GPU check script: its CPU part here (CI), its whole on CUDA
(marker ``gpu``, skipped without a CUDA device)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO
from tiny_backbones import save_tiny_backbone
from vcbench.codecs.diffvc import training
from vcbench.errors import ConfigError
from vcbench.tools.determinism import CUBLAS_DETERMINISTIC, cpu_model, platform_record, strict_determinism
from vcbench.tools.device import prepare_torch
from vcbench.verify.compare import platform_differences
from vcbench_cli import vcbench

CODEC_CHECKS = ("divinr/embedded", "divinr/sd21", "diffvc/embedded", "diffvc/sd21", "givic (its encode is the per-GOP fit)")


def test_preparing_torch_pins_the_deterministic_settings() -> None:
    threads = torch.get_num_threads()
    try:
        assert prepare_torch("cpu", 1, "test") == torch.device("cpu")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert torch.get_float32_matmul_precision() == "highest"
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] in CUBLAS_DETERMINISTIC
    with strict_determinism():
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()


def test_the_platform_record_names_what_a_decode_depends_on() -> None:
    record = platform_record(torch.device("cpu"), "bfloat16")
    assert record["device"] == "cpu" and record["dtype"] == "bfloat16" and record["threads"] == torch.get_num_threads()
    assert record["device_model"] == cpu_model() and record["device_model"]
    assert record["torch"] == torch.__version__ and record["cuda"] is None and record["cudnn"] is None
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_verify_demands_exactness_on_the_same_platform_only() -> None:
    cpu = {"device": "cpu", "device_model": "Xeon", "dtype": "float32", "threads": 1, "cpu_capability": "AVX512", "torch": "2.14.1"}
    assert platform_differences(cpu, dict(cpu)) == []
    assert platform_differences(cpu, {**cpu, "threads": 2}) == ["threads 2 (recorded 1)"]  # normative on the CPU
    assert platform_differences(cpu, {**cpu, "device_model": "EPYC", "dtype": "bfloat16"}) == [
        "device_model EPYC (recorded Xeon)", "dtype bfloat16 (recorded float32)"]
    gpu = {**cpu, "device": "cuda", "device_model": "NVIDIA H100 80GB HBM3", "cuda": "13.0", "cudnn": 92400}
    assert platform_differences(gpu, {**gpu, "threads": 8}) == []  # a CUDA decode's kernels do not use the CPU threads
    assert platform_differences(gpu, {**gpu, "device_model": "NVIDIA A100-SXM4-80GB"}) == [
        "device_model NVIDIA A100-SXM4-80GB (recorded NVIDIA H100 80GB HBM3)"]
    assert platform_differences({"device": "cuda"}, gpu) == []  # an older record: the device alone, as before
    assert platform_differences({"device": "cpu"}, gpu) == ["device cuda (recorded cpu)"]


def test_training_without_dists_weights_stops_unless_the_fallback_is_chosen(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VCBENCH_ASSETS_DIR", str(tmp_path / "no-assets"))
    with pytest.raises(ConfigError, match=r"torchvision-vgg16.*--perceptual-loss ssim"):
        training.perceptual_loss("dists", torch.device("cpu"))
    name, loss = training.perceptual_loss("ssim", torch.device("cpu"))
    assert name.startswith("1 - SSIM") and "chosen" in name
    assert loss(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)).item() == pytest.approx(0.0, abs=1e-6)

    backbone = save_tiny_backbone(tmp_path / "backbone", "image")
    result = vcbench("train-diffvc", "--backbone", backbone, "--out", tmp_path / "model", "--steps", "1", "--device", "cpu")
    assert result.code != 0 and "torchvision-vgg16" in result.error and "--perceptual-loss ssim" in result.error
    assert not list(tmp_path.glob("*model*"))  # refused before anything was written


def test_the_committed_models_perceptual_choice_is_one_the_command_takes() -> None:
    record = json.loads((REPO / "models" / "diffvc" / "model_index.json").read_text())["vcbench"]
    assert record["perceptual_term"].startswith("1 - SSIM")  # trained with the fallback: now `--perceptual-loss ssim`
    rule = (REPO / "workflow" / "rules" / "diffvc.smk").read_text()
    assert "--perceptual-loss ssim" in rule and "--perceptual-loss ssim" in (REPO / "models" / "README.md").read_text()


def _check_report(report: dict, device: str) -> None:
    assert report["passed"], report["failures"]
    assert report["platform"]["device"] == device and report["platform"]["deterministic"]
    for name in CODEC_CHECKS:
        result = report["checks"][name]
        assert result["decodes_identical"] and result["decode_seconds_per_frame"] > 0 and result["encode_seconds_per_frame"] > 0
        assert result["decode_record"]["device"] == device and result["decode_record"]["dtype"] == "float32"
    for name in ("train-prior", "train-diffvc/sd21"):
        assert report["checks"][name]["device"] == device and report["checks"][name]["training_seconds"] > 0


@pytest.mark.slow
def test_the_gpu_checks_cpu_part_runs(tmp_path: Path) -> None:
    out = tmp_path / "gpu-check.json"
    proc = subprocess.run([str(REPO / "scripts" / "gpu-check.sh"), "--cpu", "--out", str(out)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    _check_report(report, "cpu")
    assert "cpu_decode_within_tolerance" not in report["checks"]["divinr/embedded"]  # nothing to compare across on the CPU
    assert all(isinstance(report["checks"][name]["identical_at_2_threads"], bool) for name in CODEC_CHECKS)  # said, not required
    assert proc.stdout.strip().splitlines()[-1].startswith("passed (cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_gpu_check_passes_on_cuda(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "scripts" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    assert gpu_check.main(["--out", str(tmp_path / "gpu-check.json")]) == 0
    report = json.loads((tmp_path / "gpu-check.json").read_text())
    _check_report(report, "cuda")
    for name in CODEC_CHECKS:
        assert report["checks"][name]["cpu_decode_within_tolerance"] and report["checks"][name]["decode_peak_gpu_bytes"] > 0
