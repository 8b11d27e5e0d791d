"""GIViC on a tiny configuration: real encodes and decodes through real bitstreams (odd sizes,
10 bit, a partial last GOP), determinism, every damaged byte refused, the effect of the sampling
steps, the rate knobs, and the command line."""

from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write_sequence
from vcbench.codecs.base import RatePoint
from vcbench.codecs.givic import GivicCodec, bitstream
from vcbench.codecs.registry import codec_entry, declared_options
from vcbench.errors import BitstreamError, ConfigError
from vcbench.video import VideoFormat, Y4MReader
from vcbench_cli import vcbench

TINY = {"levels": 2, "patch": 2, "gop": 4, "iterations": 80, "refresh": 10, "batch_tokens": 4, "steps": 2, "context": 2, "head_dim": 4,
        "device": "cpu", "threads": 1}
SOURCE = VideoFormat(37, 23, 10, 30000, 1001, True, "420jpeg")  # odd sizes, 10 bit, full range


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("givic")
    write_sequence(root / "clip.y4m", SOURCE, 6)  # GOPs of 4 and 2 frames
    return root


@pytest.fixture(scope="module")
def encoded(workdir: Path) -> Path:
    record = GivicCodec(**TINY).encode(workdir / "clip.y4m", workdir / "clip.givic", RatePoint("w8", {"width": 8, "rate_weight": 0.01}))
    assert record["bytes"] == (workdir / "clip.givic").stat().st_size
    assert [gop["frames"] for gop in record["gops"]] == [4, 2]
    return workdir / "clip.givic"


def _psnr(a: np.ndarray, b: np.ndarray, peak: int) -> float:
    return 10 * math.log10(peak**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


def test_round_trip_keeps_the_source_format_and_resembles_it(workdir: Path, encoded: Path) -> None:
    GivicCodec(device="cpu", threads=1).decode(encoded, workdir / "rec.y4m")
    with Y4MReader(workdir / "rec.y4m") as rec, Y4MReader(workdir / "clip.y4m") as src:
        assert rec.format == src.format == SOURCE
        decoded, source = list(rec.frames()), list(src.frames())
    assert len(decoded) == 6
    mid_grey = [np.full_like(frame.y, 512) for frame in source]
    quality = np.mean([_psnr(s.y, d.y, 1023) for s, d in zip(source, decoded)])
    assert quality > np.mean([_psnr(s.y, g, 1023) for s, g in zip(source, mid_grey)]) + 3


def test_decoding_twice_gives_identical_frames(workdir: Path, encoded: Path) -> None:
    codec = GivicCodec(device="cpu", threads=1)
    codec.decode(encoded, workdir / "a.y4m")
    codec.decode(encoded, workdir / "b.y4m")
    assert (workdir / "a.y4m").read_bytes() == (workdir / "b.y4m").read_bytes()


def test_more_sampling_steps_change_the_output(workdir: Path, encoded: Path) -> None:
    decoder = GivicCodec(device="cpu", threads=1).decoder(encoded)
    outputs = []
    for steps in (1, 2, 4):
        record = decoder.decode(workdir / f"steps{steps}.y4m", steps)
        assert record["steps"] == steps
        outputs.append((workdir / f"steps{steps}.y4m").read_bytes())
    assert len(set(outputs)) == 3
    GivicCodec(device="cpu", threads=1).decode(encoded, workdir / "normative.y4m")  # the header's 2 steps
    GivicCodec(device="cpu", threads=1, decode_steps=4).decode(encoded, workdir / "four.y4m")
    assert (workdir / "normative.y4m").read_bytes() == outputs[1] and (workdir / "four.y4m").read_bytes() == outputs[2]


def test_every_flipped_byte_and_every_truncation_is_refused(encoded: Path) -> None:
    data = encoded.read_bytes()
    assert bitstream.FORMAT.unpack(data).header["frames"] == 6
    for index in range(len(data)):
        damaged = bytearray(data)
        damaged[index] ^= 0x20
        with pytest.raises(BitstreamError):
            bitstream.FORMAT.unpack(bytes(damaged))
    for length in range(len(data)):
        with pytest.raises(BitstreamError):
            bitstream.FORMAT.unpack(data[:length])


def test_a_damaged_file_is_refused_in_one_line_with_nothing_written(workdir: Path, encoded: Path) -> None:
    data = bytearray(encoded.read_bytes())
    data[len(data) // 2] ^= 1
    (workdir / "damaged.givic").write_bytes(bytes(data))
    result = vcbench("decode", workdir / "damaged.givic", workdir / "never.y4m", "-o", "device=cpu")
    assert result.code == 2
    assert result.error.startswith("vcbench: error: ") and "CRC32" in result.error
    assert not (workdir / "never.y4m").exists()


def _recrc(data: bytes) -> bytes:
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


@pytest.mark.parametrize("offset", [-5, -9, -40])
def test_edited_weights_behind_a_recomputed_crc_are_refused(workdir: Path, encoded: Path, offset: int) -> None:
    data = bytearray(encoded.read_bytes())
    data[offset] ^= 0xFF  # inside the last GOP's entropy-coded weights
    (workdir / "edited.givic").write_bytes(_recrc(bytes(data)))
    with pytest.raises(BitstreamError, match="GOP 1: GOP section"):
        GivicCodec(device="cpu").decode(workdir / "edited.givic", workdir / "never.y4m")
    assert not (workdir / "never.y4m").exists()


def test_a_header_at_odds_with_itself_is_refused(workdir: Path, encoded: Path) -> None:
    container = bitstream.FORMAT.unpack(encoded.read_bytes())
    for field, value, named in (("token_width", container.header["token_width"] + 2, "token geometry"),
                                ("net_width", 10, "not a multiple of head_dim"), ("gop", 6, "make 1 GOP sections")):
        edited = bitstream.Container(container.model_hash, {**container.header, field: value}, container.sections)
        with pytest.raises(BitstreamError, match=named):
            bitstream.FORMAT.pack(edited)


def test_rate_grows_with_width(workdir: Path) -> None:
    codec = GivicCodec(**{**TINY, "iterations": 10})
    sizes = [codec.encode(workdir / "clip.y4m", workdir / f"w{width}.givic", RatePoint(f"w{width}", {"width": width}))["bytes"]
             for width in (4, 8, 16)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_options_are_checked_and_declared_torch_free() -> None:
    assert declared_options("givic") == (GivicCodec.option_set, GivicCodec.knob_set)
    assert (codec_entry("givic").extension, codec_entry("givic").uses_gpu) == ("givic", True)
    with pytest.raises(ConfigError, match="width=12 is not a multiple of head_dim=8"):
        GivicCodec(device="cpu").encode(Path("unused.y4m"), Path("unused.givic"), RatePoint("w12", {"width": 12}))
    with pytest.raises(ConfigError, match="context"):
        GivicCodec(context=-1)


def test_command_line_encode_and_decode(workdir: Path) -> None:
    options = [arg for key, value in TINY.items() for arg in ("-o", f"{key}={value}")]
    encoded = vcbench("encode", workdir / "clip.y4m", workdir / "cli.givic", "--codec", "givic", "-p", "width=4", *options,
                      "--frames", "4")
    assert encoded.code == 0, encoded.stderr
    decoded = vcbench("decode", workdir / "cli.givic", workdir / "cli.y4m", "--like", workdir / "clip.y4m",
                      "--encode-record", workdir / "cli.encode.json", "-o", "device=cpu")
    assert decoded.code == 0, decoded.stderr
    with Y4MReader(workdir / "cli.y4m") as rec:
        assert rec.count_frames() == 4 and rec.format == SOURCE


def test_the_sampling_steps_analysis_writes_its_record(workdir: Path, encoded: Path) -> None:
    out = workdir / "steps"
    result = vcbench("analysis", "sampling_steps", "--codec", "givic", "--dataset", "d", "--sequence", "s", "--rate", "w8",
                     "--source", workdir / "clip.y4m", "--input", "bitstream", "w8", encoded, "--out-dir", out, "-s", "steps=1,2,3",
                     "--metrics", "psnr", "--quiet", "-o", "device=cpu", "-o", "threads=1")
    assert result.code == 0, result.stderr
    record = json.loads((out / "analysis.json").read_text())
    assert (record["kind"], record["codec"], record["dataset"], record["sequence"]) == ("sampling_steps", "givic", "d", "s")
    assert record["figures"] == ["steps.png"] and (out / "steps.png").stat().st_size > 0 and len(record["findings"]) == 3
    table = pd.read_csv(out / record["tables"][0]["csv"])
    assert table["steps"].tolist() == [1, 2, 3] and table["normative"].tolist() == [False, True, False]
    assert table["psnr_yuv"].nunique() == 3  # each step count decodes to other frames


def test_the_context_length_analysis_measures_every_point(workdir: Path, encoded: Path) -> None:
    quick = {**TINY, "iterations": 20}  # the points' own encodes: enough to measure, not to fit
    options = [arg for key, value in quick.items() for arg in ("-o", f"{key}={value}")]
    folder = workdir / "context"
    job = ("analysis", "context_length", "--codec", "givic", "--dataset", "d", "--sequence", "s", "--source", workdir / "clip.y4m")
    # the codec's own context length (2) measures the ladder's bitstream; the other points are coded anew (w4 at L=2 too)
    points = [("reference", "w8", ["--input", "bitstream", "w8", encoded]), ("point", "w4", ["--item", 2]), ("point", "w8", ["--item", 1]),
              ("point", "w4", ["--item", 1])]
    for stage, rate, extra in points:
        result = vcbench(*job, "--stage", stage, "--rate", rate, "--out-dir", folder, "-p", f"width={rate[1:]}", "-p", "rate_weight=0.01",
                         "--frames", 6, "--metrics", "psnr", "--quiet", *options, *extra)
        assert result.code == 0, result.stderr
    point = json.loads((folder / "L1_w4.json").read_text())
    assert point["macs_per_pixel"] > 0 and point["decoded_fps"] > 0 and point["bpp"] > 0
    assert (folder / "L1_w4.givic").exists() and not (folder / "reference_w8.givic").exists()  # the ladder's bitstream is measured
    inputs = [arg for path in sorted(folder.glob("*.json"))
              for arg in ("--input", path.stem.split("_")[0] if path.stem.startswith("reference") else "point", path.stem, path)]
    result = vcbench(*job, "--out-dir", workdir / "context_length", *inputs, *options)
    assert result.code == 0, result.stderr
    record = json.loads((workdir / "context_length" / "analysis.json").read_text())
    assert record["kind"] == "context_length" and record["details"]["contexts"] == [1, 2] and len(record["findings"]) == 3
    summary = pd.read_csv(workdir / "context_length" / "context.csv")
    assert summary.loc[summary["context"] == 2, "bd_rate_psnr_yuv"].item() == 0  # the reference against itself
    # a given bitstream must be the point's own
    refused = vcbench(*job, "--stage", "reference", "--rate", "w8", "--out-dir", workdir / "bad", "-p", "width=8", "--frames", 6,
                      "--metrics", "psnr", "--input", "bitstream", "w8", encoded,
                      *[arg for key, value in {**quick, "context": 1}.items() for arg in ("-o", f"{key}={value}")])
    assert refused.code == 2 and "coded with context 2" in refused.error and not (workdir / "bad" / "reference_w8.json").exists()
