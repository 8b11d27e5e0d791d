"""The report's opening sentences: who wins where, on which metric, with the BD values that say so.

Generated from bd.csv's dataset means against the report's anchor: over the fixed bpp interval
where bd.csv has it (every codec judged on the same range), else over each pair's overlap. A
codec is ranked by its mean BD-rate (the anchor at 0 %); one with no defined BD-rate but a
BD-quality is placed by that value's sign; one with neither is left out of the order and named.
"""

from __future__ import annotations

import math

import pandas as pd

from vcbench.report.bd_table import MEAN

FIXED, OVERLAP = "fixed", "overlap"


def _interval_of(bd: pd.DataFrame) -> str:
    return FIXED if "interval" in bd.columns and (bd["interval"] == FIXED).any() else OVERLAP


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _rate(row) -> str:
    text = f"{float(row['bd_rate_pct']):+.1f} %"
    low, high = row.get("ci_low_rate_pct"), row.get("ci_high_rate_pct")
    if _finite(low) and _finite(high):
        text += f" [{float(low):+.1f}, {float(high):+.1f}]"
    return text


def interval_words(bd: pd.DataFrame) -> str:
    if _interval_of(bd) == FIXED:
        rows = bd[bd["interval"] == FIXED]
        return f"over the fixed interval {float(rows['bpp_low'].iloc[0]):g}-{float(rows['bpp_high'].iloc[0]):g} bpp"
    return "over each pair's overlap"


def ranking(means: pd.DataFrame, anchor: str, metric: str) -> list[tuple[str, str]]:
    """(codec, its BD value as text), best first: by BD-rate (the anchor at 0 %); a codec with BD-quality only goes
    before those with a BD-rate if its BD-quality is positive, after them otherwise; codecs with neither are left out."""
    keyed = [((1, 0.0), anchor, "anchor")]
    for _, row in means[means["metric"] == metric].iterrows():
        if _finite(row["bd_rate_pct"]):
            keyed.append(((1, float(row["bd_rate_pct"])), row["codec"], "BD-rate " + _rate(row)))
        elif _finite(row["bd_quality"]):
            quality = float(row["bd_quality"])
            keyed.append(((0 if quality > 0 else 2, -quality), row["codec"], f"BD-quality {quality:+.4g}, no BD-rate"))
    return [(codec, text) for _, codec, text in sorted(keyed)]


def metric_sentence(means: pd.DataFrame, anchor: str, metric: str) -> str:
    """One metric of one dataset: the ranking with its values, then the codecs with no defined BD."""
    order = ranking(means, anchor, metric)
    sentence = f"{metric}: {order[0][0]} is best; " + " > ".join(f"{codec} ({text})" for codec, text in order)
    rows = means[means["metric"] == metric]
    neither = [r["codec"] for _, r in rows.iterrows() if not _finite(r["bd_rate_pct"]) and not _finite(r["bd_quality"])]
    if neither:
        sentence += f"; not comparable with {anchor} (no defined BD): " + ", ".join(neither)
    return sentence + "."


def codec_sentence(means: pd.DataFrame, codec: str, metrics: list[str]) -> str:
    """One codec's mean BD values on every metric: BD-rate where defined, else BD-quality, else n.d."""
    rows = means[means["codec"] == codec].set_index("metric")
    rates, qualities, undefined = [], [], []
    for metric in (m for m in metrics if m in rows.index):
        row = rows.loc[metric]
        if _finite(row["bd_rate_pct"]):
            rates.append(f"{_rate(row)} {metric}")
        elif _finite(row["bd_quality"]):
            qualities.append(f"{float(row['bd_quality']):+.4g} {metric}")
        else:
            undefined.append(metric)
    parts = ([f"BD-rate {', '.join(rates)}"] if rates else []) + (
        [f"BD-quality (positive = better) {', '.join(qualities)}"] if qualities else []) + (
        [f"not defined on {', '.join(undefined)}"] if undefined else [])
    return f"{codec}: " + "; ".join(parts) + "."


def summary_sentences(bd: pd.DataFrame, anchor: str, metrics: list[str]) -> list[str]:
    """Per dataset: the order of the codecs (on how many metrics it holds, and where it differs), then one sentence
    per codec with its BD values."""
    if bd.empty:
        return ["No BD values: the preset has no codec besides the anchor, or no metric with values."]
    interval = _interval_of(bd)
    chosen = bd[(bd["sequence"] == MEAN) & (bd["anchor"] == anchor)]
    if "interval" in bd.columns:
        chosen = chosen[chosen["interval"] == interval]
    sentences = []
    for dataset, means in chosen.groupby("dataset", sort=True):
        present = [m for m in metrics if m in set(means["metric"])]
        orders = {metric: tuple(codec for codec, _ in ranking(means, anchor, metric)) for metric in present}
        # the most common order; a tie goes to the order of the first metric
        common = max(dict.fromkeys(orders.values()), key=list(orders.values()).count) if orders else ()
        sequences = int(bd[(bd["dataset"] == dataset) & (bd["sequence"] != MEAN)]["sequence"].nunique())
        lead = f"{dataset} ({sequences} sequence{'s' if sequences != 1 else ''}), BD against {anchor} {interval_words(bd)}"
        agreeing = [m for m in present if orders[m] == common]
        lead += f": {' > '.join(common)} on {len(agreeing)} of {len(present)} metrics"
        others = [f"{m}: {' > '.join(orders[m])}" for m in present if orders[m] != common]
        sentences.append(lead + (f" (elsewhere {'; '.join(others)})." if others else "."))
        sentences += [codec_sentence(means, codec, present) for codec in sorted(set(means["codec"]))]
    return sentences
