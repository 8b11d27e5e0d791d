"""A dataset's mean BD with a seeded bootstrap 95 % interval over its sequences.

The sequences are the unit of sampling: a dataset's mean BD-rate says how a codec does on
content like these sequences, so its uncertainty is resampled over them (percentile bootstrap,
scipy's `bootstrap`, a fixed seed so that a report is reproduced bit for bit). With one sequence
there is nothing to resample: the interval is empty and says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats

CONFIDENCE = 0.95
RESAMPLES = 9999
SEED = 20240229  # any fixed value: the same sequences give the same interval on every run

METHOD_NOTE = (f"{CONFIDENCE:.0%} interval: percentile bootstrap of the mean over sequences "
               f"({RESAMPLES} resamples, seed {SEED})")


@dataclass(frozen=True)
class MeanInterval:
    mean: float
    low: float  # NaN where no interval exists (see note)
    high: float
    sequences: int  # how many finite values the mean averages
    note: str = ""


def mean_interval(values) -> MeanInterval:
    """The mean of the finite ``values`` (one per sequence) and its bootstrap interval."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if finite.size == 0:
        return MeanInterval(math.nan, math.nan, math.nan, 0, "no sequence has a defined value")
    mean = float(finite.mean())
    if finite.size == 1:
        return MeanInterval(mean, math.nan, math.nan, 1, "one sequence: no interval (nothing to resample)")
    if np.all(finite == finite[0]):
        return MeanInterval(mean, mean, mean, int(finite.size), "every sequence has the same value")
    result = scipy.stats.bootstrap((finite,), np.mean, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                                   method="percentile", rng=np.random.default_rng(SEED))
    interval = result.confidence_interval
    return MeanInterval(mean, float(interval.low), float(interval.high), int(finite.size))


def format_interval(interval: MeanInterval, digits: int) -> str:
    """'-12.30 [-20.10, -4.50] (n=3)', or the mean with the reason there is no interval."""
    if math.isnan(interval.mean):
        return "n/a"
    text = f"{interval.mean:.{digits}f}"
    if math.isnan(interval.low):
        return f"{text} (n={interval.sequences}, no interval)"
    return f"{text} [{interval.low:.{digits}f}, {interval.high:.{digits}f}] (n={interval.sequences})"
