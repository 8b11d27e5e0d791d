"""`vcbench backbone check`: a backbone's VAE round trip, scored with the report's metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from tiny_backbones import save_tiny_backbone
from vcbench.diffusion.ceiling import rgb_psnr
from vcbench_cli import vcbench


def test_rgb_psnr_is_pooled_over_8_bit_rgb() -> None:
    reference = torch.zeros(2, 3, 4, 4)
    off_by_one = reference + 2 / 255  # one 8-bit level everywhere (x -> (x + 1) x 127.5, rounded)
    assert math.isclose(rgb_psnr(reference, off_by_one), 10 * math.log10(255**2), abs_tol=1e-9)
    assert rgb_psnr(reference, reference) == math.inf


def test_check_scores_each_sequence_and_writes_json(tmp_path: Path, make_y4m) -> None:
    folder = save_tiny_backbone(tmp_path / "tiny", "image")
    clips = [make_y4m(192, 176, frames=3, name="a.y4m"), make_y4m(130, 98, frames=2, name="b.y4m")]  # b: padded for the VAE
    out = tmp_path / "check.json"
    result = vcbench("backbone", "check", "--backbone", folder, "--frames", "2", "--out", out, "--quiet", *clips)
    assert result.code == 0, result.stderr
    record = json.loads(out.read_text())
    assert set(record["sequences"]) == {"a", "b"} and len(record["backbone_hash"]) == 64
    for name, row in record["sequences"].items():
        assert row["frames"] == 2, name
        assert all(math.isfinite(row[key]) for key in ("psnr_rgb", "psnr_yuv", "vmaf")), row
    assert 0 < record["sequences"]["a"]["ms_ssim"] <= 1  # b is too small for 5 MS-SSIM scales
    assert f"a: 2 frames, PSNR-RGB {record['sequences']['a']['psnr_rgb']:.2f} dB" in result.stdout


def test_check_refuses_a_damaged_sequence_before_loading(tmp_path: Path, make_y4m) -> None:
    clip = make_y4m(64, 48, frames=3, name="cut.y4m")
    clip.write_bytes(clip.read_bytes()[:-10])
    result = vcbench("backbone", "check", "--backbone", tmp_path / "absent", clip)
    assert result.code == 2 and "cut.y4m" in result.error and "absent" not in result.error
