"""DiV-INR on a tiny image backbone (AutoencoderKL + UNet2DConditionModel built from small
configs and saved to disk): real encode/decode, determinism, the file format's error handling,
the adapters' effect and the rate knobs."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from tiny_backbones import save_tiny_backbone
from vcbench.codecs.base import RatePoint
from vcbench.codecs.divinr import DivInrCodec, bitstream
from vcbench.codecs.divinr.analysis import STRIP_ZOOM, Strip, StripPanel, plot_strip, strip_layout
from vcbench.codecs.divinr.gop import GopModel
from vcbench.diffusion.backbone import load_backbone
from vcbench.diffusion.lora import attach_lora
from vcbench.diffusion.noise import noise_process, sample
from vcbench.errors import BitstreamError, ConfigError, VideoFormatError
from vcbench.io import sha256_file
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter, rgb_to_yuv
from vcbench_cli import vcbench

FAST = {"fit_iterations": 4, "iterations": 6, "steps": 2, "device": "cpu", "threads": 1}


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
    assert bitstream.FORMAT.unpack(data).header["frames"] == 4
    for index in range(len(data)):
        damaged = bytearray(data)
        damaged[index] ^= 0x5A
        with pytest.raises(BitstreamError):
            bitstream.FORMAT.unpack(bytes(damaged))
    for length in range(len(data)):
        with pytest.raises(BitstreamError):
            bitstream.FORMAT.unpack(data[:length])


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
    latent_hw = (header["padded_height"] // backbone.downscale, header["padded_width"] // backbone.downscale)
    model = GopModel.build(backbone, 4, latent_hw, header["inr_width"], header["inr_stages"], lora_seed=header["seed"], init_seed=0)
    model.load(container.sections[0])
    assert any(p.abs().sum() > 0 for _, p in model.lora)
    condition = model.inr(torch.arange(4))
    process = noise_process(backbone.scheduler_config)
    with_adapters = sample(backbone, process, condition, model.context, None, header["sampling_steps"], header["seed"])
    with torch.no_grad():
        for _, p in model.lora:
            p.zero_()
    without = sample(backbone, process, condition, model.context, None, header["sampling_steps"], header["seed"])
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


def test_a_strength_below_one_runs_only_the_last_steps(workdir: Path) -> None:
    codec = DivInrCodec(backbone=str(workdir / "backbone"), **{**FAST, "steps": 4, "strength": 0.5})
    codec.encode(workdir / "clip.y4m", workdir / "half.divinr", RatePoint("r", {"inr_width": 6}))
    assert bitstream.read(workdir / "half.divinr").header["strength"] == 0.5
    first = codec.decode(workdir / "half.divinr", workdir / "half_a.y4m")
    codec.decode(workdir / "half.divinr", workdir / "half_b.y4m")
    assert (first["steps"], first["steps_run"]) == (4, 2)
    assert (workdir / "half_a.y4m").read_bytes() == (workdir / "half_b.y4m").read_bytes()


def test_fitting_the_inr_alone_first_brings_the_latents_closer(workdir: Path) -> None:
    """The INR-only phase is what buys the INR its fit: with it, the joint phase ends nearer the latents."""
    rate = RatePoint("r", {"inr_width": 6, "lora_rank": 1})
    losses = {}
    for fit in (0, 60):
        codec = DivInrCodec(backbone=str(workdir / "backbone"), **{**FAST, "fit_iterations": fit})
        record = codec.encode(workdir / "clip.y4m", workdir / f"fit{fit}.divinr", rate)
        losses[fit] = record["gops"][0]["final"]["latent_loss"]
        assert (record["gops"][0]["fitted_latent_loss"] is None) == (fit == 0)
    assert losses[60] < 0.7 * losses[0]


def test_a_damaged_source_fails_even_when_its_first_frames_are_whole(workdir: Path) -> None:
    data = (workdir / "clip.y4m").read_bytes()
    (workdir / "cut.y4m").write_bytes(data[: len(data) - 100])  # frames 0-2 whole, frame 3 cut
    with pytest.raises(VideoFormatError, match="frame 3 is truncated"):
        DivInrCodec(backbone=str(workdir / "backbone"), **FAST).encode(workdir / "cut.y4m", workdir / "cut.divinr", RatePoint("x"), 2)
    assert not (workdir / "cut.divinr").exists()


def test_unknown_knob_and_option_are_config_errors(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        DivInrCodec(backbone=str(workdir / "backbone"), qp=3)
    with pytest.raises(ConfigError, match="unknown option 'qp'; known: inr_width"):
        DivInrCodec(backbone=str(workdir / "backbone"), **FAST).encode(workdir / "clip.y4m", workdir / "x.divinr",
                                                                       RatePoint("x", {"qp": 3}))
    with pytest.raises(ConfigError, match="inr_width='abc' is not an integer"):
        DivInrCodec(backbone=str(workdir / "backbone"), **FAST).encode(workdir / "clip.y4m", workdir / "x.divinr",
                                                                       RatePoint("x", {"inr_width": "abc"}))
    with pytest.raises(ConfigError, match="steps=0 is out of range"):
        DivInrCodec(backbone=str(workdir / "backbone"), steps=0)
    assert not (workdir / "x.divinr").exists()


def test_the_declarations_are_the_codecs() -> None:
    from dataclasses import fields

    from vcbench.codecs.divinr import settings
    from vcbench.codecs.divinr.encoder import EncoderSettings
    from vcbench.diffusion.noise import SAMPLERS

    assert (DivInrCodec.option_set, DivInrCodec.knob_set) == (settings.OPTIONS, settings.KNOBS)
    assert tuple(SAMPLERS) == settings.SAMPLER_NAMES
    assert {f.name for f in fields(EncoderSettings)} == set(settings.ENCODER_OPTIONS) | {"quant_step", "rate_weight"}
    assert DivInrCodec().options == {option.name: option.default for option in settings.OPTIONS}


def with_fields(data: bytes, **values: object) -> bytes:
    """``data`` with header fields set to ``values`` (packed as their wire types, unchecked) and the
    CRC32 recomputed: an edit the CRC cannot catch."""
    container = bitstream.FORMAT.unpack(data)
    packed = [f.pack(values.get(f.name, container.header[f.name])) for f in bitstream.FIELDS]
    return bitstream.FORMAT._serialise(container.model_hash, packed, container.sections)


# (field, edited value, what the one-line error names): ranges, choices, and agreement with the other fields and sections
HEADER_EDITS = [
    ("frames", 0, "frames=0"), ("frames", 40, "GOP sections"), ("gop", 0, "gop=0"), ("gop", 2, "GOP sections"),
    ("gop", 5000, "gop=5000"), ("width", 0, "width=0"), ("width", 63, "63x48 is odd"), ("height", 1, "height=1"),
    ("bit_depth", 7, "bit_depth=7"), ("fps_den", 0, "fps_den=0"), ("full_range", 2, "full_range=2"),
    ("chroma_siting", "444", "chroma_siting='444'"), ("padded_height", 40, "padded_height=40"),
    ("padded_width", 60000, "padded_width=60000"), ("inr_width", 0, "inr_width=0"), ("inr_width", 1000, "inr_width=1000"),
    ("inr_stages", 4, "inr_stages=4"), ("lora_rank", 65, "lora_rank=65"), ("sampler", "euler", "sampler='euler'"),
    ("sampling_steps", 0, "sampling_steps=0"), ("sampling_steps", 5000, "sampling_steps=5000"), ("strength", 0.0, "strength=0.0"),
    ("strength", 1.5, "strength=1.5"), ("svd_time_ids", 2, "svd_time_ids=2"),
    ("fps_id", float("nan"), "fps_id=nan"), ("motion_bucket_id", float("inf"), "motion_bucket_id=inf"),
]


@pytest.mark.parametrize(("field", "value", "named"), HEADER_EDITS, ids=[f"{f}={v!r}" for f, v, _ in HEADER_EDITS])
def test_an_edited_header_is_refused_in_one_line(encoded: Path, field: str, value: object, named: str) -> None:
    with pytest.raises(BitstreamError) as err:
        bitstream.FORMAT.unpack(with_fields(encoded.read_bytes(), **{field: value}), "edited.divinr")
    assert named in str(err.value) and str(err.value).startswith("edited.divinr: ") and "\n" not in str(err.value)


# Edits that only the backbone can tell apart from a good header: the decoder refuses them once it has loaded it.
DECODER_EDITS = [("padded_height", 52, "padded_height"), ("inr_stages", 2, "inr_stages"), ("sampler", "euler-edm", "sampler"),
                 ("svd_time_ids", 1, "svd_time_ids"), ("inr_width", 7, "shapes the header gives"),
                 ("lora_rank", 1, "shapes the header gives"), ("lora_rank", 0, "shapes the header gives")]


@pytest.mark.parametrize(("field", "value", "named"), DECODER_EDITS, ids=[f"{f}={v!r}" for f, v, _ in DECODER_EDITS])
def test_the_decoder_refuses_a_header_that_does_not_fit_the_backbone(workdir: Path, encoded: Path, field: str, value: object,
                                                                     named: str) -> None:
    bad = workdir / "edited.divinr"
    bad.write_bytes(with_fields(encoded.read_bytes(), **{field: value}))
    bitstream.read(bad)  # a well-formed header on its own
    with pytest.raises(BitstreamError, match=named) as err:
        DivInrCodec(backbone=str(workdir / "backbone"), device="cpu").decode(bad, workdir / "never.y4m")
    assert "\n" not in str(err.value) and str(err.value).startswith(str(bad))
    assert not (workdir / "never.y4m").exists()


@pytest.mark.parametrize("word", [0, 0xFFFFFFFF])
def test_the_decoder_refuses_edited_weights_behind_a_recomputed_crc(workdir: Path, encoded: Path, word: int) -> None:
    data = encoded.read_bytes()
    body = data[:-8] + struct.pack("<I", word)  # the last word of the last GOP's entropy-coded weights
    bad = workdir / "weights.divinr"
    bad.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    with pytest.raises(BitstreamError, match=f"{bad}: GOP 0: ") as err:
        DivInrCodec(backbone=str(workdir / "backbone"), device="cpu").decode(bad, workdir / "never.y4m")
    assert "\n" not in str(err.value) and not (workdir / "never.y4m").exists()


def test_cli_refuses_an_edited_header_and_a_bad_knob_in_one_line(workdir: Path, encoded: Path) -> None:
    data = encoded.read_bytes()
    bad = workdir / "zero.divinr"
    bad.write_bytes(with_fields(data, frames=0))
    (workdir / "kept.y4m").write_bytes(b"old")
    result = vcbench("decode", bad, workdir / "kept.y4m", "-o", f"backbone={workdir / 'backbone'}", "-o", "device=cpu")
    assert result.code == 2 and "header field frames=0" in result.error
    assert (workdir / "kept.y4m").read_bytes() == b"old"
    result = vcbench("encode", workdir / "clip.y4m", workdir / "badknob.divinr", "--codec", "divinr", "-p", "inr_width=abc",
                     "-o", f"backbone={workdir / 'backbone'}")
    assert result.code == 2 and result.error == ("vcbench: error: divinr rate knobs (-p): inr_width='abc' is not an integer; "
                                                 "inr_width is an integer in [1, 512]")
    assert not list(workdir.glob("*badknob*"))


def test_cli_decode_checks_the_frames_the_header_promises(workdir: Path, encoded: Path) -> None:
    rec = workdir / "promised.y4m"
    result = vcbench("decode", encoded, rec, "-o", f"backbone={workdir / 'backbone'}", "-o", "device=cpu", "--expect-frames", 3)
    assert result.code == 2 and "the frame counts promised differ (--expect-frames: 3, its header: 4)" in result.error
    assert not rec.exists()
    assert vcbench("decode", encoded, rec, "-o", f"backbone={workdir / 'backbone'}", "-o", "device=cpu").code == 0
    with Y4MReader(rec) as reader:
        assert reader.count_frames() == 4


def test_predicted_clean_frames_are_recorded_per_step(workdir: Path, encoded: Path) -> None:
    DivInrCodec(backbone=str(workdir / "backbone"), device="cpu", x0_dir=str(workdir / "x0")).decode(encoded, workdir / "x0.y4m")
    steps = sorted((workdir / "x0").glob("step_*.y4m"))
    assert [p.name for p in steps] == ["step_00.y4m", "step_01.y4m"]
    with Y4MReader(steps[-1]) as last:
        assert last.count_frames() == 4


def test_denoising_analysis_scores_every_step_and_every_step_count(workdir: Path, encoded: Path) -> None:
    out = workdir / "analysis"
    # MS-SSIM needs more than 64 px a side, so the tiny clip is scored on PSNR (and VMAF, always).
    result = subprocess.run([sys.executable, "-m", "vcbench.cli", "analysis", "denoising", "--codec", "divinr", "--dataset", "demo",
                             "--sequence", "clip", "--rate", "d1", "--source", str(workdir / "clip.y4m"), "--input", "bitstream", "d1",
                             str(encoded), "--out-dir", str(out), "-s", "steps=1,2,3", "--metrics", "psnr,vmaf",
                             "-o", f"backbone={workdir / 'backbone'}",
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
    assert record["details"]["header_steps"] == 2 and record["details"]["bitstream_sha256"] == sha256_file(encoded)
    assert record["title"] == "demo/clip, divinr at d1 (2 steps coded)"
    assert record["figures"] == ["denoising.png", "denoising_strip.png"]
    assert (out / "denoising.png").stat().st_size > 0
    # the strip: the source's crop of the middle frame, one panel per coded step, the final decode
    strip = record["details"]["strip"]
    assert [p["label"] for p in strip["panels"]] == ["source", "step 1", "step 2", "final decode"]
    assert strip["frame"] == 2 and strip["window"]["side"] == 48  # the 64x48 clip: as large a window as it allows
    # its crop PSNRs are the decoded frames' own: DDIM's last x0 estimate is the decode
    assert strip["panels"][2]["crop_psnr_rgb"] == strip["panels"][3]["crop_psnr_rgb"]
    with Image.open(out / "denoising_strip.png") as png:
        assert png.format == "PNG" and png.size == strip_layout(4, 48)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # scratch decodes are gone


def _strip(steps: int, side: int = 96) -> Strip:
    rng = np.random.default_rng(steps)
    return Strip(3, 8, 16, side, [StripPanel("source", rng.random((side, side, 3))),
                                  *(StripPanel(f"step {k}", rng.random((side, side, 3)), 20.0 + k, 999.0 - 100 * k, k > 1)
                                    for k in range(1, steps + 1)),
                                  StripPanel("final decode", rng.random((side, side, 3)), 30.0)])


def test_the_strip_has_a_panel_per_step_drawn_pixel_for_pixel_and_the_same_bytes_twice(tmp_path: Path) -> None:
    sizes = {}
    for steps in (1, 4, 8):
        strip = _strip(steps)
        plot_strip(strip, steps, tmp_path / f"{steps}.png")
        with Image.open(tmp_path / f"{steps}.png") as png:
            sizes[steps] = png.size
            pixels = np.asarray(png.convert("RGB"), dtype=float) / 255
        # the source's crop (top left, below its title) drawn unresampled: ZOOM x ZOOM screen pixels per source pixel
        zoomed = strip.panels[0].image.repeat(STRIP_ZOOM, 0).repeat(STRIP_ZOOM, 1)
        assert any(np.abs(pixels[top:top + len(zoomed), :len(zoomed)] - zoomed).max() <= 1 / 255 + 1e-9 for top in range(60))
    # three panels a row, fitting the report's half-page column; one more row per three more steps
    assert sizes == {1: strip_layout(3, 96), 4: strip_layout(6, 96), 8: strip_layout(10, 96)}
    assert sizes[1][0] == sizes[8][0] <= 590 and sizes[1][1] < sizes[4][1] < sizes[8][1]
    plot_strip(_strip(8), 8, tmp_path / "again.png")
    assert (tmp_path / "again.png").read_bytes() == (tmp_path / "8.png").read_bytes()


def test_one_decoder_decodes_each_step_count_as_a_fresh_decoder_does(workdir: Path, encoded: Path) -> None:
    options = {"backbone": str(workdir / "backbone"), "device": "cpu", "threads": 1}
    decoder = DivInrCodec(**options).decoder(encoded)
    vae_calls = []
    decode_latents = decoder.backbone.decode_latents
    decoder.backbone.decode_latents = lambda latents: vae_calls.append(len(latents)) or decode_latents(latents)
    out = workdir / "shared"
    decoder.decode(out / "steps_02.y4m", None, out / "x0")  # the header's 2 steps, recording x0
    decoder.decode(out / "steps_01.y4m", 1)
    decoder.decode(out / "steps_03.y4m", 3)
    for steps in (2, 1, 3):
        fresh = workdir / f"fresh_{steps}.y4m"
        DivInrCodec(**options, decode_steps=steps).decode(encoded, fresh)
        assert (out / f"steps_{steps:02d}.y4m").read_bytes() == fresh.read_bytes()
    # two x0 estimates, then the 3-step decode's output: the 2-step output is its last x0, the 1-step one its first
    assert vae_calls == [4, 4, 4]
    assert (out / "x0" / "step_01.y4m").read_bytes() == (out / "steps_02.y4m").read_bytes()
    assert (out / "x0" / "step_00.y4m").read_bytes() == (out / "steps_01.y4m").read_bytes()


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
    assert failed.stderr.strip().count("\n") == 0 and "divinr bitstream" in failed.stderr
