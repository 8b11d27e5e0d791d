"""VMAF and VMAF-NEG (libvmaf's built-in vmaf_v0.6.1 and vmaf_v0.6.1neg) through ffmpeg, per frame."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from vcbench.tools.ffmpeg import run_ffmpeg

MODELS = {"vmaf": "vmaf_v0.6.1", "vmaf_neg": "vmaf_v0.6.1neg"}
COLUMNS = tuple(MODELS)


def vmaf_filter(log_path: Path, frames: int, threads: int) -> str:
    models = "|".join(f"version={version}\\:name={name}" for name, version in MODELS.items())
    # Trim both inputs: framesync would otherwise repeat the last distorted frame against the
    # reference's remaining frames.
    trim = f"trim=end_frame={frames},setpts=PTS-STARTPTS"
    return (
        f"[0:v]{trim}[dist];[1:v]{trim}[ref];"
        f"[dist][ref]libvmaf=model='{models}':log_fmt=json:log_path={log_path}:n_threads={max(threads, 1)}"
    )


def compute_vmaf(reference: Path, distorted: Path, frames: int, threads: int = 1) -> dict[str, list[float]]:
    """Per-frame VMAF and VMAF-NEG of the first ``frames`` frames (both files Y4M, same format)."""
    with tempfile.TemporaryDirectory(prefix="vcbench-vmaf-") as tmp:
        log = Path(tmp) / "vmaf.json"
        args = ["-i", str(distorted), "-i", str(reference), "-lavfi", vmaf_filter(log, frames, threads), "-f", "null", "-"]
        run_ffmpeg(args, f"{distorted}: VMAF against {reference}")
        result = json.loads(log.read_text())
    per_frame = sorted(result["frames"], key=lambda f: f["frameNum"])
    return {name: [float(f["metrics"][name]) for f in per_frame] for name in COLUMNS}
