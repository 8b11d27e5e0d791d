"""`vcbench score`: per-frame metrics of a reconstruction, a summary, and (in the DAG) the rd row."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from vcbench.commands.files import (
    FilePath,
    live_bitstream,
    refuse_overlaps,
    refuse_replacing_record,
    refuse_replacing_records,
    written_together,
)
from vcbench.commands.options import metric_options as checked_metric_options
from vcbench.errors import ConfigError
from vcbench.io import atomic_path, dumps_json, read_record, sha256_file, write_json_atomic, write_text_atomic
from vcbench.metrics.registry import declared_metric_options
from vcbench.metrics.scoring import score_files
from vcbench.reconstruction import bitstream_codec, is_y4m, reconstruction_y4m
from vcbench.results import RDRow
from vcbench.tools.threads import job_threads
from vcbench.tracking.job import finished, job_provenance, require_same_source
from vcbench.video import Y4MReader, read_y4m_header, yuv_to_rgb

DEFAULT_METRICS = "psnr,ms_ssim,vmaf"


def save_preview(reconstruction: Path, frame_index: int, out_png: Path) -> None:
    """The reconstruction's frame ``frame_index`` as an RGB PNG (for the report's visual comparisons)."""
    from PIL import Image

    with Y4MReader(reconstruction) as reader:
        frame = next(reader.frames(limit=1, start=frame_index))
        rgb = yuv_to_rgb(frame, reader.format)
    with atomic_path(out_png, suffix=".png") as tmp:
        Image.fromarray(np.rint(rgb * 255.0).astype(np.uint8)).save(tmp, format="PNG")


def format_warnings(reference: Path, distorted: Path, frames_file: Path, allowed: bool) -> list[str]:
    """Refuse a DISTORTED (its frames in ``frames_file``: itself, or where it was decoded) whose colour range or
    frame rate is not REFERENCE's (its samples line up, but mean other levels or other instants), or with
    ``allowed``, the warnings its summary carries. The pipeline's reconstructions always match: `vcbench decode
    --like`, and scoring's own decode of a bitstream, write the source's format."""
    differences = read_y4m_header(frames_file).range_and_rate_differences(read_y4m_header(reference))
    if differences and not allowed:
        raise ConfigError(f"{distorted}: differs from its reference {reference} in {' and '.join(differences)}; bring it to the "
                          "reference's format, or pass --allow-format-mismatch to score it anyway")
    return [f"{distorted} differs from its reference {reference} in {difference}" for difference in differences]


def frames_to_score(reference: Path, distorted: Path, frames_file: Path, frames: int | None, encoded: dict | None,
                    encode_path: Path | None, decoded: dict | None, decode_path: Path | None) -> int:
    """How many frames to score, after checking that both files have them and that DISTORTED is the
    whole decode of the bitstream the records describe (else the rd row would claim frames never scored).
    ``frames_file`` holds DISTORTED's frames (a temporary decode where DISTORTED is a bitstream); errors
    name DISTORTED, the file the user gave."""
    with Y4MReader(frames_file) as reader:
        available = reader.count_frames()
    if encoded is not None:
        coded = encoded["frames"]
        if available != coded:
            raise ConfigError(f"{distorted}: has {available} frames, but {encode_path} says {coded} were coded: it is not the whole "
                              "decode of that bitstream; decode it again")
        if frames is not None and frames != coded:
            raise ConfigError(f"--frames {frames}: {encode_path} says {coded} frames were coded, and the rd row describes them all; "
                              f"give --frames {coded} or leave it out")
        if decoded is not None and (decoded["bitstream_sha256"], decoded["frames"]) != (encoded["bitstream_sha256"], coded):
            raise ConfigError(f"{decode_path}: records the decode of another bitstream than {encode_path} describes "
                              "(sha256 or frame count differ); decode it again")
    frames = available if frames is None else frames
    if frames == 0:
        raise ConfigError(f"{distorted}: has no frames to score")
    with Y4MReader(reference) as reader:
        reference_frames = reader.count_frames()
    for path, count in ((distorted, available), (reference, reference_frames)):
        if count < frames:
            raise ConfigError(f"{path}: has {count} frames, {frames} are to be scored; lower --frames")
    return frames


@click.command()
@click.argument("reference", type=click.Path(exists=True, path_type=Path))  # the Y4M reader refuses directories in one line
@click.argument("distorted", type=click.Path(exists=True, path_type=Path))
@click.option("--metrics", default=DEFAULT_METRICS, show_default=True,
              help="Comma-separated registered metrics (`vcbench options` lists them; lpips/dists need their weights).")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Score only the first N frames (default: all frames of DISTORTED; with --encode-record, the frames it says were coded).")
@click.option("-m", "--metric-option", "metric_options", multiple=True, metavar="METRIC.KEY=VALUE",
              help="An option for one metric, e.g. -m lpips.net=vgg.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the learned metrics' verified weights (their cache_dir option, where -m does not set it).")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="Threads for libvmaf and PSNR (0: the job's threads or the CPUs it may use, never the node's count).")
@click.option("--frames-csv", type=FilePath(), default=None, help="Write per-frame values here.")
@click.option("--summary", type=FilePath(), default=None,
              help="Write the per-sequence summary (JSON) here.")
@click.option("--encode-record", type=FilePath(exists=True), default=None,
              help="The encode record: makes the summary a full rd.csv row.")
@click.option("--decode-record", type=FilePath(exists=True), default=None,
              help="The decode record (decode time).")
@click.option("--dataset", default=None, help="Dataset name for the rd row.")
@click.option("--sequence", default=None, help="Sequence name for the rd row.")
@click.option("--codec", "codec_label", default=None,
              help="Codec label for the rd row: the config's codec key (default: the encode record's codec name).")
@click.option("--preview", type=FilePath(), default=None,
              help="Save the middle frame of DISTORTED as an RGB PNG here.")
@click.option("--allow-format-mismatch", is_flag=True,
              help="Score a DISTORTED whose colour range or frame rate differs from REFERENCE's; the summary lists it under warnings.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def score(reference: Path, distorted: Path, metrics: str, frames: int | None, metric_options, cache_dir: Path | None, threads: int,
          frames_csv: Path | None, summary: Path | None, encode_record: Path | None, decode_record: Path | None, dataset: str | None,
          sequence: str | None, codec_label: str | None, preview: Path | None, allow_format_mismatch: bool, quiet: bool) -> None:
    """Score DISTORTED against REFERENCE (a Y4M) frame by frame and print the means.

    DISTORTED is a Y4M, a kept lossless reconstruction (.mkv, `vcbench decode`'s FFV1 copy), or a
    bitstream of a registered codec (named by its extension), decoded here in REFERENCE's format
    into a temporary folder ($TMPDIR) that is removed when scoring ends: what the workflow does for
    the anchors, whose decode takes a fraction of a second.

    PSNR is per frame (Y, U, V and YUV weighted 6:1:1, capped at 100 dB), averaged over frames;
    MS-SSIM is on luma; VMAF and VMAF-NEG come from libvmaf's built-in v0.6.1 models.
    """
    refuse_overlaps({"REFERENCE": reference, "DISTORTED": distorted, "--encode-record": encode_record, "--decode-record": decode_record},
                    {"--frames-csv": frames_csv, "--summary": summary, "--preview": preview})
    for video in ((distorted,) if is_y4m(distorted) else ()) + (reference,):
        read_y4m_header(video)  # a file that is no Y4M is refused before any other check, or any decode
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    if not names:
        raise ConfigError(f"--metrics {metrics!r}: name at least one metric")
    if cache_dir is not None:  # the workflow's one way of passing the assets folder, as to the FID jobs
        given = {pair.partition("=")[0] for pair in metric_options}
        metric_options = (*metric_options, *(f"{name}.cache_dir={cache_dir}" for name in names
                                             if "cache_dir" in declared_metric_options(name) and f"{name}.cache_dir" not in given))
    per_metric = checked_metric_options(metric_options, names)
    provenance = job_provenance(reference)
    encoded = read_record(encode_record, {"frames": int, "bitstream_sha256": str}) if encode_record is not None else None
    decoded = read_record(decode_record, {"frames": int, "bitstream_sha256": str, "decode_seconds": float}) if decode_record else None
    if encoded is not None:  # before anything is scored or written
        require_same_source(encoded, encode_record, reference, provenance)
    if summary is not None:  # a summary replaces only a summary of the same bitstream (or of none, scored without a record)
        bitstream = (live_bitstream(encode_record, encoded) or Path(str(encoded.get("bitstream")))) if encoded is not None else None
        refuse_replacing_record(summary, "--summary", "summary", bitstream)
    refuse_replacing_records({"--frames-csv": frames_csv, "--preview": preview})
    if encoded is not None and bitstream_codec(distorted) and sha256_file(distorted) != encoded["bitstream_sha256"]:
        raise ConfigError(f"DISTORTED {distorted}: is not the bitstream {encode_record} describes (sha256 differs); encode it again")
    # removed when the command ends (click closes the context's resources, on success or failure)
    frames_file = click.get_current_context().with_resource(reconstruction_y4m(distorted, reference))
    warnings = format_warnings(reference, distorted, frames_file, allow_format_mismatch)
    frames = frames_to_score(reference, distorted, frames_file, frames, encoded, encode_record, decoded, decode_record)
    scores = score_files(reference, frames_file, names, frames, per_metric, job_threads(threads), progress=not quiet)
    means = scores.means()
    result: dict = {"reference": str(reference), "distorted": str(distorted), "frames": scores.frames, **means,
                    "not_computed": scores.not_computed}
    if encode_record is not None:
        # two config entries of one codec (a codec and its quick variant) are two curves: label by config key
        result = RDRow.from_records(encoded, decoded or {}, means, scores.not_computed, dataset, sequence, codec_label,
                                    warnings).to_dict()
    elif warnings:
        result["warnings"] = warnings
    result["provenance"] = finished(provenance)
    outputs = [(path, suffix) for path, suffix in ((frames_csv, ".csv"), (summary, ".json"), (preview, ".png")) if path is not None]
    with written_together(outputs) as temporaries:
        written = dict(zip([path for path, _ in outputs], temporaries))
        if frames_csv is not None:
            write_text_atomic(written[frames_csv], scores.to_csv())
        if summary is not None:
            write_json_atomic(written[summary], result)
        if preview is not None:
            save_preview(frames_file, scores.frames // 2, written[preview])
    for name, reason in scores.not_computed.items():
        click.echo(f"not computed: {name}: {reason}", err=True)
    for warning in warnings:
        click.echo(f"vcbench: warning: {warning}", err=True)
    click.echo(dumps_json({k: (round(v, 4) if isinstance(v, float) else v) for k, v in means.items()}))
