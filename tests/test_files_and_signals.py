"""What the command line does with the file system and with signals: outputs follow the umask, a
folder it cannot write (or a full disk) is one line naming the path, two writers of one target
both finish, SIGTERM and Ctrl-C leave nothing partial and no ffmpeg behind (nor does kill -9), JSON is strict, and
`vcbench bd` neither merges curves nor drops points silently. The real command line in a fresh
process (umask, user and signals are per process), real x265 on tiny clips."""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from conftest import as_in_a_terminal, moving_scene
from vcbench.bd import BDWarning, bd as bd_with_warnings
from vcbench.io import atomic_path, sha256_file, write_json_atomic, write_text_atomic
from vcbench.results import LEADING, TRAILING
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter


def vcbench(*args: object, cwd: Path, umask: int = 0o022, max_file_bytes: int | None = None) -> subprocess.CompletedProcess:
    """Run `vcbench ARGS` in a new process with this umask (and file size limit)."""
    return subprocess.run(_command(args), cwd=cwd, capture_output=True, text=True, timeout=300,
                          preexec_fn=_process_setup(umask, max_file_bytes))


def _command(args) -> list[str]:
    return [sys.executable, "-m", "vcbench.cli", *map(str, args)]


def _process_setup(umask: int, max_file_bytes: int | None):
    def setup() -> None:
        os.umask(umask)
        if max_file_bytes is not None:  # writes past it fail with EFBIG, as on a full disk (ENOSPC): no file name in the error
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    return setup


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def clip(make_y4m) -> Path:
    return make_y4m(64, 48, 4, name="clip.y4m")


# ---------------------------------------------------------------- modes


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o007, 0o660)])
def test_every_file_of_an_encode_decode_and_score_follows_the_umask(tmp_path, clip, umask, mode):
    out = tmp_path / "out"
    steps = [
        ("encode", clip, out / "a.hevc", "--codec", "x265", "-p", "qp=37"),
        ("decode", out / "a.hevc", out / "rec.y4m", "--like", clip, "--record", out / "a.decode.json"),
        ("score", clip, out / "rec.y4m", "--metrics", "psnr", "--quiet", "--frames-csv", out / "a.frames.csv",
         "--summary", out / "a.summary.json", "--preview", out / "a.png", "--encode-record", out / "a.encode.json",
         "--decode-record", out / "a.decode.json"),
    ]
    for step in steps:
        result = vcbench(*step, cwd=tmp_path, umask=umask)
        assert result.returncode == 0, result.stderr
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in out.iterdir()}
    names = ["a.decode.json", "a.encode.json", "a.frames.csv", "a.hevc", "a.png", "a.summary.json", "rec.y4m"]
    assert modes == {name: oct(mode) for name in names}


def test_the_writers_in_this_process_follow_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        with Y4MWriter(tmp_path / "a.y4m", VideoFormat(8, 8)) as writer:
            writer.write(moving_scene(VideoFormat(8, 8), 1)[0])
        write_json_atomic(tmp_path / "a.json", {"a": 1})
        write_text_atomic(tmp_path / "a.txt", "a")
        with atomic_path(tmp_path / "a.bin", suffix=".bin") as tmp:
            tmp.write_bytes(b"a")
    finally:
        os.umask(previous)
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in tmp_path.iterdir()} == {
        name: oct(0o640) for name in ("a.y4m", "a.json", "a.txt", "a.bin")}


# ---------------------------------------------------------------- unwritable folders, full disks


@pytest.fixture
def locked(tmp_path):
    """A folder this process cannot write in: mode 0555, or for root (who writes whatever the mode) a read-only mount."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder, "Permission denied"
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root, and cannot mount a read-only folder: {mounted.stderr.strip()}")
    yield folder, "Read-only file system"
    subprocess.run(["umount", str(folder)], check=True)


def test_an_unwritable_folder_is_one_line_naming_the_path_and_leaves_nothing(tmp_path, clip, locked):
    folder, reason = locked
    writable = tmp_path / "out"
    encode = ("encode", clip, "--codec", "x265", "-p", "qp=37")
    cases = [
        ((folder / "a.hevc",), folder / "a.hevc", "cannot create a file in"),  # the bitstream's folder
        ((folder / "new" / "a.hevc",), folder / "new", ""),  # a folder that cannot be made
        ((writable / "a.hevc", "--record", folder / "a.encode.json"), folder / "a.encode.json", "cannot create a file in"),
    ]
    for extra, named, what in cases:
        result = vcbench(*encode[:2], *extra, *encode[2:], cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        line = one_line(result)
        assert line.startswith(f"vcbench: error: {named}: {what}") and reason in line, line
        assert files_under(folder) == [] and (files_under(writable) if writable.exists() else []) == [], line  # no bitstream
        # without its record, no temporary file


def test_a_full_disk_is_one_line_naming_the_file(tmp_path):
    report = tmp_path / "reports" / "p"
    report.mkdir(parents=True)
    rows = [{**dict.fromkeys((*LEADING, *TRAILING), ""), "frames": 8, "width": 64, "height": 48, "bit_depth": 8, "bytes": 100,
             "dataset": "d", "sequence": "s", "codec": codec, "rate": f"r{i}", "bpp": rate, "psnr_yuv": 30 + 2 * i + shift}
            for codec, shift in (("x265", 0), ("test", 0.5)) for i, rate in enumerate([0.01, 0.02, 0.04, 0.08])]
    pd.DataFrame(rows).to_csv(report / "rd.csv", index=False)  # every column of an rd.csv: bd-table checks them
    args = ("bd-table", "--rd", "reports/p/rd.csv", "--out", "reports/p/bd.csv", "--anchor", "x265", "--metrics", "psnr_yuv")
    result = vcbench(*args, cwd=tmp_path, max_file_bytes=100)
    assert result.returncode == 2, result.stderr
    assert one_line(result) == f"vcbench: error: {Path('reports/p/bd.csv')}: cannot write (File too large)"
    assert files_under(report) == ["rd.csv"]
    assert vcbench(*args, cwd=tmp_path).returncode == 0  # with room, the same command writes it


# ---------------------------------------------------------------- two writers, one target


def test_two_encodes_to_one_target_at_once_both_finish_whole(tmp_path, make_y4m):
    source = make_y4m(320, 240, 40, name="clip.y4m")
    out = tmp_path / "out"

    def encode(*args: str) -> subprocess.Popen:
        return subprocess.Popen(_command(("encode", source, out / "a.hevc", "--codec", "x265", *args)), cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = encode("-p", "qp=30")
    _wait_for_encoder(first)  # the first one's ffmpeg writes its temporary bitstream for seconds: the second
    second = encode("-p", "qp=45", "--frames", "4")  # one starts, sweeps, encodes and renames meanwhile
    results = [(run.wait(timeout=300), run.stderr.read()) for run in (first, second)]
    assert [code for code, _ in results] == [0, 0], results
    record = json.loads((out / "a.encode.json").read_text())
    assert record["bitstream_sha256"] == sha256_file(out / "a.hevc")  # the record describes the bitstream that won
    assert files_under(out) == ["a.encode.json", "a.hevc"]
    decoded = vcbench("decode", out / "a.hevc", tmp_path / "rec.y4m", cwd=tmp_path)
    assert decoded.returncode == 0, decoded.stderr
    with Y4MReader(tmp_path / "rec.y4m") as reader:
        assert reader.count_frames() == record["frames"]


def test_a_writer_never_sweeps_a_live_writers_temporary_but_does_sweep_a_dead_ones(tmp_path):
    target = tmp_path / "a.bin"
    (tmp_path / ".a.bin.k1ll3d.partial.bin").write_bytes(b"a killed writer's")  # no lock: stale
    with atomic_path(target, suffix=".bin") as first:
        first.write_bytes(b"first")
        with atomic_path(target, suffix=".bin") as second:  # sweeps while the first is live
            assert first.exists() and not (tmp_path / ".a.bin.k1ll3d.partial.bin").exists()
            second.write_bytes(b"second")
        assert target.read_bytes() == b"second"
    assert target.read_bytes() == b"first" and files_under(tmp_path) == ["a.bin"]  # the last rename wins


# ---------------------------------------------------------------- SIGTERM and Ctrl-C


@pytest.mark.parametrize("sig, code, name, group", [(signal.SIGTERM, 143, "SIGTERM", False), (signal.SIGINT, 130, "Ctrl-C", False),
                                                    (signal.SIGTERM, 143, "SIGTERM", True)],
                         ids=["sigterm-to-vcbench", "ctrl-c-to-vcbench", "sigterm-to-the-process-group"])
def test_an_interrupted_encode_stops_ffmpeg_and_keeps_nothing(tmp_path, make_y4m, sig, code, name, group):
    source = make_y4m(320, 240, 120, name="long.y4m")
    out = tmp_path / "out"
    run = subprocess.Popen(_command(("encode", source, out / "a.hevc", "--codec", "x265", "-p", "qp=37")), cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=group,
                           preexec_fn=as_in_a_terminal)
    ffmpeg = _wait_for_encoder(run)
    time.sleep(0.5)  # mid-encode: the temporary bitstream exists and grows
    assert any(p.name.endswith(".partial.hevc") for p in out.iterdir())
    if group:  # as Slurm's scancel or a terminal's hang-up: ffmpeg is signalled too
        os.killpg(run.pid, sig)
    else:  # as `kill PID`: only vcbench is
        run.send_signal(sig)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert lines == [f"vcbench: interrupted ({name}); temporary files removed, no partial output kept"], stderr
    assert not ffmpeg.is_running() or ffmpeg.status() == psutil.STATUS_ZOMBIE, "ffmpeg was left running"
    assert files_under(out) == []


def test_ffmpeg_dies_with_a_killed_vcbench_and_no_stream_is_renamed_into_place(tmp_path, make_y4m):
    """kill -9 leaves vcbench no time to stop its child: the kernel kills ffmpeg (PR_SET_PDEATHSIG), so
    it cannot finish the stream, and the temporary bitstream is never renamed; the next encode of
    that target sweeps it."""
    source = make_y4m(320, 240, 120, name="long.y4m")
    out = tmp_path / "out"
    run = subprocess.Popen(_command(("encode", source, out / "a.hevc", "--codec", "x265", "-p", "qp=30")), cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ffmpeg = _wait_for_encoder(run)
    time.sleep(0.5)  # mid-encode: x265 needs seconds more for this clip
    run.kill()
    run.wait(timeout=10)
    deadline = time.monotonic() + 2
    while _alive(ffmpeg) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(ffmpeg), "ffmpeg outlived the vcbench that started it"
    left = files_under(out)
    assert all(name.startswith(".a.") and ".partial." in name for name in left), left  # no a.hevc, no a.encode.json
    partial = next(out.glob(".a.hevc.*.partial.hevc"))
    size = partial.stat().st_size
    time.sleep(0.5)
    assert partial.stat().st_size == size, "something still writes the temporary bitstream"
    again = vcbench("encode", source, out / "a.hevc", "--codec", "x265", "-p", "qp=45", "--frames", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert files_under(out) == ["a.encode.json", "a.hevc"]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for_encoder(run: subprocess.Popen, timeout: float = 60) -> psutil.Process:
    """The ffmpeg child that encodes with libx265 (not an `ffmpeg -version` probe, which comes and goes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()[1]
        for child in psutil.Process(run.pid).children(recursive=True):
            try:
                if "ffmpeg" in child.name() and "libx265" in child.cmdline():
                    return child
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.05)
    raise AssertionError(f"no libx265 encoder within {timeout} s")


# ---------------------------------------------------------------- strict JSON


def _strict(text: str):
    def refuse(constant: str):
        raise AssertionError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def test_a_summary_with_a_nan_is_strict_json(tmp_path, clip):
    out = tmp_path / "out"
    assert vcbench("encode", clip, out / "a.hevc", "--codec", "x265", "-p", "qp=37", cwd=tmp_path).returncode == 0
    assert vcbench("decode", out / "a.hevc", out / "rec.y4m", "--like", clip, cwd=tmp_path).returncode == 0
    # No decode record: decode_seconds is NaN, and must reach the file as null.
    result = vcbench("score", clip, out / "rec.y4m", "--metrics", "psnr", "--quiet", "--summary", out / "a.summary.json",
                     "--encode-record", out / "a.encode.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = _strict((out / "a.summary.json").read_text())
    assert summary["decode_seconds"] is None and summary["psnr_yuv"] > 20
    _strict(result.stdout.strip().splitlines()[-1])


def test_write_json_atomic_writes_null_for_every_non_finite_number(tmp_path):
    data = {"nan": math.nan, "inf": -math.inf, "np": np.float32("nan"), "nested": [{"x": (1.5, np.float64("inf"))}],
            "array": np.array([1.0, np.nan]), "int": np.int64(3), "path": tmp_path}
    write_json_atomic(tmp_path / "a.json", data)
    assert _strict((tmp_path / "a.json").read_text()) == {
        "nan": None, "inf": None, "np": None, "nested": [{"x": [1.5, None]}], "array": [1.0, None], "int": 3, "path": str(tmp_path)}


# ---------------------------------------------------------------- vcbench bd


def _rd_rows(sequence: str, codec: str, rates, psnr) -> list[dict]:
    return [{"dataset": "demo", "sequence": sequence, "codec": codec, "rate": f"r{i}", "bpp": r, "psnr_yuv": p}
            for i, (r, p) in enumerate(zip(rates, psnr))]


def bd(*curves):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BDWarning)  # the CLI prints it; here only the numbers matter
        return bd_with_warnings(*curves)


ANCHOR_A = ([0.01, 0.02, 0.04, 0.08], [30.0, 32.5, 35.0, 37.0])
ANCHOR_B = ([0.012, 0.025, 0.05, 0.1], [27.0, 29.0, 31.5, 33.0])
TEST_A = ([0.009, 0.018, 0.036, 0.075], [30.6, 33.0, 35.3, 37.5])


def test_bd_refuses_a_csv_of_several_sequences_unless_told_which(tmp_path):
    pd.DataFrame(_rd_rows("a", "x265", *ANCHOR_A) + _rd_rows("b", "x265", *ANCHOR_B)).to_csv(tmp_path / "anchor.csv", index=False)
    pd.DataFrame(_rd_rows("a", "neural", *TEST_A)).to_csv(tmp_path / "test.csv", index=False)
    args = ("bd", "--anchor", "anchor.csv", "--test", "test.csv", "--metric", "psnr_yuv")
    refused = vcbench(*args, cwd=tmp_path)
    assert refused.returncode == 2 and refused.stdout == ""
    assert one_line(refused) == ("vcbench: error: anchor.csv: holds 2 sequence values (a, b), each its own curve; "
                                 "pass --sequence NAME to pick one")
    chosen = vcbench(*args, "--sequence", "a", cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    expected = bd(*ANCHOR_A, *TEST_A)
    assert json.loads(chosen.stdout)["bd_rate_pct"] == pytest.approx(expected.bd_rate_pct, abs=1e-9)
    missing = vcbench(*args, "--sequence", "c", cwd=tmp_path)
    assert one_line(missing) == "vcbench: error: anchor.csv: no rows with sequence 'c' (present: a, b); fix --sequence"


def test_bd_on_rd_csv_needs_the_codec_of_each_curve(tmp_path):
    pd.DataFrame(_rd_rows("a", "x265", *ANCHOR_A) + _rd_rows("a", "neural", *TEST_A)).to_csv(tmp_path / "rd.csv", index=False)
    args = ("bd", "--anchor", "rd.csv", "--test", "rd.csv", "--metric", "psnr_yuv")
    assert "pass --anchor-codec NAME" in one_line(vcbench(*args, cwd=tmp_path))
    chosen = vcbench(*args, "--anchor-codec", "x265", "--test-codec", "neural", cwd=tmp_path)
    assert json.loads(chosen.stdout)["bd_quality"] == pytest.approx(bd(*ANCHOR_A, *TEST_A).bd_quality, abs=1e-9)


def test_bd_names_every_point_it_leaves_out(tmp_path):
    rates = [0.01, math.nan, 0.02, math.inf, 0.0, -0.01, 0.03, 0.04, 0.04, 0.08]
    psnr = [30.0, 31.0, 32.5, 33.0, 20.0, 19.0, math.nan, 35.0, 35.0, math.inf]
    pd.DataFrame({"bpp": rates, "psnr": psnr}).to_csv(tmp_path / "anchor.csv", index=False)
    pd.DataFrame({"bpp": TEST_A[0], "psnr": TEST_A[1]}).to_csv(tmp_path / "test.csv", index=False)
    result = vcbench("bd", "--anchor", "anchor.csv", "--test", "test.csv", "--metric", "psnr", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("vcbench: note: ")]
    assert notes == [
        "vcbench: note: anchor.csv: row 2 (bpp=nan, psnr=31.0) left out: rate is NaN",
        "vcbench: note: anchor.csv: row 4 (bpp=inf, psnr=33.0) left out: rate is infinite",
        "vcbench: note: anchor.csv: row 5 (bpp=0.0, psnr=20.0) left out: rate is zero",
        "vcbench: note: anchor.csv: row 6 (bpp=-0.01, psnr=19.0) left out: rate is negative",
        "vcbench: note: anchor.csv: row 7 (bpp=0.03, psnr=nan) left out: quality is NaN",
        "vcbench: note: anchor.csv: row 9 (bpp=0.04, psnr=35.0) left out: duplicate of row 8",
        "vcbench: note: anchor.csv: row 10 (bpp=0.08, psnr=inf) left out: quality is infinite",
    ]
    output = _strict(result.stdout)
    expected = bd([0.01, 0.02, 0.04], [30.0, 32.5, 35.0], *TEST_A)
    assert output["bd_rate_pct"] == pytest.approx(expected.bd_rate_pct, abs=1e-9) and output["points_anchor"] == 3
    assert "anchor: 7 of 10 point(s) left out" in output["notes"]


def test_bd_refuses_when_too_few_points_remain(tmp_path):
    pd.DataFrame({"bpp": [0.01, 0.02, 0.04], "psnr": [30.0, math.nan, math.inf]}).to_csv(tmp_path / "anchor.csv", index=False)
    pd.DataFrame({"bpp": TEST_A[0], "psnr": TEST_A[1]}).to_csv(tmp_path / "test.csv", index=False)
    result = vcbench("bd", "--anchor", "anchor.csv", "--test", "test.csv", "--metric", "psnr", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "vcbench: error: anchor.csv: 1 usable point(s) of 3 for psnr; BD needs at least 2"
    assert len(lines) == 3 and all(line.startswith("vcbench: note: anchor.csv: row ") for line in lines[:2])
