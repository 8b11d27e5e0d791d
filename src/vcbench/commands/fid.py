"""`vcbench fid-features` (per sequence) and `vcbench fid` (pooled per dataset x codec x rate)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click

from vcbench.commands.files import FilePath, refuse_overwriting
from vcbench.io import write_text_atomic
from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.fid import FEATURE_DIM, InceptionFeatures, pool, read_feature_file, sequence_features, write_feature_file
from vcbench.reconstruction import reconstruction_y4m

FID_COLUMNS = [
    "dataset", "codec", "rate", "sequences", "frames", "patches", "reference_patches",
    "fid", "kid", "kid_std", "kid_subset_size", "warning", "not_computed",
]  # fmt: skip


@click.command()
@click.argument("video", type=FilePath(exists=True))
@click.argument("output", type=FilePath())
@click.option("--frames", type=click.IntRange(min=1), default=None, help="Use only the first N frames.")
@click.option("--dataset", required=True)
@click.option("--sequence", required=True)
@click.option("--codec", default="", help="Codec of a reconstruction; omit for the source.")
@click.option("--rate", default="", help="Rate-point label of a reconstruction; omit for the source.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Asset cache root.")
@click.option("--like", type=FilePath(exists=True), default=None,
              help="The source Y4M, where VIDEO is a bitstream: it is decoded in the source's format.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
def fid_features(
    video: Path, output: Path, frames: int | None, dataset: str, sequence: str, codec: str, rate: str,
    cache_dir: Path | None, like: Path | None, batch_size: int,
) -> None:  # fmt: skip
    """Inception features of the 256x256 patches of VIDEO's frames, written to OUTPUT (.npz).

    VIDEO is a Y4M, a kept lossless reconstruction (.mkv) or a bitstream (decoded with --like into a
    temporary folder), as `vcbench score` reads it.

    Without the verified Inception weights the file records why (and the patch counts), so that the
    pooled report can say what is missing instead of failing. The workflow plans no such job when the
    weights are absent; it gets here with a file of the right size whose sha256 is wrong, or by hand.
    """
    if bool(codec) != bool(rate):
        raise click.UsageError("give both --codec and --rate for a reconstruction, or neither for a source")
    refuse_overwriting({"VIDEO": video, "--like": like}, {"OUTPUT": output})
    try:
        extractor, missing = InceptionFeatures(cache_dir=cache_dir, batch_size=batch_size), ""
    except MetricUnavailable as err:
        extractor, missing = None, str(err)
        click.echo(f"vcbench: fid not computed: {missing}", err=True)
    with reconstruction_y4m(video, like) as frames_file:
        features, count, patches = sequence_features(frames_file, frames, extractor)
    write_feature_file(
        output, features, dataset=dataset, sequence=sequence, codec=codec, rate=rate,
        role="reconstruction" if codec else "source", frames=count, patches=patches, missing=missing,
    )  # fmt: skip


@click.command()
@click.argument("output", type=FilePath())
@click.argument("features", nargs=-1, required=True, type=FilePath(exists=True))
@click.option("--kid-subsets", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--kid-subset-size", type=click.IntRange(min=2), default=1000, show_default=True)
def fid(output: Path, features: tuple[Path, ...], kid_subsets: int, kid_subset_size: int) -> None:
    """Pool feature files (sources and reconstructions) into OUTPUT (fid.csv): FID and KID per dataset x codec x rate."""
    refuse_overwriting({f"FEATURES #{index}": path for index, path in enumerate(features, 1)}, {"OUTPUT": output})
    rows = pool([read_feature_file(path) for path in features], kid_subsets, kid_subset_size)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FID_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(output, buffer.getvalue())
    click.echo(f"{output}: {len(rows)} rows ({FEATURE_DIM}-d Inception features, 256x256 patches)")
