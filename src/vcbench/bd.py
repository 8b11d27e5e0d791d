"""Bjontegaard deltas (BD-rate, BD-quality) between two rate-quality curves: the maths only (the BD
table of a report, per sequence and per dataset, is built by `vcbench.report.bd_table`).

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
* ``bd_in_interval`` integrates over a fixed rate interval instead, the same for every pair (a
  report's fixed bpp interval): BD-quality over log rate in it, BD-rate over the quality range the
  anchor spans in it; only what both curves cover, each value NaN below a stated coverage.
* Lower-is-better metrics (as each metric's declaration states, `vcbench.metrics.spec`: LPIPS,
  DISTS, FID, KID, CAMBI, ...) are negated first, so BD-rate keeps its meaning (negative = the
  test saves rate) and BD-quality becomes anchor minus test (positive = the test is better),
  like BD-PSNR for PSNR.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.interpolate

from vcbench.metrics.registry import lower_is_better as lower_is_better  # a column's direction, for the BD callers

METHODS = ("pchip", "cubic", "akima")
MIN_OVERLAP = 0.75


class BDWarning(UserWarning):
    """A BD value that was computed but deserves caution (small overlap)."""


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


def _both_curves(rate_anchor, quality_anchor, rate_test, quality_test, lower_better: bool, method: str):
    """Both curves prepared (log10 rate, quality with lower-is-better negated), the empty result whose
    ``notes`` the caller extends, and whether there is anything to compute (no problem found)."""
    sign = -1.0 if lower_better else 1.0
    log_ra, qa, problems, notes = _prepare(rate_anchor, quality_anchor, "anchor")
    log_rt, qt, test_problems, test_notes = _prepare(rate_test, quality_test, "test")
    problems += test_problems
    result = BDResult(math.nan, math.nan, method, 0.0, 0.0, 0.0, int(log_ra.size), int(log_rt.size), problems + notes + test_notes)
    return log_ra, sign * qa, log_rt, sign * qt, result, not problems


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
    log_ra, qa, log_rt, qt, result, usable = _both_curves(rate_anchor, quality_anchor, rate_test, quality_test, lower_better, method)
    if not usable:
        return result
    notes = result.notes
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


def _covered_mean_delta(x_anchor, y_anchor, x_test, y_test, lo: float, hi: float, method: str) -> tuple[float, float]:
    """Mean of y_test - y_anchor over the part of [lo, hi] both curves cover; (delta, covered fraction of [lo, hi])."""
    start, stop = max(lo, x_anchor.min(), x_test.min()), min(hi, x_anchor.max(), x_test.max())
    if hi <= lo or stop <= start:
        return math.nan, 0.0
    f_anchor = _interpolator(x_anchor, y_anchor, method)
    f_test = _interpolator(x_test, y_test, method)
    delta = (_integral(f_test, start, stop) - _integral(f_anchor, start, stop)) / (stop - start)
    return float(delta), float((stop - start) / (hi - lo))


def bd_in_interval(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    interval: tuple[float, float],
    method: str = "pchip",
    lower_better: bool = False,
    min_coverage: float = MIN_OVERLAP,
) -> BDResult:
    """BD of ``test`` against ``anchor`` over a fixed rate ``interval`` (low, high), the same for every pair.

    BD-quality averages the quality difference over log10 rate in the interval. BD-rate averages the
    log-rate difference over the anchor's quality range within the interval (the anchor's quality at
    the interval's ends, where it covers them). Only what both curves cover is integrated, nothing is
    extrapolated. Each value needs its axis covered on at least ``min_coverage`` of the interval,
    else it is NaN and the notes give the coverage; ``overlap`` is the smaller of the two coverages.
    """
    if method not in METHODS:
        raise ValueError(f"unknown BD method {method!r}; use one of {', '.join(METHODS)}")
    low, high = (float(v) for v in interval)
    if not 0 < low < high:
        raise ValueError(f"a BD interval needs 0 < low < high, got {low:g}-{high:g}")
    log_ra, qa, log_rt, qt, result, usable = _both_curves(rate_anchor, quality_anchor, rate_test, quality_test, lower_better, method)
    if not usable:
        return result
    notes = result.notes
    lo, hi = math.log10(low), math.log10(high)
    if not (np.all(np.diff(log_ra) > 0) and np.all(np.diff(log_rt) > 0)):
        notes.append("a curve repeats a rate: no BD")
        return result
    quality_delta, result.overlap_rate_axis = _covered_mean_delta(log_ra, qa, log_rt, qt, lo, hi, method)
    monotonic = [name for name, q in (("anchor", qa), ("test", qt)) if not np.all(np.diff(q) > 0)]
    rate_delta = math.nan
    if monotonic:
        notes.append(f"quality of {' and '.join(monotonic)} is not strictly increasing with rate: no BD-rate")
    elif result.overlap_rate_axis > 0:
        # the quality range the anchor reaches over the part of the interval it covers
        start, stop = max(lo, log_ra.min()), min(hi, log_ra.max())
        anchor_at = _interpolator(log_ra, qa, method)
        rate_delta, covered = _covered_mean_delta(qa, log_ra, qt, log_rt, float(anchor_at(start)), float(anchor_at(stop)), method)
        result.overlap_quality_axis = covered * (stop - start) / (hi - lo)  # a fraction of the whole interval, as the rate axis's
    result.overlap = min([result.overlap_rate_axis] + ([] if monotonic else [result.overlap_quality_axis]))
    span = f"{low:g}-{high:g} bpp"
    if result.overlap_rate_axis >= min_coverage:
        result.bd_quality = quality_delta
    else:
        notes.append(f"no BD-quality: the two curves cover {result.overlap_rate_axis:.0%} of {span} together (< {min_coverage:.0%})")
    if not monotonic and result.overlap_quality_axis >= min_coverage:
        result.bd_rate_pct = float((10.0**rate_delta - 1.0) * 100.0)
    elif not monotonic:
        notes.append(f"no BD-rate: the test covers {result.overlap_quality_axis:.0%} of the quality range the anchor spans over "
                     f"{span} (< {min_coverage:.0%})")
    return result
