"""Fuzzing the readers of the files vcbench parses itself: Y4M (header, frames, seek, count) and the
DiV-INR container. The anchors' elementary streams (.hevc, .266, .obu) are parsed by ffmpeg only.

The property, for every input: the reader never hangs, raises nothing but the project's own
errors (VideoFormatError, BitstreamError), and never hands out frames of a structurally damaged
file. What can and cannot be detected:

* Y4M has no checksum. Structure is detectable: the header (signature, W/H, C, I, F), each
  ``FRAME`` marker line, and that the data is exactly whole frames (truncation, bytes inserted
  into or cut from a frame shift every later marker or leave a partial frame). A changed sample
  value, or a change that still makes a well-formed file (an edit inside a FRAME line's
  parameters, a cut at a frame boundary), is not detectable: there the reader must return what
  the file holds. So a Y4M is checked against an independent oracle (``_y4m_frames`` below):
  the reader returns frames exactly when the oracle parses the file, and then the same frames.
* The container of the neural codecs (here DiV-INR's) has a CRC32 over every byte: any change is
  detectable (a random multi-byte change escapes with probability 2^-32). With the CRC
  recomputed, every declared header field must still be checked, and the sections by length.

The suite runs 1000 inputs per test, the same ones every time; VCBENCH_FUZZ_EXAMPLES=N runs N random ones instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import moving_scene
from vcbench.codecs.container import Container, video_fields
from vcbench.codecs.divinr import bitstream
from vcbench.errors import BitstreamError, VideoFormatError
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter
from vcbench.video.y4m import _MAX_HEADER, _header_line

settings.register_profile(
    "vcbench-fuzz",
    max_examples=int(os.environ.get("VCBENCH_FUZZ_EXAMPLES", "1000")),
    deadline=2000,  # ms per input: a hang or a quadratic blow-up fails the test
    derandomize="VCBENCH_FUZZ_EXAMPLES" not in os.environ,
    database=None,  # no .hypothesis/ folder in the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("vcbench-fuzz")
SCRATCH = Path(tempfile.mkdtemp(prefix="vcbench-fuzz-"))  # one file rewritten per input (tmp_path is per test, not per input)
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)


def _y4m_bytes(fmt: VideoFormat, frames: int) -> bytes:
    path = SCRATCH / f"seed_{fmt.width}x{fmt.height}_{fmt.bit_depth}.y4m"
    with Y4MWriter(path, fmt) as writer:
        for frame in moving_scene(fmt, frames):
            writer.write(frame)
    return path.read_bytes()


# Small seeds: 8-bit, 10-bit, and odd sizes (chroma rounds up); two or three frames each.
SEEDS = [_y4m_bytes(VideoFormat(8, 6), 3), _y4m_bytes(VideoFormat(6, 4, 10), 2), _y4m_bytes(VideoFormat(5, 3), 3)]


def _y4m_frames(data: bytes, fmt: VideoFormat) -> list[bytes] | None:
    """The oracle: the frame data of a well-formed Y4M body under ``fmt``, or None if it is not one.

    Well-formed: after the header line, only ``FRAME...\\n`` lines (at most _MAX_HEADER bytes)
    each followed by exactly one frame of samples, up to the last byte.
    """
    pos, frames = data.index(b"\n") + 1, []
    while pos < len(data):
        end = data.find(b"\n", pos, pos + _MAX_HEADER)
        start = end + 1
        if end < 0 or not data.startswith(b"FRAME", pos) or start + fmt.frame_bytes > len(data):
            return None
        frames.append(data[start : start + fmt.frame_bytes])
        pos = start + fmt.frame_bytes
    return frames


def _check_y4m(data: bytes) -> None:
    path = SCRATCH / "input.y4m"
    path.write_bytes(data)
    try:
        reader = Y4MReader(path)
    except VideoFormatError:
        return  # header refused (the header test checks what is accepted)
    with reader:
        _check_format(reader.format)
        expected = _y4m_frames(data, reader.format)
    reads = {  # each on a fresh reader, so that one read's error cannot stand in for another's
        "all frames": lambda r: [frame.to_bytes() for frame in r.frames()],
        "count": lambda r: r.count_frames(),
        "after seeking to frame 1": lambda r: [frame.to_bytes() for frame in r.frames(start=1)],
        "count, then all frames": lambda r: (r.count_frames(), [frame.to_bytes() for frame in r.frames()]),
    }
    if expected is None:
        for name, read in reads.items():
            with Y4MReader(path) as reader, pytest.raises(VideoFormatError):
                read(reader)
                pytest.fail(f"{name}: a structurally damaged file was read without an error")
        return
    wanted = {"all frames": expected, "count": len(expected), "after seeking to frame 1": expected[1:],
              "count, then all frames": (len(expected), expected)}
    for name, read in reads.items():
        if name == "after seeking to frame 1" and not expected:
            continue  # seeking past the end is an error of its own
        with Y4MReader(path) as reader:
            assert read(reader) == wanted[name], name


def _check_format(fmt: VideoFormat) -> None:
    """An accepted header describes a codable format and writes back to itself."""
    assert fmt.width > 0 and fmt.height > 0 and 8 <= fmt.bit_depth <= 16
    assert fmt.fps_num > 0 and fmt.fps_den > 0
    path = SCRATCH / "header.y4m"
    path.write_bytes(_header_line(fmt))
    with Y4MReader(path) as again:
        assert again.format == fmt


# A mutation: (kind, position as a fraction of the file, argument).
MUTATION = st.tuples(
    st.sampled_from(["flip", "truncate", "insert", "delete"]), st.floats(0, 1), st.integers(1, 255), st.binary(min_size=1, max_size=8),
)


def _mutate(data: bytes, mutations) -> bytes:
    for kind, where, number, blob in mutations:
        pos = min(int(where * len(data)), max(len(data) - 1, 0))
        if kind == "flip" and data:
            data = data[:pos] + bytes([data[pos] ^ number]) + data[pos + 1 :]
        elif kind == "truncate":
            data = data[:pos]
        elif kind == "insert":
            data = data[:pos] + blob + data[pos:]
        elif kind == "delete":
            data = data[:pos] + data[pos + number :]
    return data


@FUZZ
@given(seed=st.sampled_from(SEEDS), mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_y4m_reader_on_mutated_files(seed, mutations):
    _check_y4m(_mutate(seed, mutations))


TOKEN = st.one_of(
    st.sampled_from(["W8", "H6", "W0", "H-2", "W1_0", "W+8", "W", "H", "F25:1", "F0:1", "F25:0", "F-1:1", "F25", "F:", "Ip", "It",
                     "I?", "A1:1", "A0:0", "C420", "C420jpeg", "C420p10", "C420p16", "C420p17", "C420p", "C444", "XCOLORRANGE=FULL",
                     "XCOLORRANGE=", "X", "Xfoo", ""]),
    st.builds(lambda key, value: f"{key}{value}", st.sampled_from("WHFICAX"), st.text(max_size=12)),
)


@FUZZ
@given(valid=st.booleans(), tokens=st.lists(TOKEN, max_size=6), separator=st.sampled_from([" ", "  ", "\t"]), frames=st.integers(0, 2))
def test_y4m_header_grammar(valid, tokens, separator, frames):
    """Random header fields, after (so overriding) a valid W8 H6 or alone."""
    fields = ["W8", "H6", *tokens] if valid else tokens
    header = separator.join(["YUV4MPEG2", *fields]).encode() + b"\n"
    _check_y4m(header + (b"FRAME\n" + bytes(8 * 6 * 3 // 2)) * frames)


@FUZZ
@given(prefix=st.sampled_from([b"", b"YUV4MPEG2 ", b"YUV4MPEG2 W2 H2\n", b"YUV4MPEG2 W2 H2\nFRAME"]), body=st.binary(max_size=64))
def test_y4m_reader_on_random_bytes(prefix, body):
    _check_y4m(prefix + body)


def _container() -> Container:
    """A small valid DiV-INR container: the header of a 64x48 clip of 4 frames in GOPs of 2, and fake GOP sections."""
    header = {**video_fields(VideoFormat(64, 48), 4), "gop": 2, "padded_height": 64, "padded_width": 64, "inr_width": 16,
              "inr_stages": 1, "lora_rank": 1, "sampler": "ddim-trailing", "sampling_steps": 8, "strength": 1.0, "seed": 0,
              **bitstream.time_id_fields(None)}
    return Container("ab" * 32, header, [b"first GOP's tensors", b"second GOP's"])


CONTAINER = _container()
PACKED = bitstream.FORMAT.pack(CONTAINER)


def _check_container(data: bytes, *, identical_allowed: bool) -> Container | None:
    path = SCRATCH / "input.divinr"
    path.write_bytes(data)
    try:
        container = bitstream.read(path)
    except BitstreamError as err:
        assert "\n" not in str(err) and str(path) in str(err)
        return None
    if not identical_allowed:
        assert data == PACKED, "a damaged container was accepted"
    assert len(container.model_hash) == 64 and set(container.header) == set(CONTAINER.header)
    assert bitstream.FORMAT.pack(container) == data  # what was accepted is exactly what the writer would write
    return container


@FUZZ
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_divinr_container_rejects_every_damage(mutations):
    _check_container(_mutate(PACKED, mutations), identical_allowed=False)


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


@FUZZ
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_divinr_container_checks_fields_behind_a_recomputed_crc(mutations):
    _check_container(_with_crc(_mutate(PACKED[:-4], mutations)), identical_allowed=True)


# Any value each wire type can carry: a header edited by another writer, with its CRC recomputed.
_WIRE = {
    "u8": st.integers(0, 2**8 - 1), "u16": st.integers(0, 2**16 - 1), "u32": st.integers(0, 2**32 - 1),
    "i32": st.integers(-(2**31), 2**31 - 1), "f32": st.floats(width=32), "f64": st.floats(),
}


def _raw_value(kind: str, data) -> bytes:
    if kind == "str":
        raw = data.draw(st.binary(max_size=255) | st.sampled_from([b"ddim-trailing", b"euler-edm", b"420mpeg2", b""]))
        return struct.pack("<B", len(raw)) + raw
    return struct.pack({"u8": "<B", "u16": "<H", "u32": "<I", "i32": "<i", "f32": "<f", "f64": "<d"}[kind], data.draw(_WIRE[kind]))


@FUZZ
@given(names=st.sets(st.sampled_from([f.name for f in bitstream.FIELDS]), min_size=1, max_size=3), data=st.data(),
       sections=st.integers(0, 4))
def test_divinr_header_fields_of_any_wire_value(names, data, sections):
    """Up to three fields set to any value their wire type carries, and any number of sections."""
    packed = [_raw_value(f.kind, data) if f.name in names else f.pack(CONTAINER.header[f.name]) for f in bitstream.FIELDS]
    _check_container(bitstream.FORMAT._serialise(CONTAINER.model_hash, packed, [b"gop"] * sections), identical_allowed=True)


def test_the_valid_seeds_read_back():
    """The fuzz tests start from files that the readers accept whole."""
    for seed in SEEDS:
        path = SCRATCH / "seed.y4m"
        path.write_bytes(seed)
        with Y4MReader(path) as reader:
            assert reader.count_frames() == len(_y4m_frames(seed, reader.format)) > 0
    path = SCRATCH / "seed.divinr"
    path.write_bytes(PACKED)
    assert bitstream.read(path) == CONTAINER
