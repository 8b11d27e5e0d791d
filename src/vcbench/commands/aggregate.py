"""`vcbench aggregate`: gather per-job summaries into one rd.csv."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from vcbench.commands.files import FilePath, refuse_overlaps, refuse_replacing_records
from vcbench.errors import ConfigError
from vcbench.io import read_record, write_text_atomic
from vcbench.results import ADDED_LATER, LEADING, TRAILING, column_order, rd_cells, record_kind


def read_summary(path: Path) -> dict:
    """A score summary that is an rd.csv row (scored with --encode-record): a ConfigError naming the file otherwise."""
    summary = read_record(path, {})
    if record_kind(summary) != "summary":
        raise ConfigError(f"{path}: is not a score summary (`vcbench score --summary`); give the summaries of the score jobs")
    missing = [column for column in (*LEADING, *TRAILING) if column not in ("config_hash", *ADDED_LATER) and column not in summary]
    if missing:
        raise ConfigError(f"{path}: is a score summary without an rd row (no {', '.join(missing)}); score it again with "
                          "--encode-record, --dataset and --sequence")
    return summary


def build_rd_table(summaries: list[Path], config_hash: str) -> pd.DataFrame:
    # a summary's job provenance (commit, dirty tree, versions) goes to provenance.json, not into rd.csv's columns
    rows = [{k: v for k, v in rd_cells(read_summary(path)).items() if k != "provenance"} for path in summaries]
    table = pd.DataFrame(rows)
    table["config_hash"] = config_hash
    return table[column_order(table.columns)].sort_values(["dataset", "sequence", "codec", "bpp"]).reset_index(drop=True)


@click.command()
@click.argument("summaries", nargs=-1, type=FilePath(exists=True))
@click.option("--out", type=FilePath(), required=True, help="The rd.csv to write.")
@click.option("--config-hash", default="", help="Hash of the workflow configuration, recorded in every row.")
def aggregate(summaries: tuple[Path, ...], out: Path, config_hash: str) -> None:
    """Collect the per-job SUMMARIES (JSON rd rows) into the rate-distortion table OUT."""
    if not summaries:
        raise click.UsageError("no summaries given")
    refuse_overlaps({f"SUMMARIES #{index}": path for index, path in enumerate(summaries, 1)}, {"--out": out})
    refuse_replacing_records({"--out": out})
    table = build_rd_table(list(summaries), config_hash)
    # Full precision: bpp must equal 8 x bytes / (frames x width x height) exactly.
    write_text_atomic(out, table.to_csv(index=False))
    click.echo(f"{out}: {len(table)} rows, {table['codec'].nunique()} codecs, {table['sequence'].nunique()} sequences")
