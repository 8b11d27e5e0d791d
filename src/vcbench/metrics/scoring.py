"""Score a reconstruction against its source: per-frame metrics, then a per-sequence summary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from vcbench.errors import VideoFormatError
from vcbench.metrics import vmaf as vmaf_metric
from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.registry import FILE_METRICS, create_metric, metric_class
from vcbench.video import Y4MReader

CHUNK_FRAMES = 8


@dataclass
class Scores:
    per_frame: pd.DataFrame
    not_computed: dict[str, str] = field(default_factory=dict)

    def means(self) -> dict[str, float]:
        return {col: float(self.per_frame[col].mean()) for col in self.per_frame.columns if col != "frame"}


def score_files(reference: Path, distorted: Path, metrics: list[str], frames: int | None = None,
                metric_options: dict[str, dict[str, Any]] | None = None, threads: int = 1, progress: bool = True) -> Scores:
    """Score the first ``frames`` frames of ``distorted`` against ``reference`` (all of them if None)."""
    metric_options = metric_options or {}
    with Y4MReader(reference) as ref, Y4MReader(distorted) as dist:
        fmt = ref.format
        if (dist.format.width, dist.format.height, dist.format.bit_depth) != (fmt.width, fmt.height, fmt.bit_depth):
            raise VideoFormatError(f"{distorted}: format {dist.format.describe()} differs from the reference's {fmt.describe()}")
        frames = dist.count_frames() if frames is None else frames
        columns: dict[str, list[float]] = {"frame": list(range(frames))}
        not_computed: dict[str, str] = {}
        frame_metrics = {}
        for name in metrics:
            if name in FILE_METRICS:
                continue
            try:
                frame_metrics[name] = create_metric(name, **metric_options.get(name, {}))
            except MetricUnavailable as why:
                not_computed[name] = str(why)
        ref_iter, dist_iter = ref.frames(limit=frames), dist.frames(limit=frames)
        with tqdm(total=frames, desc=f"score {distorted.name}", unit="frame", disable=not progress) as bar:
            for start in range(0, frames, CHUNK_FRAMES):
                count = min(CHUNK_FRAMES, frames - start)
                ref_chunk = [next(ref_iter) for _ in range(count)]
                dist_chunk = [next(dist_iter) for _ in range(count)]
                for name, metric in list(frame_metrics.items()):
                    try:
                        values = metric.compute(ref_chunk, dist_chunk, fmt)
                    except MetricUnavailable as why:
                        not_computed[name] = str(why)
                        del frame_metrics[name]
                        continue
                    for col, vals in values.items():
                        columns.setdefault(col, []).extend(vals)
                bar.update(count)
    for name in set(not_computed):
        _fill_missing(columns, name, frames)
    if "vmaf" in metrics:
        columns.update(vmaf_metric.compute_vmaf(reference, distorted, frames, threads))
    return Scores(pd.DataFrame(columns), not_computed)


def _fill_missing(columns: dict[str, list[float]], metric: str, frames: int) -> None:
    """Give a metric that could not run empty (NaN) columns, so every table has the same shape."""
    for col in metric_class(metric).columns:
        columns[col] = [math.nan] * frames
