"""What each codec costs: encode and decode seconds per frame (rd.csv's timings), peak memory (the jobs' Snakemake
benchmarks), a neural decoder's multiply-accumulates, parameters and denoiser calls (`vcbench decoder-cost`), and the
run's time from its first job's start to its last one's end (the job records)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd

from vcbench.job_files import JobFiles

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


# Peak memory: the resident set's maximum Snakemake's `benchmark:` sampled for the job (MB), NA for a job shorter than its
# first sample; decoder counts: `vcbench decoder-cost` (rule decoder_cost).
COST_NOTE = ("Per codec and rate point: seconds per frame (mean over the dataset's sequences) and the peak resident memory "
             "of the encode and decode jobs (the largest over the sequences; Snakemake's benchmark samples it, n/a for a "
             "job shorter than its first sample). For the neural codecs, one more decode of the first sequence's bitstream "
             "is counted: multiply-accumulates per pixel as torch's FlopCounterMode counts them (matrix products and "
             "convolutions; element-wise work is not counted), the denoiser's evaluations per frame (the samples through it: "
             "a call on a batch of frames evaluates each; a token-wise denoiser's samples are its tokens) with its calls in the "
             "decode in brackets, and the parameters of the modules that ran (in brackets: "
             "the denoiser's). The counts follow the rate where the rate knob sizes a network (a network's width "
             "or an INR's) and hardly depend on the content, so one sequence stands for the dataset.")
COST_HEADER = ["codec", "rate", "mean bpp", "encode s/frame", "decode s/frame", "encode peak MB", "decode peak MB",
               "decode MACs/pixel", "denoiser evaluations/frame (calls)", "parameters run (denoiser)"]


def read_timing(path: Path) -> dict[str, float]:
    """A Snakemake benchmark TSV's wall seconds and peak resident memory (MB; NaN where it was not sampled)."""
    row = pd.read_csv(path, sep="\t", na_values=["NA"]).iloc[0]
    return {"seconds": float(row["s"]), "max_rss_mb": float(row["max_rss"]) if pd.notna(row["max_rss"]) else math.nan}


def job_costs(rd: pd.DataFrame, encode_timing: JobFiles | None, decode_timing: JobFiles | None,
              decoder_costs: dict[str, dict]) -> pd.DataFrame:
    """Per RD point: its key, encode and decode peak memory (from the timings given, each point's file required) and,
    where ``decoder_costs`` (job key -> `vcbench decoder-cost` record) counted its codec at its rate, the decoder's counts."""
    rows = []
    for _, point in rd.iterrows():
        key = (point["dataset"], point["sequence"], point["codec"], str(point["rate"]))
        counted = decoder_costs.get(f"{point['dataset']}/{point['codec']}/{point['rate']}", {})
        rows.append({
            "dataset": key[0], "sequence": key[1], "codec": key[2], "rate": key[3],
            "encode_max_rss_mb": read_timing(encode_timing.of(*key))["max_rss_mb"] if encode_timing else math.nan,
            "decode_max_rss_mb": read_timing(decode_timing.of(*key))["max_rss_mb"] if decode_timing else math.nan,
            **{name: counted.get(name, math.nan) for name in ("macs_per_pixel", "denoiser_evaluations_per_frame", "denoiser_calls",
                                                             "parameters", "denoiser_parameters")},
        })
    return pd.DataFrame(rows)


def counted_by_rate(records: dict[str, dict]) -> dict[str, dict]:
    """`vcbench decoder-cost` records by job key -> by dataset/codec/rate (one sequence of a dataset is counted)."""
    return {"/".join(key.split("/")[i] for i in (0, 2, 3)): record for key, record in records.items()}


def _count(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.3g}"


def cost_table(rd: pd.DataFrame, costs: pd.DataFrame, dataset: str) -> tuple[list[str], list[list[str]]]:
    """One row per codec and rate point of ``dataset`` (``costs``: `job_costs` of ``rd``, row for row): seconds and bpp
    averaged over its sequences, peak memory the largest; codecs by name, each in rate order."""
    seconds = per_frame_seconds(rd).drop(columns="codec").reset_index(drop=True)
    joined = pd.concat([costs.reset_index(drop=True), seconds, pd.to_numeric(rd["bpp"], errors="coerce").reset_index(drop=True)],
                       axis=1)
    rows = []
    for (codec, rate), group in joined[joined["dataset"] == dataset].groupby(["codec", "rate"]):
        first = group.iloc[0]  # the counts: one sequence of the dataset was counted
        parameters = _count(first["parameters"])
        if not math.isnan(first["denoiser_parameters"]):
            parameters += f" ({_count(first['denoiser_parameters'])})"
        evaluations = first["denoiser_evaluations_per_frame"]
        evaluations = "n/a" if math.isnan(evaluations) else f"{evaluations:.2f} ({first['denoiser_calls']:.0f})"
        rows.append((codec, group["bpp"].mean(), [
            codec, rate, f"{group['bpp'].mean():.4f}", _seconds(group["encode"].mean()), _seconds(group["decode"].mean()),
            _megabytes(group["encode_max_rss_mb"].max()), _megabytes(group["decode_max_rss_mb"].max()),
            _count(first["macs_per_pixel"]), evaluations, parameters]))
    rows.sort(key=lambda item: (item[0], item[1]))
    return COST_HEADER, [row for *_, row in rows]


def _megabytes(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0f}"


def run_span(encode_records: JobFiles, summaries: JobFiles, keys: list[tuple[str, ...]]) -> tuple[dt.datetime, dt.datetime] | None:
    """When the first job began (an encode record's start) and the last ended (a score summary's end), as the jobs'
    provenance blocks state them; None where the records state neither."""
    starts, ends = [], []
    for key in keys:
        started = (encode_records.read_json(*key).get("provenance") or {}).get("started_utc")
        finished = (summaries.read_json(*key).get("provenance") or {}).get("finished_utc")
        starts += [dt.datetime.fromisoformat(started)] if started else []
        ends += [dt.datetime.fromisoformat(finished)] if finished else []
    return (min(starts), max(ends)) if starts and ends else None


def run_time_sentence(span: tuple[dt.datetime, dt.datetime] | None) -> str:
    if span is None:
        return "Run time: not known (the job records state no start and end times)."
    start, end = span
    minutes = (end - start).total_seconds() / 60
    return (f"Run time: {minutes:.1f} min, from the first encode's start ({start:%Y-%m-%d %H:%M:%S} UTC) to the last score's "
            f"end ({end:%H:%M:%S} UTC), as the job records state them (model training before and the report after not included).")
