"""`vcbench aggregate`: gather per-job summaries into one rd.csv."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

from vcbench.io import write_text_atomic
from vcbench.results import column_order


def build_rd_table(summaries: list[Path], config_hash: str) -> pd.DataFrame:
    # a summary's job provenance (commit, dirty tree, versions) goes to provenance.json, not into rd.csv's columns
    rows = [{k: v for k, v in json.loads(path.read_text()).items() if k != "provenance"} for path in summaries]
    table = pd.DataFrame(rows)
    table["config_hash"] = config_hash
    return table[column_order(table.columns)].sort_values(["dataset", "sequence", "codec", "bpp"]).reset_index(drop=True)


@click.command()
@click.argument("summaries", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The rd.csv to write.")
@click.option("--config-hash", default="", help="Hash of the workflow configuration, recorded in every row.")
def aggregate(summaries: tuple[Path, ...], out: Path, config_hash: str) -> None:
    """Collect the per-job SUMMARIES (JSON rd rows) into the rate-distortion table OUT."""
    if not summaries:
        raise click.UsageError("no summaries given")
    table = build_rd_table(list(summaries), config_hash)
    # Full precision: bpp must equal 8 x bytes / (frames x width x height) exactly.
    write_text_atomic(out, table.to_csv(index=False))
    click.echo(f"{out}: {len(table)} rows, {table['codec'].nunique()} codecs, {table['sequence'].nunique()} sequences")
