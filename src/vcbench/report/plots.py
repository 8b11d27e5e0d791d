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
from vcbench.report.overview import neural_codecs

_MARKERS = "osD^v<>px*"


def _codec_styles(codecs: list[str]) -> dict[str, dict]:
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {c: {"color": colours[i % len(colours)], "marker": _MARKERS[i % len(_MARKERS)]} for i, c in enumerate(codecs)}


def _mark_low_rate(ax) -> None:
    """Shade bpp < 0.05 and draw its edge, so the regime of interest stands out on the log axis (the line always in view)."""
    left, right = ax.get_xlim()
    right = max(right, LOW_BPP * 1.3)
    left = min(left, LOW_BPP / 1.3)
    ax.axvspan(left, LOW_BPP, color="0.92", zorder=0, label="< 0.05 bpp")
    ax.axvline(LOW_BPP, color="0.45", linestyle="--", linewidth=1, zorder=1)
    ax.text(LOW_BPP, 1, f" {LOW_BPP:g} bpp", transform=ax.get_xaxis_transform(), fontsize=7, color="0.35", va="top", ha="left")
    ax.set_xlim(left, right)


def _draw_curves(ax, frame: pd.DataFrame, metric: str, styles: dict[str, dict], labels: bool = False) -> None:
    """One line per codec; ``labels``: each point named by its rate label."""
    for codec, points in frame.groupby("codec", sort=True):
        points = points.dropna(subset=["bpp", metric]).sort_values("bpp")
        if points.empty:
            continue
        ax.plot(points["bpp"], points[metric], label=codec, linewidth=1.4, markersize=4, **styles[codec])
        if labels:
            for bpp, value, rate in zip(points["bpp"], points[metric], points["rate"]):
                ax.annotate(str(rate), (bpp, value), xytext=(3, 3), textcoords="offset points", fontsize=6,
                            color=styles[codec]["color"], clip_on=True)
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


#: A codec's curve lies far from the anchors' when drawing both needs this many times the anchors' quality span:
#: the anchors' differences then shrink to a few pixels, and a panel zoomed on them is added.
FAR_FACTOR = 3.0


def anchor_zoom(curves: pd.DataFrame, metric: str, anchors: list[str]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The (bpp, quality) limits of a panel zoomed on the ``anchors``' curves, or None where every curve lies near them."""
    values = curves.dropna(subset=["bpp", metric])
    near = values[values["codec"].isin(anchors)]
    if near.empty or len(near["codec"].unique()) == len(values["codec"].unique()):
        return None
    low, high = near[metric].min(), near[metric].max()
    span = high - low
    if span <= 0 or (values[metric].max() - values[metric].min()) < FAR_FACTOR * span:
        return None
    margin = 0.08 * span
    return (near["bpp"].min() / 1.15, near["bpp"].max() * 1.15), (low - margin, high + margin)


def open_columns(columns: list[str]) -> list[str]:
    """The RD plots a report shows open: the first of ``columns`` of each declared metric (so every metric, the
    perceptual ones included, is in view); the others are one click away."""
    metric_of = {column: name for name, spec in specs().items() for column in spec.column_names}
    first: dict[str, str] = {}
    for column in columns:
        first.setdefault(metric_of.get(column, column), column)
    return list(first.values())


def rd_plots(rd: pd.DataFrame, metrics: list[str], out_dir: Path) -> list[dict]:
    """For each dataset and metric present: the dataset curve (its points named by their rate labels, with a panel
    zoomed on the anchors where another codec lies far from them) and per-sequence small multiples."""
    entries = []
    styles = _codec_styles(sorted(rd["codec"].unique()))
    neural = neural_codecs(rd)
    anchors = sorted(set(rd["codec"]) - set(neural))
    present = [m for m in metrics if m in rd.columns and pd.to_numeric(rd[m], errors="coerce").notna().any()]
    shown_open = set(open_columns(present))
    for dataset in sorted(rd["dataset"].unique()):
        rows = rd[rd["dataset"] == dataset]
        for metric in metrics:
            if metric not in rows.columns or pd.to_numeric(rows[metric], errors="coerce").isna().all():
                continue
            rows = rows.assign(**{metric: pd.to_numeric(rows[metric], errors="coerce")})
            lower = lower_is_better(metric)
            sequences = sorted(rows["sequence"].unique())

            curves = dataset_curves(rows, dataset, metric)
            zoom = anchor_zoom(curves, metric, anchors)
            fig, axes = plt.subplots(1, 2 if zoom else 1, figsize=(10.5 if zoom else 5.5, 4), squeeze=False)
            ax = axes[0, 0]
            _draw_curves(ax, curves, metric, styles, labels=True)
            ax.set_xlabel("bpp (log scale)")
            ax.set_ylabel(metric_label(metric, lower))
            ax.set_title(f"{dataset}: {metric}, mean over {len(sequences)} sequence(s) per rate point", fontsize=8)
            ax.legend(fontsize=7)
            caption = f"{dataset}, {metric}: bpp (log) against {metric}; dashed line: 0.05 bpp, shaded below it."
            if zoom:
                ax = axes[0, 1]
                _draw_curves(ax, curves[curves["codec"].isin(anchors)], metric, styles, labels=True)
                ax.set_xlim(*zoom[0])
                ax.set_ylim(*zoom[1])
                _mark_low_rate(ax)
                ax.set_xlim(*zoom[0])
                ax.set_xlabel("bpp (log scale)")
                ax.set_title(f"zoomed on the anchors ({', '.join(anchors)})", fontsize=8)
                caption += " Right: the anchors' range alone (another codec lies far from them)."
            fig.tight_layout()
            files = save(fig, out_dir / f"rd_{dataset}_{metric}")
            entries.append({"kind": "rd", "dataset": dataset, "metric": metric, **files, "zoomed": bool(zoom),
                            "open": metric in shown_open, "caption": caption})

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


def _plain_log_axis(ax) -> None:
    """A log x axis whose ticks read as plain numbers (0.02, 3000), not powers of ten."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.tick_params(axis="x", which="minor", labelsize=6)


def cost_plots(rd: pd.DataFrame, metric: str, target_bpp: float, out_dir: Path, decoder_costs: dict[str, dict]) -> list[dict]:
    """Per dataset, quality against decode cost: left, every codec at its rate point nearest ``target_bpp`` (matched
    rate) against its decode seconds per frame; right, the neural codecs' counted rate points (``decoder_costs``: job
    key -> `vcbench decoder-cost` record) against their decoder's multiply-accumulates per pixel."""
    entries = []
    styles = _codec_styles(sorted(rd["codec"].unique()))
    lower = lower_is_better(metric)
    rd = rd.assign(**{metric: pd.to_numeric(rd[metric], errors="coerce"),
                      "decode_s_per_frame": pd.to_numeric(rd["decode_seconds"], errors="coerce") / pd.to_numeric(rd["frames"])})
    counted = pd.DataFrame([{"dataset": key.split("/")[0], "codec": key.split("/")[2], "rate": key.split("/")[3],
                             "macs_per_pixel": record["macs_per_pixel"]} for key, record in decoder_costs.items()],
                           columns=["dataset", "codec", "rate", "macs_per_pixel"])
    for dataset in sorted(rd["dataset"].unique()):
        rows = rd[rd["dataset"] == dataset]
        if rows[metric].isna().all():
            continue
        matched = nearest_rate_points(rows, target_bpp).groupby("codec", as_index=False).agg(
            {metric: "mean", "decode_s_per_frame": "mean", "bpp": "mean", "rate": lambda r: "/".join(sorted(set(r)))})
        macs = counted[counted["dataset"] == dataset].merge(
            rows.groupby(["codec", "rate"], as_index=False)[[metric, "bpp"]].mean(), on=["codec", "rate"])
        fig, axes = plt.subplots(1, 2 if len(macs) else 1, figsize=(10.5 if len(macs) else 5.5, 4), squeeze=False)
        ax = axes[0, 0]
        for _, point in matched.dropna(subset=[metric, "decode_s_per_frame"]).iterrows():
            ax.plot(point["decode_s_per_frame"], point[metric], linestyle="none", markersize=6, label=point["codec"],
                    **styles[point["codec"]])
            ax.annotate(f"{point['rate']} ({point['bpp']:.3f})", (point["decode_s_per_frame"], point[metric]), xytext=(4, 3),
                        textcoords="offset points", fontsize=6)
        _plain_log_axis(ax)
        ax.set_xlabel("decode seconds per frame (log scale)")
        ax.set_ylabel(metric_label(metric, lower))
        ax.set_title(f"{dataset}: each codec's point nearest {target_bpp:g} bpp", fontsize=8)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", linewidth=0.4, alpha=0.5)
        if len(macs):
            ax = axes[0, 1]
            for codec, points in macs.sort_values("bpp").groupby("codec", sort=True):
                ax.plot(points["macs_per_pixel"], points[metric], label=codec, linewidth=1.2, markersize=5, **styles[codec])
                for _, point in points.iterrows():
                    ax.annotate(f"{point['rate']} ({point['bpp']:.3f})", (point["macs_per_pixel"], point[metric]),
                                xytext=(4, 3), textcoords="offset points", fontsize=6)
            _plain_log_axis(ax)
            ax.set_xlabel("decoder multiply-accumulates per pixel (log scale)")
            ax.set_title("neural codecs: every counted rate point (bpp)", fontsize=8)
            ax.legend(fontsize=7)
            ax.grid(True, which="both", linewidth=0.4, alpha=0.5)
        fig.tight_layout()
        files = save(fig, out_dir / f"cost_{dataset}_{metric}")
        entries.append({"kind": "cost", "dataset": dataset, "metric": metric, **files, "zoomed": bool(len(macs)),
                        "caption": f"{dataset}, {metric} against decode cost: seconds per frame at matched rate (each codec's "
                                   f"point nearest {target_bpp:g} bpp, labelled rate (bpp))"
                                   + ("; decoder MACs per pixel of the neural codecs' rate points." if len(macs) else ".")})
    return entries


def step_plots(records: list[Path], metrics: list[str], out_dir: Path) -> list[dict]:
    """Per dataset, quality against the number of sampling steps of every codec whose analysis measured it (a record's
    table with a ``steps`` column, as a denoising or sampling-steps analysis writes): one panel per metric column,
    so each metric's y axis is shared by every codec and sequence."""
    from vcbench.analysis_record import read_record

    curves: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    for path in sorted(Path(p) for p in records):
        record = read_record(path)
        for table in record.tables:
            frame = pd.read_csv(path.parent / table.csv)
            if "steps" in frame.columns:
                curves.setdefault(record.dataset, []).append((f"{record.codec} {record.sequence}", frame.sort_values("steps")))
    entries = []
    for dataset, lines in sorted(curves.items()):
        columns = [m for m in metrics if any(m in f.columns and f[m].notna().any() for _, f in lines)]
        if not columns:
            continue
        cols = min(4, len(columns))
        fig, axes = plt.subplots(math.ceil(len(columns) / cols), cols, figsize=(3.2 * cols, 2.6 * math.ceil(len(columns) / cols)),
                                 squeeze=False)
        for ax, metric in zip(axes.flat, columns):
            for index, (label, frame) in enumerate(lines):
                if metric in frame.columns:
                    ax.plot(frame["steps"], frame[metric], marker=_MARKERS[index % len(_MARKERS)], markersize=4, linewidth=1.2,
                            label=label)
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.set_title(metric_label(metric, lower_is_better(metric)), fontsize=7)
            ax.tick_params(labelsize=7)
            ax.grid(True, linewidth=0.4, alpha=0.5)
        for ax in axes.flat[len(columns):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=6)
        fig.supxlabel("sampling steps (log 2)", fontsize=8)
        fig.suptitle(f"{dataset}: quality against the number of sampling steps, every codec on one axis per metric", fontsize=9)
        fig.tight_layout()
        files = save(fig, out_dir / f"steps_{dataset}")
        entries.append({"kind": "steps", "dataset": dataset, **files,
                        "caption": f"{dataset}: each codec's decodes of one bitstream with each number of sampling steps "
                                   "(from its analysis), one panel per metric shared by every codec."})
    return entries
