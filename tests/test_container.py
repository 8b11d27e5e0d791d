"""The shared container of the neural codecs: declared fields round-trip; every damaged byte,
truncation, bad field and failed cross-field check is a one-line BitstreamError."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vcbench.codecs.container import MAX_PIXELS, NO_MODEL, VIDEO_FIELDS, Container, Field, Format, video_fields, video_format
from vcbench.errors import BitstreamError, VideoFormatError
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


def test_unfit_names_the_first_value_the_header_could_not_carry() -> None:
    assert FORMAT.unfit(video_fields(FMT, 5)) is None
    assert "fps_num=4294967296 is above 4294967295 (u32" in FORMAT.unfit(video_fields(dataclasses.replace(FMT, fps_num=2**32), 5))
    assert "width=65536 is above 65535 (u16" in FORMAT.unfit(video_fields(VideoFormat(65536, 2), 1))
    assert f"8194x8192 is above the {MAX_PIXELS:,} samples" in FORMAT.unfit(video_fields(VideoFormat(8194, 8192), 1))
    assert "gop=0 is below 1" in FORMAT.unfit({"gop": 0})
    with pytest.raises(ValueError, match="not header fields"):
        FORMAT.unfit({"gops": 2})


def test_a_source_the_header_cannot_describe_is_refused_in_one_line() -> None:
    FORMAT.check_source(FMT, 5, "ok.y4m")
    with pytest.raises(VideoFormatError, match=r"^big\.y4m: a toy file cannot carry this video: header field frames=4294967296"):
        FORMAT.check_source(FMT, 2**32, "big.y4m")
    with pytest.raises(VideoFormatError, match="header field shift=9 is above 8"):
        FORMAT.check_source(FMT, 5, "ok.y4m", {"shift": 9})


def test_a_frame_too_large_to_decode_is_refused_behind_a_recomputed_crc() -> None:
    good = _container()
    header = {**good.header, "width": 65534, "height": 65534}
    data = FORMAT._serialise(good.model_hash, [f.pack(header[f.name]) for f in FORMAT.fields], good.sections)
    with pytest.raises(BitstreamError, match="65534x65534 is above the 67,108,864 samples a frame may have"):
        FORMAT.unpack(data)


def test_declared_ranges_must_fit_the_wire_type() -> None:
    with pytest.raises(ValueError, match="exceeds what u8 carries"):
        Field("a", "u8", "", maximum=256)
    with pytest.raises(ValueError, match="exceeds what u32 carries"):
        Field("a", "u32", "", minimum=-1)
    assert Field("a", "u32", "").problem(2**32) == "is above 4294967295"


def _y4m(path: Path, header: str, width: int, height: int) -> Path:
    path.write_bytes(f"YUV4MPEG2 {header}\n".encode() + b"FRAME\n" + bytes(width * height * 3 // 2))
    return path


def test_each_neural_codec_refuses_what_its_header_cannot_carry_before_any_work(tmp_path: Path) -> None:
    """A frame rate beyond u32 and a width beyond u16 are refused when the source is checked: before
    the model or backbone is even looked for (here it does not exist), so before any optimisation."""
    from vcbench.codecs.base import RatePoint
    from vcbench.codecs.diffvc import DiffVcCodec
    from vcbench.codecs.divinr import DivInrCodec
    from vcbench.codecs.givic import GivicCodec

    fast = _y4m(tmp_path / "fast.y4m", "W64 H48 F4294967296:1 Ip C420jpeg", 64, 48)
    wide = _y4m(tmp_path / "wide.y4m", "W65536 H2 F25:1 Ip C420jpeg", 65536, 2)
    codecs = {"diffvc": (DiffVcCodec(model="nowhere", backbone="nowhere", device="cpu"), RatePoint("q", {"q": 20})),
              "divinr": (DivInrCodec(backbone=str(tmp_path / "nowhere"), device="cpu"), RatePoint("r", {})),
              "givic": (GivicCodec(device="cpu"), RatePoint("w", {"width": 8}))}
    for name, (codec, rate) in codecs.items():
        with pytest.raises(VideoFormatError, match=rf"fast\.y4m: a {name} file cannot carry this video: header field "
                                                   r"fps_num=4294967296 is above 4294967295 \(u32"):
            codec.encode(fast, tmp_path / f"a.{name}", rate)
        with pytest.raises(VideoFormatError, match=r"header field width=65536 is above 65535 \(u16"):
            codec.encode(wide, tmp_path / f"a.{name}", rate)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.y4m", "wide.y4m"]


def test_divinr_refuses_a_width_that_its_backbone_pads_beyond_the_header(tmp_path: Path) -> None:
    """65534 fits u16, but padded to the embedded backbone's multiple of 64 it is 65536: refused before the optimisation."""
    from vcbench.codecs.base import RatePoint
    from vcbench.codecs.divinr import DivInrCodec

    wide = _y4m(tmp_path / "wide.y4m", "W65534 H2 F25:1 Ip C420jpeg", 65534, 2)
    codec = DivInrCodec(backbone=str(Path(__file__).resolve().parents[1] / "models/embedded"), device="cpu", threads=1)
    with pytest.raises(VideoFormatError, match=r"header field padded_width=65536 is above 65535 \(u16"):
        codec.encode(wide, tmp_path / "a.divinr", RatePoint("r", {}))
    assert not (tmp_path / "a.divinr").exists()
