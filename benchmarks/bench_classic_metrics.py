"""PSNR, MS-SSIM, VMAF and VMAF-NEG of one pair: `vcbench score` (the real command, as the DAG runs
it) against one bare libvmaf pass that computes them all, at 640x256 and at 1080p.

The pairs: the demo sequence bikes (640x256, 32 frames) and its first frames scaled to 1920x1080
(lanczos), each with an x265 qp 39 reconstruction. Both sides read the same two Y4M files with one
libvmaf thread (the score rule's default `--threads 1`); runs alternate, best of the repeats kept.
Usage: python benchmarks/bench_classic_metrics.py [--repeats N] [--hd-frames N] [--work DIR]
(--work keeps the clips there and reuses them, so that runs before and after a change score the same files).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vcbench.tools.ffmpeg import ffmpeg_exe, run_ffmpeg
from vcbench.video import read_y4m_header

VCBENCH = [sys.executable, "-m", "vcbench.cli"]
METRICS = "psnr,ms_ssim,vmaf"


def vcbench(*args: str) -> None:
    subprocess.run([*VCBENCH, *args], check=True, capture_output=True)


def coded_pair(work: Path, name: str, frames: int) -> tuple[Path, Path]:
    """``name``.y4m (made by the caller) and its x265 qp 39 reconstruction, with both records."""
    source, bitstream, reconstruction = work / f"{name}.y4m", work / f"{name}.hevc", work / f"{name}.rec.y4m"
    if not reconstruction.exists():
        vcbench("encode", str(source), str(bitstream), "--codec", "x265", "-p", "qp=39", "--frames", str(frames))
        vcbench("decode", str(bitstream), str(reconstruction), "--like", str(source),
                "--encode-record", str(work / f"{name}.encode.json"), "--record", str(work / f"{name}.decode.json"))
    return source, reconstruction


def make_pairs(work: Path, hd_frames: int) -> list[tuple[Path, Path]]:
    small = work / "bikes.y4m"
    if not small.exists():
        vcbench("data", "prepare", "--dataset", "demo", "--sequence", "bikes", "--out", str(small))
    hd = work / "bikes1080.y4m"
    if not hd.exists():
        run_ffmpeg(["-i", str(small), "-frames:v", str(hd_frames), "-vf", "scale=1920:1080:flags=lanczos", "-pix_fmt", "yuv420p",
                    "-strict", "-1", str(hd)], "scale bikes to 1080p")
    return [coded_pair(work, "bikes", 32), coded_pair(work, "bikes1080", hd_frames)]


def score_command(work: Path, source: Path, reconstruction: Path) -> list[str]:
    """The score rule's command line (workflow/rules/score.smk) for this pair."""
    stem = reconstruction.name.removesuffix(".rec.y4m")
    out = work / "out"
    out.mkdir(exist_ok=True)
    return [*VCBENCH, "score", str(source), str(reconstruction), "--metrics", METRICS, "--frames", str(count_frames(reconstruction)),
            "--encode-record", str(work / f"{stem}.encode.json"), "--decode-record", str(work / f"{stem}.decode.json"),
            "--dataset", "demo", "--sequence", stem, "--codec", "x265", "--frames-csv", str(out / f"{stem}.frames.csv"),
            "--summary", str(out / f"{stem}.summary.json"), "--preview", str(out / f"{stem}.preview.png"), "--quiet"]


def libvmaf_command(work: Path, source: Path, reconstruction: Path) -> list[str]:
    """One bare libvmaf pass computing VMAF, VMAF-NEG, MS-SSIM and PSNR, one thread."""
    lavfi = (f"[0:v][1:v]libvmaf=model='version=vmaf_v0.6.1\\:name=vmaf|version=vmaf_v0.6.1neg\\:name=vmaf_neg'"
             f":feature='name=psnr|name=float_ms_ssim':n_threads=1:log_fmt=json:log_path={work / 'bare.json'}")
    return [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(reconstruction), "-i", str(source),
            "-lavfi", lavfi, "-f", "null", "-"]


def count_frames(path: Path) -> int:
    fmt = read_y4m_header(path)
    return (path.stat().st_size - len(path.open("rb").readline())) // (len(b"FRAME\n") + fmt.frame_bytes)


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hd-frames", type=int, default=8)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="vcbench-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for source, reconstruction in make_pairs(work, args.hd_frames):
            ours, bare = score_command(work, source, reconstruction), libvmaf_command(work, source, reconstruction)
            times: dict[str, list[float]] = {"score": [], "libvmaf": []}
            for _ in range(args.repeats):
                times["score"].append(wall(ours))
                times["libvmaf"].append(wall(bare))
            fmt, frames = read_y4m_header(source), count_frames(reconstruction)
            best = {key: min(values) for key, values in times.items()}
            print(f"{fmt.width}x{fmt.height} {fmt.bit_depth}-bit, {frames} frames (best of {args.repeats}):"
                  f" vcbench score {best['score']:.2f} s, one libvmaf pass {best['libvmaf']:.2f} s,"
                  f" ratio {best['score'] / best['libvmaf']:.2f}")
    finally:
        if args.work is None:
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
