"""The top of a report, what a reviewer reads first: the caveats and the per-sequence BD pivot
(the summary sentences are `summary.py`, the time per codec `cost.py`)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from vcbench.codecs.registry import codec_entry, codec_for_extension
from vcbench.errors import UnknownCodecError
from vcbench.report.bd_table import MEAN
from vcbench.report.summary import FIXED, OVERLAP


def neural_codecs(rd: pd.DataFrame) -> list[str]:
    """The codecs of rd.csv whose bitstreams are a neural codec's (the registry's GPU codecs), by their extension."""
    found = set()
    for codec, bitstream in zip(rd["codec"].astype(str), rd["bitstream"].astype(str)):
        try:
            if codec_entry(codec_for_extension(Path(bitstream).suffix)).uses_gpu:
                found.add(codec)
        except UnknownCodecError:
            continue
    return sorted(found)


def machine() -> str:
    """This machine's CPU model and core count (the report's; each timing comes from the job that measured it)."""
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{model or 'an unknown CPU'}, {os.cpu_count()} CPU cores"


def caveats(rd: pd.DataFrame, backbones: list[str], not_computed: list[str], fixed_interval: tuple[float, float] | None,
            min_overlap: float) -> list[str]:
    """What a reader must know before trusting a number of this report."""
    items = []
    neural = neural_codecs(rd)
    if neural:
        models = f" on the backbone(s) {', '.join(backbones)}" if backbones else ""
        items.append(f"Neural codecs ({', '.join(neural)}) ran{models}. A backbone under models/ is one vcbench trains itself "
                     "(small, trained on a CPU: models/README.md), not the papers' pretrained models: these numbers test each "
                     "method's pipeline at this scale, not the published codecs, and are not comparable with the papers' figures.")
    sequences = rd.groupby("dataset")["sequence"].nunique()
    frames = sorted(set(pd.to_numeric(rd["frames"], errors="coerce").dropna().astype(int)))
    items.append("Scale: " + ", ".join(f"{dataset}: {n} sequence{'s' if n != 1 else ''}" for dataset, n in sequences.items())
                 + f"; {', '.join(map(str, frames))} frames per sequence. Intervals over so few sequences are wide; "
                 "with one sequence there is none.")
    span = f"over {fixed_interval[0]:g}-{fixed_interval[1]:g} bpp and " if fixed_interval else ""
    items.append(f"BD is computed {span}over each pair's overlap; a value whose curves cover less than {min_overlap:.0%} "
                 "of the range together is not defined (shown with its coverage) and never enters a mean.")
    if not_computed:
        items.append(f"Not computed: {'; '.join(not_computed)}.")
    items.append(f"Timings are each job's own (encode and decode records) on the machine that ran it; this report was built "
                 f"on {machine()}.")
    return items


def _cell(row: pd.Series) -> str:
    if pd.notna(row["bd_rate_pct"]):
        return f"{row['bd_rate_pct']:+.1f}"
    if pd.notna(row["bd_quality"]):
        return f"n.d. (BD-quality {row['bd_quality']:+.3g})"
    return f"n.d. (overlap {row['overlap']:.0%})" if pd.notna(row["overlap"]) else "n.d."


def bd_pivot(bd: pd.DataFrame, dataset: str, anchor: str, metric: str) -> tuple[list[str], list[list[str]]]:
    """Sequences by codec: the BD-rate (%) of each against ``anchor`` on ``metric`` (over the fixed interval where
    bd.csv has it); a value that is not defined says why, and the last row is the dataset's mean."""
    rows = bd[(bd["dataset"] == dataset) & (bd["anchor"] == anchor) & (bd["metric"] == metric)]
    if "interval" in rows.columns:
        rows = rows[rows["interval"] == (FIXED if (rows["interval"] == FIXED).any() else OVERLAP)]
    codecs = sorted(rows["codec"].unique())
    sequences = sorted(s for s in rows["sequence"].unique() if s != MEAN) + ([MEAN] if (rows["sequence"] == MEAN).any() else [])
    cells = {(r["sequence"], r["codec"]): _cell(r) for _, r in rows.iterrows()}
    body = [[sequence] + [cells.get((sequence, codec), "") for codec in codecs] for sequence in sequences]
    return ["sequence"] + codecs, body


def pivot_metrics(bd: pd.DataFrame, dataset: str, anchor: str) -> list[str]:
    rows = bd[(bd["dataset"] == dataset) & (bd["anchor"] == anchor) & (bd["sequence"] != MEAN)]
    return [m for m in dict.fromkeys(rows["metric"]) if not (isinstance(m, float) and math.isnan(m))]


def _with_interval(value: float, low: float, high: float, digits: int, unit: str = "") -> str:
    text = f"{value:+.{digits}f}{unit}"
    return text + (f" [{low:+.{digits}f}, {high:+.{digits}f}]" if pd.notna(low) and pd.notna(high) else "")


def _mean_cell(row: pd.Series) -> str:
    """'-18.2 % [-27.1, -9.3] (n=2); +0.88 [+0.34, +1.41]': BD-rate (over n sequences) and BD-quality with their
    intervals, or n.d."""
    rate = (_with_interval(row["bd_rate_pct"], row.get("ci_low_rate_pct"), row.get("ci_high_rate_pct"), 1, " %")
            + f" (n={int(row['sequences'])})" if pd.notna(row["bd_rate_pct"]) else "n.d.")
    quality = (_with_interval(row["bd_quality"], row.get("ci_low_quality"), row.get("ci_high_quality"), 3)
               if pd.notna(row["bd_quality"]) else "n.d.")
    if rate == quality == "n.d.":
        return "not defined"
    return f"{rate}; {quality}"


def bd_means(bd: pd.DataFrame, dataset: str, anchor: str, interval: str) -> tuple[list[str], list[list[str]]]:
    """Metric by codec: the dataset's mean BD-rate and BD-quality with their bootstrap intervals and the sequence count
    (``interval``: the fixed interval's rows or the overlap's). Metrics as rows: the table grows down, not sideways."""
    rows = bd[(bd["dataset"] == dataset) & (bd["anchor"] == anchor) & (bd["sequence"] == MEAN)]
    if "interval" in rows.columns:
        rows = rows[rows["interval"] == interval]
    directions = dict(zip(rows["metric"], rows["direction"]))
    codecs = sorted(rows["codec"].unique())
    cells = {(r["codec"], r["metric"]): _mean_cell(r) for _, r in rows.iterrows()}
    return (["metric"] + codecs,
            [[f"{metric} ({direction} better)"] + [cells.get((codec, metric), "") for codec in codecs]
             for metric, direction in directions.items()])
