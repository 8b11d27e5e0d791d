"""Bjontegaard deltas (BD-rate, BD-quality) between two rate-quality curves.

Conventions (every report states them):

* Rate enters as log10(rate); bpp and kbit/s give the same BD-rate for one sequence.
* ``pchip`` (default) interpolates with scipy's PCHIP and integrates the piecewise cubic
  exactly, as the JVET CTC sheet; ``cubic`` is the single cubic polynomial fit of VCEG-M33;
  ``akima`` uses scipy's Akima interpolator (linear for two points).
* Points without a finite, positive rate and a finite quality, and repeats of a point, are left
  out before anything is fitted; the notes say how many and why (``screen_points`` lists them).
* Integration runs over the overlap of the two curves only. The overlap is the length of the
  common interval divided by the length of the union (as the ``bjontegaard`` package); below
  75 % the result carries a warning, and it is NaN (with a reason) only when the curves do not
  overlap at all, or a curve is not monotonic.
* Lower-is-better metrics (LPIPS, DISTS, FID, KID) are negated first, so BD-rate keeps its
  meaning (negative = the test saves rate) and BD-quality becomes anchor minus test
  (positive = the test is better), like BD-PSNR for PSNR.
* Datasets: BD per sequence, then the arithmetic mean over the sequences with a finite value.
  FID and KID exist per dataset only (pooled patches): their ``mean`` row is BD on the pooled
  curve, rate = the mean bpp over the dataset's sequences at each rate point.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import scipy.interpolate

if TYPE_CHECKING:  # pandas is imported lazily by the table functions
    import pandas

METHODS = ("pchip", "cubic", "akima")
LOWER_IS_BETTER = frozenset({"lpips", "dists", "fid", "kid"})
MIN_OVERLAP = 0.75


class BDWarning(UserWarning):
    """A BD value that was computed but deserves caution (small overlap)."""


def lower_is_better(metric: str) -> bool:
    """Direction of a metric known by name (``lpips``, ``dists_y`` ... count as lower-is-better)."""
    name = metric.lower()
    return any(name == base or name.startswith(base + "_") for base in LOWER_IS_BETTER)


@dataclass
class BDResult:
    """One anchor/test comparison. ``overlap`` is the smaller of the two axis overlaps."""

    bd_rate_pct: float
    bd_quality: float
    method: str
    overlap: float
    overlap_quality_axis: float
    overlap_rate_axis: float
    points_anchor: int
    points_test: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["notes"] = "; ".join(self.notes)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}


def _interpolator(x: np.ndarray, y: np.ndarray, method: str):
    """A callable of ``y(x)`` with an exact ``integrate(a, b)``; ``x`` strictly increasing."""
    if method == "pchip":
        return scipy.interpolate.PchipInterpolator(x, y)
    if method == "akima":
        if len(x) > 2:
            return scipy.interpolate.Akima1DInterpolator(x, y)
        return scipy.interpolate.make_interp_spline(x, y, k=1)
    if method == "cubic":
        # VCEG-M33 fits one cubic; with fewer than four points the degree drops so the fit stays determined.
        return np.polynomial.Polynomial.fit(x, y, deg=min(3, len(x) - 1))
    raise ValueError(f"unknown BD method {method!r}; use one of {', '.join(METHODS)}")


def _integral(fn, lo: float, hi: float) -> float:
    if isinstance(fn, np.polynomial.Polynomial):
        antiderivative = fn.integ()
        return float(antiderivative(hi) - antiderivative(lo))
    return float(fn.integrate(lo, hi))


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(fraction of the union covered by both, lower bound, upper bound) of two 1-D ranges."""
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    union = max(a.max(), b.max()) - min(a.min(), b.min())
    if union <= 0:
        return 0.0, float(lo), float(hi)
    return float(max(hi - lo, 0.0) / union), float(lo), float(hi)


def _average_delta(x_anchor, y_anchor, x_test, y_test, method: str) -> tuple[float, float]:
    """Mean of y_test - y_anchor over the common x interval; (delta, overlap fraction)."""
    fraction, lo, hi = _overlap(x_anchor, x_test)
    if fraction <= 0:
        return math.nan, 0.0
    f_anchor = _interpolator(x_anchor, y_anchor, method)
    f_test = _interpolator(x_test, y_test, method)
    delta = (_integral(f_test, lo, hi) - _integral(f_anchor, lo, hi)) / (hi - lo)
    return float(delta), fraction


def _point_problem(rate: float, quality: float) -> str | None:
    for name, value in (("rate", rate), ("quality", quality)):
        if math.isnan(value):
            return f"{name} is NaN"
        if math.isinf(value):
            return f"{name} is infinite"
    if rate <= 0:
        return "rate is zero" if rate == 0 else "rate is negative"
    return None


class LeftOut(NamedTuple):
    """A point BD cannot use: its index in the input, why, and (for a duplicate) the index of the point it repeats."""

    index: int
    reason: str
    repeats: int | None = None


def screen_points(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray, list[LeftOut]]:
    """The points BD can use (in input order) and each one left out.

    Left out: a NaN, infinite, zero or negative rate; a NaN or infinite quality; a point equal to
    an earlier one (the same measurement twice). Two points with one rate and different
    qualities are both kept: which one is right is not for BD to guess (see ``bd``'s notes).
    """
    r = np.asarray(rate, dtype=float)
    q = np.asarray(quality, dtype=float)
    if r.shape != q.shape:
        raise ValueError(f"{r.size} rates but {q.size} quality values")
    first_index: dict[tuple[float, float], int] = {}
    keep: list[int] = []
    dropped: list[LeftOut] = []
    for index, point in enumerate(zip(r.tolist(), q.tolist())):
        problem = _point_problem(*point)
        if problem is not None:
            dropped.append(LeftOut(index, problem))
        elif point in first_index:
            dropped.append(LeftOut(index, "duplicate", first_index[point]))
        else:
            first_index[point] = index
            keep.append(index)
    return r[keep], q[keep], dropped


def _prepare(rate: Sequence[float], quality: Sequence[float], label: str) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Usable points sorted by rate, as (log10 rate, quality); problems (no result) and notes on left-out points."""
    try:
        r, q, dropped = screen_points(rate, quality)
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from None
    order = np.argsort(r, kind="stable")
    r, q = r[order], q[order]
    notes = []
    if dropped:
        reasons = ", ".join(dict.fromkeys(point.reason for point in dropped))
        notes.append(f"{label}: {len(dropped)} of {r.size + len(dropped)} point(s) left out ({reasons})")
    problems = []
    if r.size < 2:
        problems.append(f"{label} has {r.size} usable point(s), needs at least 2")
    return np.log10(r), q, problems, notes


def bd(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    method: str = "pchip",
    lower_better: bool = False,
    min_overlap: float = MIN_OVERLAP,
) -> BDResult:
    """BD-rate (%) and BD-quality of ``test`` against ``anchor``.

    BD-rate needs quality strictly increasing with rate (after the sign flip of lower-is-better
    metrics); BD-quality needs distinct rates. A value that cannot be computed is NaN and
    ``notes`` says why; a small overlap is noted and warned about (``BDWarning``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown BD method {method!r}; use one of {', '.join(METHODS)}")
    sign = -1.0 if lower_better else 1.0
    log_ra, qa, problems, notes = _prepare(rate_anchor, quality_anchor, "anchor")
    log_rt, qt, test_problems, test_notes = _prepare(rate_test, quality_test, "test")
    problems += test_problems
    notes = problems + notes + test_notes
    result = BDResult(math.nan, math.nan, method, 0.0, 0.0, 0.0, int(log_ra.size), int(log_rt.size), notes)
    if problems:
        return result
    qa, qt = sign * qa, sign * qt
    if method == "cubic" and min(qa.size, qt.size) < 4:
        notes.append(f"cubic fit of degree {min(qa.size, qt.size) - 1}: VCEG-M33 assumes 4 points")

    # BD-quality: quality as a function of log rate.
    if np.all(np.diff(log_ra) > 0) and np.all(np.diff(log_rt) > 0):
        result.bd_quality, result.overlap_rate_axis = _average_delta(log_ra, qa, log_rt, qt, method)
        if result.overlap_rate_axis == 0:
            notes.append("rate ranges do not overlap: no BD-quality")
    else:
        notes.append("a curve repeats a rate: no BD-quality")

    # BD-rate: log rate as a function of quality; the inverse exists only for monotonic curves.
    monotonic = [name for name, q in (("anchor", qa), ("test", qt)) if not np.all(np.diff(q) > 0)]
    if monotonic:
        notes.append(f"quality of {' and '.join(monotonic)} is not strictly increasing with rate: no BD-rate")
    else:
        delta_log_rate, result.overlap_quality_axis = _average_delta(qa, log_ra, qt, log_rt, method)
        if result.overlap_quality_axis == 0:
            notes.append("quality ranges do not overlap: no BD-rate")
        else:
            result.bd_rate_pct = float((10.0**delta_log_rate - 1.0) * 100.0)

    axes = [v for v in (result.overlap_rate_axis, result.overlap_quality_axis) if v > 0]
    result.overlap = min(axes) if axes else 0.0
    if 0 < result.overlap < min_overlap:
        message = f"curves overlap on {result.overlap:.0%} of their range only (< {min_overlap:.0%}): BD is extrapolation-prone"
        notes.append(message)
        warnings.warn(message, BDWarning, stacklevel=2)
    return result


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
