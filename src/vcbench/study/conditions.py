"""Which RD points of a report people are shown: per sequence and codec, the rate point nearest each bpp
target (in log bpp), plus the sequence's reference. Every input is checked before anything is written:
each bitstream's sha256 against rd.csv and its encode record, each source's against rd.csv."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vcbench.errors import ConfigError
from vcbench.io import read_record, sha256_file
from vcbench.results import LEADING, TRAILING, record_path
from vcbench.study.folder import REFERENCE

DEFAULT_BPP_TARGETS = (0.01, 0.02, 0.04)
# what a study keeps of the report's provenance.json: the commits and state its numbers came from
PROVENANCE_KEYS = ("commits", "mixed_commits", "dirty", "warning", "report_code", "workflow_git", "data_version", "config_hashes",
                   "rd_csv_sha256", "preset", "generated_utc")


@dataclass(frozen=True)
class Chosen:
    """A condition to decode: an rd.csv row (or a sequence's reference) and the files it comes from."""

    id: str
    dataset: str
    sequence: str
    codec: str
    rate: str
    bpp: float | None
    frames: int
    source: Path
    source_sha256: str
    bitstream: Path | None  # None for the reference
    bitstream_sha256: str | None
    encode_record: Path | None
    registry_codec: str | None  # the codec's registry name (rd.csv's codec column is the config key)
    metrics: dict[str, float]


def metric_columns(rd: pd.DataFrame) -> list[str]:
    fixed = set(LEADING) | set(TRAILING) | {"dataset", "sequence"}
    return [c for c in rd.columns if c not in fixed and pd.api.types.is_numeric_dtype(rd[c])]


def nearest_rows(rd: pd.DataFrame, targets: tuple[float, ...]) -> pd.DataFrame:
    """Per dataset x sequence x codec, the rows nearest each target bpp in log bpp (each row once)."""
    picked = []
    for _, curve in rd.groupby(["dataset", "sequence", "codec"], sort=True):
        for target in targets:
            picked.append(int((curve["bpp"].apply(math.log) - math.log(target)).abs().idxmin()))
    return rd.loc[sorted(set(picked))]


def choose(report: Path, root: Path, targets: tuple[float, ...], codecs: tuple[str, ...] = ()) -> tuple[list[Chosen], dict, list[str]]:
    """The conditions of ``report`` (rd.csv paths relative to ``root``), the report's provenance to keep, and
    the metric columns."""
    rd_path, provenance_path = report / "rd.csv", report / "provenance.json"
    for path in (rd_path, provenance_path):
        if not path.is_file():
            raise ConfigError(f"{path}: no such file; a study is made from a finished report (snakemake {path})")
    if not targets or any(t <= 0 for t in targets):
        raise ConfigError(f"--bpp {targets}: give one or more positive bpp targets")
    try:
        rd = pd.read_csv(rd_path)
        provenance = json.loads(provenance_path.read_text())
    except (ValueError, OSError) as err:
        raise ConfigError(f"{report}: cannot read rd.csv or provenance.json ({err}); rebuild the report") from None
    missing = [c for c in ("dataset", "sequence", "codec", "rate", "bpp", "frames", "bitstream", "bitstream_sha256", "source_sha256")
               if c not in rd.columns]
    if missing or rd.empty:
        raise ConfigError(f"{rd_path}: not an rd.csv ({'no rows' if rd.empty else 'no column ' + ', '.join(missing)}); rebuild the report")
    if codecs:
        unknown = sorted(set(codecs) - set(rd["codec"]))
        if unknown:
            raise ConfigError(f"--codec {', '.join(unknown)}: not in {rd_path} (it has {', '.join(sorted(set(rd['codec'])))})")
        rd = rd[rd["codec"].isin(codecs)]
    metrics = metric_columns(rd)
    chosen: list[Chosen] = []
    references: dict[tuple[str, str], Chosen] = {}
    for _, row in nearest_rows(rd, targets).iterrows():
        condition = _checked_row(row.to_dict(), root, metrics)
        chosen.append(condition)
        key = (condition.dataset, condition.sequence)
        frames = min(condition.frames, references[key].frames) if key in references else condition.frames
        references[key] = Chosen(f"{condition.dataset}/{condition.sequence}/{REFERENCE}", condition.dataset, condition.sequence,
                                 REFERENCE, REFERENCE, None, frames, condition.source, condition.source_sha256, None, None, None,
                                 None, {})
    for condition in chosen:
        reference = references[(condition.dataset, condition.sequence)]
        if condition.source_sha256 != reference.source_sha256:
            raise ConfigError(f"{rd_path}: {condition.id} was coded from another version of {condition.source} than the other "
                              "conditions of its sequence; rebuild the report")
    kept = {key: provenance.get(key) for key in PROVENANCE_KEYS if key in provenance}
    kept["provenance_json_sha256"] = sha256_file(provenance_path)
    kept["rd_csv_sha256"] = sha256_file(rd_path)
    return list(references.values()) + chosen, kept, metrics


def _checked_row(row: dict[str, Any], root: Path, metrics: list[str]) -> Chosen:
    label = f"{row['dataset']}/{row['sequence']}/{row['codec']}/{row['rate']}"
    bitstream = root / str(row["bitstream"])
    encode_path = record_path(bitstream, "encode")
    for path in (bitstream, encode_path):
        if not path.is_file():
            raise ConfigError(f"{path}: missing ({label} of rd.csv); `dvc pull` or rerun the DAG (run from the repository root, "
                              "or pass --root)")
    record = read_record(encode_path, {"codec": str, "frames": int, "bitstream_sha256": str, "source": str})
    actual = sha256_file(bitstream)
    for who, expected in (("rd.csv", row["bitstream_sha256"]), (str(encode_path), record["bitstream_sha256"])):
        if actual != expected:
            raise ConfigError(f"{bitstream}: its sha256 is not the one {who} records; the bitstream changed since the report, "
                              "rerun the DAG")
    source = root / record["source"]
    if not source.is_file():
        raise ConfigError(f"{source}: missing (the source of {label}); `dvc pull` or `vcbench data prepare` it")
    if sha256_file(source) != row["source_sha256"]:
        raise ConfigError(f"{source}: not the version {label} was coded from (sha256 differs from rd.csv); `dvc pull` the data "
                          "the report was made from")
    values = {m: float(row[m]) for m in metrics if pd.notna(row[m])}
    return Chosen(label, str(row["dataset"]), str(row["sequence"]), str(row["codec"]), str(row["rate"]), float(row["bpp"]),
                  int(row["frames"]), source, str(row["source_sha256"]), bitstream, actual, encode_path, record["codec"], values)
