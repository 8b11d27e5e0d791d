"""One check of `vcbench verify` (a value of the report against the value re-derived from files) and
the rules that say when two values agree."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """Two numbers agree when |a - b| <= max(absolute, relative x max(|a|, |b|))."""

    absolute: float
    relative: float

    def describe(self) -> str:
        return f"|a - b| <= max({self.absolute:g}, {self.relative:g} x max(|a|, |b|))"


# Same bitstream, same tools: every number must come back. 1e-9, relative above 1 and absolute
# below it, absorbs nothing but the last bits of a float that went through another summation order.
EXACT = Tolerance(1e-9, 1e-9)
# frames.csv stores 6 decimals: its cells are within half a unit of the sixth decimal of the value.
SIX_DECIMALS = 5e-7 * (1 + 1e-6)
# A neural codec decoded on another device than its decode record names (CUDA vs CPU kernels round
# differently, and the reconstruction is quantised to integers after it): absolute, per metric.
CROSS_DEVICE = {"psnr": 0.05, "ms_ssim": 1e-3, "vmaf": 0.5, "vmaf_neg": 0.5, "lpips": 1e-3, "dists": 1e-3}


def metric_tolerance(column: str, same_device: bool) -> Tolerance:
    """The tolerance of one rd.csv metric column; outside EXACT only across devices."""
    if same_device:
        return EXACT
    name = next((key for key in sorted(CROSS_DEVICE, key=len, reverse=True) if column == key or column.startswith(key + "_")), None)
    return EXACT if name is None else Tolerance(CROSS_DEVICE[name], 0.0)


def plain(value: Any) -> Any:
    """A JSON-ready value: numpy scalars become Python ones, an empty cell (NaN, None, "") None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and value == ""):
        return None
    return value


def agree(reported: Any, derived: Any, tolerance: Tolerance = EXACT) -> bool:
    """Whether a reported value and its re-derived value are the same: integers, strings and empty
    cells exactly, other numbers within ``tolerance``."""
    a, b = plain(reported), plain(derived)
    if a is None or b is None:
        return a is None and b is None
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if not numbers:
        return str(a) == str(b)
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return abs(a - b) <= max(tolerance.absolute, tolerance.relative * max(abs(a), abs(b)))


@dataclass
class Check:
    """``row`` (an rd.csv row or a bd.csv row), ``what`` was compared, the value the report (or a
    record) holds, the value verify derived from the files, and whether they agree."""

    row: str
    what: str
    reported: Any
    derived: Any
    passed: bool
    note: str = ""

    @classmethod
    def compare(cls, row: str, what: str, reported: Any, derived: Any, tolerance: Tolerance = EXACT, note: str = "") -> Check:
        return cls(row, what, plain(reported), plain(derived), agree(reported, derived, tolerance), note)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
