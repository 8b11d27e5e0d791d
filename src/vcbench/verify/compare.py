"""One check of `vcbench verify` (a value of the report against the value re-derived from files) and
the rules that say when two values agree."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vcbench.metrics.registry import column_spec, specs


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
def cross_device_tolerances() -> dict[str, float]:
    """Column -> the absolute tolerance its metric declares for a neural codec decoded on another device
    than its decode record names (CUDA vs CPU kernels round differently, and the reconstruction is
    quantised to integers after it); columns without one must match exactly even then."""
    return {column.name: column.cross_device for spec in specs().values() for column in spec.columns
            if column.cross_device is not None}


CROSS_DEVICE = cross_device_tolerances()


# What a neural decode's bits depend on besides the bitstream (tools/determinism.py writes them into
# the decode record): equal on both sides, every number must come back exactly. The CPU thread count
# counts on the CPU only (oneDNN's convolutions block their reductions by it; a CUDA decode's kernels
# do not use it).
PLATFORM_FIELDS = ("device", "device_model", "dtype", "cpu_capability", "torch", "cuda", "cudnn")
CPU_PLATFORM_FIELDS = (*PLATFORM_FIELDS, "threads")


def platform_differences(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The platform facts in which a decode now differs from its decode record ("threads 2 (recorded
    1)"), empty where they agree. A field the record lacks (an older record) is not compared."""
    fields = CPU_PLATFORM_FIELDS if recorded.get("device") == "cpu" else PLATFORM_FIELDS
    return [f"{key} {now.get(key)} (recorded {recorded[key]})" for key in fields if key in recorded and recorded[key] != now.get(key)]


def metric_tolerance(column: str, same_device: bool) -> Tolerance:
    """The tolerance of one rd.csv metric column; outside EXACT only across devices."""
    declared = None if same_device else column_spec(column)
    return EXACT if declared is None or declared.cross_device is None else Tolerance(declared.cross_device, 0.0)


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
