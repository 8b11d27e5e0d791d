"""What `vcbench encode`, `decode` and `score` do with input that would have destroyed files or
recorded numbers that are not true: each case fails in one line (exit 2) before anything is
written, and every file that was there is byte for byte what it was. Real x265 encodes of a
small clip (64x64, 8 frames) through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vcbench.commands.files import written_together
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter
from vcbench_cli import vcbench

FRAMES = 8


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (temporary siblings included) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(folder: Path, *args: object, message: str, code: int = 2) -> str:
    """Run vcbench; it must fail with ``code``, say ``message`` in its one error line, and leave every
    file under ``folder`` as it was."""
    before = snapshot(folder)
    result = vcbench(*args)
    assert result.code == code, result.stderr
    lines = result.stderr.strip().splitlines()
    error = lines[-1]
    assert message in error, result.stderr
    if not error.startswith("Error: "):  # click's own usage errors come after a usage line
        assert len(lines) == 1, result.stderr
    assert snapshot(folder) == before
    return error


@pytest.fixture
def clip(make_y4m) -> Path:
    return make_y4m(64, 64, FRAMES, name="src.y4m")


@pytest.fixture
def coded(clip: Path) -> Path:
    """An x265 bitstream of the whole clip, with its encode record beside it."""
    bitstream = clip.with_name("b.hevc")
    result = vcbench("encode", clip, bitstream, "--codec", "x265", "-p", "qp=37")
    assert result.code == 0, result.stderr
    return bitstream


def record_of(bitstream: Path) -> Path:
    return bitstream.with_name(bitstream.stem + ".encode.json")


# -- an output that is an input ------------------------------------------------------------------


def test_encode_refuses_to_write_over_its_source(clip: Path) -> None:
    error = refused(clip.parent, "encode", clip, clip, "--codec", "x265", "-p", "qp=37", message="is the same file as SOURCE")
    assert error == (f"vcbench: error: BITSTREAM {clip} is the same file as SOURCE {clip}; writing it would destroy that file, "
                     "give another path")
    refused(clip.parent, "encode", clip, clip.with_name("x.hevc"), "--codec", "x265", "-p", "qp=37", "--record", clip,
            message=f"--record {clip} is the same file as SOURCE")


def test_encode_refuses_a_hard_link_or_another_spelling_of_its_source(clip: Path) -> None:
    link = clip.with_name("link.y4m")
    os.link(clip, link)
    refused(clip.parent, "encode", clip, link, "--codec", "x265", "-p", "qp=37", message="is the same file as SOURCE")
    other_spelling = clip.parent / "." / "sub" / ".." / clip.name
    (clip.parent / "sub").mkdir()
    refused(clip.parent, "encode", clip, other_spelling, "--codec", "x265", "-p", "qp=37", message="is the same file as SOURCE")


def test_encode_refuses_a_record_that_is_the_bitstream(clip: Path, coded: Path) -> None:
    refused(clip.parent, "encode", clip, coded, "--codec", "x265", "-p", "qp=40", "--record", coded,
            message=f"--record {coded} is the same file as BITSTREAM {coded}")


def test_decode_refuses_to_write_over_its_inputs(clip: Path, coded: Path) -> None:
    refused(clip.parent, "decode", coded, coded, message="RECONSTRUCTION")
    refused(clip.parent, "decode", coded, clip, "--like", clip, message=f"RECONSTRUCTION {clip} is the same file as --like")
    refused(clip.parent, "decode", coded, clip.with_name("r.y4m"), "--record", record_of(coded), "--encode-record", record_of(coded),
            message="--record")


def test_score_refuses_to_write_over_its_inputs(clip: Path) -> None:
    distorted = clip.with_name("d.y4m")
    distorted.write_bytes(clip.read_bytes())
    for flag, target in (("--summary", clip), ("--frames-csv", distorted), ("--preview", clip)):
        refused(clip.parent, "score", clip, distorted, "--metrics", "psnr", flag, target, message=f"{flag} {target} is the same file as")
    refused(clip.parent, "score", clip, distorted, "--metrics", "psnr", "--summary", clip.with_name("s.json"), "--frames-csv",
            clip.with_name("s.json"), message="--summary")


# -- frame counts --------------------------------------------------------------------------------


@pytest.mark.parametrize("frames", ["0", "-2"])
def test_encode_refuses_fewer_than_one_frame(clip: Path, coded: Path, frames: str) -> None:
    # the good bitstream and its record from an earlier encode stay as they were
    refused(clip.parent, "encode", clip, coded, "--codec", "x265", "-p", "qp=37", "--frames", frames,
            message=f"Invalid value for '--frames': {frames} is not in the range x>=1")


def test_encode_refuses_a_source_without_frames(tmp_path: Path, clip: Path, coded: Path) -> None:
    empty = tmp_path / "empty.y4m"
    with Y4MWriter(empty, VideoFormat(64, 64)):
        pass
    refused(tmp_path, "encode", empty, coded, "--codec", "x265", "-p", "qp=37", message=f"{empty}: has no frames")
    refused(tmp_path, "encode", clip, coded, "--codec", "x265", "-p", "qp=37", "--frames", FRAMES + 1,
            message=f"has {FRAMES} frames, {FRAMES + 1} were asked for")


def test_a_good_encode_records_what_was_applied(clip: Path) -> None:
    bitstream = clip.with_name("q.hevc")
    result = vcbench("encode", clip, bitstream, "--codec", "x265", "-p", "qp=+37", "--frames", 5)
    assert result.code == 0, result.stderr
    record = json.loads(record_of(bitstream).read_text())
    assert record["rate"] == "qp37" and record["params"]["qp"] == 37 and record["frames"] == 5
    assert record["bpp"] == 8 * bitstream.stat().st_size / (5 * 64 * 64)
    # the encoder's command names the bitstream, not the temporary file it was written to
    assert f" {bitstream}" in record["command"] and ".partial" not in record["command"]
    assert sorted(p.name for p in clip.parent.iterdir()) == ["q.encode.json", "q.hevc", "src.y4m"]


def test_decode_of_half_a_bitstream_fails(clip: Path, coded: Path) -> None:
    half = clip.with_name("half.hevc")
    data = coded.read_bytes()
    half.write_bytes(data[: len(data) // 2])
    rec = clip.with_name("rec.y4m")
    rec.write_bytes(b"an earlier reconstruction")
    refused(clip.parent, "decode", half, rec, "--expect-frames", FRAMES, "--like", clip, message=f"--expect-frames says {FRAMES}")
    refused(clip.parent, "decode", half, rec, "--encode-record", record_of(coded), message="is the record of another bitstream")
    # the whole bitstream with its record decodes
    result = vcbench("decode", coded, rec, "--encode-record", record_of(coded), "--like", clip, "--record", clip.with_name("d.json"))
    assert result.code == 0, result.stderr
    with Y4MReader(rec) as reader:
        assert reader.count_frames() == FRAMES
    record = json.loads(clip.with_name("d.json").read_text())
    assert record["frames"] == FRAMES and f" {rec}" in record["command"] and ".partial" not in record["command"]


def test_score_refuses_a_reconstruction_shorter_than_the_encode_record(clip: Path, coded: Path) -> None:
    full = clip.with_name("full.y4m")
    assert vcbench("decode", coded, full, "--like", clip, "--record", clip.with_name("full.decode.json")).code == 0
    short = clip.with_name("short.y4m")  # what a decoder that stopped early leaves: its first frame
    with Y4MReader(full) as reader, Y4MWriter(short, reader.format) as writer:
        writer.write(next(reader.frames(limit=1)))
    refused(clip.parent, "score", clip, short, "--metrics", "psnr", "--encode-record", record_of(coded), "--summary",
            clip.with_name("s.json"), message=f"has 1 frames, but {record_of(coded)} says {FRAMES} were coded")
    refused(clip.parent, "score", clip, full, "--metrics", "psnr", "--encode-record", record_of(coded), "--frames", 4,
            message=f"--frames 4: {record_of(coded)} says {FRAMES} frames were coded")
    refused(clip.parent, "score", clip, full, "--metrics", "psnr", "--frames", FRAMES + 1,
            message=f"has {FRAMES} frames, {FRAMES + 1} are to be scored")
    # a bitstream is decoded into a temporary file to be scored; the error names the bitstream
    error = refused(clip.parent, "score", clip, coded, "--metrics", "psnr", "--frames", FRAMES + 1,
                    message=f"{coded}: has {FRAMES} frames, {FRAMES + 1} are to be scored")
    assert error.count(".y4m") == 0, error
    result = vcbench("score", clip, full, "--metrics", "psnr", "--encode-record", record_of(coded), "--decode-record",
                     clip.with_name("full.decode.json"), "--summary", clip.with_name("s.json"), "--quiet")
    assert result.code == 0, result.stderr


# -- options and knobs ---------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "gopp=16"], "unknown option 'gopp'"),
    (["-o", "gop=abc"], "gop='abc' is not an integer"),
    (["-o", "gop=16", "-o", "gop=32"], "gop is given twice"),
    (["-p", "crf=20"], "unknown option 'crf'"),
    (["-p", "qp=37.5"], "qp='37.5' is not an integer"),
    (["-p", "qp=37", "-p", "qp=40"], "qp is given twice"),
    (["-o", "structure=zigzag"], "structure='zigzag' is not allowed"),
    (["--rate-label", "a/b"], "rate label 'a/b'"),
])
def test_encode_refuses_an_option_or_knob_it_would_not_apply(clip: Path, coded: Path, args: list[str], message: str) -> None:
    knobs = [] if "-p" in args else ["-p", "qp=37"]
    refused(clip.parent, "encode", clip, clip.with_name("o.hevc"), "--codec", "x265", *knobs, *args, message=message)


@pytest.mark.parametrize(("args", "message"), [
    (["-m", "lpips.net=xyz", "--metrics", "psnr,lpips"], "lpips options (-m): net='xyz' is not allowed; net is one of alex, vgg"),
    (["-m", "lpips.net=vgg", "--metrics", "psnr"], "lpips.net=vgg is for lpips, which is not among the metrics scored (psnr)"),
    (["-m", "lpips.batch_size=0", "--metrics", "lpips"], "batch_size='0' is out of range"),
    (["-m", "lpips=vgg", "--metrics", "lpips"], "lpips=vgg is not METRIC.KEY=VALUE"),
    (["--metrics", "psnr,nope"], "unknown metric 'nope'"),
    (["--metrics", "psnr", "--threads", "-1"], "Invalid value for '--threads'"),  # 0: the job's threads
])
def test_score_refuses_a_metric_option_it_would_not_apply(clip: Path, args: list[str], message: str) -> None:
    refused(clip.parent, "score", clip, clip, *args, "--summary", clip.with_name("s.json"), message=message)


# -- outputs appear whole and checked, or not at all ----------------------------------------------


def test_decode_like_another_size_leaves_the_existing_reconstruction(make_y4m, clip: Path, coded: Path) -> None:
    other = make_y4m(32, 32, FRAMES, name="other.y4m")
    rec = clip.with_name("rec.y4m")
    assert vcbench("decode", coded, rec, "--like", clip).code == 0
    refused(clip.parent, "decode", coded, rec, "--like", other, message=f"decodes to 64x64, but --like {other} is 32x32")


def test_an_encode_whose_record_cannot_be_written_changes_nothing(clip: Path, coded: Path) -> None:
    blocker = clip.with_name("not_a_folder")
    blocker.write_bytes(b"")
    refused(clip.parent, "encode", clip, coded, "--codec", "x265", "-p", "qp=45", "--record", blocker / "b.encode.json",
            message="not_a_folder")


@pytest.fixture
def read_only(tmp_path: Path):
    """A folder this process cannot write in: mode 0555, or for root (who writes whatever the mode) a read-only mount."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root, and cannot mount a read-only folder: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_an_encode_whose_record_goes_to_a_read_only_folder_changes_nothing(clip: Path, coded: Path, read_only: Path) -> None:
    # the earlier bitstream stays, and no new one appears without its record
    refused(clip.parent, "encode", clip, coded, "--codec", "x265", "-p", "qp=45", "--record", read_only / "b.encode.json",
            message=f"{read_only / 'b.encode.json'}: cannot create a file in {read_only}")


def test_outputs_written_together_all_change_or_none(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old a")
    second.mkdir()
    (second / "x").write_text("a folder where a file should go")
    with pytest.raises(OSError):
        with written_together([(first, ".txt"), (second, ".txt")]) as (tmp_a, tmp_b):
            tmp_a.write_text("new a")
            tmp_b.write_text("new b")
    assert first.read_text() == "old a"  # its rename was undone when the second one failed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]
    with written_together([(first, ".txt"), (tmp_path / "c.txt", ".txt")]) as (tmp_a, tmp_c):
        tmp_a.write_text("new a")
        tmp_c.write_text("new c")
    assert (first.read_text(), (tmp_path / "c.txt").read_text()) == ("new a", "new c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.txt"]


def test_the_installed_command_prints_one_line(clip: Path) -> None:
    """The same through the console script a user runs (not only in this process)."""
    script = Path(sys.executable).with_name("vcbench")
    proc = subprocess.run([str(script), "encode", str(clip), str(clip), "--codec", "x265", "-p", "qp=37"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "is the same file as SOURCE" in proc.stderr


def test_decode_converts_a_vvenc_reconstruction_to_the_source_depth(clip: Path) -> None:
    """VVenC codes 8-bit sources at 10 bit: `decode --like` converts the reconstruction while it is
    still the command's temporary file. The conversion must not write the file it reads (a
    memory-mapped file truncated under its reader kills the process with SIGBUS). A subprocess:
    a crash here must fail the test, not the test run."""
    bitstream = clip.with_name("b.266")
    assert vcbench("encode", clip, bitstream, "--codec", "vvenc", "-p", "qp=37").code == 0
    rec = clip.with_name("rec.y4m")
    run = subprocess.run([sys.executable, "-m", "vcbench.cli", "decode", str(bitstream), str(rec), "--like", str(clip),
                          "--encode-record", str(record_of(bitstream))], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with Y4MReader(rec) as reader:
        assert reader.format.bit_depth == 8 and reader.count_frames() == FRAMES
    assert not [p.name for p in clip.parent.iterdir() if p.name.startswith(".")]  # no temporary left
