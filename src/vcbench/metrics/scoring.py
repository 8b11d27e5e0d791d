"""Score a reconstruction against its source: per-frame metrics, then a per-sequence summary.

The frame metrics (PSNR, MS-SSIM, the learned ones) run in a worker thread while this thread runs
libvmaf (VMAF, VMAF-NEG) in its ffmpeg process: the two overlap, and an interrupt reaches the
ffmpeg runner, which stops its child. pandas is imported only by whoever asks for the table
(:attr:`Scores.per_frame`): `vcbench score` writes its CSV without it.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcbench.errors import VideoFormatError
from vcbench.metrics import vmaf as vmaf_metric
from vcbench.metrics.base import FrameMetric, MetricUnavailable
from vcbench.metrics.registry import check_frame_size, create_metric, libvmaf_metrics, metric_columns, metric_spec
from vcbench.video import Y4MReader

if TYPE_CHECKING:
    import pandas as pd

CHUNK_FRAMES = 8


@dataclass
class Scores:
    #: column -> one value per frame; "frame" first, then each metric's columns
    columns: dict[str, list[float]]
    not_computed: dict[str, str] = field(default_factory=dict)
    #: column -> its one value, of the metrics scored per sequence (not in the per-frame table)
    sequence: dict[str, float] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return len(self.columns["frame"])

    @cached_property
    def per_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.columns)

    def means(self) -> dict[str, float]:
        """Each column's mean over frames, and each per-sequence value (NaN where the metric was not computed)."""
        return {**{col: _mean(values) for col, values in self.columns.items() if col != "frame"}, **self.sequence}

    def to_csv(self) -> str:
        """The per-frame table as CSV: frame numbers as integers, values with 6 decimals, NaN empty."""
        lines = [",".join(self.columns)]
        for row in zip(*self.columns.values()):
            lines.append(",".join([str(row[0]), *("" if math.isnan(v) else f"{v:.6f}" for v in row[1:])]))
        return "\n".join(lines) + "\n"


def _mean(values: list[float]) -> float:
    present = [v for v in values if not math.isnan(v)]
    return math.fsum(present) / len(present) if present else math.nan


def score_files(reference: Path, distorted: Path, metrics: list[str], frames: int | None = None,
                metric_options: dict[str, dict[str, Any]] | None = None, threads: int = 1, progress: bool = True) -> Scores:
    """Score the first ``frames`` frames of ``distorted`` against ``reference`` (all of them if None)."""
    metric_options = metric_options or {}
    with Y4MReader(reference) as ref, Y4MReader(distorted) as dist:
        if (dist.format.width, dist.format.height, dist.format.bit_depth) != (ref.format.width, ref.format.height, ref.format.bit_depth):
            raise VideoFormatError(f"{distorted}: format {dist.format.describe()} differs from the reference's {ref.format.describe()}")
        frames = dist.count_frames() if frames is None else frames
    not_computed = check_frame_size(metrics, ref.format.width, ref.format.height, str(distorted))
    libvmaf = [name for name in metrics if name in libvmaf_metrics() and name not in not_computed]
    frame_metrics = {}
    for name in metrics:
        if name in libvmaf or name in not_computed:
            continue
        try:
            frame_metrics[name] = create_metric(name, **metric_options.get(name, {}))
        except MetricUnavailable as why:
            not_computed[name] = str(why)
    columns: dict[str, list[float]] = {"frame": list(range(frames))}
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="frame-metrics") as worker:
        frame_pass = worker.submit(_frame_pass, reference, distorted, frames, frame_metrics, not_computed, progress, stop)
        try:
            file_columns = vmaf_metric.compute_vmaf(reference, distorted, frames, threads, libvmaf)
            frame_columns, sequence = frame_pass.result()
            columns.update(frame_columns)
        except BaseException:
            stop.set()  # the worker ends after its chunk; the pool waits for it
            raise
    for name in set(not_computed):
        _fill_missing(columns, sequence, name, frames)
    columns.update(file_columns)
    return Scores(columns, not_computed, sequence)


def _frame_pass(reference: Path, distorted: Path, frames: int, frame_metrics: dict[str, FrameMetric], not_computed: dict[str, str],
                progress: bool, stop: threading.Event) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Every frame metric over the first ``frames`` frames, chunk by chunk, then every sequence metric
    over them all; a metric that turns out unavailable goes to ``not_computed``."""
    columns: dict[str, list[float]] = {}
    sequence: dict[str, float] = {}
    if not frame_metrics:
        return columns, sequence
    whole = {name: metric for name, metric in frame_metrics.items() if metric_spec(name).scope == "sequence"}
    frame_metrics = {name: metric for name, metric in frame_metrics.items() if name not in whole}
    kept_ref, kept_dist = [], []  # every frame, for the sequence metrics
    from tqdm import tqdm

    with Y4MReader(reference) as ref, Y4MReader(distorted) as dist:
        fmt = ref.format
        ref_iter, dist_iter = ref.frames(limit=frames), dist.frames(limit=frames)
        with tqdm(total=frames, desc=f"score {distorted.name}", unit="frame", disable=None if progress else True) as bar:
            for start in range(0, frames, CHUNK_FRAMES):
                if stop.is_set():
                    break
                count = min(CHUNK_FRAMES, frames - start)
                ref_chunk = [next(ref_iter) for _ in range(count)]
                dist_chunk = [next(dist_iter) for _ in range(count)]
                if whole:
                    kept_ref += ref_chunk
                    kept_dist += dist_chunk
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
        for name, metric in whole.items():
            if stop.is_set():
                break
            try:
                sequence.update(metric.compute_sequence(kept_ref, kept_dist, fmt))
            except MetricUnavailable as why:
                not_computed[name] = str(why)
    return columns, sequence


def _fill_missing(columns: dict[str, list[float]], sequence: dict[str, float], metric: str, frames: int) -> None:
    """Give a metric that could not run empty (NaN) columns, so every table has the same shape."""
    for col in metric_columns(metric):
        if metric_spec(metric).scope == "sequence":
            sequence[col] = math.nan
        else:
            columns[col] = [math.nan] * frames
