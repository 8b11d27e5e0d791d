"""DiV-INR on a tiny image backbone (AutoencoderKL + UNet2DConditionModel built from small
configs and saved to disk): real encode/decode, determinism, the file format's error handling,
the adapters' effect and the rate knobs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vcbench.codecs.base import RatePoint
from vcbench.codecs.divinr import DivInrCodec, bitstream
from vcbench.codecs.divinr.backbone import load_backbone
from vcbench.codecs.divinr.gop import GopModel
from vcbench.codecs.divinr.lora import attach_lora
from vcbench.codecs.divinr.sampler import noise_process, sample
from vcbench.codecs.divinr.tiny import save_tiny_backbone
from vcbench.errors import BitstreamError, ConfigError, VideoFormatError
from vcbench.io import sha256_file
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter, rgb_to_yuv

FAST = {"iterations": 6, "steps": 2, "device": "cpu", "threads": 1}


def write_clip(path: Path, frames: int = 4, width: int = 64, height: int = 48) -> Path:
    """A moving colour pattern: enough structure for the INR to fit and the metrics to see."""
    fmt = VideoFormat(width, height)
    yy, xx = np.mgrid[0:height, 0:width] / width
    with Y4MWriter(path, fmt) as writer:
        for index in range(frames):
            rgb = np.stack([np.sin(xx * 6 + index * 0.5) * 0.5 + 0.5, yy, np.cos(yy * 9 - index) * 0.25 + 0.5], -1)
            writer.write(rgb_to_yuv(rgb.astype(np.float32), fmt))
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("divinr")
    save_tiny_backbone(root / "backbone", "image", seed=0)
    write_clip(root / "clip.y4m")
    return root


@pytest.fixture(scope="module")
def encoded(workdir: Path) -> Path:
    codec = DivInrCodec(backbone=str(workdir / "backbone"), **FAST)
    record = codec.encode(workdir / "clip.y4m", workdir / "clip.divinr", RatePoint("r1", {"inr_width": 6, "lora_rank": 2}))
    assert record["bytes"] == (workdir / "clip.divinr").stat().st_size
    assert record["gops"][0]["parameters"]["lora"] > 0 and record["gops"][0]["parameters"]["context"] > 0
    return workdir / "clip.divinr"


def test_decode_is_deterministic_and_keeps_the_source_format(workdir: Path, encoded: Path) -> None:
    codec = DivInrCodec(backbone=str(workdir / "backbone"), device="cpu", threads=1)
    codec.decode(encoded, workdir / "a.y4m")
    codec.decode(encoded, workdir / "b.y4m")
    assert (workdir / "a.y4m").read_bytes() == (workdir / "b.y4m").read_bytes()
    with Y4MReader(workdir / "a.y4m") as rec, Y4MReader(workdir / "clip.y4m") as src:
        assert rec.format == src.format
        assert rec.count_frames() == src.count_frames() == 4


def test_every_corrupted_byte_and_every_truncation_is_caught(encoded: Path) -> None:
    data = encoded.read_bytes()
    assert bitstream.unpack(data).header["frames"] == 4
    for index in range(len(data)):
        damaged = bytearray(data)
        damaged[index] ^= 0x5A
        with pytest.raises(BitstreamError):
            bitstream.unpack(bytes(damaged))
    for length in range(len(data)):
        with pytest.raises(BitstreamError):
            bitstream.unpack(data[:length])


def test_damaged_file_fails_decode_with_one_line(workdir: Path, encoded: Path) -> None:
    damaged = workdir / "damaged.divinr"
    data = bytearray(encoded.read_bytes())
    data[len(data) // 2] ^= 1
    damaged.write_bytes(bytes(data))
    with pytest.raises(BitstreamError, match="CRC32") as err:
        DivInrCodec(backbone=str(workdir / "backbone"), device="cpu").decode(damaged, workdir / "never.y4m")
    assert "\n" not in str(err.value)
    assert not (workdir / "never.y4m").exists()


def test_absent_backbone_is_named(workdir: Path, encoded: Path) -> None:
    other = save_tiny_backbone(workdir / "other", "image", seed=1)
    with pytest.raises(BitstreamError, match="not present"):
        DivInrCodec(backbone=str(other), device="cpu").decode(encoded, workdir / "never.y4m")
    # found by content hash among the subfolders of models_dir
    DivInrCodec(backbone=str(other), models_dir=str(workdir), device="cpu").decode(encoded, workdir / "found.y4m")
    assert (workdir / "found.y4m").read_bytes() == _decoded(workdir, encoded)


def _decoded(workdir: Path, encoded: Path) -> bytes:
    DivInrCodec(backbone=str(workdir / "backbone"), device="cpu").decode(encoded, workdir / "ref.y4m")
    return (workdir / "ref.y4m").read_bytes()


def test_adapters_change_the_output(workdir: Path, encoded: Path) -> None:
    container = bitstream.read(encoded)
    header = container.header
    backbone = load_backbone(workdir / "backbone")
    attach_lora(backbone.unet, header["lora_rank"])
    latent_hw = tuple(s // backbone.downscale for s in header["padded"])
    model = GopModel.build(backbone, 4, latent_hw, header["inr"]["width"], header["inr"]["stages"], lora_seed=header["seed"], init_seed=0)
    model.load(container.payload[4:])
    assert any(p.abs().sum() > 0 for _, p in model.lora)
    condition = model.inr(torch.arange(4))
    process = noise_process(backbone.scheduler_config)
    with_adapters = sample(backbone, process, condition, model.context, None, header["steps"], header["seed"])
    with torch.no_grad():
        for _, p in model.lora:
            p.zero_()
    without = sample(backbone, process, condition, model.context, None, header["steps"], header["seed"])
    assert (with_adapters - without).abs().max() > 1e-4


def test_rate_grows_with_each_knob(workdir: Path) -> None:
    codec = DivInrCodec(backbone=str(workdir / "backbone"), **FAST)
    base = {"inr_width": 4, "quant_step": 0.1, "lora_rank": 0, "rate_weight": 1.0}

    def size(**change) -> int:
        path = workdir / f"knob_{'_'.join(change)}.divinr"
        return codec.encode(workdir / "clip.y4m", path, RatePoint("k", {**base, **change}))["bytes"]

    reference = size()
    assert size(inr_width=12) > reference
    assert size(quant_step=0.01) > reference
    assert size(lora_rank=4) > reference


def test_a_damaged_source_fails_even_when_its_first_frames_are_whole(workdir: Path) -> None:
    data = (workdir / "clip.y4m").read_bytes()
    (workdir / "cut.y4m").write_bytes(data[: len(data) - 100])  # frames 0-2 whole, frame 3 cut
    with pytest.raises(VideoFormatError, match="frame 3 is truncated"):
        DivInrCodec(backbone=str(workdir / "backbone"), **FAST).encode(workdir / "cut.y4m", workdir / "cut.divinr", RatePoint("x"), 2)
    assert not (workdir / "cut.divinr").exists()


def test_unknown_knob_and_option_are_config_errors(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        DivInrCodec(backbone=str(workdir / "backbone"), qp=3)
    with pytest.raises(ConfigError, match="unknown knob"):
        DivInrCodec(backbone=str(workdir / "backbone"), **FAST).encode(workdir / "clip.y4m", workdir / "x.divinr", RatePoint("x", {"qp": 3}))


def test_predicted_clean_frames_are_recorded_per_step(workdir: Path, encoded: Path) -> None:
    DivInrCodec(backbone=str(workdir / "backbone"), device="cpu", record_x0="true").decode(encoded, workdir / "x0.y4m")
    steps = sorted((workdir / "x0.y4m.x0").glob("step_*.y4m"))
    assert [p.name for p in steps] == ["step_00.y4m", "step_01.y4m"]
    with Y4MReader(steps[-1]) as last:
        assert last.count_frames() == 4


def test_denoising_analysis_scores_every_step_and_every_step_count(workdir: Path, encoded: Path) -> None:
    out = workdir / "analysis"
    # MS-SSIM needs more than 64 px a side, so the tiny clip is scored on PSNR (and VMAF, always).
    result = subprocess.run([sys.executable, "-m", "vcbench.cli", "denoising-analysis", str(encoded), str(workdir / "clip.y4m"),
                             "--out-dir", str(out), "--steps", "1,2,3", "--metrics", "psnr,vmaf", "-o", f"backbone={workdir / 'backbone'}",
                             "-o", "threads=1", "--quiet"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    per_step, per_count = pd.read_csv(out / "per_step.csv"), pd.read_csv(out / "per_step_count.csv")
    assert list(per_step["step"]) == [1, 2] and list(per_count["steps"]) == [1, 2, 3]
    assert {"psnr_y", "psnr_yuv", "vmaf"} <= set(per_step.columns) & set(per_count.columns)
    # DDIM's last step returns its x0 estimate: the final step's row is the normative decode's.
    assert per_step["psnr_yuv"].iloc[-1] == pytest.approx(per_count.set_index("steps").loc[2, "psnr_yuv"], abs=1e-6)
    # Each step count is its own decode, not a copy of the normative one.
    assert per_count["psnr_yuv"].nunique() == 3
    record = json.loads((out / "analysis.json").read_text())
    assert record["header_steps"] == 2 and record["bitstream_sha256"] == sha256_file(encoded)
    assert (out / "denoising.png").stat().st_size > 0
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # scratch decodes are gone


@pytest.mark.slow
def test_command_line_encode_and_decode(workdir: Path) -> None:
    vcbench = [sys.executable, "-m", "vcbench.cli"]
    options = ["-o", f"backbone={workdir / 'backbone'}", "-o", "iterations=3", "-o", "steps=2", "-o", "threads=1"]
    bits = workdir / "cli.divinr"
    subprocess.run([*vcbench, "encode", "--codec", "divinr", "--rate-label", "w4", "-p", "inr_width=4", "-p", "lora_rank=1",
                    *options, str(workdir / "clip.y4m"), str(bits)], check=True, capture_output=True)
    subprocess.run([*vcbench, "decode", *options[:2], str(bits), str(workdir / "cli.y4m")], check=True, capture_output=True)
    with Y4MReader(workdir / "cli.y4m") as rec:
        assert rec.count_frames() == 4
    bits.write_bytes(bits.read_bytes()[:-3])
    failed = subprocess.run([*vcbench, "decode", *options[:2], str(bits), str(workdir / "bad.y4m")], capture_output=True, text=True)
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0 and "DiV-INR" in failed.stderr
