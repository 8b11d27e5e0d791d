"""The conventional anchors through the real ffmpeg encoders and decoders."""

import json
import subprocess
import sys

import numpy as np
import pytest

from vcbench.codecs import RatePoint, available_codecs, codec_class, codec_entry, create_codec
from vcbench.errors import ConfigError, UnknownCodecError
from vcbench.io import sha256_file
from vcbench.video import Y4MReader, read_y4m_header
from vcbench.video.convert import match_format

ANCHORS = ["x265", "vvenc", "svtav1"]


def frames_of(path):
    with Y4MReader(path) as reader:
        return [np.concatenate([p.ravel() for p in f.planes]) for f in reader.frames()]


@pytest.mark.parametrize("name", ANCHORS)
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


@pytest.mark.parametrize("name", ANCHORS)
def test_decoding_twice_gives_identical_frames(make_y4m, tmp_path, name):
    source = make_y4m(frames=4)
    codec = create_codec(name)
    bitstream = tmp_path / f"b.{codec.extension}"
    codec.encode(source, bitstream, RatePoint("q", {"qp": 45}))
    codec.decode(bitstream, tmp_path / "a.y4m")
    codec.decode(bitstream, tmp_path / "b.y4m")
    assert sha256_file(tmp_path / "a.y4m") == sha256_file(tmp_path / "b.y4m")


@pytest.mark.parametrize("name", ANCHORS)
def test_higher_qp_gives_fewer_bytes(make_y4m, tmp_path, name):
    source = make_y4m(frames=4)
    codec = create_codec(name)
    sizes = []
    for qp in (30, 50):
        out = tmp_path / f"{qp}.{codec.extension}"
        codec.encode(source, out, RatePoint(f"qp{qp}", {"qp": qp}))
        sizes.append(out.stat().st_size)
    assert sizes[1] < sizes[0]


def test_low_delay_has_no_reordering(make_y4m, tmp_path):
    source = make_y4m(frames=6)
    ra, ld = create_codec("x265"), create_codec("x265", structure="low_delay")
    assert "bframes=7" in ra.encode(source, tmp_path / "ra.hevc", RatePoint("q", {"qp": 40}))["command"]
    assert "bframes=0" in ld.encode(source, tmp_path / "ld.hevc", RatePoint("q", {"qp": 40}))["command"]
    with pytest.raises(ConfigError, match="structure"):
        create_codec("x265", structure="zigzag")


@pytest.mark.parametrize("name", sorted(available_codecs()))
def test_registry_states_what_the_class_says(name):
    entry, cls = codec_entry(name), codec_class(name)
    assert (entry.extension, entry.uses_gpu) == (cls.extension, cls.uses_gpu) and cls.name == name


def test_unknown_codec_lists_the_known_ones():
    with pytest.raises(UnknownCodecError, match="x265"):
        create_codec("h267")
    assert set(ANCHORS) <= set(available_codecs())


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
