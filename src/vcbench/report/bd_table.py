"""bd.csv: BD of every codec against an anchor, per sequence and metric, then the dataset's mean.

Conventions (every report states them): BD per sequence (`vcbench.bd`), over each pair's overlap
(``interval`` "overlap") and, where the config states one, over a fixed bpp interval ("fixed",
``bpp_low``-``bpp_high``: every codec judged on the same range). A value whose axis the two curves
cover on less than ``min_overlap`` of the range is not defined (NaN, the coverage in the notes) and
never enters a mean. Then the arithmetic mean over the sequences with a finite value, with a seeded
bootstrap 95 % interval over them (`bd_intervals`; none with one sequence). FID and KID exist per
dataset only (pooled patches): their ``mean`` row is BD on the pooled curve, rate = the mean bpp
over the dataset's sequences at each rate point.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from vcbench.bd import MIN_OVERLAP, BDResult, BDWarning, bd, bd_in_interval, lower_is_better
from vcbench.metrics.registry import metric_columns
from vcbench.report.bd_intervals import METHOD_NOTE, mean_interval

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
    interval: str  # OVERLAP (each pair's overlap) or FIXED (bpp_low-bpp_high, the same for every pair)
    bpp_low: float  # the fixed interval; NaN for OVERLAP rows
    bpp_high: float
    min_overlap: float  # below this coverage a value is not defined
    bd_rate_pct: float
    bd_quality: float
    ci_low_rate_pct: float  # a mean's bootstrap 95 % interval over sequences; NaN per sequence and with one sequence
    ci_high_rate_pct: float
    ci_low_quality: float
    ci_high_quality: float
    overlap: float  # OVERLAP: common range / union; FIXED: the covered part of the interval (the smaller axis)
    low_overlap: bool  # overlap below MIN_OVERLAP (for a mean: on any of its sequences): extrapolation-prone
    points_anchor: int
    points_test: int
    sequences: int  # a mean: the sequences its BD-rate averages (the notes name those left out, of either value)
    notes: str

    @classmethod
    def of(cls, dataset: str, sequence: str, codec: str, anchor: str, metric: str, result: BDResult, sequences: int,
           notes: list[str], span: Span) -> BDRow:
        """The row of one comparison's ``result``."""
        nan = math.nan
        return cls(dataset, sequence, codec, anchor, metric, "lower" if lower_is_better(metric) else "higher", result.method,
                   span.name, *span.bpp, span.min_overlap, result.bd_rate_pct, result.bd_quality, nan, nan, nan, nan,
                   result.overlap, bool(0 < result.overlap < MIN_OVERLAP), result.points_anchor, result.points_test, sequences,
                   "; ".join(notes))


OVERLAP, FIXED = "overlap", "fixed"


@dataclass(frozen=True)
class Span:
    """Over what a BD value is integrated: each pair's overlap, or a fixed bpp interval; and the coverage it needs."""

    name: str
    bpp: tuple[float, float]
    min_overlap: float

    def compare(self, rate_anchor, quality_anchor, rate_test, quality_test, method: str, lower_better: bool) -> BDResult:
        if self.name == FIXED:
            return bd_in_interval(rate_anchor, quality_anchor, rate_test, quality_test, self.bpp, method, lower_better,
                                  self.min_overlap)
        result = bd(rate_anchor, quality_anchor, rate_test, quality_test, method=method, lower_better=lower_better)
        return undefined_below(result, self.min_overlap)


def undefined_below(result: BDResult, min_overlap: float) -> BDResult:
    """An overlap BD whose axis the curves share on less than ``min_overlap`` is not defined: NaN, the overlap in the notes."""
    for value, axis, label in (("bd_quality", result.overlap_rate_axis, "rate"), ("bd_rate_pct", result.overlap_quality_axis,
                                                                                   "quality")):
        if not math.isnan(getattr(result, value)) and axis < min_overlap:
            setattr(result, value, math.nan)
            name = "BD-quality" if value == "bd_quality" else "BD-rate"
            result.notes.append(f"{name} not defined: the curves share {axis:.0%} of their {label} range (< {min_overlap:.0%})")
    return result


def spans(interval: tuple[float, float] | None, min_overlap: float) -> list[Span]:
    """Each pair's overlap, then the fixed ``interval`` (low, high bpp) when one is given."""
    nan = (math.nan, math.nan)
    return [Span(OVERLAP, nan, min_overlap)] + ([Span(FIXED, tuple(map(float, interval)), min_overlap)] if interval else [])


BD_COLUMNS = [f.name for f in fields(BDRow)]
MEAN = "mean"
MIN_COVERAGE = 0.5  # the coverage below which a BD value is not defined, unless the config (report.bd_min_overlap) says


def bd_table(
    rd: pandas.DataFrame, anchor: str, metrics: Sequence[str], method: str = "pchip",
    fid: pandas.DataFrame | None = None, interval: tuple[float, float] | None = None, min_overlap: float = MIN_COVERAGE,
) -> pandas.DataFrame:  # fmt: skip
    """BD of every codec against ``anchor`` for every metric present in ``rd`` (rows of rd.csv).

    One row per dataset x sequence x codec x metric (rate = bpp) over the pair's overlap, and with
    ``interval`` (low, high bpp) one more over that interval; then one ``mean`` row per dataset x
    codec x metric x interval averaging the sequences whose value is defined, with its bootstrap
    interval; the notes say which sequences were left out and why. With ``fid`` (rows of fid.csv),
    FID and KID add pooled ``mean`` rows (see ``pooled_bd_rows``) when ``fid`` or ``kid`` is among ``metrics``.
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
                    for span in spans(interval, min_overlap):
                        result = span.compare(
                            anchor_rows["bpp"].to_numpy(float), pd.to_numeric(anchor_rows[metric], errors="coerce").to_numpy(float),
                            test_rows["bpp"].to_numpy(float), pd.to_numeric(test_rows[metric], errors="coerce").to_numpy(float),
                            method, lower_is_better(metric),
                        )
                        if anchor_rows.empty:
                            result.notes.insert(0, f"anchor {anchor} has no points for this sequence")
                        rows.append(asdict(BDRow.of(dataset, sequence, codec, anchor, metric, result, 1, result.notes, span)))
    per_sequence = pd.DataFrame(rows, columns=BD_COLUMNS)
    means = [_dataset_mean(keys, group) for keys, group in per_sequence.groupby(["dataset", "codec", "metric", "interval"], sort=True)]
    pooled = pooled_bd_rows(rd, fid, anchor, metrics, method, min_overlap) if fid is not None else []
    table = pd.concat([frame for frame in (per_sequence, pd.DataFrame(means, columns=BD_COLUMNS),
                                           pd.DataFrame(pooled, columns=BD_COLUMNS)) if not frame.empty],
                      ignore_index=True)
    if table.empty:
        return pd.DataFrame(columns=BD_COLUMNS)
    return table.sort_values(["dataset", "metric", "codec", "interval", "sequence"], key=_mean_last,
                             kind="stable").reset_index(drop=True)


def _mean_last(column: pandas.Series) -> pandas.Series:
    """Sort key: per-sequence rows alphabetically, each dataset's ``mean`` row after them."""
    if column.name != "sequence":
        return column
    return column.map(lambda s: (1, "") if s == MEAN else (0, s))


def _dataset_mean(keys: tuple, group: pandas.DataFrame) -> dict:
    dataset, codec, metric, _ = keys
    rate, quality = mean_interval(group["bd_rate_pct"]), mean_interval(group["bd_quality"])
    notes = []
    for label, finite in (("BD-rate", group["bd_rate_pct"].notna()), ("BD-quality", group["bd_quality"].notna())):
        left_out = group.loc[~finite, "sequence"].tolist()
        if left_out:
            notes.append(f"{label} averages {int(finite.sum())} of {len(group)} sequences (left out: {', '.join(left_out)})")
    low_overlap = group.loc[group["low_overlap"], "sequence"].tolist()
    if low_overlap:
        notes.append(f"{len(low_overlap)} of {len(group)} sequences overlap below {MIN_OVERLAP:.0%} ({', '.join(low_overlap)})")
    reasons = dict.fromkeys(f"{label}: {summary.note}" for label, summary in (("BD-rate", rate), ("BD-quality", quality))
                            if summary.note and summary.sequences)
    notes += [*reasons, METHOD_NOTE]
    first = group.iloc[0]
    return asdict(BDRow(
        dataset, MEAN, codec, first["anchor"], metric, first["direction"], first["method"], first["interval"], first["bpp_low"],
        first["bpp_high"], first["min_overlap"], rate.mean, quality.mean, rate.low, rate.high, quality.low, quality.high,
        group["overlap"].mean(), bool(low_overlap), int(group["points_anchor"].sum()), int(group["points_test"].sum()),
        rate.sequences, "; ".join(notes),
    ))


POOLED_METRICS = metric_columns("fid")  # fid.csv's columns: FID and KID, pooled in their own jobs


def pooled_bd_rows(
    rd: pandas.DataFrame, fid: pandas.DataFrame, anchor: str, metrics: Sequence[str], method: str = "pchip",
    min_overlap: float = MIN_COVERAGE,
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
                    span = spans(None, min_overlap)[0]
                    result = span.compare(anchor_rows["bpp"].to_numpy(float), anchor_rows[metric].to_numpy(float),
                                          test_rows["bpp"].to_numpy(float), test_rows[metric].to_numpy(float),
                                          method, lower_is_better(metric))
                    notes = [f"pooled over the dataset's patches; rate = mean bpp over "
                             f"{int(test_rows['sequences'].max())} sequence(s) per rate point"]
                    notes += _pooled_point_notes(pd.concat([anchor_rows, test_rows]), metric)
                    if anchor_rows.empty:
                        notes.append(f"anchor {anchor} has no points for this dataset")
                    rows.append(asdict(BDRow.of(dataset, MEAN, codec, anchor, metric, result, int(test_rows["sequences"].max()),
                                                notes + result.notes, span)))
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
