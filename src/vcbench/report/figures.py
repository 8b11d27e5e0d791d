"""Shared plotting setup: a headless backend and atomic PNG + SVG output."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: cluster nodes and CI have no display
import matplotlib.pyplot as plt  # noqa: E402

from vcbench.io import atomic_path  # noqa: E402
from vcbench.metrics.registry import column_spec  # noqa: E402

LOW_BPP = 0.05  # the regime this benchmark is about; marked on every RD plot
# The svg hash salt makes SVG output byte-identical across runs (no random ids).
plt.rcParams.update({"svg.hashsalt": "vcbench", "figure.dpi": 100, "savefig.dpi": 110, "font.size": 9})


def save(fig: plt.Figure, stem: Path, svg: bool = True) -> dict[str, str]:
    """Write ``stem``.png (and .svg) atomically; return their file names."""
    written = {}
    for ext in ("png", "svg") if svg else ("png",):
        target = stem.with_name(f"{stem.name}.{ext}")
        with atomic_path(target, suffix=f".{ext}") as tmp:
            fig.savefig(tmp, format=ext, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
        written[ext] = target.name
    plt.close(fig)
    return written


def metric_label(metric: str, lower_better: bool) -> str:
    declared = column_spec(metric)
    unit = f" ({declared.unit})" if declared is not None and declared.unit else ""
    return f"{metric}{unit} ({'lower' if lower_better else 'higher'} is better)"
