"""Media a hostile or careless user hands vcbench (issue 25): samples beyond the bit depth, a
reconstruction whose colour range or frame rate is not its source's, anchor presets the policy
cannot run, and sources that are not regular files (FIFO, device, directory). Each is refused in
one line before anything is written; the real command line in a fresh process, real ffmpeg."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SCHEMA, moving_scene, shipped_config, write_sequence
from vcbench.codecs import RatePoint, create_codec
from vcbench.codecs.ffmpeg import X265_PRESETS, X265_UNRUNNABLE
from vcbench.config_check import check_config
from vcbench.data.fetch import convert_to_y4m
from vcbench.errors import BitstreamError, ConfigError, VideoFormatError
from vcbench.video import Frame, VideoFormat, Y4MReader, Y4MWriter, YUVReader

FMT10 = VideoFormat(64, 48, 10)


def vcbench(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    """`vcbench ARGS` in a new process, with a timeout: a source that blocks must fail the test, not hang it."""
    return subprocess.run([sys.executable, "-m", "vcbench.cli", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def refusal(result: subprocess.CompletedProcess) -> str:
    """The one error line of a refused command (exit 2, nothing on stdout)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("vcbench: error: "), result.stderr
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (hidden temporary files included)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_sequence(tmp_path / "clip.y4m", VideoFormat(64, 48), 4)


def with_a_wild_sample(path: Path, frame: int, value: int = 0xF000 | 500) -> Path:
    """``path`` (10-bit) with one 16-bit word of frame ``frame`` set above 1023, as 16-bit data under a C420p10 header."""
    data = bytearray(path.read_bytes())
    offset = data.index(b"\n") + 1 + frame * (len(b"FRAME\n") + FMT10.frame_bytes) + len(b"FRAME\n") + 2 * 100
    data[offset : offset + 2] = value.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------- samples beyond the bit depth


def test_the_reader_refuses_a_sample_beyond_the_bit_depth_naming_the_frame(tmp_path):
    path = with_a_wild_sample(write_sequence(tmp_path / "a.y4m", FMT10, 4), frame=2)
    says = f"{path}: frame 2 holds the sample value {0xF000 | 500}, above 1023, the largest a 10-bit sample can be"
    with Y4MReader(path) as reader:
        assert len(list(reader.frames(limit=2))) == 2  # the frames before it read
        with pytest.raises(VideoFormatError, match="^" + re.escape(says)):
            next(reader.frames(limit=1, start=2))
        with pytest.raises(VideoFormatError, match="^" + re.escape(says)):
            reader.count_frames()  # the whole-file check encode and score run first


def test_the_largest_sample_of_each_depth_is_accepted(tmp_path):
    for fmt in (VideoFormat(8, 8, 8), VideoFormat(8, 8, 10), VideoFormat(8, 8, 12), VideoFormat(8, 8, 16)):
        top = Frame(*(np.full(shape, fmt.max_value, fmt.dtype) for shape in ((8, 8), (4, 4), (4, 4))))
        with Y4MWriter(tmp_path / "top.y4m", fmt) as writer:
            writer.write(top)
        with Y4MReader(tmp_path / "top.y4m") as reader:
            assert reader.count_frames() == 1 and int(next(reader.frames()).y.max()) == fmt.max_value


@pytest.mark.parametrize("fmt, plane, says", [
    (FMT10, np.full((48, 64), 1024, np.uint16), "sample value 1024, outside 0..1023 (10-bit)"),
    (VideoFormat(64, 48), np.full((48, 64), 300, np.uint16), "sample value 300, outside 0..255 (8-bit)"),  # uint8 would wrap it to 44
    (VideoFormat(64, 48), np.full((48, 64), -1, np.int32), "sample value -1, outside 0..255 (8-bit)"),
])
def test_the_writer_refuses_samples_beyond_the_bit_depth_and_writes_nothing(tmp_path, fmt, plane, says):
    good = moving_scene(fmt, 2)
    target = tmp_path / "a.y4m"
    target.write_bytes(b"an earlier file")
    with pytest.raises(VideoFormatError, match="^" + re.escape(f"{target}: frame 1 holds the {says}; refusing to write it") + "$"):
        with Y4MWriter(target, fmt) as writer:
            writer.write(good[0])
            writer.write(Frame(plane, good[1].u, good[1].v))
    assert snapshot(tmp_path) == {"a.y4m": b"an earlier file"}


def test_raw_yuv_refuses_a_sample_beyond_the_bit_depth(tmp_path):
    frames = moving_scene(FMT10, 2)
    frames[1].v[3, 3] = 2000
    raw = tmp_path / "a.yuv"
    raw.write_bytes(b"".join(frame.to_bytes() for frame in frames))
    with pytest.raises(VideoFormatError, match="^" + re.escape(f"{raw}: frame 1 holds the sample value 2000, above 1023")):
        list(YUVReader(raw, FMT10).frames())


def test_score_and_encode_refuse_a_sample_beyond_the_bit_depth_and_change_nothing(tmp_path):
    source = write_sequence(tmp_path / "src.y4m", FMT10, 4)
    wild = with_a_wild_sample(write_sequence(tmp_path / "rec.y4m", FMT10, 4), frame=3)
    (tmp_path / "a.hevc").write_bytes(b"an earlier bitstream")
    (tmp_path / "a.summary.json").write_text('{"frames": 4, "not_computed": {}}')  # a summary: score may replace it
    before = snapshot(tmp_path)
    says = f"vcbench: error: {wild.name}: frame 3 holds the sample value {0xF000 | 500}, above 1023"
    scored = vcbench("score", source.name, wild.name, "--metrics", "psnr", "--quiet", "--summary", "a.summary.json", cwd=tmp_path)
    assert refusal(scored).startswith(says) and scored.stdout == ""
    encoded = vcbench("encode", wild.name, "a.hevc", "--codec", "x265", "-p", "qp=37", cwd=tmp_path)
    assert refusal(encoded).startswith(says)
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------- colour range and frame rate against the source


@pytest.mark.parametrize("other, says", [
    ({"full_range": True}, "colour range (full vs limited)"),
    ({"fps_num": 30}, "frame rate (30/1 vs 25/1 fps)"),
    ({"full_range": True, "fps_num": 30}, "colour range (full vs limited) and frame rate (30/1 vs 25/1 fps)"),
])
def test_score_refuses_another_range_or_rate_unless_told_and_then_says_so_in_the_summary(tmp_path, clip, other, says):
    rec = write_sequence(tmp_path / "rec.y4m", VideoFormat(64, 48, **other), 4, seed=1)
    args = ("score", clip.name, rec.name, "--metrics", "psnr", "--quiet", "--summary", "a.summary.json")
    before = snapshot(tmp_path)
    assert refusal(vcbench(*args, cwd=tmp_path)) == (
        f"vcbench: error: rec.y4m: differs from its reference clip.y4m in {says}; bring it to the reference's format, "
        "or pass --allow-format-mismatch to score it anyway")
    assert snapshot(tmp_path) == before
    allowed = vcbench(*args, "--allow-format-mismatch", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    warnings = json.loads((tmp_path / "a.summary.json").read_text())["warnings"]
    assert warnings == [f"rec.y4m differs from its reference clip.y4m in {part}" for part in says.split(" and ")]
    assert [f"vcbench: warning: {w}" for w in warnings] == allowed.stderr.strip().splitlines()


def test_a_warning_is_rd_csvs_trailing_text_column_never_a_metric(tmp_path, clip):
    """aggregate writes a summary's warnings as rd.csv's last column, text ("; "-joined, empty when
    none); the report's metrics leave it out and verify compares it with the summary."""
    from vcbench.report.content import reported_metrics
    from vcbench.results import read_rd
    from vcbench.verify.rows import RowResult, _check_labels

    write_sequence(tmp_path / "rec30.y4m", VideoFormat(64, 48, fps_num=30), 4, seed=1)
    steps = [("encode", "clip.y4m", "a.hevc", "--codec", "x265", "-p", "qp=37"), ("decode", "a.hevc", "r.y4m", "--record", "a.decode.json")]
    records = ("--metrics", "psnr", "--quiet", "--encode-record", "a.encode.json", "--decode-record", "a.decode.json")
    steps += [("score", "clip.y4m", "rec30.y4m", *records, "--summary", "w.summary.json", "--allow-format-mismatch"),
              ("score", "clip.y4m", "r.y4m", *records, "--summary", "a.summary.json"),
              ("aggregate", "w.summary.json", "a.summary.json", "--out", "rd.csv")]
    for step in steps:
        result = vcbench(*step, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    said = "rec30.y4m differs from its reference clip.y4m in frame rate (30/1 vs 25/1 fps)"
    assert json.loads((tmp_path / "w.summary.json").read_text())["warnings"] == [said]
    assert json.loads((tmp_path / "a.summary.json").read_text())["warnings"] == []
    table = read_rd(tmp_path / "rd.csv")
    assert list(table.columns[-2:]) == ["not_computed", "warnings"]
    assert sorted(table["warnings"].fillna("")) == ["", said]
    assert reported_metrics(table.columns) == ["psnr"]
    row = table[table["warnings"].notna()].iloc[0].to_dict()
    summary, encode = (json.loads((tmp_path / name).read_text()) for name in ("w.summary.json", "a.encode.json"))
    for cell, passes in ((said, True), ("", False)):
        result = RowResult("row")
        _check_labels(result, {**row, "warnings": cell}, Path("a.hevc"), encode, summary, Path("w.summary.json"))
        assert [check.passed for check in result.checks if check.what.startswith("warnings")] == [passes]


def test_the_same_rate_spelt_otherwise_is_no_mismatch():
    ntsc = VideoFormat(8, 8, fps_num=30000, fps_den=1001)
    assert ntsc.range_and_rate_differences(VideoFormat(8, 8, fps_num=60000, fps_den=2002)) == []


def test_the_pipelines_own_reconstruction_of_a_full_range_30_fps_source_scores_without_a_word(tmp_path):
    """decode --like writes the source's format, so what the pipeline scores is never refused."""
    source = write_sequence(tmp_path / "src.y4m", VideoFormat(64, 48, full_range=True, fps_num=30), 4)
    for step in (("encode", source.name, "a.hevc", "--codec", "x265", "-p", "qp=37"),
                 ("decode", "a.hevc", "rec.y4m", "--like", source.name),
                 ("score", source.name, "rec.y4m", "--metrics", "psnr", "--quiet", "--summary", "a.summary.json")):
        result = vcbench(*step, cwd=tmp_path)
        assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    assert "warnings" not in json.loads((tmp_path / "a.summary.json").read_text())


# ---------------------------------------------------------------- anchor presets the policy cannot run


def test_x265_refuses_exactly_the_presets_x265_itself_cannot_run_under_the_policy(tmp_path, clip):
    """Every preset in both structures, through the real encoder with the check stepped around: the
    declared list is what x265 refuses, and its own line says why."""
    failing = set()
    for structure in ("random_access", "low_delay"):
        for preset in X265_PRESETS:
            codec = create_codec("x265", structure=structure)
            codec.preset = preset  # past the option check, to see what x265 does
            try:
                codec.encode(clip, tmp_path / "a.hevc", RatePoint("q", {"qp": 40}))
            except BitstreamError as err:
                assert "x265 [error]: Lookahead depth must be greater than the max consecutive bframe count" in str(err)
                assert "Invalid argument" not in str(err) and " @ 0x" not in str(err), err
                failing.add((structure, preset))
    assert failing == {(X265_UNRUNNABLE.structure, preset) for preset in X265_UNRUNNABLE.presets}


def test_an_unrunnable_preset_is_refused_by_the_option_check_the_cli_and_the_config(tmp_path, clip):
    says = ("preset=fast cannot run with structure=random_access (x265's lookahead depth must exceed the 15 consecutive B frames "
            "of the mini-GOP of 16); use one of medium, slow, slower, veryslow, placebo")
    with pytest.raises(ConfigError, match="^" + re.escape(f"x265 options: {says}") + "$"):
        create_codec("x265", preset="fast")
    assert create_codec("x265", preset="fast", structure="low_delay").preset == "fast"
    before = snapshot(tmp_path)
    result = vcbench("encode", clip.name, "a.hevc", "--codec", "x265", "-p", "qp=37", "-o", "preset=fast", cwd=tmp_path)
    assert refusal(result) == f"vcbench: error: x265 options (-o): {says}"
    assert snapshot(tmp_path) == before
    options = vcbench("options", "x265", cwd=tmp_path)
    assert "structure=random_access needs one of medium, slow, slower, veryslow, placebo" in options.stdout
    config = shipped_config()
    key = next(key for key, entry in config["codecs"].items() if entry["codec"] == "x265")
    config["codecs"][key]["options"] = {**config["codecs"][key]["options"], "preset": "ultrafast"}
    with pytest.raises(ConfigError, match=f"^config codecs.{key}.options: preset=ultrafast cannot run with structure=random_access"):
        check_config(config, SCHEMA)


# ---------------------------------------------------------------- sources that are not regular files


@pytest.fixture
def odd_sources(tmp_path):
    """A FIFO (no writer: opening it for reading would block forever), a directory and a character device."""
    fifo = tmp_path / "pipe.y4m"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.y4m"
    folder.mkdir()
    return {"a FIFO (named pipe)": fifo, "a directory": folder, "a character device": Path("/dev/zero")}


@pytest.mark.timeout(120)
def test_encode_and_score_refuse_a_source_that_is_not_a_regular_file(tmp_path, clip, odd_sources):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.summary.json").write_text("{}")
    before = snapshot(out)
    for kind, odd in odd_sources.items():
        says = f"vcbench: error: {odd}: is {kind}, not a regular file; vcbench reads sources by seeking, so write the video to a file first"
        for args in (("encode", odd, out / "a.hevc", "--codec", "x265", "-p", "qp=37"),
                     ("score", odd, clip, "--summary", out / "a.summary.json"),
                     ("score", clip, odd, "--summary", out / "a.summary.json")):
            assert refusal(vcbench(*args, cwd=tmp_path)) == says, args
    assert snapshot(out) == before


@pytest.mark.timeout(60)
def test_data_preparation_refuses_a_source_that_is_not_a_regular_file(tmp_path, odd_sources):
    fmt = VideoFormat(64, 48)
    for kind, odd in odd_sources.items():
        for name in (odd, odd.with_suffix(".yuv") if odd.parent == tmp_path else None):
            if name is None:
                continue
            if not name.exists():
                name.symlink_to(odd)  # the .yuv path of the raw reader, the same FIFO or folder behind it
            with pytest.raises(VideoFormatError, match="^" + re.escape(f"{name}: is {kind}, not a regular file")):
                convert_to_y4m(name, fmt, 4, tmp_path / "out.y4m", progress=False)
    assert not (tmp_path / "out.y4m").exists()


@pytest.mark.timeout(120)
def test_no_reader_of_a_named_file_blocks_on_a_fifo(tmp_path, clip):
    """A bitstream, a record, a summary, rd.csv or a YAML file that is a FIFO: refused in one line
    naming it (each reader opens what a user names through vcbench.io.open_regular_file)."""
    from vcbench.io import load_yaml
    from vcbench.results import read_rd

    assert vcbench("encode", clip.name, "a.hevc", "--codec", "x265", "-p", "qp=37", cwd=tmp_path).returncode == 0
    for name in ("pipe.hevc", "pipe.json", "pipe.csv", "pipe.yaml"):
        os.mkfifo(tmp_path / name)
    before = snapshot(tmp_path)
    says = "is a FIFO (named pipe), not a regular file; copy it into a regular file first"
    for fifo, args in (("pipe.hevc", ("decode", "pipe.hevc", "r.y4m")),  # it hung in the bitstream's sha256
                       ("pipe.json", ("decode", "a.hevc", "r.y4m", "--encode-record", "pipe.json")),
                       ("pipe.json", ("score", clip.name, clip.name, "--encode-record", "pipe.json")),
                       ("pipe.json", ("aggregate", "pipe.json", "--out", "rd.csv"))):
        assert refusal(vcbench(*args, cwd=tmp_path)) == f"vcbench: error: {fifo}: {says}", args
    for read, name in ((read_rd, "pipe.csv"), (load_yaml, "pipe.yaml")):
        with pytest.raises(ConfigError, match="^" + re.escape(f"{tmp_path / name}: {says}")):
            read(tmp_path / name)
    assert snapshot(tmp_path) == before
