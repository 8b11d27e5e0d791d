"""`vcbench givic-analysis`: GIViC's quality against the sampling steps, and BD-rate and decoding
complexity against the context length (see :mod:`vcbench.codecs.givic.analysis`)."""

from __future__ import annotations

from pathlib import Path

import click

from vcbench.analysis_record import RECORD_NAME
from vcbench.commands.files import (
    FilePath,
    FolderPath,
    outputs_in,
    refuse_overlaps,
    refuse_overwriting,
    refuse_replacing_record,
    refuse_replacing_records,
)
from vcbench.commands.options import metric_options as checked_metric_options, parse_pairs, rate_knobs
from vcbench.commands.scoring import DEFAULT_METRICS
from vcbench.errors import ConfigError
from vcbench.io import read_record
from vcbench.results import record_kind

_IDENTITY = [
    click.option("--codec", "codec_key", default="givic", show_default=True, help="The codec's config key (named in the record)."),
    click.option("--dataset", default="", help="The dataset (named in the record)."),
    click.option("--sequence", default="", help="The sequence (named in the record)."),
]
_SCORING = [
    click.option("--metrics", default=DEFAULT_METRICS, show_default=True, help="Comma-separated frame metrics (as for `vcbench score`)."),
    click.option("-m", "--metric-option", "metric_options", multiple=True, metavar="METRIC.KEY=VALUE",
                 help="An option for one metric, e.g. -m lpips.cache_dir=PATH."),
    click.option("--quiet", is_flag=True, help="No progress bars while scoring."),
]
_OPTIONS = click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
                        help="A GIViC codec option, as the codec is configured (e.g. -o threads=1).")


def _apply(decorators):
    def wrap(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return wrap


def _scorer(source: Path, metrics: str, metric_options, quiet: bool):
    from vcbench.metrics.scoring import score_files

    names = [m.strip() for m in metrics.split(",") if m.strip()]
    if "psnr" not in names:
        raise ConfigError(f"--metrics {metrics}: the GIViC analyses plot and compare PSNR-YUV; include psnr")
    per_metric = checked_metric_options(metric_options)

    def score(reconstruction: Path) -> tuple[dict[str, float], dict[str, str]]:
        scores = score_files(source, reconstruction, names, None, per_metric, progress=not quiet)
        return scores.means(), scores.not_computed

    return score


def _counts(text: str, option: str, allow_zero: bool = False) -> list[int]:
    given = [c.strip() for c in text.split(",") if c.strip()]
    counts = [int(c) for c in given if c.isdigit() and (allow_zero or int(c) >= 1)]
    if not given or len(counts) != len(given):
        raise click.BadParameter(f"{text!r}: give comma-separated {'non-negative' if allow_zero else 'positive'} integers",
                                 param_hint=option)
    return counts


@click.group()
def givic_analysis() -> None:
    """GIViC's analyses: quality against the sampling steps; BD-rate and complexity against the context length."""


# what each analysis writes into its --out-dir (vcbench.codecs.givic.analysis)
STEPS_WRITES = ("steps.csv", "steps.png", RECORD_NAME)
CONTEXT_WRITES = ("context.csv", "context_points.csv", "context.png", RECORD_NAME)


@givic_analysis.command()
@click.argument("bitstream", type=FilePath(exists=True))
@click.argument("source", type=FilePath(exists=True))
@click.option("--out-dir", type=FolderPath(), required=True, help=f"Where {', '.join(STEPS_WRITES)} go.")
@click.option("--steps", "step_counts", default="1,2,4,8", show_default=True, help="Comma-separated numbers of sampling steps.")
@_apply([*_SCORING, _OPTIONS, *_IDENTITY])
def steps(bitstream: Path, source: Path, out_dir: Path, step_counts: str, metrics: str, metric_options, quiet: bool, options,
          codec_key: str, dataset: str, sequence: str) -> None:
    """Decode a GIViC BITSTREAM with each number of sampling steps in --steps and score every decode against SOURCE."""
    refuse_overwriting({"BITSTREAM": bitstream, "SOURCE": source}, outputs_in(out_dir, STEPS_WRITES))

    from vcbench.codecs.givic.analysis import sampling_steps

    table = sampling_steps(bitstream, source, out_dir, _counts(step_counts, "--steps"), _scorer(source, metrics, metric_options, quiet),
                           parse_pairs(options, "--option"), {"codec": codec_key, "dataset": dataset, "sequence": sequence})
    click.echo(table.round(4).to_string(index=False))


@givic_analysis.command("context-point")
@click.argument("source", type=FilePath(exists=True))
@click.option("--out", type=FilePath(), required=True,
              help="The point's record (JSON); a bitstream it codes goes beside it (.givic).")
@click.option("--context", type=click.IntRange(min=0), required=True, help="The context length L of this point (0: the whole level).")
@click.option("--rate-label", required=True, help="The rate point's label.")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A rate knob of the point (repeatable).")
@click.option("--frames", type=click.IntRange(min=1), required=True, help="Code the first N frames.")
@click.option("--bitstream", type=FilePath(exists=True), default=None,
              help="Measure this bitstream (coded with --context) instead of coding one.")
@_apply([*_SCORING, _OPTIONS])
def context_point(source: Path, out: Path, context: int, rate_label: str, params, frames: int, bitstream: Path | None, metrics: str,
                  metric_options, quiet: bool, options) -> None:
    """One point of the context-length analysis: SOURCE coded with context length --context (the
    codec's options otherwise as -o gives them), decoded, scored, its decoder's MACs counted."""
    coded = out.with_suffix(".givic") if bitstream is None else None  # where context_point codes the point's bitstream
    refuse_overlaps({"SOURCE": source, "--bitstream": bitstream}, {"--out": out, "the point's bitstream": coded})
    refuse_replacing_record(out, "--out", "context-point", bitstream or coded)
    refuse_replacing_records({"the point's bitstream": coded})

    from vcbench.codecs.base import RatePoint
    from vcbench.codecs.givic.analysis import context_point as measure

    knobs, _ = rate_knobs("givic", params)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = measure(source, out, RatePoint(rate_label, knobs), frames, context, _scorer(source, metrics, metric_options, quiet),
                     parse_pairs(options, "--option"), bitstream)
    click.echo(f"{out}: L={context} {rate_label}: {record['bpp']:.5f} bpp, PSNR-YUV {record.get('psnr_yuv', float('nan')):.2f} dB, "
               f"{record['macs_per_pixel'] / 1e3:.1f} kMAC/pixel, {record['decoded_fps']:.2f} fps")


@givic_analysis.command()
@click.argument("points", nargs=-1, required=True, type=FilePath(exists=True))
@click.option("--out-dir", type=FolderPath(), required=True, help=f"Where {', '.join(CONTEXT_WRITES)} go.")
@click.option("--reference", type=click.IntRange(min=0), required=True, help="The context length BD-rates are measured against.")
@_apply(_IDENTITY)
def context(points: tuple[Path, ...], out_dir: Path, reference: int, codec_key: str, dataset: str, sequence: str) -> None:
    """Gather the context-point records POINTS: BD-rate of every context length against --reference, and the complexity."""
    refuse_overwriting({f"POINTS #{index}": path for index, path in enumerate(points, 1)}, outputs_in(out_dir, CONTEXT_WRITES))

    records = []
    for path in points:
        record = read_record(path, {})
        if record_kind(record) != "context-point":
            raise ConfigError(f"{path}: not a context-point record; run `vcbench givic-analysis context-point` again")
        records.append(record)

    from vcbench.codecs.givic.analysis import context_length

    summary = context_length(records, reference, out_dir, {"codec": codec_key, "dataset": dataset, "sequence": sequence})
    click.echo(summary.round(3).to_string(index=False))
