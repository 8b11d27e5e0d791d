"""Recompute bd.csv from rd.csv with the function the bd_table command uses, and compare.

The anchors, the method, the metrics, the fixed interval and the coverage threshold are read from
bd.csv itself (its anchor, method, metric, bpp_low/bpp_high and min_overlap columns), so the
recomputation asks exactly what the pipeline asked. FID/KID rows are
recomputed from fid.csv as it is: the pooled Inception statistics are not re-derived.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vcbench.errors import ConfigError, VcbenchError
from vcbench.report.bd_table import BD_COLUMNS, FIXED, OVERLAP, POOLED_METRICS, bd_table
from vcbench.verify.compare import Check

KEY = ["dataset", "sequence", "codec", "anchor", "metric", "interval"]
NUMBERS = ["bd_rate_pct", "bd_quality"]


def _label(key: tuple) -> str:
    dataset, sequence, codec, anchor, metric, interval = key
    return f"bd.csv {dataset}/{sequence} {codec} vs {anchor} {metric}" + ("" if interval == OVERLAP else f" ({interval} interval)")


def _read(path: Path, **kwargs) -> pd.DataFrame:
    # Only an empty cell is missing: a sequence or codec called "NA" stays a name.
    return pd.read_csv(path, keep_default_na=False, na_values=[""], **kwargs)


def _keyed(table: pd.DataFrame) -> dict[tuple, dict]:
    return {tuple(str(row[k]) for k in KEY): row for row in table.to_dict("records")}


def read_bd(path: Path) -> pd.DataFrame:
    """bd.csv with its labels as text; a file that is not a bd.csv is a one-line ConfigError."""
    try:
        reported = _read(path, dtype={column: str for column in KEY})
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ConfigError(f"{path}: cannot read as bd.csv ({str(err).splitlines()[0]}); build it again (rule bd_table)") from None
    missing = [column for column in BD_COLUMNS if column not in reported.columns]
    if missing:
        raise ConfigError(f"{path}: is not a bd.csv: no column(s) {', '.join(missing)}; build it again (rule bd_table)")
    return reported


def verify_bd(report_dir: Path, rd: pd.DataFrame) -> list[Check]:
    """One check per BD value of ``report_dir``/bd.csv (and per other differing column)."""
    path = report_dir / "bd.csv"
    if not path.is_file():
        return [Check("bd.csv", f"file {path}", "present", "missing", False, "run `snakemake --cores all` (rule bd_table)")]
    reported = read_bd(path)
    if reported.empty:
        return []
    methods = sorted(set(reported["method"].astype(str)))
    if len(methods) != 1:
        return [Check("bd.csv", "one BD method", "one", ", ".join(methods), False, "bd_table writes one method per table")]
    metrics = list(dict.fromkeys(reported["metric"].astype(str)))
    fid = None
    if set(metrics) & set(POOLED_METRICS):
        fid_path = report_dir / "fid.csv"
        if not fid_path.is_file():
            return [Check("bd.csv", f"file {fid_path}", "present", "missing", False, "bd.csv has FID/KID rows, pooled from it")]
        fid = _read(fid_path, dtype={"rate": str, "codec": str, "dataset": str})
    anchors = dict.fromkeys(reported["anchor"].astype(str))
    # the fixed interval and the coverage threshold as bd.csv states them
    fixed = reported[reported["interval"] == FIXED]
    interval = (float(fixed["bpp_low"].iloc[0]), float(fixed["bpp_high"].iloc[0])) if len(fixed) else None
    min_overlap = float(reported["min_overlap"].iloc[0])
    try:
        derived = pd.concat([bd_table(rd, anchor, metrics, methods[0], fid=fid, interval=interval, min_overlap=min_overlap)
                             for anchor in anchors], ignore_index=True)
    except VcbenchError as err:  # e.g. an anchor bd.csv names that rd.csv has no points of
        return [Check("bd.csv", "recomputed from rd.csv", "bd.csv's anchors and metrics", str(err), False)]

    old, new = _keyed(reported), _keyed(derived)
    checks = []
    for key in sorted(old.keys() | new.keys()):
        label = _label(key)
        if key not in old or key not in new:
            checks.append(Check(label, "row", "present" if key in old else "absent", "present" if key in new else "absent", False))
            continue
        checks += [Check.compare(label, column, old[key][column], new[key][column]) for column in NUMBERS]
        others = [c for c in BD_COLUMNS if c not in KEY + NUMBERS]
        differing = [Check.compare(label, column, old[key].get(column), new[key][column]) for column in others]
        differing = [check for check in differing if not check.passed]
        checks += differing or [Check(label, "other columns", "as recomputed", "as recomputed", True, ", ".join(others))]
    return checks
