"""bd.csv: BD of every codec against an anchor, per sequence and metric, then the dataset's mean.

Conventions (every report states them): BD per sequence (`vcbench.bd`), then the arithmetic mean
over the sequences with a finite value. FID and KID exist per dataset only (pooled patches): their
``mean`` row is BD on the pooled curve, rate = the mean bpp over the dataset's sequences at each
rate point.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from vcbench.bd import MIN_OVERLAP, BDResult, BDWarning, bd, lower_is_better

if TYPE_CHECKING:  # pandas is imported lazily by the table functions
    import pandas


@dataclass(frozen=True)
class BDRow:
    """One row of bd.csv; the field order is the column order."""

    dataset: str
    sequence: str  # a sequence, or MEAN for the dataset's mean (and the pooled FID/KID rows)
    codec: str
    anchor: str
    metric: str
    direction: str  # "higher" or "lower" is better
    method: str
    bd_rate_pct: float
    bd_quality: float
    overlap: float
    low_overlap: bool  # overlap below MIN_OVERLAP (for a mean: on any of its sequences): extrapolation-prone
    points_anchor: int
    points_test: int
    sequences: int
    notes: str

    @classmethod
    def of(cls, dataset: str, sequence: str, codec: str, anchor: str, metric: str, result: BDResult, sequences: int,
           notes: list[str]) -> BDRow:
        """The row of one comparison's ``result``."""
        return cls(dataset, sequence, codec, anchor, metric, "lower" if lower_is_better(metric) else "higher", result.method,
                   result.bd_rate_pct, result.bd_quality, result.overlap, bool(0 < result.overlap < MIN_OVERLAP),
                   result.points_anchor, result.points_test, sequences, "; ".join(notes))


BD_COLUMNS = [f.name for f in fields(BDRow)]
MEAN = "mean"


def bd_table(
    rd: pandas.DataFrame, anchor: str, metrics: Sequence[str], method: str = "pchip",
    fid: pandas.DataFrame | None = None,
) -> pandas.DataFrame:  # fmt: skip
    """BD of every codec against ``anchor`` for every metric present in ``rd`` (rows of rd.csv).

    One row per dataset x sequence x codec x metric (rate = bpp), then one ``mean`` row per
    dataset x codec x metric averaging the sequences whose value is finite; the notes say
    which sequences were left out and why. With ``fid`` (rows of fid.csv), FID and KID add
    pooled ``mean`` rows (see ``pooled_bd_rows``) when ``fid`` or ``kid`` is among ``metrics``.
    """
    import pandas as pd

    present = [m for m in metrics if m in rd.columns and pd.to_numeric(rd[m], errors="coerce").notna().any()]
    rows: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BDWarning)  # recorded in the notes column instead
        for (dataset, sequence), group in rd.groupby(["dataset", "sequence"], sort=True):
            anchor_rows = group[group["codec"] == anchor]
            for codec, test_rows in group[group["codec"] != anchor].groupby("codec", sort=True):
                for metric in present:
                    lower = lower_is_better(metric)
                    result = bd(
                        anchor_rows["bpp"].to_numpy(float), pd.to_numeric(anchor_rows[metric], errors="coerce").to_numpy(float),
                        test_rows["bpp"].to_numpy(float), pd.to_numeric(test_rows[metric], errors="coerce").to_numpy(float),
                        method=method, lower_better=lower,
                    )
                    if anchor_rows.empty:
                        result.notes.insert(0, f"anchor {anchor} has no points for this sequence")
                    rows.append(asdict(BDRow.of(dataset, sequence, codec, anchor, metric, result, 1, result.notes)))
    per_sequence = pd.DataFrame(rows, columns=BD_COLUMNS)
    means = [_dataset_mean(keys, group) for keys, group in per_sequence.groupby(["dataset", "codec", "metric"], sort=True)]
    pooled = pooled_bd_rows(rd, fid, anchor, metrics, method) if fid is not None else []
    table = pd.concat([frame for frame in (per_sequence, pd.DataFrame(means, columns=BD_COLUMNS),
                                           pd.DataFrame(pooled, columns=BD_COLUMNS)) if not frame.empty],
                      ignore_index=True)
    if table.empty:
        return pd.DataFrame(columns=BD_COLUMNS)
    return table.sort_values(["dataset", "metric", "codec", "sequence"], key=_mean_last, kind="stable").reset_index(drop=True)


def _mean_last(column: pandas.Series) -> pandas.Series:
    """Sort key: per-sequence rows alphabetically, each dataset's ``mean`` row after them."""
    if column.name != "sequence":
        return column
    return column.map(lambda s: (1, "") if s == MEAN else (0, s))


def _dataset_mean(keys: tuple, group: pandas.DataFrame) -> dict:
    dataset, codec, metric = keys
    finite_rate = group["bd_rate_pct"].notna()
    finite_quality = group["bd_quality"].notna()
    notes = []
    for label, finite in (("BD-rate", finite_rate), ("BD-quality", finite_quality)):
        left_out = group.loc[~finite, "sequence"].tolist()
        if left_out:
            notes.append(f"{label} averages {int(finite.sum())} of {len(group)} sequences (left out: {', '.join(left_out)})")
    low_overlap = group.loc[group["low_overlap"], "sequence"].tolist()
    if low_overlap:
        notes.append(f"{len(low_overlap)} of {len(group)} sequences overlap below {MIN_OVERLAP:.0%} ({', '.join(low_overlap)})")
    first = group.iloc[0]
    return asdict(BDRow(
        dataset, MEAN, codec, first["anchor"], metric, first["direction"], first["method"],
        group.loc[finite_rate, "bd_rate_pct"].mean() if finite_rate.any() else math.nan,
        group.loc[finite_quality, "bd_quality"].mean() if finite_quality.any() else math.nan,
        group["overlap"].mean(), bool(low_overlap), int(group["points_anchor"].sum()), int(group["points_test"].sum()),
        int(finite_rate.sum()), "; ".join(notes),
    ))


POOLED_METRICS = ("fid", "kid")


def pooled_bd_rows(
    rd: pandas.DataFrame, fid: pandas.DataFrame, anchor: str, metrics: Sequence[str], method: str = "pchip",
) -> list[dict]:  # fmt: skip
    """``mean`` rows of BD for FID/KID (rows of fid.csv) per dataset x codec against ``anchor``.

    KID is computed with FID, so asking for either gives both. Each rate point's rate is the
    mean bpp of the dataset's sequences for that codec and rate label (rd.csv). Points without
    a finite value (weights absent) are dropped; a dataset where no point has one gives no row
    (the report says why from fid.csv's not_computed column).
    """
    import pandas as pd

    wanted = [m for m in POOLED_METRICS if set(metrics) & set(POOLED_METRICS) and m in fid.columns]
    bpp = rd.groupby(["dataset", "codec", "rate"])["bpp"].mean().rename("bpp").reset_index()
    curves = fid.astype({"dataset": str, "codec": str, "rate": str}).merge(
        bpp.astype({"dataset": str, "codec": str, "rate": str}), on=["dataset", "codec", "rate"], how="left")
    rows: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BDWarning)  # recorded in the notes column instead
        for metric in wanted:
            curves[metric] = pd.to_numeric(curves[metric], errors="coerce")
            for dataset, group in curves.groupby("dataset", sort=True):
                if not group[metric].notna().any():
                    continue
                anchor_rows = group[group["codec"] == anchor]
                for codec, test_rows in group[group["codec"] != anchor].groupby("codec", sort=True):
                    result = bd(anchor_rows["bpp"].to_numpy(float), anchor_rows[metric].to_numpy(float),
                                test_rows["bpp"].to_numpy(float), test_rows[metric].to_numpy(float),
                                method=method, lower_better=lower_is_better(metric))
                    notes = [f"pooled over the dataset's patches; rate = mean bpp over "
                             f"{int(test_rows['sequences'].max())} sequence(s) per rate point"]
                    notes += _pooled_point_notes(pd.concat([anchor_rows, test_rows]), metric)
                    if anchor_rows.empty:
                        notes.append(f"anchor {anchor} has no points for this dataset")
                    rows.append(asdict(BDRow.of(dataset, MEAN, codec, anchor, metric, result, int(test_rows["sequences"].max()),
                                                notes + result.notes)))
    return rows


def _pooled_point_notes(points: pandas.DataFrame, metric: str) -> list[str]:
    """Which rate points were left out (no value, no rd.csv rows) or carry fid.csv's warning."""
    labels = points["codec"] + "/" + points["rate"]
    notes = []
    left_out = labels[points[metric].isna()].tolist()
    if left_out:
        notes.append(f"left out (no {metric}): {', '.join(left_out)}")
    no_rate = labels[points["bpp"].isna() & points[metric].notna()].tolist()
    if no_rate:
        notes.append(f"left out (no rd.csv rows for the rate): {', '.join(no_rate)}")
    warned = labels[points["warning"].fillna("").astype(str).str.len() > 0].tolist() if "warning" in points else []
    if warned:
        notes.append(f"{len(warned)} of {len(points)} rate points have fewer patches than the Inception feature "
                     "dimension: biased FID (see fid.csv)")
    return notes
