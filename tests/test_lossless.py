"""The kept reconstructions (FFV1 in Matroska) decode back to the very Y4M they were made from, and
`vcbench decode` / `vcbench score` read them and anchors' bitstreams as they read a Y4M."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vcbench.video import Frame, VideoFormat, Y4MReader, Y4MWriter, read_y4m_header
from vcbench.video.lossless import read_lossless, write_lossless


def noise_clip(path, fmt: VideoFormat, frames: int, seed: int = 0):
    """Every sample drawn over the whole range, the extremes included: nothing a lossy step could keep."""
    rng = np.random.default_rng(seed)
    shapes = [(fmt.height, fmt.width), (fmt.chroma_height, fmt.chroma_width), (fmt.chroma_height, fmt.chroma_width)]
    with Y4MWriter(path, fmt) as writer:
        for _ in range(frames):
            planes = [rng.integers(0, fmt.max_value + 1, shape).astype(fmt.dtype) for shape in shapes]
            planes[0][0, 0], planes[0][-1, -1] = 0, fmt.max_value
            writer.write(Frame(*planes))
    return path


@pytest.mark.parametrize("fmt", [
    VideoFormat(64, 48, 8),
    VideoFormat(33, 17, 8, fps_num=30000, fps_den=1001, full_range=True, chroma_siting="420mpeg2"),
    VideoFormat(64, 48, 10),
    VideoFormat(33, 17, 10, fps_num=50, full_range=True),
], ids=["8bit", "8bit-odd-full-mpeg2", "10bit", "10bit-odd-full"])
def test_round_trip_is_bit_exact(tmp_path, fmt):
    source = noise_clip(tmp_path / "rec.y4m", fmt, 3)
    write_lossless(source, tmp_path / "rec.mkv")
    read_lossless(tmp_path / "rec.mkv", tmp_path / "back.y4m")
    assert read_y4m_header(tmp_path / "back.y4m") == fmt
    with Y4MReader(source) as a, Y4MReader(tmp_path / "back.y4m") as b:
        assert a.count_frames() == b.count_frames() == 3
        for fa, fb in zip(a.frames(), b.frames()):
            assert all(pa.dtype == pb.dtype and np.array_equal(pa, pb) for pa, pb in zip(fa.planes, fb.planes))


def test_a_damaged_copy_fails_in_one_line(tmp_path):
    source = noise_clip(tmp_path / "rec.y4m", VideoFormat(64, 48, 8), 2)
    write_lossless(source, tmp_path / "rec.mkv")
    data = bytearray((tmp_path / "rec.mkv").read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the frames: the slice CRC catches it
    (tmp_path / "rec.mkv").write_bytes(bytes(data))
    run = subprocess.run([sys.executable, "-m", "vcbench.cli", "score", str(source), str(tmp_path / "rec.mkv"), "--metrics", "psnr",
                          "--quiet"], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "rec.mkv" in run.stderr, run.stderr


def vcbench(cwd, *args):
    run = subprocess.run([sys.executable, "-m", "vcbench.cli", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run


def test_score_reads_a_kept_copy_and_a_bitstream_as_the_y4m(tmp_path, make_y4m):
    """The three ways the workflow's jobs get a reconstruction give the same per-frame numbers and preview."""
    clip = make_y4m(64, 48, 4, bit_depth=10)
    vcbench(tmp_path, "encode", clip, "a.hevc", "--codec", "x265", "-p", "qp=40")
    vcbench(tmp_path, "decode", "a.hevc", "rec.y4m", "--like", clip)
    vcbench(tmp_path, "decode", "a.hevc", "rec.mkv", "--like", clip, "--record", "a.decode.json")
    record = json.loads((tmp_path / "a.decode.json").read_text())
    assert record["frames"] == 4 and record["format"] == read_y4m_header(clip).describe()
    vcbench(tmp_path, "decode", "a.hevc", "--like", clip)  # checked and timed, nothing written
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("a.", "rec."))) == [
        "a.decode.json", "a.encode.json", "a.hevc", "rec.mkv", "rec.y4m"]
    outputs = {}
    for name in ("rec.y4m", "rec.mkv", "a.hevc"):
        vcbench(tmp_path, "score", clip, name, "--metrics", "psnr,ms_ssim,vmaf", "--quiet", "--encode-record", "a.encode.json",
                "--frames-csv", f"{name}.csv", "--preview", f"{name}.png")
        outputs[name] = ((tmp_path / f"{name}.csv").read_text(), (tmp_path / f"{name}.png").read_bytes())
    assert outputs["rec.y4m"] == outputs["rec.mkv"] == outputs["a.hevc"]
    assert not list(tmp_path.glob("**/*.partial*"))


def test_score_refuses_another_bitstream_than_its_record(tmp_path, make_y4m):
    clip = make_y4m(64, 48, 2)
    vcbench(tmp_path, "encode", clip, "a.hevc", "--codec", "x265", "-p", "qp=40")
    vcbench(tmp_path, "encode", clip, "b.hevc", "--codec", "x265", "-p", "qp=30")
    run = subprocess.run([sys.executable, "-m", "vcbench.cli", "score", str(clip), "b.hevc", "--metrics", "psnr", "--quiet",
                          "--encode-record", "a.encode.json", "--summary", "b.summary.json"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 2 and "is not the bitstream a.encode.json describes" in run.stderr
    assert not (tmp_path / "b.summary.json").exists()
