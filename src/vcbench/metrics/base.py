"""The interfaces of the metric classes: a frame metric scores a chunk of (reference, distorted) frame
pairs, a sequence metric the whole sequence at once. What the pipeline knows about a metric (its
columns, their directions, ...) is its `vcbench.metrics.spec.MetricSpec`."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from vcbench.options import OptionSet
from vcbench.video import Frame, VideoFormat


class MetricUnavailable(Exception):
    """A metric cannot run here (e.g. its weights are missing); the message says why and how to fix it."""


class FrameMetric(Protocol):
    #: the per-frame columns this metric fills
    columns: tuple[str, ...]
    #: its options (``-m METRIC.KEY=VALUE``), declared once; ``__init__`` parses what it is given with it
    option_set: ClassVar[OptionSet]

    def __init__(self, **options: Any) -> None: ...

    def compute(self, reference: list[Frame], distorted: list[Frame], fmt: VideoFormat) -> dict[str, list[float]]:
        """Per-frame values for each column, one per frame pair."""
        ...


class SequenceMetric(Protocol):
    """A metric with one value per sequence (e.g. a video metric that pools over time itself)."""

    columns: tuple[str, ...]
    option_set: ClassVar[OptionSet]

    def __init__(self, **options: Any) -> None: ...

    def compute_sequence(self, reference: list[Frame], distorted: list[Frame], fmt: VideoFormat) -> dict[str, float]:
        """One value per column for the whole sequence of frame pairs (shown at ``fmt``'s frame rate)."""
        ...
