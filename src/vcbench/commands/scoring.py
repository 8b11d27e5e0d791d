"""`vcbench score`: per-frame metrics of a reconstruction, a summary, and (in the DAG) the rd row."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
import numpy as np

from vcbench.commands.options import parse_pairs
from vcbench.io import atomic_path, write_json_atomic, write_text_atomic
from vcbench.metrics.scoring import score_files
from vcbench.video import Y4MReader, yuv_to_rgb

DEFAULT_METRICS = "psnr,ms_ssim,vmaf"


def save_preview(reconstruction: Path, frame_index: int, out_png: Path) -> None:
    """The reconstruction's frame ``frame_index`` as an RGB PNG (for the report's visual comparisons)."""
    from PIL import Image

    with Y4MReader(reconstruction) as reader:
        frame = next(reader.frames(limit=1, start=frame_index))
        rgb = yuv_to_rgb(frame, reader.format)
    with atomic_path(out_png, suffix=".png") as tmp:
        Image.fromarray(np.rint(rgb * 255.0).astype(np.uint8)).save(tmp, format="PNG")


def metric_options_by_name(pairs) -> dict[str, dict]:
    """("lpips.net=vgg", ...) -> {"lpips": {"net": "vgg"}}."""
    options: dict[str, dict] = {}
    for key, value in parse_pairs(pairs, "--metric-option").items():
        metric, _, option = key.partition(".")
        options.setdefault(metric, {})[option] = value
    return options


def rd_row(encode_record: dict, decode_record: dict, means: dict[str, float], not_computed: dict[str, str]) -> dict:
    """One row of rd.csv: what was coded, how big, how good, how long, and where it came from."""
    row = {key: encode_record[key] for key in ("codec", "rate", "frames", "width", "height", "bit_depth", "bytes", "bpp",
                                               "encode_seconds", "bitstream", "bitstream_sha256", "source_sha256")}
    row.update(means)
    row["decode_seconds"] = decode_record["decode_seconds"]
    row["codec_version"] = "; ".join(f"{k} {v}" for k, v in sorted(encode_record.get("versions", {}).items()))
    row["not_computed"] = "; ".join(f"{k}: {v}" for k, v in sorted(not_computed.items()))
    return row


@click.command()
@click.argument("reference", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("distorted", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--metrics", default=DEFAULT_METRICS, show_default=True, help="Comma-separated metrics (psnr, ms_ssim, vmaf, and lpips/dists when installed).")
@click.option("--frames", type=int, default=None, help="Score only the first N frames (default: all frames of DISTORTED).")
@click.option("-m", "--metric-option", "metric_options", multiple=True, metavar="METRIC.KEY=VALUE", help="An option for one metric, e.g. -m lpips.net=vgg.")
@click.option("--threads", type=int, default=1, show_default=True, help="Threads for libvmaf.")
@click.option("--frames-csv", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write per-frame values here.")
@click.option("--summary", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the per-sequence summary (JSON) here.")
@click.option("--encode-record", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="The encode record: makes the summary a full rd.csv row.")
@click.option("--decode-record", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="The decode record (decode time).")
@click.option("--dataset", default=None, help="Dataset name for the rd row.")
@click.option("--sequence", default=None, help="Sequence name for the rd row.")
@click.option("--codec", "codec_label", default=None,
              help="Codec label for the rd row: the config's codec key (default: the encode record's codec name).")
@click.option("--preview", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Save the middle frame of DISTORTED as an RGB PNG here.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def score(reference: Path, distorted: Path, metrics: str, frames: int | None, metric_options, threads: int, frames_csv: Path | None,
          summary: Path | None, encode_record: Path | None, decode_record: Path | None, dataset: str | None, sequence: str | None,
          codec_label: str | None, preview: Path | None, quiet: bool) -> None:
    """Score DISTORTED against REFERENCE (both Y4M) frame by frame and print the means.

    PSNR is per frame (Y, U, V and YUV weighted 6:1:1, capped at 100 dB), averaged over frames;
    MS-SSIM is on luma; VMAF and VMAF-NEG come from libvmaf's built-in v0.6.1 models.
    """
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    scores = score_files(reference, distorted, names, frames, metric_options_by_name(metric_options), threads, progress=not quiet)
    means = scores.means()
    if frames_csv is not None:
        write_text_atomic(frames_csv, scores.per_frame.to_csv(index=False, float_format="%.6f"))
    result: dict = {"reference": str(reference), "distorted": str(distorted), "frames": len(scores.per_frame), **means,
                    "not_computed": scores.not_computed}
    if encode_record is not None:
        decode = json.loads(decode_record.read_text()) if decode_record else {"decode_seconds": math.nan}
        row = rd_row(json.loads(encode_record.read_text()), decode, means, scores.not_computed)
        # two config entries of one codec (divinr, divinr_quick) are two curves: label by config key
        result = {"dataset": dataset, "sequence": sequence, **row, "codec": codec_label or row["codec"]}
    if summary is not None:
        write_json_atomic(summary, result)
    if preview is not None:
        save_preview(distorted, len(scores.per_frame) // 2, preview)
    for name, reason in scores.not_computed.items():
        click.echo(f"not computed: {name}: {reason}", err=True)
    click.echo(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in means.items()}))
