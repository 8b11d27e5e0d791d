"""The two measurements GIViC's paper reports beside its RD curves.

sampling steps    one bitstream decoded with each number of sampling steps per token (the
                  decoder's ``decode_steps``: nothing is re-encoded); every frame metric of each
                  decode against the source, and its decoding time
context length    one sequence coded at the same rate points with each context length L (the
                  sequence state restarts every L tokens; 0: never), each point encoded, decoded
                  and scored (:func:`context_point`); then BD-rate of every L against the
                  codec's configured L, and the decoder's complexity: multiply-accumulates per
                  pixel as torch's FlopCounterMode counts them (matrix products, FLOPs / 2:
                  elementwise work is not counted) and decoded frames per second

Each writes a folder with its CSV tables, a figure and ``analysis.json`` (kind, codec, dataset,
sequence, title, note, figures, tables, findings) for the report.
"""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from vcbench.analysis_record import AnalysisRecord
from vcbench.bd import BDWarning, bd, lower_is_better
from vcbench.codecs.analyses import AnalysisJob
from vcbench.codecs.base import RatePoint
from vcbench.codecs.givic.codec import GivicCodec
from vcbench.errors import ConfigError
from vcbench.io import atomic_path, read_record, sha256_file, write_json_atomic, write_text_atomic
from vcbench.metrics.registry import column_spec
from vcbench.results import record_kind
from vcbench.video import read_y4m_header
from vcbench.video.convert import match_format

# Scores one reconstruction against the source: (means per column, {metric: why not computed}).
Scorer = Callable[[Path], tuple[dict[str, float], dict[str, str]]]

#: the decoder option the sampling-steps analysis sets itself, per decode
ANALYSIS_OPTIONS = ("decode_steps",)


def _quality_columns(columns) -> list[str]:
    """The metric columns (as the metrics declare them) among ``columns``."""
    return [column for column in columns if column_spec(column) is not None]


def _context_name(context: int) -> str:
    return "whole level" if context == 0 else str(context)


def _quality(means: dict[str, float]) -> dict[str, float]:
    return {column: means[column] for column in _quality_columns(means) if not math.isnan(means[column])}


def _plot(out: Path, draw: Callable) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = draw(plt)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def _check_options(codec_options: dict[str, Any]) -> dict[str, Any]:
    """The options, complete and typed, after refusing what the analysis sets itself."""
    set_here = sorted(set(codec_options) & set(ANALYSIS_OPTIONS))
    if set_here:
        raise ConfigError(f"givic analysis: {', '.join(set_here)} is set by the analysis itself; leave it out of -o")
    return GivicCodec.option_set.parse(codec_options, "givic options (-o)")


# -- sampling steps ---------------------------------------------------------------------------
def sampling_steps(bitstream_path: Path, source: Path, out_dir: Path, step_counts: list[int], score: Scorer,
                   codec_options: dict[str, Any], identity: dict[str, str]) -> pd.DataFrame:
    """Decode ``bitstream_path`` with each step count, score each decode; write steps.csv,
    steps.png and analysis.json into ``out_dir``. ``identity``: codec (config key), dataset, sequence."""
    codec_options = _check_options(codec_options)
    decoder = GivicCodec(**codec_options).decoder(bitstream_path)  # checked and loaded once for every decode
    header_steps = decoder.container.header["steps"]
    source_format = read_y4m_header(source)
    rows, not_computed = [], {}
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".steps-", dir=out_dir) as scratch:
        for count in sorted(set(step_counts)):
            reconstruction = Path(scratch) / f"steps_{count}.y4m"
            started = time.perf_counter()
            decoder.decode(reconstruction, count)
            seconds = time.perf_counter() - started
            match_format(reconstruction, source_format)
            means, missing = score(reconstruction)
            not_computed.update(missing)
            rows.append({"steps": count, "decode_seconds": seconds, "normative": count == header_steps, **_quality(means)})
    table = pd.DataFrame(rows)
    write_text_atomic(out_dir / "steps.csv", table.to_csv(index=False, float_format="%.6f"))
    metrics = _quality_columns(table)

    def draw(plt):
        panels = [*metrics, "decode_seconds"]
        columns = min(5, len(panels))
        rows = math.ceil(len(panels) / columns)
        fig, axes = plt.subplots(rows, columns, figsize=(2.8 * columns, 2.6 * rows), squeeze=False)
        for axis, column in zip(axes.flat, panels):
            axis.plot(table["steps"], table[column], marker="o")
            axis.axvline(header_steps, color="grey", linestyle=":", linewidth=1)
            axis.set_xscale("log", base=2)
            axis.set_xticks(table["steps"], [str(s) for s in table["steps"]])
            axis.set_xlabel("sampling steps per token")
            axis.set_title(column)
        for axis in list(axes.flat)[len(panels):]:
            axis.set_visible(False)
        return fig

    _plot(out_dir / "steps.png", draw)
    first, last = table.iloc[0], table.iloc[-1]
    best = table.loc[table["psnr_yuv"].idxmax()]
    findings = [f"PSNR-YUV {first['psnr_yuv']:.2f} dB with {first['steps']} step(s) per token, {last['psnr_yuv']:.2f} dB with "
                f"{last['steps']} ({last['psnr_yuv'] - first['psnr_yuv']:+.2f} dB); the best, {best['psnr_yuv']:.2f} dB, with "
                f"{best['steps']}",
                f"decoding took {first['decode_seconds']:.1f} s with {first['steps']} step(s) and {last['decode_seconds']:.1f} s with "
                f"{last['steps']}: each step is one more denoiser pass per token"]
    findings += [f"the bitstream's own {header_steps} steps give {psnr:.2f} dB" for psnr in table.loc[table["normative"], "psnr_yuv"]]
    AnalysisRecord.of("GIViC: quality against sampling steps", {
        "kind": "sampling_steps", **identity,
        "title": "GIViC: quality against the number of sampling steps (one bitstream, decoded again)",
        "note": (f"The same bitstream ({bitstream_path.name}, coded for {header_steps} steps per token) decoded with each number of "
                 "DDIM steps per token; nothing re-encoded. Each panel is one metric of the whole decode against the source "
                 "(x: steps, log scale; the dotted line marks the bitstream's own step count); the last panel is the decoding time."),
        "figures": ["steps.png"], "tables": [{"caption": "quality and decoding time per number of sampling steps", "csv": "steps.csv"}],
        "findings": findings, "not_computed": not_computed,
        "bitstream": str(bitstream_path), "bitstream_sha256": sha256_file(bitstream_path), "source": str(source),
        "source_sha256": sha256_file(source), "step_counts": sorted(set(step_counts)), "header_steps": header_steps,
        "codec_options": codec_options}).write(out_dir)
    return table


# -- context length ---------------------------------------------------------------------------
def decoder_macs(codec: GivicCodec, bitstream_path: Path, workdir: Path) -> int:
    """Multiply-accumulates of one whole decode (FlopCounterMode's FLOPs / 2)."""
    counter = FlopCounterMode(display=False)
    with counter:
        codec.decode(bitstream_path, workdir / "counted.y4m")
    return counter.get_total_flops() // 2


def context_point(source: Path, out: Path, rate: RatePoint, frames: int, context: int, score: Scorer,
                  codec_options: dict[str, Any], bitstream_path: Path | None = None) -> dict[str, Any]:
    """One point of the context-length curve: ``source`` coded at ``rate`` with the codec's
    ``codec_options`` but context length ``context`` (or, given ``bitstream_path``, that existing
    bitstream, which must have been coded with it), decoded, scored and its decoder's MACs counted;
    the record goes to ``out`` (JSON), a new bitstream beside it."""
    codec = GivicCodec(**{**_check_options(codec_options), "context": context})
    fmt = read_y4m_header(source)
    encode_seconds = None
    if bitstream_path is None:
        bitstream_path = out.with_suffix(".givic")
        started = time.perf_counter()
        codec.encode(source, bitstream_path, rate, frames)
        encode_seconds = time.perf_counter() - started
    header = codec.decoder(bitstream_path).container.header
    if header["context"] != context or header["frames"] != frames:
        raise ConfigError(f"{bitstream_path}: coded with context {header['context']} and {header['frames']} frames, the point is for "
                          f"context {context} and {frames} frames; pass the bitstream of that point")
    with tempfile.TemporaryDirectory(prefix=".context-", dir=out.parent) as scratch:
        reconstruction = Path(scratch) / "decoded.y4m"
        started = time.perf_counter()
        codec.decode(bitstream_path, reconstruction)
        decode_seconds = time.perf_counter() - started
        match_format(reconstruction, fmt)
        means, not_computed = score(reconstruction)
        macs = decoder_macs(codec, bitstream_path, Path(scratch))
    size = bitstream_path.stat().st_size
    record = {"context": context, "rate": rate.label, "params": rate.params, "frames": frames, "bytes": size,
              "bpp": 8.0 * size / (frames * fmt.width * fmt.height), **_quality(means), "encode_seconds": encode_seconds,
              "decode_seconds": decode_seconds, "decoded_fps": frames / decode_seconds,
              "macs_per_pixel": macs / (frames * fmt.width * fmt.height), "bitstream": str(bitstream_path),
              "bitstream_sha256": sha256_file(bitstream_path), "device": str(codec.device), "threads": torch.get_num_threads(),
              "not_computed": not_computed}
    write_json_atomic(out, record)
    return record


def context_length(points: list[dict[str, Any]], reference: int, out_dir: Path, identity: dict[str, str]) -> pd.DataFrame:
    """Gather the points (:func:`context_point` records) of every context length: BD-rate of each
    against ``reference`` per metric, complexity per L; write context_points.csv, context.csv,
    context.png and analysis.json."""
    table = pd.DataFrame(points).sort_values(["context", "bpp"])
    contexts = sorted(set(table["context"]), key=lambda c: math.inf if c == 0 else c)
    if reference not in contexts:
        raise ConfigError(f"context analysis: no points of the reference context length {reference} (have {contexts})")
    metrics = [c for c in _quality_columns(table) if table[c].notna().all()]
    anchor = table[table["context"] == reference]
    rows = []
    for context in contexts:
        test = table[table["context"] == context]
        row = {"context": context, "points": len(test), "macs_per_pixel": test["macs_per_pixel"].mean(),
               "decoded_fps": test["decoded_fps"].mean(), "decode_seconds": test["decode_seconds"].mean()}
        for metric in metrics:
            with warnings.catch_warnings():  # a small overlap is in the notes
                warnings.simplefilter("ignore", BDWarning)
                result = bd(anchor["bpp"], anchor[metric], test["bpp"], test[metric], lower_better=lower_is_better(metric))
            row[f"bd_rate_{metric}"] = result.bd_rate_pct
            row[f"notes_{metric}"] = "; ".join(result.notes)
        rows.append(row)
    summary = pd.DataFrame(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    points_csv = table.drop(columns=["params", "not_computed"]).to_csv(index=False, float_format="%.6f")
    write_text_atomic(out_dir / "context_points.csv", points_csv)
    write_text_atomic(out_dir / "context.csv", summary.to_csv(index=False, float_format="%.6f"))
    positions = list(range(len(contexts)))
    labels = [_context_name(c) for c in contexts]

    def draw(plt):
        fig, (rd, cost) = plt.subplots(1, 2, figsize=(10, 3.6))
        for context in contexts:
            curve = table[table["context"] == context]
            rd.plot(curve["bpp"], curve["psnr_yuv"], marker="o", label=f"L = {_context_name(context)}")
        rd.set_xscale("log")
        rd.set_xlabel("bpp")
        rd.set_ylabel("PSNR-YUV (dB)")
        rd.legend()
        cost.plot(positions, summary["bd_rate_psnr_yuv"], marker="o", color="tab:blue")
        cost.set_ylabel(f"BD-rate PSNR-YUV vs L = {_context_name(reference)} (%)", color="tab:blue")
        cost.set_xticks(positions, labels)
        cost.set_xlabel("context length L (tokens)")
        twin = cost.twinx()
        twin.plot(positions, summary["macs_per_pixel"] / 1e3, marker="s", linestyle="--", color="tab:red", label="kMAC / pixel")
        twin.plot(positions, summary["decoded_fps"], marker="^", linestyle="--", color="tab:green", label="decoded fps")
        twin.set_ylabel("kMAC / pixel, decoded fps (dashed)")
        twin.legend(loc="best")
        return fig

    _plot(out_dir / "context.png", draw)
    findings = []
    for row in rows:
        if row["context"] == reference:
            continue
        rate = (f"BD-rate {row['bd_rate_psnr_yuv']:+.1f} % (PSNR-YUV)" if not math.isnan(row["bd_rate_psnr_yuv"])
                else f"no BD-rate on PSNR-YUV ({row['notes_psnr_yuv']})")
        findings.append(f"L = {_context_name(row['context'])}: {rate} against L = {_context_name(reference)}, "
                        f"{row['macs_per_pixel'] / 1e3:.1f} kMAC/pixel, {row['decoded_fps']:.2f} decoded fps")
    ref_row = next(r for r in rows if r["context"] == reference)
    findings.append(f"L = {_context_name(reference)} (reference): {ref_row['macs_per_pixel'] / 1e3:.1f} kMAC/pixel, "
                    f"{ref_row['decoded_fps']:.2f} decoded fps")
    low, high = summary["macs_per_pixel"].min(), summary["macs_per_pixel"].max()
    if high <= low * 1.01:  # linear attention: a token costs the same whatever the context; only the batching changes
        findings.append("the MACs per pixel are the same at every L (within 1 %): the decoding speed differs because tokens of "
                        "different context windows are sampled as one batch")
    else:
        findings.append(f"the MACs per pixel range from {low / 1e3:.1f}k to {high / 1e3:.1f}k over the context lengths")
    AnalysisRecord.of("GIViC: BD-rate and decoding complexity against context length", {
        "kind": "context_length", **identity,
        "title": "GIViC: BD-rate and decoding complexity against the context length",
        "note": ("The sequence coded at the same rate points with each context length L (the HGLA sequence state restarts every "
                 "L tokens of a level; 'whole level': never). Left: the RD curves. Right: BD-rate on PSNR-YUV of each L against the "
                 f"codec's configured L = {_context_name(reference)} (solid; negative = saves rate), and the decoder's "
                 "multiply-accumulates per pixel (FlopCounterMode, matrix products only) and decoded frames per second (dashed)."),
        "figures": ["context.png"],
        "tables": [{"caption": "per context length: BD-rate per metric against the reference, complexity", "csv": "context.csv"},
                   {"caption": "every coded point", "csv": "context_points.csv"}],
        "findings": findings, "reference_context": reference, "contexts": contexts}).write(out_dir)
    return summary


# -- the jobs of the workflow's plan (`vcbench analysis NAME`; declared in vcbench.codecs.givic.analyses) -------------
def _identity(job: AnalysisJob) -> dict[str, str]:
    return {"codec": job.codec, "dataset": job.dataset, "sequence": job.sequence}


def _scorer(job: AnalysisJob) -> Scorer:
    if "psnr" not in job.metrics:
        raise ConfigError(f"--metrics {','.join(job.metrics)}: the GIViC analyses plot and compare PSNR-YUV; include psnr")
    return job.score


def sampling_steps_job(job: AnalysisJob) -> str:
    table = sampling_steps(job.file("bitstream"), job.source, job.out_dir, list(job.settings["steps"]), _scorer(job),
                           job.codec_options, _identity(job))
    return table.round(4).to_string(index=False)


def _point(job: AnalysisJob, context: int, bitstream_path: Path | None) -> str:
    from vcbench.codecs.givic.settings import KNOBS

    rate = RatePoint(job.rate, KNOBS.parse(job.knobs, "givic rate knobs (-p)"))
    out = job.outputs[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    record = context_point(job.source, out, rate, job.frames, context, _scorer(job), job.codec_options, bitstream_path)
    return (f"{out}: L={context} {job.rate}: {record['bpp']:.5f} bpp, PSNR-YUV {record.get('psnr_yuv', float('nan')):.2f} dB, "
            f"{record['macs_per_pixel'] / 1e3:.1f} kMAC/pixel, {record['decoded_fps']:.2f} fps")


def context_reference_job(job: AnalysisJob) -> str:
    """A point at the codec's own context length: the ladder's bitstream measured."""
    return _point(job, _check_options(job.codec_options)["context"], job.file("bitstream"))


def context_point_job(job: AnalysisJob) -> str:
    """A point at another context length (the stage's item): the sequence coded anew."""
    return _point(job, int(job.item), None)


def context_length_job(job: AnalysisJob) -> str:
    records = []
    for _, path in job.inputs["reference"] + job.inputs.get("point", []):
        record = read_record(path, {})
        if record_kind(record) != "context-point":
            raise ConfigError(f"{path}: not a context-point record; run `vcbench analysis context_length --stage point` again")
        records.append(record)
    summary = context_length(records, _check_options(job.codec_options)["context"], job.out_dir, _identity(job))
    return summary.round(3).to_string(index=False)
