"""PSNR-YUV of 1080p 4:2:0 frame pairs: vcbench's scorer against ffmpeg's `psnr` filter.

Both read the same two Y4M files from disk and compute per-frame PSNR of every plane; run
side by side, several repeats, best time kept. Usage: python benchmarks/bench_psnr.py [frames]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vcbench.metrics.scoring import score_files
from vcbench.tools.ffmpeg import run_ffmpeg
from vcbench.video import Frame, VideoFormat, Y4MWriter


def make_pair(directory: Path, frames: int) -> tuple[Path, Path]:
    fmt = VideoFormat(1920, 1080)
    rng = np.random.default_rng(0)
    ref_path, dist_path = directory / "ref.y4m", directory / "dist.y4m"
    with Y4MWriter(ref_path, fmt) as ref, Y4MWriter(dist_path, fmt) as dist:
        for _ in range(frames):
            planes = [rng.integers(16, 236, size=s, dtype=np.uint8) for s in ((1080, 1920), (540, 960), (540, 960))]
            noisy = [np.clip(p.astype(np.int16) + rng.integers(-6, 7, size=p.shape), 0, 255).astype(np.uint8) for p in planes]
            ref.write(Frame(*planes))
            dist.write(Frame(*noisy))
    return ref_path, dist_path


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(frames: int = 60, repeats: int = 3) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ref, dist = make_pair(Path(tmp), frames)
        ours = best_of(repeats, lambda: score_files(ref, dist, ["psnr"], progress=False))
        ffmpeg_psnr = ["-threads", "1", "-i", str(dist), "-i", str(ref), "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"]
        theirs = best_of(repeats, lambda: run_ffmpeg(ffmpeg_psnr, "psnr"))
    print(f"frames: {frames} 1080p 4:2:0 8-bit pairs, best of {repeats}")
    print(f"vcbench PSNR-YUV : {frames / ours:8.1f} fps ({ours:.2f} s)")
    print(f"ffmpeg psnr      : {frames / theirs:8.1f} fps ({theirs:.2f} s)")
    print(f"ratio (vcbench / ffmpeg speed): {theirs / ours:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
