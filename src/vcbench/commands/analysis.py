"""`vcbench denoising-analysis`: DiV-INR's quality per denoising step and per number of steps."""

from __future__ import annotations

from pathlib import Path

import click

from vcbench.analysis_record import RECORD_NAME
from vcbench.commands.files import FilePath, FolderPath, outputs_in, refuse_overwriting
from vcbench.commands.options import metric_options as checked_metric_options, parse_pairs
from vcbench.commands.scoring import DEFAULT_METRICS

# what the analysis writes into --out-dir (vcbench.codecs.divinr.analysis.write_analysis)
WRITES = ("per_step.csv", "per_step_count.csv", "denoising.png", RECORD_NAME)


@click.command()
@click.argument("bitstream", type=FilePath(exists=True))
@click.argument("source", type=FilePath(exists=True))
@click.option("--out-dir", type=FolderPath(), required=True, help=f"Where {', '.join(WRITES)} go.")
@click.option("--job", required=True, metavar="DATASET/SEQUENCE/CODEC/RATE", help="Which result this is (titles the report's section).")
@click.option("--steps", "step_counts", default="1,2,4,8", show_default=True,
              help="Comma-separated numbers of sampling steps to decode with.")
@click.option("--metrics", default=DEFAULT_METRICS, show_default=True, help="Comma-separated frame metrics (as for `vcbench score`).")
@click.option("-m", "--metric-option", "metric_options", multiple=True, metavar="METRIC.KEY=VALUE",
              help="An option for one metric, e.g. -m lpips.cache_dir=PATH.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A DiV-INR decoder option (backbone, models_dir, device, threads).")
@click.option("--quiet", is_flag=True, help="No progress bars while scoring.")
def denoising_analysis(bitstream: Path, source: Path, out_dir: Path, job: str, step_counts: str, metrics: str, metric_options, options,
                       quiet: bool) -> None:
    """Score the predicted clean frames of every denoising step of a DiV-INR BITSTREAM, and its
    decodes with each number of sampling steps in --steps, against the Y4M SOURCE."""
    refuse_overwriting({"BITSTREAM": bitstream, "SOURCE": source}, outputs_in(out_dir, WRITES))

    from vcbench.analysis_record import JobName
    from vcbench.codecs.divinr.analysis import run
    from vcbench.metrics.scoring import score_files

    job_name = JobName.parse(job)
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    per_metric = checked_metric_options(metric_options)
    given = [c.strip() for c in step_counts.split(",") if c.strip()]
    counts = [int(c) for c in given if c.isdigit() and int(c) >= 1]
    if not given or len(counts) != len(given):
        raise click.BadParameter(f"{step_counts!r}: give positive step counts, e.g. 1,2,4,8", param_hint="--steps")

    def score(reconstruction: Path) -> tuple[dict[str, float], dict[str, str]]:
        scores = score_files(source, reconstruction, names, None, per_metric, progress=not quiet)
        return scores.means(), scores.not_computed

    result = run(bitstream, source, out_dir, job_name, counts, score, parse_pairs(options, "--option"))
    click.echo(f"per denoising step (of {result.header_steps}):\n{result.per_step.round(4).to_string(index=False)}")
    click.echo(f"per number of sampling steps:\n{result.per_step_count.round(4).to_string(index=False)}")
    for name, reason in result.not_computed.items():
        click.echo(f"not computed: {name}: {reason}", err=True)
