"""`vcbench analysis NAME`: runs one job of any analysis a codec declares (`vcbench.codecs.analyses`);
workflow/rules/analysis.smk gives each its files, settings and options."""

from __future__ import annotations

from pathlib import Path

import click

from vcbench.commands.files import FilePath, FolderPath, outputs_in, refuse_overwriting
from vcbench.commands.options import metric_options as checked_metric_options, parse_pairs
from vcbench.commands.scoring import DEFAULT_METRICS


@click.command()
@click.argument("name")
@click.option("--stage", default=None, help="Which of its stages (default: the last, which writes the record the report shows).")
@click.option("--codec", "codec_key", required=True, help="The codec's config key (named in the record).")
@click.option("--dataset", required=True, help="The dataset (named in the record).")
@click.option("--sequence", required=True, help="The sequence (named in the record).")
@click.option("--rate", default=None, help="The rate point's label (a stage run per rate point).")
@click.option("--item", default=None, help="The value of a stage that also fans out over one (e.g. a context length).")
@click.option("--source", type=FilePath(exists=True), required=True, help="The sequence's Y4M.")
@click.option("--input", "inputs", nargs=3, multiple=True, type=(str, str, FilePath(exists=True)), metavar="KIND LABEL FILE",
              help="A file the stage reads: KIND bitstream, encode_record, summary, frames or an earlier stage; LABEL its point.")
@click.option("--out-dir", type=FolderPath(), required=True, help="Where the stage writes its files.")
@click.option("-s", "--setting", "settings", multiple=True, metavar="KEY=VALUE", help="A declared setting of the analysis (lists: 1,2,4).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="A codec option, as the codec is configured.")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A rate knob of the stage's rate point.")
@click.option("--frames", type=click.IntRange(min=1), default=None, help="Code the first N frames (a stage that encodes).")
@click.option("--metrics", default=DEFAULT_METRICS, show_default=True, help="Comma-separated frame metrics (as for `vcbench score`).")
@click.option("-m", "--metric-option", "metric_options", multiple=True, metavar="METRIC.KEY=VALUE",
              help="An option for one metric, e.g. -m lpips.cache_dir=PATH.")
@click.option("--quiet", is_flag=True, help="No progress bars while scoring.")
def analysis(name: str, stage: str | None, codec_key: str, dataset: str, sequence: str, rate: str | None, item: str | None, source: Path,
             inputs, out_dir: Path, settings, options, params, frames: int | None, metrics: str, metric_options, quiet: bool) -> None:
    """Run one job of the analysis NAME, as a codec declares it (its package's analyses.py: stages, settings)."""
    from vcbench.codecs.analyses import AnalysisJob, analysis_named
    from vcbench.lazy import resolve

    _, declared = analysis_named(name)
    chosen = declared.stage(stage) if stage else declared.last
    where = f"analysis {name}"
    if chosen.per == "rate" and rate is None or chosen.over is not None and item is None:
        raise click.UsageError(f"{where} stage {chosen.name} runs per rate point{' and item' if chosen.over else ''}: "
                               f"give --rate{' and --item' if chosen.over else ''}")
    written = [out_dir / pattern.format(rate=rate, item=item) for pattern in chosen.writes]
    read = {"--source": source, **{f"--input {kind} {label}": path for kind, label, path in inputs}}
    refuse_overwriting(read, outputs_in(out_dir, [path.name for path in written]))
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    by_kind: dict[str, list[tuple[str, Path]]] = {}
    for kind, label, path in inputs:
        by_kind.setdefault(kind, []).append((label, path))
    job = AnalysisJob(codec=codec_key, dataset=dataset, sequence=sequence, rate=rate, item=item, source=source, inputs=by_kind,
                      out_dir=out_dir, outputs=written,
                      settings=declared.settings.parse(parse_pairs(settings, "-s/--setting"), f"{where} settings (-s)"),
                      codec_options=parse_pairs(options, "-o/--option"), knobs=parse_pairs(params, "-p/--param"), frames=frames,
                      metrics=names, metric_options=checked_metric_options(metric_options, names), quiet=quiet)
    shown = resolve(chosen.run)(job)
    if shown:
        click.echo(shown)
