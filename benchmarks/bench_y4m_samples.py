"""What the Y4M reader's sample-range check costs: 1080p 10-bit 4:2:0 frames read with and without it.

The reader refuses a sample above the bit depth's maximum (one vectorised max per frame; 8- and
16-bit files skip it). Measured: count_frames (the whole-file check encode and score run first),
reading every frame, and reading every frame with a consumer that touches each luma sample (as a
metric does). Best of several repeats. Usage: python benchmarks/bench_y4m_samples.py [frames]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import vcbench.video.y4m as y4m
from vcbench.video import Frame, VideoFormat, Y4MReader, Y4MWriter

REPEATS = 7


def make_clip(path: Path, frames: int) -> Path:
    fmt = VideoFormat(1920, 1080, 10)
    rng = np.random.default_rng(0)
    with Y4MWriter(path, fmt) as writer:
        for _ in range(frames):
            writer.write(Frame(*(rng.integers(0, 1024, size=s, dtype=np.uint16) for s in ((1080, 1920), (540, 960), (540, 960)))))
    return path


def timings(path: Path) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(REPEATS):
        for what in ("count_frames", "read", "read + touch luma"):
            started = time.perf_counter()
            with Y4MReader(path) as reader:
                if what == "count_frames":
                    reader.count_frames()
                else:
                    for frame in reader.frames():
                        if what != "read":
                            float(frame.y.astype(np.float32).mean())
            best[what] = min(best.get(what, float("inf")), time.perf_counter() - started)
    return best


def main() -> None:
    frames = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory() as scratch:
        clip = make_clip(Path(scratch) / "clip.y4m", frames)
        checked = timings(clip)
        check = y4m.out_of_range_sample
        y4m.out_of_range_sample = lambda samples, fmt: None  # the reader without the check
        try:
            unchecked = timings(clip)
        finally:
            y4m.out_of_range_sample = check
    print(f"1920x1080 10-bit, {frames} frames, best of {REPEATS}, ms per frame")
    for what in checked:
        print(f"  {what:18s} without the check {1e3 * unchecked[what] / frames:6.2f}   with it {1e3 * checked[what] / frames:6.2f}")


if __name__ == "__main__":
    main()
