"""The conventional anchors through the real ffmpeg encoders and decoders: the anchor policy is
checked on the elementary streams themselves (tests/bitstreams.py parses them)."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from bitstreams import (
    HEVC_IDR,
    HEVC_RADL,
    HEVC_RASL,
    INTRA_ONLY_FRAME,
    KEY_FRAME,
    NOT_ALLOWED,
    PARSERS,
    VVC_GDR,
    VVC_IDR,
    VVC_RADL,
    VVC_RASL,
    key_frame_positions,
    parse_hevc,
)
from conftest import REPO, as_in_a_terminal, write_sequence
from vcbench.codecs import RatePoint, available_codecs, create_codec
from vcbench.codecs.ffmpeg import ANCHORS, ASPECTS, anchor_settings, anchor_settings_table
from vcbench.errors import ConfigError, UnknownCodecError, VcbenchError
from vcbench.io import sha256_file
from vcbench.tools.ffmpeg import check_exit, ffmpeg_exe, run_ffmpeg
from vcbench.video import VideoFormat, Y4MReader, read_y4m_header
from vcbench.video.convert import match_format

NAMES = [cls.name for cls in ANCHORS]
STRUCTURES = ["random_access", "low_delay"]
# Text an encoder could leave in a stream (x265's info SEI holds its version, "cpuid=" and "frame-threads=").
INFO_TEXT = (b"x265", b"cpuid", b"frame-threads", b"vvenc", b"VVenC", b"Fraunhofer", b"SVT", b"options")


def frames_of(path):
    with Y4MReader(path) as reader:
        return [np.concatenate([p.ravel() for p in f.planes]) for f in reader.frames()]


@pytest.fixture(scope="module")
def clip70(tmp_path_factory):
    """70 frames: key frames must land on 0, 32 and 64 exactly, and nowhere else."""
    return write_sequence(tmp_path_factory.mktemp("clip") / "clip70.y4m", VideoFormat(64, 64, 8), 70)


@pytest.fixture(scope="module")
def streams(clip70, tmp_path_factory):
    """Each anchor's bitstream of clip70 in each structure (encoded once for the module)."""
    folder = tmp_path_factory.mktemp("streams")
    out = {}
    for name in NAMES:
        for structure in STRUCTURES:
            codec = create_codec(name, structure=structure)
            path = folder / f"{name}_{structure}.{codec.extension}"
            codec.encode(clip70, path, RatePoint("q", {"qp": 40}))
            out[name, structure] = path.read_bytes()
    return out


# ---------------------------------------------------------------- the policy, on the streams


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("name", NAMES)
def test_key_frames_are_exactly_at_multiples_of_32_in_closed_gops(streams, name, structure):
    stream = PARSERS[name](streams[name, structure])
    kinds = [p.kind for p in stream.pictures]
    if name == "svtav1":
        assert sum(p.shown for p in stream.pictures) == 70
        assert all(p.shown for p in stream.pictures if p.kind == KEY_FRAME), "a hidden KEY_FRAME: a forward key frame (open GOP)"
        assert INTRA_ONLY_FRAME not in kinds
    else:
        idr, not_closed = (HEVC_IDR, {*HEVC_RADL, *HEVC_RASL}) if name == "x265" else (VVC_IDR, {*VVC_RADL, *VVC_RASL, VVC_GDR})
        assert len(stream.pictures) == 70
        assert not set(kinds) & not_closed, "leading pictures or GDR: the GOPs are not closed at their IDRs"
        assert all(stream.pictures[i].kind in idr for i in (0, 32, 64))
    # frame 0 first; then 32 and 64; nothing else is a random-access point (no CRA, no scene-cut key frame)
    assert key_frame_positions(stream, name) == [0, 32, 64]


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("name", NAMES)
def test_streams_hold_no_sei_no_delimiters_no_metadata_and_no_encoder_text(streams, name, structure):
    data = streams[name, structure]
    stream = PARSERS[name](data)
    assert stream.sei_payload_types == [] and not set(stream.unit_types) & NOT_ALLOWED[name]
    assert [token for token in INFO_TEXT if token in data] == []


def test_the_sei_check_finds_x265s_info_sei_when_it_is_on(clip70, tmp_path):
    """The check above can fail: x265's default (info on) writes a user-data-unregistered SEI (type 5)
    with its version and option string."""
    codec = create_codec("x265")
    args = [a.replace("info=0", "info=1") for a in codec.encoder_args(40)]
    out = tmp_path / "info.hevc"
    run_ffmpeg(["-i", str(clip70), "-frames:v", "4", "-c:v", "libx265", *args, "-f", "hevc", str(out)], "x265 with info")
    data = out.read_bytes()
    assert 5 in parse_hevc(data).sei_payload_types
    assert b"x265" in data and b"cpuid=" in data


@pytest.mark.parametrize("name", NAMES)
def test_one_and_four_threads_give_the_same_bytes(make_y4m, tmp_path, name):
    source = make_y4m(256, 192, 17)  # enough CTU rows for x265's WPP to run in parallel
    hashes = []
    for threads in (1, 4):
        codec = create_codec(name, threads=threads)
        out = tmp_path / f"t{threads}.{codec.extension}"
        codec.encode(source, out, RatePoint("q", {"qp": 37}))
        hashes.append(sha256_file(out))
    assert hashes[0] == hashes[1]


@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("name", NAMES)
def test_every_anchor_parameter_is_one_the_encoder_knows(name, structure):
    """libx265 only warns about an unknown or invalid parameter (and SVT-AV1 would without -err_detect
    explode): run each policy at -loglevel warning and require silence about parameters."""
    codec = create_codec(name, structure=structure)
    pix_fmt = "yuv420p10le" if codec.input_bit_depth[8] == 10 else "yuv420p"
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "warning", "-f", "lavfi", "-i",
                           "testsrc2=size=64x64:duration=0.12", "-pix_fmt", pix_fmt, "-c:v", codec.encoder,
                           *codec.encoder_args(40), "-f", "null", "-"], capture_output=True, text=True, env={**os.environ, "SVT_LOG": "1"})
    assert proc.returncode == 0, proc.stderr
    assert not re.search(r"unknown option|invalid value|error parsing|bad (name|value)", proc.stderr, re.IGNORECASE), proc.stderr


# ---------------------------------------------------------------- declared options and sizes


def test_unknown_or_out_of_range_options_and_knobs_are_errors():
    with pytest.raises(ConfigError, match="unknown option 'bframes'"):
        create_codec("x265", bframes=7)
    with pytest.raises(ConfigError, match="preset"):
        create_codec("vvenc", preset="veryslow")  # an x265 preset name
    with pytest.raises(ConfigError, match="structure"):
        create_codec("x265", structure="zigzag")
    with pytest.raises(ConfigError, match="gop"):
        create_codec("svtav1", gop=0)
    assert create_codec("svtav1", preset="4").options["preset"] == 4
    for name, low, high in (("x265", 0, 51), ("vvenc", 0, 63), ("svtav1", 1, 63)):
        codec = create_codec(name)
        assert codec.knobs(RatePoint("a", {"qp": low}))["qp"] == low and codec.knobs(RatePoint("b", {"qp": high}))["qp"] == high
        for bad in (low - 1, high + 1, 37.5):
            with pytest.raises(ConfigError, match="qp"):
                codec.knobs(RatePoint("c", {"qp": bad}))
        with pytest.raises(ConfigError, match="qp is required"):
            codec.knobs(RatePoint("d", {}))


@pytest.mark.parametrize("name, size, says", [
    ("x265", (65, 64), "even width and height of at least 16"),
    ("vvenc", (64, 63), "even width and height of at least 16"),
    ("x265", (14, 64), "at least 16"),
    ("vvenc", (64, 12), "at least 16"),
])
def test_sizes_the_encoder_cannot_code_are_refused_before_ffmpeg_runs(make_y4m, tmp_path, name, size, says):
    source = make_y4m(*size, frames=2)
    out = tmp_path / "out.bin"
    with pytest.raises(ConfigError, match=says) as err:
        create_codec(name).encode(source, out, RatePoint("q", {"qp": 40}))
    assert str(source) in str(err.value) and f"{size[0]}x{size[1]}" in str(err.value) and "e.g. to" in str(err.value)
    assert list(tmp_path.iterdir()) == [source]


def test_svtav1_codes_odd_sizes(make_y4m, tmp_path):
    source = make_y4m(65, 63, frames=3)
    codec = create_codec("svtav1")
    codec.encode(source, tmp_path / "odd.obu", RatePoint("q", {"qp": 30}))
    codec.decode(tmp_path / "odd.obu", tmp_path / "odd.y4m")
    match_format(tmp_path / "odd.y4m", read_y4m_header(source))
    ref, rec = frames_of(source), frames_of(tmp_path / "odd.y4m")
    assert len(rec) == 3 and all(np.abs(a.astype(int) - b).mean() < 6 for a, b in zip(ref, rec))


# ---------------------------------------------------------------- the policy table


def test_the_policy_table_states_every_aspect_for_every_anchor_in_both_structures():
    for structure in STRUCTURES:
        rows = anchor_settings(structure)
        assert [(e, a) for e, a, _ in rows] == [(name, aspect) for name in NAMES for aspect in ASPECTS]
        assert all(value for _, _, value in rows)
        header, table = anchor_settings_table(structure)
        assert header == ["setting", *NAMES] and [row[0] for row in table] == list(ASPECTS)
    low_delay = dict(((e, a), v) for e, a, v in anchor_settings("low_delay"))
    assert "bframes=0" in low_delay["x265", "prediction structure"] and "PicReordering=0" in low_delay["vvenc", "prediction structure"]


def test_the_readme_states_the_policy_table_exactly():
    readme = (REPO / "README.md").read_text()
    _, random_access = anchor_settings_table("random_access")
    _, low_delay = anchor_settings_table("low_delay")
    # the README's low-delay table lists the settings that differ from random access
    for title, rows in (("Random access", random_access), ("Low delay", [r for r, a in zip(low_delay, random_access) if r != a])):
        section = re.split(r"\n(?:#|\*\*)", readme.split(f"**{title}**", 1)[1], maxsplit=1)[0]
        table = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| setting")]
        assert table == ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows], f"README: {title}"


# ---------------------------------------------------------------- coding


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bit_depth", [8, 10])
def test_encode_decode_keeps_the_source_format(make_y4m, tmp_path, name, bit_depth):
    source = make_y4m(frames=5, bit_depth=bit_depth)
    codec = create_codec(name, gop=32)
    bitstream = tmp_path / f"out.{codec.extension}"
    record = codec.encode(source, bitstream, RatePoint("q", {"qp": 40}), frames=4)
    assert bitstream.stat().st_size > 0
    assert codec.encoder in record["command"] and str(bitstream) in record["command"]
    rec = tmp_path / "rec.y4m"
    codec.decode(bitstream, rec)
    match_format(rec, read_y4m_header(source))
    fmt = read_y4m_header(rec)
    assert (fmt.width, fmt.height, fmt.bit_depth) == (192, 176, bit_depth)
    with Y4MReader(rec) as reader:
        assert reader.count_frames() == 4


@pytest.mark.parametrize("name", NAMES)
def test_decoding_twice_gives_identical_frames(make_y4m, tmp_path, name):
    source = make_y4m(frames=4)
    codec = create_codec(name)
    bitstream = tmp_path / f"b.{codec.extension}"
    codec.encode(source, bitstream, RatePoint("q", {"qp": 45}))
    codec.decode(bitstream, tmp_path / "a.y4m")
    codec.decode(bitstream, tmp_path / "b.y4m")
    assert sha256_file(tmp_path / "a.y4m") == sha256_file(tmp_path / "b.y4m")


@pytest.mark.parametrize("name", NAMES)
def test_higher_qp_gives_fewer_bytes(make_y4m, tmp_path, name):
    source = make_y4m(frames=4)
    codec = create_codec(name)
    sizes = []
    for qp in (30, 50):
        out = tmp_path / f"{qp}.{codec.extension}"
        codec.encode(source, out, RatePoint(f"qp{qp}", {"qp": qp}))
        sizes.append(out.stat().st_size)
    assert sizes[1] < sizes[0]


def test_unknown_codec_lists_the_known_ones():
    with pytest.raises(UnknownCodecError, match="x265"):
        create_codec("h267")
    assert set(NAMES) <= set(available_codecs())


def test_cli_encode_record_has_exact_bpp(make_y4m, tmp_path):
    source = make_y4m(frames=6)
    bitstream = tmp_path / "clip.hevc"
    subprocess.run([sys.executable, "-m", "vcbench.cli", "encode", str(source), str(bitstream), "--codec", "x265", "-p", "qp=42",
                    "--frames", "5"], check=True, capture_output=True)
    record = json.loads((tmp_path / "clip.encode.json").read_text())
    assert record["bytes"] == bitstream.stat().st_size
    assert record["bpp"] == 8 * bitstream.stat().st_size / (5 * 192 * 176)
    assert record["bitstream_sha256"] == sha256_file(bitstream)
    assert record["versions"]["libx265"]


def test_cli_unknown_codec_is_one_line(make_y4m, tmp_path):
    source = make_y4m(frames=2)
    proc = subprocess.run([sys.executable, "-m", "vcbench.cli", "encode", str(source), str(tmp_path / "x.bin"), "--codec", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown codec 'nope'" in proc.stderr
    assert not list(tmp_path.glob("x.bin*"))


# ---------------------------------------------------------------- interrupts


def _start_long_encode(make_y4m, tmp_path):
    """`vcbench encode` of a clip that VVenC's slower preset needs many seconds for, in its own session;
    returns the process, its ffmpeg child, and the output folder once the partial bitstream exists."""
    source = make_y4m(256, 192, 64, name="long.y4m")
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "vcbench.cli", "encode", str(source), str(out / "a.266"), "--codec", "vvenc",
                            "-o", "preset=slower", "-p", "qp=32"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True, preexec_fn=as_in_a_terminal)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert run.poll() is None, run.communicate()[1]
        children = [c for c in psutil.Process(run.pid).children() if _is_the_encoder(c)]
        if children and out.is_dir() and any(p.name.endswith(".partial.266") for p in out.iterdir()):
            return run, children[0], out
        time.sleep(0.05)
    raise AssertionError("the encode did not start within 60 s")


def _is_the_encoder(process: psutil.Process) -> bool:
    """The ffmpeg that encodes, not the `ffmpeg -version` that imageio-ffmpeg runs to check the binary."""
    try:
        return "libvvenc" in process.cmdline()
    except psutil.NoSuchProcess:
        return False


def _assert_stopped_cleanly(run, ffmpeg, out, code, says):
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "interrupted" in lines[0], stderr
    assert not ffmpeg.is_running() or ffmpeg.status() == psutil.STATUS_ZOMBIE, "ffmpeg was left running"
    assert list(out.iterdir()) == [], "a bitstream, record or temporary file was left"


def test_ctrl_c_in_a_terminal_stops_vcbench_and_ffmpeg_and_keeps_nothing(make_y4m, tmp_path):
    """A terminal's Ctrl-C signals the whole process group: ffmpeg gets SIGINT too."""
    run, ffmpeg, out = _start_long_encode(make_y4m, tmp_path)
    os.killpg(run.pid, signal.SIGINT)
    _assert_stopped_cleanly(run, ffmpeg, out, 130, "vcbench: interrupted")


def test_ffmpeg_killed_alone_is_reported_as_interrupted(make_y4m, tmp_path):
    """Only ffmpeg is signalled (the OOM killer, an operator's kill -9): the error says interrupted, not
    'ffmpeg failed' with nothing after it."""
    run, ffmpeg, out = _start_long_encode(make_y4m, tmp_path)
    ffmpeg.kill()
    _assert_stopped_cleanly(run, ffmpeg, out, 2, "vvenc encode at qp32: interrupted: ffmpeg was stopped by SIGKILL")


@pytest.mark.parametrize("code, messages, says", [
    (-9, [], "interrupted: ffmpeg was stopped by SIGKILL"),
    # ffmpeg's own SIGTERM/SIGINT handler: it finishes the frames its encoder holds, then exits 255 silently
    (255, [], "interrupted: ffmpeg was stopped by a signal"),
    (255, ["Conversion failed!"], "ffmpeg failed (exit 255): Conversion failed!"),
    (1, ["a", "b", "c", "d"], "ffmpeg failed (exit 1): b | c | d"),
    (1, [], "ffmpeg failed (exit 1): no message"),
    # the encoder's own lines, not ffmpeg's task lines after them, and no per-run addresses
    (183, ["x265 [error]: Lookahead depth must be greater than the max consecutive bframe count",
           "[libx265 @ 0x55f6acc3fa40] Cannot open libx265 encoder.",
           "[vost#0:0/libx265 @ 0x55f6acc3ea80] [enc:libx265 @ 0x55f6acc3f4c0] Error while opening encoder",
           "[vf#0:0 @ 0x56055f0ead40] Task finished with error code: -1094995529 (Invalid data found when processing input)",
           "[vost#0:0/libx265 @ 0x55f6acc3ea80] Terminating thread with return code -22 (Invalid argument)",
           "[out#0/hevc @ 0x55f6acc3ee80] Nothing was written into output file, because at least one of its streams received no packets.",
           "Conversion failed!"],
     "ffmpeg failed (exit 183): x265 [error]: Lookahead depth must be greater than the max consecutive bframe count | "
     "[libx265] Cannot open libx265 encoder."),
    (1, ["[in#0 @ 0x5] Error opening input: No such file or directory", "Error opening input file a.y4m.", "Error opening input files: "
         "No such file or directory"],
     "ffmpeg failed (exit 1): [in#0] Error opening input: No such file or directory | Error opening input file a.y4m. | "
     "Error opening input files: No such file or directory"),
])
def test_how_an_ffmpeg_exit_is_reported(code, messages, says):
    with pytest.raises(VcbenchError) as err:
        check_exit(code, messages, "clip.y4m: x265 encode at qp37")
    assert str(err.value) == f"clip.y4m: x265 encode at qp37: {says}" + ("; run the step again" if "interrupted" in says else "")


def test_an_exception_while_feeding_ffmpeg_stops_it(tmp_path):
    """VVenC's 8-bit input goes through stdin: whatever interrupts the feeding, the child is stopped
    before the exception propagates."""
    seen = []

    def frames():
        for _ in range(3):
            yield bytes(64 * 64 * 3 // 2)
        seen.extend(c for c in psutil.Process().children() if "ffmpeg" in c.name())
        raise KeyboardInterrupt

    # ffmpeg would run on after stdin closes: it codes an endless second input
    endless = ["-f", "lavfi", "-i", "testsrc2=size=64x64", "-map", "1:v", "-f", "null", "-"]
    with pytest.raises(KeyboardInterrupt):
        run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "64x64", "-i", "pipe:0", *endless], "feed", frames())
    assert seen and not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in seen)
