"""Seconds per frame of the weight-free perceptual metrics (the score job's metric classes, YUV -> sRGB
conversion included) against each metric's reference tool on the same frames, side by side in one run,
at 640x320 and at 1080p.

The frames: the demo sequence bikes scaled (lanczos) to each size, and its x265 qp 39 reconstruction.
The references, each given the very sRGB frames the class scores:
- Butteraugli: Debian's `butteraugli_main` (libjxl-devtools 0.7), one process per frame on PNG files
  (so its figure includes starting the process and decoding two PNGs);
- FLIP: `flip_evaluator.evaluate` on the float frames;
- ColorVideoVDP: pycvvdp's own `cvvdp.predict` on the whole uint8 clip (one thread unless torch says otherwise);
- SSIMULACRA 2: the reference C++ (cloudinary/ssimulacra2) when --ssimulacra2 names a built binary, one
  process per frame on PNG files (its figure includes starting the process, decoding two PNGs and its
  sRGB -> linear conversion; ours includes YUV -> sRGB of both frames and every step after it); otherwise
  only ours is timed. Ours runs numba-compiled kernels: the benchmark warms them up first, and prints apart
  what a fresh score process pays once to import numba and load them from the on-disk cache.
Every timing of ours converts the frames anew (a score job converts each frame once, for all four metrics).
Each side runs --repeats times, best kept; wall-clock seconds, so on a loaded machine
compare the ratios more than the seconds. Usage:
python benchmarks/bench_perceptual_metrics.py [--frames N] [--hd-frames N] [--repeats N] [--work DIR]
    [--ssimulacra2 BIN] [--metrics ssimulacra2,butteraugli,flip,cvvdp]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from vcbench.tools.ffmpeg import run_ffmpeg
from vcbench.video import Frame, Y4MReader
from vcbench.video.color import yuv_to_srgb8

VCBENCH = [sys.executable, "-m", "vcbench.cli"]
SIZES = {"640x320": (640, 320), "1080p": (1920, 1080)}
METRICS = ("ssimulacra2", "butteraugli", "flip", "cvvdp")


def vcbench(*args: str) -> None:
    subprocess.run([*VCBENCH, *args], check=True, capture_output=True)


def make_pair(work: Path, label: str, size: tuple[int, int], frames: int) -> tuple[Path, Path]:
    """bikes scaled to ``size`` (``frames`` frames) and its x265 qp 39 reconstruction."""
    demo = work / "bikes.y4m"
    if not demo.exists():
        vcbench("data", "prepare", "--dataset", "demo", "--sequence", "bikes", "--out", str(demo))
    source, bitstream, reconstruction = work / f"{label}.y4m", work / f"{label}.hevc", work / f"{label}.rec.y4m"
    if not source.exists():
        run_ffmpeg(["-i", str(demo), "-frames:v", str(frames), "-vf", f"scale={size[0]}:{size[1]}:flags=lanczos",
                    "-pix_fmt", "yuv420p", "-strict", "-1", str(source)], f"scale bikes to {label}")
    if not reconstruction.exists():
        vcbench("encode", str(source), str(bitstream), "--codec", "x265", "-p", "qp=39", "--frames", str(frames))
        vcbench("decode", str(bitstream), str(reconstruction), "--like", str(source))
    return source, reconstruction


def read(path: Path, frames: int):
    with Y4MReader(path) as reader:
        return list(reader.frames(limit=frames)), reader.format


def unconverted(frames: list[Frame]) -> list[Frame]:
    """The same frames as new objects, which ``yuv_to_srgb8`` converts anew (it keeps an image per frame object)."""
    return [Frame(f.y, f.u, f.v) for f in frames]


def best(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def per_frame_tool(command: list[str], pngs: list[tuple[Path, Path]]) -> Callable[[], None]:
    def run() -> None:
        for ref, dist in pngs:
            subprocess.run([*command, str(ref), str(dist)], check=True, capture_output=True)
    return run


def bench_size(label: str, source: Path, reconstruction: Path, frames: int, repeats: int, ssimulacra2_bin: str | None,
               work: Path, metrics: list[str]) -> list[tuple[str, str, float, str, float | None]]:
    ref, fmt = read(source, frames)
    dist, _ = read(reconstruction, frames)
    ref_rgb = [yuv_to_srgb8(f, fmt) for f in unconverted(ref)]
    dist_rgb = [yuv_to_srgb8(f, fmt) for f in unconverted(dist)]
    pngs = []
    for i, (a, b) in enumerate(zip(ref_rgb, dist_rgb)):
        pair = (work / f"{label}_{i}_ref.png", work / f"{label}_{i}_dist.png")
        Image.fromarray(a).save(pair[0])
        Image.fromarray(b).save(pair[1])
        pngs.append(pair)
    n = len(ref)
    rows = []

    if "ssimulacra2" in metrics:
        from vcbench.metrics.ssimulacra2 import SSIMULACRA2

        ours = SSIMULACRA2()
        ours.compute(ref[:1], dist[:1], fmt)  # compiles the kernels, or loads them from numba's cache
        theirs = per_frame_tool([ssimulacra2_bin], pngs) if ssimulacra2_bin else None
        rows.append((label, "ssimulacra2", best(lambda: ours.compute(unconverted(ref), unconverted(dist), fmt), repeats) / n,
                     "reference ssimulacra2 (PNG, process per frame)" if theirs else "reference C++ not built here",
                     best(theirs, repeats) / n if theirs else None))

    if "butteraugli" in metrics:
        from vcbench.metrics.butteraugli import Butteraugli

        butter = Butteraugli()
        rows.append((label, "butteraugli", best(lambda: butter.compute(unconverted(ref), unconverted(dist), fmt), repeats) / n,
                     "butteraugli_main (PNG, process per frame)", best(per_frame_tool(["butteraugli_main"], pngs), repeats) / n))

    if "flip" in metrics:
        from flip_evaluator import evaluate

        from vcbench.metrics.flip import DEFAULT_PPD, FLIP

        flip = FLIP()
        ref_f = [a.astype(np.float32) / np.float32(255.0) for a in ref_rgb]
        dist_f = [b.astype(np.float32) / np.float32(255.0) for b in dist_rgb]

        def flip_reference() -> None:
            for a, b in zip(ref_f, dist_f):
                evaluate(a, b, "LDR", inputsRGB=True, applyMagma=False, parameters={"ppd": DEFAULT_PPD})
        rows.append((label, "flip", best(lambda: flip.compute(unconverted(ref), unconverted(dist), fmt), repeats) / n,
                     "flip_evaluator.evaluate (arrays)", best(flip_reference, repeats) / n))

    if "cvvdp" in metrics:
        from vcbench.metrics.cvvdp import ColorVideoVDP

        video = ColorVideoVDP()
        clip_ref, clip_dist = np.stack(ref_rgb), np.stack(dist_rgb)
        rows.append((label, "cvvdp", best(lambda: video.compute_sequence(unconverted(ref), unconverted(dist), fmt), repeats) / n,
                     "pycvvdp cvvdp.predict (uint8 clip)",
                     best(lambda: video._model.predict(clip_dist, clip_ref, dim_order="FHWC", frames_per_second=fmt.fps), repeats) / n))
    return rows


def ssimulacra2_startup() -> float:
    """Seconds a fresh process takes to import the SSIMULACRA 2 kernels and score one 8x8 pair, the
    kernels being in numba's on-disk cache (the benchmark's own first call put them there)."""
    code = ("import numpy as np; from vcbench.metrics.ssimulacra2 import ssimulacra2; "
            "ssimulacra2(np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 9, np.uint8))")
    bare = best(lambda: subprocess.run([sys.executable, "-c", "import numpy"], check=True), 2)
    return best(lambda: subprocess.run([sys.executable, "-c", code], check=True), 2) - bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="frames at 640x320")
    parser.add_argument("--hd-frames", type=int, default=4, help="frames at 1080p (0: skip 1080p)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None, help="keep the clips here and reuse them")
    parser.add_argument("--ssimulacra2", default=None, help="a built reference ssimulacra2 binary")
    parser.add_argument("--metrics", default=",".join(METRICS), help="comma-separated, of " + ", ".join(METRICS))
    args = parser.parse_args()
    metrics = args.metrics.split(",")
    if unknown := sorted(set(metrics) - set(METRICS)):
        parser.error(f"--metrics: {', '.join(unknown)} not among {', '.join(METRICS)}")
    import torch

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_perceptual_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = []
        for label, size in SIZES.items():
            frames = args.frames if label == "640x320" else args.hd_frames
            if frames:
                source, reconstruction = make_pair(work, label, size, frames)
                rows += bench_size(label, source, reconstruction, frames, args.repeats, args.ssimulacra2, work, metrics)
        print(f"torch threads {torch.get_num_threads()}; seconds per frame, best of {args.repeats}")
        print(f"{'size':8} {'metric':12} {'vcbench':>9}  {'reference':>9}  ratio  reference tool")
        for label, metric, ours, tool, theirs in rows:
            ratio = f"{ours / theirs:5.2f}" if theirs else "    -"
            print(f"{label:8} {metric:12} {ours:9.3f}  {theirs if theirs is not None else float('nan'):9.3f}  {ratio}  {tool}")
        if "ssimulacra2" in metrics:
            print(f"ssimulacra2: a fresh score process pays {ssimulacra2_startup():.2f} s once (numba import, cached kernels loaded)")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
