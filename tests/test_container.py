"""The shared container of the neural codecs: declared fields round-trip; every damaged byte,
truncation, bad field and failed cross-field check is a one-line BitstreamError."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcbench.codecs.container import NO_MODEL, VIDEO_FIELDS, Container, Field, Format, video_fields, video_format
from vcbench.errors import BitstreamError
from vcbench.video import VideoFormat


def _sections_match_gops(header, sections, path) -> None:
    expected = -(-header["frames"] // header["gop"])
    if len(sections) != expected:
        raise BitstreamError(f"{path}: {len(sections)} sections, frames and gop make {expected}")


FORMAT = Format("toy", 3, VIDEO_FIELDS + (
    Field("gop", "u16", "frames per GOP", minimum=1, maximum=1024),
    Field("step", "f32", "quantisation step", minimum=0.0),
    Field("sampler", "str", "sampler", choices=("ddim", "euler")),
    Field("shift", "i32", "a signed field", minimum=-8, maximum=8),
), _sections_match_gops)
FMT = VideoFormat(64, 48, 10, 30000, 1001, True, "420mpeg2")


def _container() -> Container:
    header = FORMAT.as_read({**video_fields(FMT, 5), "gop": 2, "step": 0.1, "sampler": "euler", "shift": -3})
    return Container("ab" * 32, header, [b"first", b"", b"\x00" * 7])


def test_round_trip_keeps_every_field_and_section(tmp_path: Path) -> None:
    container = _container()
    size = FORMAT.write(tmp_path / "a.toy", container)
    back = FORMAT.read(tmp_path / "a.toy")
    assert size == (tmp_path / "a.toy").stat().st_size
    assert back == container and video_format(back.header) == FMT
    assert back.header["step"] == container.header["step"] != 0.1  # f32: the encoder codes with what is read


def test_every_flipped_byte_and_every_truncation_is_refused() -> None:
    data = FORMAT.pack(_container())
    for index in range(len(data)):
        damaged = bytearray(data)
        damaged[index] ^= 0x40
        with pytest.raises(BitstreamError):
            FORMAT.unpack(bytes(damaged))
    for length in range(len(data)):
        with pytest.raises(BitstreamError):
            FORMAT.unpack(data[:length])


def test_bad_values_are_refused_before_writing(tmp_path: Path) -> None:
    good = _container()
    for name, value, message in (("shift", 9, "above 8"), ("sampler", "heun", "not one of"), ("gop", 1.5, "not an integer"),
                                 ("width", 63, "odd"), ("step", float("nan"), "finite")):
        bad = Container(good.model_hash, {**good.header, name: value}, good.sections)
        with pytest.raises(BitstreamError, match=message):
            FORMAT.write(tmp_path / "bad.toy", bad)
    with pytest.raises(BitstreamError, match="2 sections, frames and gop make 3"):
        FORMAT.pack(Container(NO_MODEL, good.header, good.sections[:2]))
    assert not list(tmp_path.iterdir())


def test_another_codec_or_version_is_named() -> None:
    data = FORMAT.pack(_container())
    other = Format("other", 3, FORMAT.fields)
    with pytest.raises(BitstreamError, match="a 'toy' bitstream, expected 'other'"):
        other.unpack(data)
    with pytest.raises(BitstreamError, match="version 3, this vcbench reads version 4"):
        Format("toy", 4, FORMAT.fields).unpack(data)


def test_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        Format("x", 1, (Field("a", "u8", ""), Field("a", "u8", "")))
    with pytest.raises(ValueError, match="unknown kind"):
        Field("a", "u64", "")
