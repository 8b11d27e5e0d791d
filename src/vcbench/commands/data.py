"""`vcbench data`: list registered datasets and prepare their sequences as Y4M."""

from __future__ import annotations

from pathlib import Path

import click

from vcbench.commands.data_fetch import add, fetch
from vcbench.data import list_datasets, load_dataset, prepare_sequence
from vcbench.io import write_json_atomic


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
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output Y4M; a JSON record goes beside it.")
def prepare(dataset: str, sequence: str, out: Path) -> None:
    """Make one test sequence (deterministic) and record how it was made, with its sha256."""
    record = prepare_sequence(dataset, sequence, out)
    write_json_atomic(out.with_suffix(".json"), record)
    click.echo(f"{out}: {record['format']}, {record['frames']} frames, sha256 {record['sha256'][:16]}...")

data.add_command(fetch)
data.add_command(add)
