"""One declaration per metric (torch-free): everything the pipeline knows about a metric, stated once.

A metric's module (or, for a metric whose class imports torch, a light module beside it) holds a
`MetricSpec`; `metrics/registry.py` lists it in one line. Every consumer reads the declaration:
the score job (which columns, which pass, the smallest frame), the plan (assets, pooled or not),
the config check (names, options), bd.csv (each column's direction), verify (cross-device
tolerances), plots, the report (column order, the sentence on colour conversion and pooling) and
MLflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from vcbench.options import OptionSet

Direction = Literal["higher", "lower"]
#: frame: one value per frame, averaged over frames for rd.csv; sequence: one value per sequence (frames.csv
#: leaves it out); pooled: one value per dataset x codec x rate point, from its own jobs (FID/KID)
Scope = Literal["frame", "sequence", "pooled"]
SCOPES = get_args(Scope)

#: ``MetricSpec.implementation`` of the metrics computed in the score job's one libvmaf pass (metrics/vmaf.py)
LIBVMAF = "libvmaf"


@dataclass(frozen=True)
class Column:
    """One column a metric fills in frames.csv and rd.csv."""

    name: str
    direction: Direction
    #: verify's tolerance (absolute) when a reconstruction was decoded on another device than its record
    #: names; None: it must match exactly even then
    cross_device: float | None = None
    #: in the BD table, the RD plots and the per-frame plots unless the config's report.bd_metrics says otherwise
    headline: bool = True
    unit: str = ""

    def __post_init__(self) -> None:
        if self.direction not in ("higher", "lower"):
            raise ValueError(f"column {self.name}: direction {self.direction!r} is not 'higher' or 'lower'")

    @property
    def lower_is_better(self) -> bool:
        return self.direction == "lower"


@dataclass(frozen=True)
class FrameLimit:
    """The smallest frame a metric scores: both sides at least ``min_side``, the longer one at least
    ``min_long_side``; ``why`` says what happens below it."""

    min_side: int = 1
    min_long_side: int = 1
    why: str = ""

    def admits(self, width: int, height: int) -> bool:
        return min(width, height) >= self.min_side and max(width, height) >= self.min_long_side

    def describe(self) -> str:
        parts = [f"{self.min_side}x{self.min_side}"] if self.min_side > 1 else []
        if self.min_long_side > 1:
            parts.append(f"a longer side of {self.min_long_side}")
        return " with ".join(parts) or "any size"


@dataclass(frozen=True)
class MetricSpec:
    """A metric as the pipeline knows it. ``implementation``: "module:Class" of the class that scores it
    (a `FrameMetric` for scope frame, a `SequenceMetric` for scope sequence; imported only when it
    runs), `LIBVMAF` for the features of the libvmaf pass, None for a pooled metric with its own jobs."""

    name: str
    columns: tuple[Column, ...]
    scope: Scope
    implementation: str | None
    #: how the metric sees the frames and pools its values: the sentence the report prints
    conventions: str
    options: OptionSet = field(default_factory=OptionSet)
    #: asset registry names it loads, given its complete options (none: weight-free)
    assets: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None
    smallest_frame: FrameLimit = FrameLimit()
    #: below the smallest frame: "refuse" the job (one line, before scoring), or leave the columns "not computed"
    small_frames: Literal["refuse", "not computed"] = "refuse"

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"metric {self.name}: scope {self.scope!r} is not one of {', '.join(SCOPES)}")
        if not self.columns:
            raise ValueError(f"metric {self.name}: declares no columns")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def uses_weights(self) -> bool:
        return self.assets is not None

    def asset_names(self, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The assets it loads with ``options`` (complete: parse them with ``self.options`` first)."""
        return self.assets(options) if self.assets is not None else ()

    def too_small(self, width: int, height: int) -> str | None:
        """Why a ``width`` x ``height`` frame is below what this metric scores, or None."""
        if self.smallest_frame.admits(width, height):
            return None
        why = f" ({self.smallest_frame.why})" if self.smallest_frame.why else ""
        return f"{self.name} scores frames of at least {self.smallest_frame.describe()}, these are {width}x{height}{why}"
