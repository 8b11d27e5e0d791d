"""RD plots (per dataset and metric, plus per-sequence small multiples) and per-frame quality plots."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from vcbench.bd import lower_is_better
from vcbench.job_files import JobFiles
from vcbench.metrics.registry import headline_columns, specs
from vcbench.report.figures import LOW_BPP, metric_label, plt, save

_MARKERS = "osD^v<>px*"


def _codec_styles(codecs: list[str]) -> dict[str, dict]:
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {c: {"color": colours[i % len(colours)], "marker": _MARKERS[i % len(_MARKERS)]} for i, c in enumerate(codecs)}


def _mark_low_rate(ax) -> None:
    """Shade bpp < 0.05 so the regime of interest stands out on the log axis (its edge always in view)."""
    left, right = ax.get_xlim()
    right = max(right, LOW_BPP * 1.3)
    if left < LOW_BPP:
        ax.axvspan(left, min(LOW_BPP, right), color="0.92", zorder=0, label="< 0.05 bpp")
        ax.axvline(LOW_BPP, color="0.6", linestyle=":", linewidth=1, zorder=1)
    ax.set_xlim(left, right)


def _draw_curves(ax, frame: pd.DataFrame, metric: str, styles: dict[str, dict]) -> None:
    for codec, points in frame.groupby("codec", sort=True):
        points = points.dropna(subset=["bpp", metric]).sort_values("bpp")
        if points.empty:
            continue
        ax.plot(points["bpp"], points[metric], label=codec, linewidth=1.4, markersize=4, **styles[codec])
    ax.set_xscale("log")
    # Plain decimal ticks at 1-2-5 steps: "0.02" reads better than "2x10^-2" on a bpp axis.
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", linewidth=0.4, alpha=0.5)
    _mark_low_rate(ax)


def dataset_curves(rd: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    """Mean bpp and metric per codec and rate label over a dataset's sequences (one curve per codec)."""
    rows = rd[rd["dataset"] == dataset]
    return rows.groupby(["codec", "rate"], as_index=False)[["bpp", metric]].mean(numeric_only=True)


def rd_plots(rd: pd.DataFrame, metrics: list[str], out_dir: Path) -> list[dict]:
    """For each dataset and metric present: the dataset curve and per-sequence small multiples."""
    entries = []
    styles = _codec_styles(sorted(rd["codec"].unique()))
    for dataset in sorted(rd["dataset"].unique()):
        rows = rd[rd["dataset"] == dataset]
        for metric in metrics:
            if metric not in rows.columns or pd.to_numeric(rows[metric], errors="coerce").isna().all():
                continue
            rows = rows.assign(**{metric: pd.to_numeric(rows[metric], errors="coerce")})
            lower = lower_is_better(metric)
            sequences = sorted(rows["sequence"].unique())

            fig, ax = plt.subplots(figsize=(5.5, 4))
            _draw_curves(ax, dataset_curves(rows, dataset, metric), metric, styles)
            ax.set_xlabel("bpp (log scale)")
            ax.set_ylabel(metric_label(metric, lower))
            ax.set_title(f"{dataset}: {metric}, mean over {len(sequences)} sequence(s) per rate point")
            ax.legend(fontsize=8)
            files = save(fig, out_dir / f"rd_{dataset}_{metric}")
            entries.append({"kind": "rd", "dataset": dataset, "metric": metric, **files,
                            "caption": f"{dataset}, {metric}: bpp (log) against {metric}; shaded: below 0.05 bpp."})

            cols = min(4, len(sequences))
            nrows = math.ceil(len(sequences) / cols)
            fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False)
            for ax, sequence in zip(axes.flat, sequences):
                _draw_curves(ax, rows[rows["sequence"] == sequence], metric, styles)
                ax.set_title(sequence, fontsize=8)
                ax.tick_params(labelsize=7)
            for ax in axes.flat[len(sequences):]:
                ax.axis("off")
            axes.flat[0].legend(fontsize=7)
            fig.supxlabel("bpp (log scale)", fontsize=8)
            fig.supylabel(metric_label(metric, lower), fontsize=8)
            fig.suptitle(f"{dataset}: {metric} per sequence", fontsize=9)
            fig.tight_layout()
            files = save(fig, out_dir / f"rd_{dataset}_{metric}_sequences")
            entries.append({"kind": "rd_sequences", "dataset": dataset, "metric": metric, **files,
                            "caption": f"{dataset}, {metric}: one panel per sequence."})
    return entries


def nearest_rate_points(rd: pd.DataFrame, target_bpp: float) -> pd.DataFrame:
    """Per dataset, sequence and codec, the RD point whose bpp is closest to ``target_bpp`` in log scale."""
    valid = rd[rd["bpp"] > 0].copy()
    valid["_distance"] = np.abs(np.log(valid["bpp"]) - math.log(target_bpp))
    index = valid.groupby(["dataset", "sequence", "codec"])["_distance"].idxmin()
    return valid.loc[index].drop(columns="_distance").reset_index(drop=True)


def _frame_columns() -> list[str]:
    """The headline columns of the metrics with per-frame values, in the registry's order."""
    return headline_columns([name for name, spec in specs().items() if spec.scope == "frame"])


def frame_plots(rd: pd.DataFrame, target_bpp: float, out_dir: Path, frames_csv: JobFiles) -> list[dict]:
    """Per sequence: per-frame quality of each codec at its rate point nearest ``target_bpp`` (``frames_csv``: every job's frames.csv)."""
    entries = []
    chosen = nearest_rate_points(rd, target_bpp)
    styles = _codec_styles(sorted(rd["codec"].unique()))
    for (dataset, sequence), points in chosen.groupby(["dataset", "sequence"], sort=True):
        series = {(point["codec"], point["rate"], point["bpp"]):
                  pd.read_csv(frames_csv.of(dataset, sequence, point["codec"], point["rate"])) for _, point in points.iterrows()}
        columns = [m for m in _frame_columns() if any(m in f.columns and f[m].notna().any() for f in series.values())]
        if not columns:
            continue
        fig, axes = plt.subplots(len(columns), 1, figsize=(6.5, 1.9 * len(columns)), sharex=True, squeeze=False)
        for ax, metric in zip(axes[:, 0], columns):
            for (codec, rate, bpp), frames in series.items():
                if metric in frames.columns:
                    ax.plot(frames["frame"], frames[metric], label=f"{codec} {rate} ({bpp:.4f} bpp)",
                            linewidth=1.2, markersize=3, **styles[codec])
            ax.set_ylabel(metric, fontsize=8)
            ax.grid(True, linewidth=0.4, alpha=0.5)
        axes[0, 0].legend(fontsize=7)
        axes[-1, 0].set_xlabel("frame")
        fig.suptitle(f"{dataset}/{sequence}: per-frame quality near {target_bpp} bpp", fontsize=9)
        fig.tight_layout()
        files = save(fig, out_dir / f"frames_{dataset}_{sequence}")
        entries.append({"kind": "frames", "dataset": dataset, "sequence": sequence, **files,
                        "caption": f"{dataset}/{sequence}: per-frame quality, each codec at its rate point nearest {target_bpp} bpp."})
    return entries
