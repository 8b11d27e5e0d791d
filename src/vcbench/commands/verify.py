"""`vcbench verify`: re-derive every number of reports/<preset> from its bitstreams."""

from __future__ import annotations

from pathlib import Path

import click

from vcbench.commands.files import FilePath


@click.command()
@click.argument("report_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."), show_default=True,
              help="Repository root: rd.csv's and the records' paths (results/, data/, models/) are relative to it.")
@click.option("--sample", type=click.IntRange(min=1), default=None,
              help="Verify only N rows of rd.csv, drawn with --seed (bd.csv is always recomputed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample's draw (numpy default_rng).")
@click.option("-m", "--metric-option", "metric_options", multiple=True, metavar="METRIC.KEY=VALUE",
              help="A metric option as the score jobs got it (the config's metric_options), e.g. -m lpips.net=vgg.")
@click.option("--out", type=FilePath(), default=None,
              help="Where to write verify.json (default: REPORT_DIR/verify.json).")
@click.option("--config-hash", default=None,
              help="The hash of the configuration the report must have been built under (the verify rule passes its own); "
                   "without it, config_hash is only checked to be one value.")
@click.option("--failed-only", is_flag=True, help="Print only the failed checks (verify.json has all of them).")
def verify(report_dir: Path, root: Path, sample: int | None, seed: int, metric_options, out: Path | None, config_hash: str | None,
           failed_only: bool) -> None:
    """Re-derive every number of REPORT_DIR (reports/<preset>) from its bitstreams; exit 1 on any mismatch.

    Per rd.csv row: the bitstream's and the source's sha256 against rd.csv and the records, bytes
    and bpp, a fresh decode (into a temporary folder) with the encode record's codec and options,
    a fresh score with rd.csv's metrics, compared with rd.csv and frames.csv; then bd.csv
    recomputed from rd.csv with bd.csv's own anchors, method and metrics. Numbers agree within
    1e-9 (relative above 1, absolute below); a neural codec decoded on another device than its
    decode record names gets stated per-metric tolerances. Prints a table and writes verify.json.
    """
    from vcbench.commands.files import refuse_overlaps
    from vcbench.io import dumps_json, write_text_atomic
    from vcbench.verify import format_table, verify_report
    from vcbench.verify.run import refuse_replacing_other_than_verify_json, report_files

    out = out or report_dir / "verify.json"
    refuse_overlaps(report_files(report_dir, root), {"--out": out})  # rd.csv, bd.csv, bitstreams, records, sources
    refuse_replacing_other_than_verify_json(out)
    result = verify_report(report_dir, root, sample, seed, metric_options,
                           progress=lambda line: click.echo(line, err=True), config_hash=config_hash)
    click.echo(format_table(result.failed if failed_only else result.checks), nl=False)
    write_text_atomic(out, dumps_json(result.to_json(), indent=2) + "\n")
    click.echo(f"vcbench verify: {result.summary()}; wrote {out}")
    if result.failed:
        first = result.failed[0]
        click.echo(f"vcbench verify: FAILED: {len(result.failed)} mismatch(es), first: {first.row}: {first.what}", err=True)
        raise SystemExit(1)
