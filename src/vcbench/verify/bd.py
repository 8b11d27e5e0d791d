"""Recompute bd.csv from rd.csv with the function the bd_table command uses, and compare.

The anchors, the method and the metrics are read from bd.csv itself (its anchor, method and
metric columns), so the recomputation asks exactly what the pipeline asked. FID/KID rows are
recomputed from fid.csv as it is: the pooled Inception statistics are not re-derived.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vcbench.report.bd_table import BD_COLUMNS, POOLED_METRICS, bd_table
from vcbench.verify.compare import Check

KEY = ["dataset", "sequence", "codec", "anchor", "metric"]
NUMBERS = ["bd_rate_pct", "bd_quality"]


def _label(key: tuple) -> str:
    dataset, sequence, codec, anchor, metric = key
    return f"bd.csv {dataset}/{sequence} {codec} vs {anchor} {metric}"


def _read(path: Path, **kwargs) -> pd.DataFrame:
    # Only an empty cell is missing: a sequence or codec called "NA" stays a name.
    return pd.read_csv(path, keep_default_na=False, na_values=[""], **kwargs)


def _keyed(table: pd.DataFrame) -> dict[tuple, dict]:
    return {tuple(str(row[k]) for k in KEY): row for row in table.to_dict("records")}


def verify_bd(report_dir: Path, rd: pd.DataFrame) -> list[Check]:
    """One check per BD value of ``report_dir``/bd.csv (and per other differing column)."""
    path = report_dir / "bd.csv"
    if not path.is_file():
        return [Check("bd.csv", f"file {path}", "present", "missing", False, "run `snakemake --cores all` (rule bd_table)")]
    reported = _read(path)
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
    derived = pd.concat([bd_table(rd, anchor, metrics, methods[0], fid=fid) for anchor in anchors], ignore_index=True)

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
