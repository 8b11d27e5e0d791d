"""Fuzzing the readers of the files vcbench parses itself: Y4M (header, frames, seek, count), the
neural codecs' container, and each neural codec's bitstream as its decoder reads it (DiffVC, DiV-INR,
GIViC: tests/fuzz_targets.py); and BD (vcbench.bd) on random curves. The anchors' elementary streams
(.hevc, .266, .obu) are parsed by ffmpeg only.

The property, for every input: the reader never hangs, raises nothing but the project's own
errors (VideoFormatError, BitstreamError), and never hands out frames of a structurally damaged
file. What can and cannot be detected:

* Y4M has no checksum. Structure is detectable: the header (signature, W/H, C, I, F), each
  ``FRAME`` marker line, and that the data is exactly whole frames (truncation, bytes inserted
  into or cut from a frame shift every later marker or leave a partial frame). A changed sample
  value, or a change that still makes a well-formed file (an edit inside a FRAME line's
  parameters, a cut at a frame boundary), is not detectable unless it puts a sample beyond the bit
  depth (a 10-bit file's 16-bit words): otherwise the reader must return what the file holds. So a
  Y4M is checked against an independent oracle (``_y4m_frames`` below): the reader returns frames
  exactly when the oracle parses the file and finds every sample in range, and then the same frames.
* The container of the neural codecs (here DiV-INR's) has a CRC32 over every byte: any change is
  detectable (a random multi-byte change escapes with probability 2^-32). With the CRC
  recomputed, every declared header field must still be checked, and the sections by length.

* Each neural codec's file, mutated behind a recomputed CRC32 (tests/fuzz_targets.py says how),
  is read as its decoder reads it up to the first sampling step: it decodes, or a one-line
  BitstreamError naming the file refuses it.
* BD on any curves gives finite numbers or NaN with a note saying why, or a one-line ValueError;
  on curves with a known answer (a curve against itself, shifted in rate or in quality) it gives
  that answer.

The suite runs a fixed budget per test (about a minute in all), the same inputs every time;
VCBENCH_FUZZ_EXAMPLES=N runs N random ones per test instead. The long run is ``pytest -m fuzz``
(scripts/fuzz.py: 2,400 mutated inputs across the readers, with its figures).
"""

from __future__ import annotations

import atexit
import itertools
import math
import os
import shutil
import struct
import sys
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import REPO, moving_scene
from fuzz_targets import make_targets, mutate
from vcbench.bd import METHODS, BDWarning, bd
from vcbench.codecs.container import Container, video_fields
from vcbench.codecs.divinr import bitstream
from vcbench.errors import BitstreamError, VideoFormatError
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter
from vcbench.video.y4m import _MAX_HEADER, _header_line

settings.register_profile(
    "vcbench-fuzz",
    max_examples=int(os.environ.get("VCBENCH_FUZZ_EXAMPLES", "500")),
    deadline=2000,  # ms per input: a hang or a quadratic blow-up fails the test
    derandomize="VCBENCH_FUZZ_EXAMPLES" not in os.environ,
    database=None,  # no .hypothesis/ folder in the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("vcbench-fuzz")


def budget(examples: int) -> settings:
    """FUZZ with ``examples`` inputs for a test whose inputs cost more (VCBENCH_FUZZ_EXAMPLES still rules)."""
    return settings(FUZZ, max_examples=int(os.environ.get("VCBENCH_FUZZ_EXAMPLES", examples)))


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
    if expected is None or any(_beyond_bit_depth(frame, reader.format) for frame in expected):
        for name, read in reads.items():
            if name == "after seeking to frame 1" and expected is not None and not any(
                    _beyond_bit_depth(frame, reader.format) for frame in expected[1:]):
                with Y4MReader(path) as reader:  # only frame 0 is bad: seeking past it may check it or not
                    try:
                        assert read(reader) == expected[1:], name
                    except VideoFormatError:
                        pass
                continue
            with Y4MReader(path) as reader, pytest.raises(VideoFormatError):
                read(reader)
                pytest.fail(f"{name}: a damaged file was read without an error")
        return
    wanted = {"all frames": expected, "count": len(expected), "after seeking to frame 1": expected[1:],
              "count, then all frames": (len(expected), expected)}
    for name, read in reads.items():
        if name == "after seeking to frame 1" and not expected:
            continue  # seeking past the end is an error of its own
        with Y4MReader(path) as reader:
            assert read(reader) == wanted[name], name


def _beyond_bit_depth(frame: bytes, fmt: VideoFormat) -> bool:
    """Whether a frame's samples hold a value its bit depth cannot (only 9- to 15-bit files' 16-bit words can)."""
    return 8 < fmt.bit_depth < 16 and int(np.frombuffer(frame, "<u2").max(initial=0)) >= 1 << fmt.bit_depth


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


# -- each neural codec's bitstream, as its decoder reads it (tests/fuzz_targets.py) --------------

@pytest.fixture(scope="module")
def codec_targets():
    targets = make_targets(("diffvc", "divinr", "givic"), SCRATCH / "seeds")
    for target in targets.values():
        assert target.attempt(target.seed, SCRATCH)[0] == "decoded", f"{target.name}: the fuzz seed itself does not decode"
    return targets


@budget(150)
@given(rng=st.randoms(use_true_random=False))
def test_diffvc_bitstream_behind_a_recomputed_crc(codec_targets, rng):
    codec_targets["diffvc"].attempt(mutate(codec_targets["diffvc"], rng), SCRATCH)


@budget(40)  # each input loads the backbone again: a fifth of a second
@given(rng=st.randoms(use_true_random=False))
def test_divinr_bitstream_behind_a_recomputed_crc(codec_targets, rng):
    codec_targets["divinr"].attempt(mutate(codec_targets["divinr"], rng), SCRATCH)


@budget(150)
@given(rng=st.randoms(use_true_random=False))
def test_givic_bitstream_behind_a_recomputed_crc(codec_targets, rng):
    codec_targets["givic"].attempt(mutate(codec_targets["givic"], rng), SCRATCH)


@pytest.mark.fuzz
def test_the_long_fuzz_run(request):
    """scripts/fuzz.py with its defaults (600 inputs per reader); only under ``pytest -m fuzz``."""
    if "fuzz" not in (request.config.option.markexpr or ""):
        pytest.skip("the long fuzz run: pytest -m fuzz")
    sys.path.insert(0, str(REPO / "scripts"))
    from fuzz import run

    figures = run(keep=SCRATCH)
    print(figures)
    assert figures["total"]["tried"] == figures["total"]["refused"] + figures["total"]["decoded"] >= 2000


# -- BD on random curves -------------------------------------------------------------------------

# Any number a results table holds (six decimals, within a million: bpp, kbit/s and every metric's
# scale) and the special values. Not the extremes of float64: qualities 1e-323 apart or near 1e307
# overflow the interpolation itself (a slope of 1e323), which no measured curve comes near.
ANY_NUMBER = st.floats(-1e6, 1e6).map(lambda value: round(value, 6)) | st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0])
CURVE = st.lists(st.tuples(ANY_NUMBER, ANY_NUMBER), max_size=8)


@FUZZ
@given(anchor=CURVE, test=CURVE, method=st.sampled_from(METHODS), lower_better=st.booleans(), extra=st.booleans())
def test_bd_on_any_curves_gives_numbers_or_says_why(anchor, test, method, lower_better, extra):
    """Finite BD values, or NaN with a note saying why; a malformed input is a one-line ValueError."""
    rate_test, quality_test = [p[0] for p in test], [p[1] for p in test]
    if extra:  # one rate more than quality values
        rate_test.append(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BDWarning)
        try:
            result = bd([p[0] for p in anchor], [p[1] for p in anchor], rate_test, quality_test, method, lower_better)
        except ValueError as err:
            assert extra and "\n" not in str(err)
            return
    assert not extra
    for value, name in ((result.bd_rate_pct, "BD-rate"), (result.bd_quality, "BD-quality")):
        said = any(name in note or "usable point" in note for note in result.notes)
        assert math.isfinite(value) or (math.isnan(value) and said), (name, value, result.notes)


def _rising(start: float, steps: list[float]) -> list[float]:
    return list(itertools.accumulate(steps, initial=start))


@FUZZ
@given(rate_start=st.floats(1e-3, 1.0), rate_steps=st.lists(st.floats(0.05, 1.0), min_size=1, max_size=5),
       quality_start=st.floats(-50, 50), quality_steps=st.data(), factor=st.floats(0.5, 2.0), shift=st.floats(-3, 3),
       method=st.sampled_from(METHODS))
def test_bd_gives_the_known_answer_on_shifted_curves(rate_start, rate_steps, quality_start, quality_steps, factor, shift, method):
    """A curve against itself: 0 and 0. The same qualities at ``factor`` times the rate: BD-rate
    (factor - 1) x 100 %. The same rates at ``shift`` more quality: BD-quality ``shift``, and (PCHIP)
    a BD-rate whose sign says the better curve; the same for a lower-is-better metric."""
    rates = [rate_start * math.prod(1 + s for s in rate_steps[:i]) for i in range(len(rate_steps) + 1)]
    qualities = _rising(quality_start, quality_steps.draw(st.lists(st.floats(0.05, 5.0), min_size=len(rates) - 1,
                                                                   max_size=len(rates) - 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BDWarning)
        same = bd(rates, qualities, rates, qualities, method)
        scaled = bd(rates, qualities, [r * factor for r in rates], qualities, method)
        shifted = bd(rates, qualities, rates, [q + shift for q in qualities], method)
        lower = bd(rates, [-q for q in qualities], rates, [-q - shift for q in qualities], method, lower_better=True)
    assert same.bd_rate_pct == pytest.approx(0, abs=1e-9) and same.bd_quality == pytest.approx(0, abs=1e-9)
    assert scaled.bd_rate_pct == pytest.approx((factor - 1) * 100, rel=1e-6, abs=1e-9)
    assert shifted.bd_quality == pytest.approx(shift, abs=1e-9) and lower.bd_quality == pytest.approx(shift, abs=1e-9)
    if abs(shift) > 1e-6 and not math.isnan(shifted.bd_rate_pct):
        if method == "pchip":  # monotone interpolation: a curve above at every rate saves rate (a cubic fit may overshoot)
            assert (shifted.bd_rate_pct < 0) == (shift > 0)
        assert lower.bd_rate_pct == pytest.approx(shifted.bd_rate_pct, rel=1e-9, abs=1e-9)
