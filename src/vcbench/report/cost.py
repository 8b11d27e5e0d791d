"""Time per codec: encode and decode seconds per frame, from each point's records (rd.csv's timings)."""

from __future__ import annotations

import math

import pandas as pd

HEADER = ["codec", "points", "encode s/frame (median)", "encode s/frame (range)", "decode s/frame (median)",
          "decode s/frame (range)", "encode + decode, all points (s)"]


def _seconds(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def per_frame_seconds(rd: pd.DataFrame) -> pd.DataFrame:
    """rd.csv's codec, encode and decode seconds per frame of every point."""
    frames = pd.to_numeric(rd["frames"], errors="coerce")
    return pd.DataFrame({
        "codec": rd["codec"].astype(str),
        "encode": pd.to_numeric(rd["encode_seconds"], errors="coerce") / frames,
        "decode": pd.to_numeric(rd["decode_seconds"], errors="coerce") / frames,
        "total": pd.to_numeric(rd["encode_seconds"], errors="coerce") + pd.to_numeric(rd["decode_seconds"], errors="coerce"),
    })


def time_table(rd: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """One row per codec, slowest decoder first: the medians and ranges over its points, and its total time."""
    seconds = per_frame_seconds(rd)
    rows = []
    for codec, group in seconds.groupby("codec", sort=True):
        rows.append((group["decode"].median(), [
            codec, str(len(group)),
            _seconds(group["encode"].median()), f"{_seconds(group['encode'].min())}-{_seconds(group['encode'].max())}",
            _seconds(group["decode"].median()), f"{_seconds(group['decode'].min())}-{_seconds(group['decode'].max())}",
            _seconds(group["total"].sum(min_count=1)),
        ]))
    rows.sort(key=lambda item: -item[0] if not math.isnan(item[0]) else math.inf)
    return HEADER, [row for _, row in rows]
