"""The metrics of libvmaf, all in one pass: one ffmpeg process decodes both files once and its libvmaf
filter computes every asked-for model and feature per frame.

- VMAF and VMAF-NEG: libvmaf's built-in vmaf_v0.6.1 and vmaf_v0.6.1neg models.
- PSNR-HVS (``psnr_hvs``): Ponomarenko et al.'s DCT-domain PSNR with contrast sensitivity, per plane
  and combined as libvmaf does (0.8 Y + 0.1 Cb + 0.1 Cr), in dB; higher is better.
- CIEDE2000 (``ciede2000``): libvmaf's ``ciede`` feature. It converts both frames to CIELAB itself
  (its own YUV -> RGB -> Lab, not `video/color.py`), takes the mean CIEDE2000 colour difference dE00
  over the frame's pixels (with libvmaf's weights kL = 0.65, kC = 1, kH = 4) and reports it as a
  score, 45 - 20 log10(mean dE00), like a PSNR: higher is better (libvmaf's ciede.c).
- CAMBI (``cambi``): Netflix's banding index of the distorted frame (no reference), 0 = no banding,
  about 5 = slightly annoying, 24 = the worst; lower is better.

An exact match gives libvmaf an infinite PSNR-HVS and CIEDE2000 (null in its log): they count as
`PSNR_CAP_DB`, as PSNR does, so that averages stay finite.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

from vcbench.metrics.psnr import PSNR_CAP_DB
from vcbench.metrics.spec import LIBVMAF, Column, FrameLimit, MetricSpec
from vcbench.tools.ffmpeg import run_ffmpeg

# Measured with the ffmpeg imageio-ffmpeg ships: libvmaf segfaults when a side is 17 px or less.
_LIBVMAF_FRAME = FrameLimit(min_side=18, why="libvmaf crashes on a side of 17 pixels or less")

VMAF = MetricSpec(
    "vmaf", (Column("vmaf", "higher", 0.5), Column("vmaf_neg", "higher", 0.5)), "frame", LIBVMAF,
    "VMAF: libvmaf vmaf_v0.6.1 and vmaf_v0.6.1neg on the Y4M's own YUV, per frame, averaged over frames.",
    smallest_frame=_LIBVMAF_FRAME,
)
PSNR_HVS = MetricSpec(
    "psnr_hvs",
    (Column("psnr_hvs", "higher", 0.05, unit="dB"), Column("psnr_hvs_y", "higher", 0.05, headline=False, unit="dB"),
     Column("psnr_hvs_u", "higher", 0.05, headline=False, unit="dB"), Column("psnr_hvs_v", "higher", 0.05, headline=False, unit="dB")),
    "frame", LIBVMAF,
    "PSNR-HVS: libvmaf's psnr_hvs on the Y4M's YUV (8x8 DCT, contrast-sensitivity weights), per plane and combined "
    "0.8 Y + 0.1 U + 0.1 V, per frame, averaged over frames; an exact match counts as 100 dB.",
    smallest_frame=_LIBVMAF_FRAME,
)
CIEDE2000 = MetricSpec(
    "ciede2000", (Column("ciede2000", "higher", 0.05, unit="dB"),), "frame", LIBVMAF,
    "CIEDE2000: libvmaf's ciede feature, the YUV converted to CIELAB by libvmaf, the mean colour difference dE00 "
    "(kL = 0.65) per frame reported as 45 - 20 log10(dE00) (higher is better), averaged over frames; an exact match "
    "counts as 100.",
    smallest_frame=_LIBVMAF_FRAME,
)
CAMBI = MetricSpec(
    "cambi", (Column("cambi", "lower", 0.05),), "frame", LIBVMAF,
    "CAMBI: libvmaf's banding index of the decoded frame alone (luma, its default settings), per frame, averaged over "
    "frames; 0 is no banding, about 5 slightly annoying.",
    # Measured: libvmaf's CAMBI refuses frames whose sides are both under 216 (214x18 refused, 216x18 scored).
    smallest_frame=FrameLimit(min_side=18, min_long_side=216,
                              why="libvmaf crashes on a side of 17 pixels or less, and its CAMBI needs one side of 216"),
)

# metric -> the filter argument that computes it: a model (`model=`) or a feature (`feature=`)
_MODELS = {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}
_FEATURES = {"psnr_hvs": "psnr_hvs", "ciede2000": "ciede", "cambi": "cambi"}
# our column -> libvmaf's name in its per-frame log
_LOG_NAMES = {"psnr_hvs_u": "psnr_hvs_cb", "psnr_hvs_v": "psnr_hvs_cr"}
# columns libvmaf reports as null (infinite) for an exact match
_CAPPED = {"psnr_hvs", "psnr_hvs_y", "psnr_hvs_u", "psnr_hvs_v", "ciede2000"}
SPECS = {spec.name: spec for spec in (VMAF, PSNR_HVS, CIEDE2000, CAMBI)}


def libvmaf_filter(log_path: Path, frames: int, threads: int, metrics: Sequence[str] = ("vmaf",)) -> str:
    """The filter graph computing ``metrics`` (names of `SPECS`) in one libvmaf instance."""
    trim = f"trim=end_frame={frames},setpts=PTS-STARTPTS"
    arguments = [f"log_fmt=json:log_path={log_path}:n_threads={max(threads, 1)}"]
    if "vmaf" in metrics:
        models = "|".join(f"version={version}\\:name={name}" for name, version in _MODELS.items())
        arguments.insert(0, f"model='{models}'")
    features = [f"name={_FEATURES[name]}" for name in metrics if name in _FEATURES]
    if features:
        arguments.insert(0, f"feature='{'|'.join(features)}'")
    # Trim both inputs: framesync would otherwise repeat the last distorted frame against the
    # reference's remaining frames.
    return f"[0:v]{trim}[dist];[1:v]{trim}[ref];[dist][ref]libvmaf={':'.join(arguments)}"


def compute_vmaf(reference: Path, distorted: Path, frames: int, threads: int = 1,
                 metrics: Sequence[str] = ("vmaf",)) -> dict[str, list[float]]:
    """Per-frame columns of ``metrics`` (names of `SPECS`) over the first ``frames`` frames (both files
    Y4M, same format), from one ffmpeg run."""
    unknown = [name for name in metrics if name not in SPECS]
    if unknown:
        raise ValueError(f"not libvmaf metrics: {', '.join(unknown)}")
    if not metrics:
        return {}
    with tempfile.TemporaryDirectory(prefix="vcbench-vmaf-") as tmp:
        log = Path(tmp) / "vmaf.json"
        args = ["-i", str(distorted), "-i", str(reference), "-lavfi", libvmaf_filter(log, frames, threads, metrics),
                "-f", "null", "-"]
        run_ffmpeg(args, f"{distorted}: {', '.join(metrics)} against {reference}")
        result = json.loads(log.read_text())
    per_frame = sorted(result["frames"], key=lambda f: f["frameNum"])
    columns = [column for name in metrics for column in SPECS[name].column_names]
    return {column: [_value(f["metrics"][_LOG_NAMES.get(column, column)], column) for f in per_frame] for column in columns}


def _value(logged: float | None, column: str) -> float:
    if logged is None or (column in _CAPPED and math.isinf(logged)):
        if column not in _CAPPED:
            raise ValueError(f"libvmaf logged no {column} value")
        return PSNR_CAP_DB
    return min(float(logged), PSNR_CAP_DB) if column in _CAPPED else float(logged)
