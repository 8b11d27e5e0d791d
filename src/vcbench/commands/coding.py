"""`vcbench encode` and `vcbench decode`: one codec on one file, with a JSON record of each."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import click

from vcbench.codecs import RatePoint, codec_for_extension, create_codec
from vcbench.commands.options import parse_pairs
from vcbench.io import sha256_file, write_json_atomic
from vcbench.video import Y4MReader, read_y4m_header
from vcbench.video.convert import match_format


def default_record(path: Path, kind: str) -> Path:
    return path.with_name(f"{path.name.rsplit('.', 1)[0]}.{kind}.json")


@click.command()
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("bitstream", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--codec", "codec_name", required=True, help="Registered codec name (x265, vvenc, svtav1, ...).")
@click.option("--rate-label", default=None, help="Label of the rate point (default: built from the knobs).")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A rate knob, e.g. -p qp=37 (repeatable).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="A codec option, e.g. -o gop=32 -o structure=low_delay (repeatable).")
@click.option("--frames", type=int, default=None, help="Code only the first N frames (default: all).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Where to write the JSON encode record (default: BITSTREAM stem + .encode.json).")
def encode(source: Path, bitstream: Path, codec_name: str, rate_label: str | None, params, options, frames: int | None, record: Path | None) -> None:
    """Encode the Y4M SOURCE into BITSTREAM and write an encode record (bytes, bpp, time, command, versions)."""
    knobs = parse_pairs(params, "--param")
    # Labels name files: "quant_step0.05" becomes "quant_step0p05".
    label = rate_label or ("_".join(f"{k}{v}" for k, v in knobs.items()).replace(".", "p").replace("-", "m") or "default")
    codec = create_codec(codec_name, **parse_pairs(options, "--option"))
    fmt = read_y4m_header(source)
    if frames is None:
        with Y4MReader(source) as reader:
            frames = reader.count_frames()
    started = time.perf_counter()
    info = codec.encode(source, bitstream, RatePoint(label, knobs), frames)
    seconds = time.perf_counter() - started
    size = bitstream.stat().st_size
    record_data = {
        "codec": codec_name,
        "rate": label,
        "params": knobs,
        "options": codec.options,
        "source": str(source),
        "source_sha256": sha256_file(source),
        "frames": frames,
        "width": fmt.width,
        "height": fmt.height,
        "bit_depth": fmt.bit_depth,
        "bitstream": str(bitstream),
        "bytes": size,
        "bpp": 8.0 * size / (frames * fmt.width * fmt.height),
        "bitstream_sha256": sha256_file(bitstream),
        "encode_seconds": seconds,
        "host": platform.node(),
        **info,
    }
    write_json_atomic(record or default_record(bitstream, "encode"), record_data)
    click.echo(f"{bitstream}: {size} bytes, {record_data['bpp']:.5f} bpp, {frames} frames, {seconds:.1f} s")


@click.command()
@click.argument("bitstream", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("reconstruction", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--codec", "codec_name", default=None, help="Codec name (default: from the bitstream's extension).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="A decoder option (e.g. where a neural codec's backbones live).")
@click.option("--like", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The source Y4M: the reconstruction is written in its exact format (bit depth, range).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Where to write the JSON decode record.")
def decode(bitstream: Path, reconstruction: Path, codec_name: str | None, options, like: Path | None, record: Path | None) -> None:
    """Decode BITSTREAM into the Y4M file RECONSTRUCTION."""
    name = codec_name or codec_for_extension(bitstream.suffix)
    codec = create_codec(name, **parse_pairs(options, "--option"))
    started = time.perf_counter()
    info = codec.decode(bitstream, reconstruction)
    seconds = time.perf_counter() - started
    if like is not None:
        match_format(reconstruction, read_y4m_header(like))
    with Y4MReader(reconstruction) as reader:
        frames = reader.count_frames()
        fmt = reader.format
    record_data = {"codec": name, "bitstream": str(bitstream), "bitstream_sha256": sha256_file(bitstream),
                   "frames": frames, "format": fmt.describe(), "decode_seconds": seconds, "host": platform.node(), **info}
    if record is not None:
        write_json_atomic(record, record_data)
    click.echo(f"{reconstruction}: {frames} frames, {fmt.describe()}, {seconds:.1f} s")
