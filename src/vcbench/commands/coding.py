"""`vcbench encode` and `vcbench decode`: one codec on one file, with a JSON record of each."""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path

import click

from vcbench.codecs import Codec, RatePoint, codec_entry, codec_for_extension, create_codec
from vcbench.commands.files import FilePath, existing_record, refuse_overlaps, refuse_replacing_record, renamed, same_file, written_together
from vcbench.commands.options import codec_options, default_label, rate_knobs
from vcbench.errors import BitstreamError, ConfigError, VcbenchError
from vcbench.io import read_record, sha256_file, write_json_atomic
from vcbench.reconstruction import check_decoded_frames, decode_to_y4m
from vcbench.results import rate_label_problem, record_kind, record_path
from vcbench.tracking.job import job_provenance
from vcbench.video import Y4MReader, read_y4m_header
from vcbench.video.lossless import EXTENSION, is_lossless, write_lossless


@click.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))  # the Y4M reader refuses directories in one line
@click.argument("bitstream", type=FilePath())
@click.option("--codec", "codec_name", required=True, help="Registered codec name (x265, vvenc, svtav1, ...).")
@click.option("--rate-label", default=None, help="Label of the rate point (default: built from the knobs).")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A rate knob, e.g. -p qp=37 (repeatable).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A codec option, e.g. -o gop=32 -o structure=low_delay (repeatable).")
@click.option("--frames", type=click.IntRange(min=1), default=None, help="Code only the first N frames (default: all).")
@click.option("--record", type=FilePath(), default=None,
              help="Where to write the JSON encode record (default: BITSTREAM stem + .encode.json; the record of "
                   "another bitstream there is refused).")
def encode(source: Path, bitstream: Path, codec_name: str, rate_label: str | None, params, options, frames: int | None,
           record: Path | None) -> None:
    """Encode the Y4M SOURCE into BITSTREAM and write an encode record (bytes, bpp, time, command, versions).

    Everything is checked before the encoder runs; the bitstream and its record appear together, or
    (on any failure) neither changes."""
    record = record or record_path(bitstream, "encode")
    refuse_overlaps({"SOURCE": source}, {"BITSTREAM": bitstream, "--record": record})
    checked_options = codec_options(codec_name, options)
    extension = codec_entry(codec_name).extension
    if bitstream.suffix != f".{extension}":  # the name is how decode, the DAG and every reader tell the format
        raise ConfigError(f"BITSTREAM {bitstream}: {codec_name} writes .{extension} streams; name it "
                          f"{bitstream.with_suffix(f'.{extension}')}")
    refuse_replacing_record(record, "--record", "encode", bitstream)
    knobs, given = rate_knobs(codec_name, params)  # the codec's edge: the rate point's one check in this job
    label = rate_label or default_label(knobs, given)
    if (problem := rate_label_problem(label)) is not None:
        raise ConfigError(f"--rate-label: {problem}")
    try:
        rate = RatePoint(label, knobs, checked_by=codec_entry(codec_name).knobs)  # the codec reads them as they are
    except ConfigError as err:
        raise ConfigError(f"{err}; pass --rate-label" if rate_label is None else str(err)) from None
    fmt = read_y4m_header(source)
    frames = Codec.frames_to_code(source, frames)  # the whole source checked; no frames, or too few, refused
    provenance = job_provenance(source)  # commit, dirty tree, versions, the source's recorded sha256
    codec = create_codec(codec_name, **checked_options)
    with written_together([(bitstream, f".{codec.extension}"), (record, ".json")]) as (bitstream_tmp, record_tmp):
        started = time.perf_counter()
        info = renamed(codec.encode(source, bitstream_tmp, rate, frames), bitstream_tmp, bitstream)
        seconds = time.perf_counter() - started
        size = bitstream_tmp.stat().st_size
        if size == 0:
            raise BitstreamError(f"{bitstream}: {codec_name} wrote an empty bitstream for {frames} frames of {source}; nothing was kept")
        record_data = {
            "codec": codec_name,
            "rate": label,
            "params": knobs,
            "options": codec.options,
            "source": str(source),
            "frames": frames,
            "width": fmt.width,
            "height": fmt.height,
            "bit_depth": fmt.bit_depth,
            "bitstream": str(bitstream),
            "bytes": size,
            "bpp": 8.0 * size / (frames * fmt.width * fmt.height),
            "bitstream_sha256": sha256_file(bitstream_tmp),
            "encode_seconds": seconds,
            "host": platform.node(),
            **info,
            "provenance": provenance,
        }
        write_json_atomic(record_tmp, record_data)
    click.echo(f"{bitstream}: {size} bytes, {record_data['bpp']:.5f} bpp, {frames} frames, {seconds:.1f} s")


@click.command()
@click.argument("bitstream", type=FilePath(exists=True))
@click.argument("reconstruction", type=FilePath(), required=False)
@click.option("--codec", "codec_name", default=None, help="Codec name (default: from the bitstream's extension).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A decoder option (e.g. where a neural codec's backbones live).")
@click.option("--like", type=FilePath(exists=True), default=None,
              help="The source Y4M: the reconstruction is written in its exact format (bit depth, range).")
@click.option("--record", type=FilePath(), default=None, help="Where to write the JSON decode record.")
@click.option("--encode-record", type=FilePath(exists=True), default=None,
              help="The bitstream's encode record: the decode must give the frames it says were coded.")
@click.option("--expect-frames", type=click.IntRange(min=1), default=None, help="The decode must give exactly N frames.")
def decode(bitstream: Path, reconstruction: Path | None, codec_name: str | None, options, like: Path | None, record: Path | None,
           encode_record: Path | None, expect_frames: int | None) -> None:
    """Decode BITSTREAM into RECONSTRUCTION: a Y4M file, or a lossless copy of one where it ends in .mkv
    (FFV1: what the workflow keeps of a neural codec's decode, for scoring to read again). Without
    RECONSTRUCTION the decode is timed and checked, and its frames go to a temporary folder only.

    The decode must give the frames the bitstream promises (--encode-record, else the encode
    record beside BITSTREAM where it describes it; --expect-frames; or the count the bitstream
    states where the codec can tell, e.g. a neural codec's header): a truncated stream that decodes to
    fewer frames fails. Where nothing promises a count, a shorter decode does not replace a
    longer RECONSTRUCTION. RECONSTRUCTION (and the record) appear only complete and checked; on
    any failure an existing RECONSTRUCTION is left as it was."""
    refuse_overlaps({"BITSTREAM": bitstream, "--like": like, "--encode-record": encode_record},
                    {"RECONSTRUCTION": reconstruction, "--record": record})
    name = codec_name or codec_for_extension(bitstream.suffix)
    checked_options = codec_options(name, options)
    if record is not None:
        refuse_replacing_record(record, "--record", "decode", bitstream)
    target = read_y4m_header(like) if like is not None else None
    promises = {"--expect-frames": expect_frames}
    digest = sha256_file(bitstream)
    if encode_record is not None:
        coded = read_record(encode_record, {"frames": int, "bitstream_sha256": str})
        if coded["bitstream_sha256"] != digest:
            raise ConfigError(f"--encode-record {encode_record} is the record of another bitstream than {bitstream} (sha256 differs)")
        promises[f"its encode record {encode_record}"] = coded["frames"]
    codec = create_codec(name, **checked_options)
    promises["its header"] = codec.frames_in(bitstream)  # a codec that reads its header names a damaged one first
    if encode_record is None and (beside := _own_encode_record(bitstream)) is not None:
        path, coded = beside
        if coded.get("bitstream_sha256") != digest:
            raise BitstreamError(f"{bitstream}: differs from the bitstream its encode record {path} describes (sha256): it is "
                                 "truncated, damaged or replaced; encode it again, or remove that record")
        promises[f"its encode record {path}"] = coded["frames"]
    promises = {who: count for who, count in promises.items() if count is not None}
    if len(set(promises.values())) > 1:
        raise BitstreamError(f"{bitstream}: the frame counts promised differ ({', '.join(f'{who}: {n}' for who, n in promises.items())})")
    provenance = job_provenance(like)
    as_y4m = reconstruction is not None and not is_lossless(reconstruction)  # the codec writes it in place
    outputs = ([(reconstruction, ".y4m" if as_y4m else EXTENSION)] if reconstruction is not None else []) + \
        ([(record, ".json")] if record is not None else [])
    with written_together(outputs) as temporaries, tempfile.TemporaryDirectory(prefix="vcbench-decode-") as scratch:
        written = dict(zip([path for path, _ in outputs], temporaries))
        decoded = written[reconstruction] if as_y4m else Path(scratch) / f"{bitstream.name}.y4m"
        started = time.perf_counter()
        info = decode_to_y4m(codec, bitstream, decoded, target, like)
        seconds = time.perf_counter() - started
        if as_y4m:
            info = renamed(info, decoded, reconstruction)
        with Y4MReader(decoded) as reader:
            frames = reader.count_frames()
            fmt = reader.format
        check_decoded_frames(bitstream, frames, promises)
        if not promises and reconstruction is not None:
            _refuse_a_shorter_reconstruction(reconstruction, frames, bitstream)
        if reconstruction is not None and not as_y4m:
            write_lossless(decoded, written[reconstruction])
        record_data = {"codec": name, "bitstream": str(bitstream), "bitstream_sha256": digest,
                       "frames": frames, "format": fmt.describe(), "decode_seconds": seconds, "host": platform.node(), **info,
                       "provenance": provenance}
        if record is not None:
            write_json_atomic(written[record], record_data)
    click.echo(f"{reconstruction or bitstream}: {frames} frames, {fmt.describe()}, {seconds:.1f} s")


def _own_encode_record(bitstream: Path) -> tuple[Path, dict] | None:
    """The encode record at BITSTREAM's default record path, where it is a record of that file
    (the record of another bitstream with the same stem says nothing about this one)."""
    path = record_path(bitstream, "encode")
    coded = existing_record(path)  # none there, or no record: nothing promised
    if record_kind(coded) != "encode" or not isinstance(coded.get("frames"), int) or not isinstance(coded.get("bitstream"), str):
        return None
    named = Path(coded["bitstream"])
    return (path, coded) if any(same_file(candidate, bitstream) for candidate in (named, path.parent / named.name)) else None


def _refuse_a_shorter_reconstruction(reconstruction: Path, frames: int, bitstream: Path) -> None:
    """With no frame count promised, a decode that gives fewer frames than the RECONSTRUCTION it
    would replace is a damaged stream far more often than a wish: refuse rather than lose frames."""
    if not reconstruction.is_file():
        return
    try:
        with Y4MReader(reconstruction) as reader:
            existing = reader.count_frames()
    except (OSError, VcbenchError):
        return  # not a readable Y4M: nothing decoded is lost by replacing it
    if existing > frames:
        raise BitstreamError(f"{bitstream}: decodes to {frames} frames, fewer than the {existing} of {reconstruction} it would "
                             f"replace; the stream is likely truncated: pass --expect-frames {frames} (or --encode-record) to "
                             "replace it anyway, or write elsewhere")
