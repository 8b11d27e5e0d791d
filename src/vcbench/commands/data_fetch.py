"""`vcbench data fetch` and `vcbench data add`: obtain verified test sets, then version data/ with DVC."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import click

from vcbench.data import load_dataset, prepare_sequence
from vcbench.data.fetch import fetch_archive
from vcbench.errors import VcbenchError
from vcbench.io import load_yaml, sha256_file, write_json_atomic


@click.command("fetch")
@click.option("--dataset", "datasets", multiple=True, required=True, help="Registered dataset (repeatable; see `vcbench data list`).")
@click.option("--sequence", "sequences", multiple=True, help="Only these sequences (repeatable; default: all of the dataset).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data"), show_default=True,
              help="Where data/<dataset>/<sequence>.y4m go.")
@click.option("--accept-unverified", is_flag=True,
              help="Trust archives whose sha256 is not published; their hash is recorded at this first fetch.")
@click.option("--retries", type=click.IntRange(0), default=3, show_default=True, help="Resume an interrupted download this many times.")
@click.option("--force", is_flag=True, help="Convert again even if the sequence's Y4M and record exist.")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Convert only each sequence's first N frames (what the workflow prepares: the most a preset codes, 96 for "
                   "paper). Default: all the registry lists.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def fetch(datasets: tuple[str, ...], sequences: tuple[str, ...], data_dir: Path, accept_unverified: bool, retries: int, force: bool,
          frames: int | None, quiet: bool) -> None:
    """Download (once, resumable), verify, unpack and convert a dataset's sequences to Y4M.

    Archives go to $VCBENCH_DOWNLOADS/<dataset>/ (default downloads/<dataset>/); sets that cannot
    be downloaded freely are read from there too, and the error says what to put where.
    """
    for name in datasets:
        dataset = load_dataset(name)
        specs = [dataset.sequence(s) for s in (sequences or dataset.sequences)]  # an unknown name is an error
        if dataset.source.get("kind") == "archive":
            # Fetch and verify every archive first: --accept-unverified applies here, and the
            # conversions below (or parallel Snakemake jobs) then find verified copies.
            for archive in dict.fromkeys(spec.params["archive"] for spec in specs):
                record = fetch_archive(dataset, archive, accept_unverified=accept_unverified, progress=not quiet, retries=retries)
                click.echo(f"{archive}: sha256 {record['sha256']} ({record['verification']})")
        for spec in specs:
            out = data_dir / name / f"{spec.name}.y4m"
            if out.is_file() and out.with_suffix(".json").is_file() and not force:
                click.echo(f"{out}: present (use --force to convert again)")
                continue
            record = prepare_sequence(name, spec.name, out, frames)
            write_json_atomic(out.with_suffix(".json"), record)
            click.echo(f"{out}: {record['format']}, {record['frames']} frames, sha256 {record['sha256'][:16]}...")
    click.echo("Version the data with `vcbench data add` (dvc add data), then `git add data.dvc` and `dvc push`.")


def _dvc() -> str:
    beside = Path(sys.executable).parent / "dvc"
    found = str(beside) if beside.is_file() else shutil.which("dvc")
    if not found:
        raise VcbenchError("dvc is not installed in this environment; `pip install dvc==3.67.1`")
    return found


def _check_records(data_dir: Path) -> int:
    """Every sequence's JSON record must match its Y4M: data.dvc must never version a stale pair."""
    count = 0
    for y4m in sorted(data_dir.glob("*/*.y4m")):
        record_path = y4m.with_suffix(".json")
        if not record_path.is_file():
            raise VcbenchError(f"{y4m}: no {record_path.name} beside it; make it with `vcbench data fetch` or `vcbench data prepare`")
        recorded = json.loads(record_path.read_text()).get("sha256")
        actual = sha256_file(y4m)
        if recorded != actual:
            raise VcbenchError(f"{y4m}: sha256 {actual} differs from the {recorded} in {record_path.name}; prepare it again (--force)")
        count += 1
    return count


@click.command("add")
@click.option("--data-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("data"), show_default=True)
@click.option("--check/--no-check", default=True, show_default=True, help="Verify each sequence's sha256 against its JSON record first.")
@click.option("--push", is_flag=True, help="Also `dvc push` to the configured remote.")
def add(data_dir: Path, check: bool, push: bool) -> None:
    """Version data/ with DVC (`dvc add data`): data.dvc then names the exact test sequences."""
    if check:
        click.echo(f"{data_dir}: {_check_records(data_dir)} sequences match their records")
    for args in (["add", str(data_dir)], ["push"] if push else None):
        if args is None:
            continue
        result = subprocess.run([_dvc(), *args], capture_output=True, text=True)
        if result.returncode:
            raise VcbenchError(f"`dvc {' '.join(args)}` failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    dvc_file = data_dir.with_name(data_dir.name + ".dvc")
    out = load_yaml(dvc_file)["outs"][0]
    click.echo(f"{dvc_file}: md5 {out['md5']} ({out.get('nfiles')} files, {out.get('size')} bytes)")
    click.echo(f"Commit it: git add {dvc_file} .gitignore && git commit -m 'data: ...'" + ("" if push else "; share it: dvc push"))
