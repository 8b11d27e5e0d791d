"""`vcbench data`: list registered datasets and prepare their sequences as Y4M."""

from __future__ import annotations

from pathlib import Path

import click

from vcbench.commands.data_fetch import add, fetch
from vcbench.commands.files import FilePath, refuse_replacing_record, refuse_replacing_records
from vcbench.data import list_datasets, load_dataset, prepare_sequence
from vcbench.errors import ConfigError
from vcbench.io import write_json_atomic
from vcbench.layout import sequence_record


@click.group()
def data() -> None:
    """Datasets: list them and prepare test sequences."""


@data.command("list")
def list_command() -> None:
    """List registered datasets and their sequences."""
    for name in list_datasets():
        dataset = load_dataset(name)
        click.echo(f"{name}: {len(dataset.sequences)} sequences ({', '.join(dataset.sequences)}) - {dataset.description}")


@data.command("prepare")
@click.option("--dataset", required=True, help="Registered dataset name (see `vcbench data list`).")
@click.option("--sequence", required=True, help="Sequence name within the dataset.")
@click.option("--out", type=FilePath(), required=True, help="Output Y4M; a JSON record goes beside it.")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Write only the first N frames (the workflow passes the most any preset codes). Default: all the registry lists.")
def prepare(dataset: str, sequence: str, out: Path, frames: int | None) -> None:
    """Make one test sequence (deterministic) and record how it was made, with its sha256."""
    record_file = sequence_record(out)
    if out.suffix != ".y4m":  # the record's name drops the extension: out.json could be the Y4M itself, or any file
        raise ConfigError(f"--out {out}: data prepare writes a Y4M; name it {out.with_suffix('.y4m')}")
    refuse_replacing_records({"--out": out})
    refuse_replacing_record(record_file, "--out's record", "sequence", None)
    record = prepare_sequence(dataset, sequence, out, frames)
    write_json_atomic(record_file, record)
    click.echo(f"{out}: {record['format']}, {record['frames']} frames, sha256 {record['sha256'][:16]}...")

data.add_command(fetch)
data.add_command(add)
