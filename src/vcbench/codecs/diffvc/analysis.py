"""DiffVC's three analyses, each a folder with analysis.json (the report's record), a figure and a CSV:

``tdir``               TDIR's trade-off. One bitstream decoded again with every r its schedule allows
                       (0, and those above the first step run, below steps; one decoder: the model
                       loaded and the latents entropy-decoded once); per r the decode time per frame,
                       the denoiser evaluations and every frame metric computed here.
                       Decodes run from the largest r to r = 0, so any warm-up cost lands on the fastest
                       decode (the speed-up is understated, not overstated). The finding names the
                       largest speed-up whose perceptual loss is at most 2 %, measured with the first of
                       DISTS, LPIPS, VMAF, MS-SSIM that was computed (the paper: 47 % at 1.96 % DISTS).
``qpp``                QPP: one model, rate and quality against q. The ladder's points (their encode
                       records and scores), and the exact file size of the sequence coded at every q of
                       a grid (the encoder's closed loop without the denoiser, which the rate does not
                       depend on), with whether bpp falls monotonically along it.
``error-propagation``  quality against the frame's position within the intra period, per rate point,
                       from the per-frame scores: how much P-frames lose as they move from their I-frame.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from vcbench.analysis_record import AnalysisRecord
from vcbench.bd import lower_is_better
from vcbench.codecs.analyses import AnalysisJob
from vcbench.errors import ConfigError
from vcbench.io import atomic_path, sha256_file, write_text_atomic
from vcbench.metrics.registry import column_spec
from vcbench.video import read_y4m_header
from vcbench.video.convert import match_format

# Scores one reconstruction against the source: (means per column, {metric: why not computed}).
Scorer = Callable[[Path], tuple[dict[str, float], dict[str, str]]]

PERCEPTUAL_ORDER = ("dists", "lpips", "vmaf", "ms_ssim")
PERCEPTUAL_BUDGET_PCT = 2.0
PAPER = "47 % less inference time at 1.96 % DISTS loss (Ma and Chen)"
#: decoder options the TDIR analysis sets itself
ANALYSIS_OPTIONS = ("decode_tdir_r",)


def loss_pct(metric: str, value: float, reference: float) -> float:
    """How much worse ``value`` is than ``reference``, in % of the reference (positive = worse)."""
    worse = value - reference if lower_is_better(metric) else reference - value
    return 100.0 * worse / abs(reference) if reference else float("nan")


def perceptual_metric(columns: list[str]) -> str | None:
    return next((name for name in PERCEPTUAL_ORDER if name in columns), None)


def metric_columns(frame: pd.DataFrame, skip: tuple[str, ...]) -> list[str]:
    return [c for c in frame.columns if c not in skip and frame[c].notna().any() and pd.api.types.is_numeric_dtype(frame[c])]


#: the report's section heading of each analysis
SECTIONS = {"tdir": "DiffVC: TDIR, decoding speed against quality", "qpp": "DiffVC: QPP, one model for every rate",
            "error-propagation": "DiffVC: quality against the frame's position in the intra period"}


def _record(out_dir: Path, kind: str, ids: dict[str, str], title: str, note: str, figure: str, table: tuple[str, str],
            findings: list[str], extra: dict[str, Any]) -> None:
    AnalysisRecord.of(SECTIONS[kind], {"kind": kind, **ids, "title": title, "note": note, "figures": [figure],
                                       "tables": [{"caption": table[0], "csv": table[1]}], "findings": findings, **extra}).write(out_dir)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# -- TDIR ------------------------------------------------------------------------------------------------------
def tdir_sweep(bitstream_path: Path, source: Path, score: Scorer, codec_options: dict[str, Any],
               workdir: Path) -> tuple[pd.DataFrame, dict]:
    """Decode with every r the schedule allows (largest first) and score each; the rows (by r) and the header."""
    from vcbench.codecs.diffvc.codec import DiffVcCodec
    from vcbench.codecs.diffvc.settings import tdir_problem

    decoder = DiffVcCodec(**codec_options).decoder(bitstream_path)
    header, frames = decoder.container.header, decoder.container.header["frames"]
    source_format = read_y4m_header(source)
    rows, not_computed = [], {}
    for r in [r for r in range(header["steps"] - 1, -1, -1) if tdir_problem(r, header["steps"], header["strength"]) is None]:
        print(f"{bitstream_path}: decoding with TDIR r={r}", file=sys.stderr, flush=True)
        reconstruction = workdir / f"r{r}.y4m"
        started = time.perf_counter()
        record = decoder.decode(reconstruction, r)
        seconds = time.perf_counter() - started + decoder.entropy_seconds
        match_format(reconstruction, source_format)
        means, missing = score(reconstruction)
        not_computed.update(missing)
        rows.append({"tdir_r": r, "decode_seconds_per_frame": seconds / frames,
                     "denoiser_seconds_per_frame": record["seconds"]["diffusion"] / frames,
                     "denoiser_evaluations": record["denoiser_evaluations"], **means})
        reconstruction.unlink()
    table = pd.DataFrame(rows).sort_values("tdir_r").reset_index(drop=True)
    return table, {**header, "not_computed": not_computed}


def tdir_findings(table: pd.DataFrame, header: dict) -> tuple[pd.DataFrame, list[str], dict]:
    """Speed-up and loss per r against r = 0, and the sentences the report shows."""
    base = table[table["tdir_r"] == 0].iloc[0]
    metrics = metric_columns(table, ("tdir_r", "decode_seconds_per_frame", "denoiser_seconds_per_frame", "denoiser_evaluations"))
    table = table.copy()
    table["speedup_pct"] = 100.0 * (1 - table["decode_seconds_per_frame"] / base["decode_seconds_per_frame"])
    for metric in metrics:
        table[f"{metric}_loss_pct"] = [loss_pct(metric, value, base[metric]) for value in table[metric]]
    perceptual = perceptual_metric(metrics)
    steps, mode = header["steps"], header["tdir_mode"]
    findings = []
    chosen = None
    if perceptual is not None:
        within = table[(table["tdir_r"] > 0) & (table[f"{perceptual}_loss_pct"] <= PERCEPTUAL_BUDGET_PCT)]
        if len(within):
            chosen = within.loc[within["speedup_pct"].idxmax()]
            findings.append(
                f"Largest speed-up within {PERCEPTUAL_BUDGET_PCT:g} % {perceptual} loss: TDIR r={int(chosen['tdir_r'])} of {steps} steps "
                f"({mode}) decodes {chosen['speedup_pct']:.1f} % faster ({chosen['decode_seconds_per_frame']:.3f} s vs "
                f"{base['decode_seconds_per_frame']:.3f} s per frame; {int(chosen['denoiser_evaluations'])} vs "
                f"{int(base['denoiser_evaluations'])} denoiser evaluations) at {chosen[f'{perceptual}_loss_pct']:.2f} % {perceptual} "
                f"loss; the paper reports {PAPER}.")
        else:
            findings.append(f"No TDIR r > 0 stays within {PERCEPTUAL_BUDGET_PCT:g} % {perceptual} loss here (the paper reports {PAPER}).")
    for _, row in table[table["tdir_r"] > 0].iterrows():
        losses = ", ".join(f"{m} {row[m] - base[m]:+.4g} ({row[f'{m}_loss_pct']:.2f} % loss)" for m in metrics)
        findings.append(f"r={int(row['tdir_r'])}: {row['speedup_pct']:.1f} % faster per frame, "
                        f"{int(row['denoiser_evaluations'])} denoiser evaluations; {losses}.")
    summary = {"perceptual_metric": perceptual, "budget_pct": PERCEPTUAL_BUDGET_PCT,
               "chosen_r": None if chosen is None else int(chosen["tdir_r"]),
               "speedup_pct": None if chosen is None else round(float(chosen["speedup_pct"]), 3),
               "perceptual_loss_pct": None if chosen is None else round(float(chosen[f"{perceptual}_loss_pct"]), 3)}
    return table, findings, summary


def plot_tdir(table: pd.DataFrame, out: Path) -> None:
    """One panel per metric: the metric against decode time per frame, each point labelled with its r."""
    plt = _pyplot()
    metrics = metric_columns(table, ("tdir_r", "decode_seconds_per_frame", "denoiser_seconds_per_frame", "denoiser_evaluations",
                                     "speedup_pct"))
    metrics = [m for m in metrics if not m.endswith("_loss_pct")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.9 * len(metrics), 3.0), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        axis.plot(table["decode_seconds_per_frame"], table[metric], marker="o")
        for _, row in table.iterrows():
            axis.annotate(f"r={int(row['tdir_r'])}", (row["decode_seconds_per_frame"], row[metric]), fontsize=7,
                          textcoords="offset points", xytext=(3, 3))
        axis.set_title(metric)
        axis.set_xlabel("decode s / frame")
    _save(fig, out)


def run_tdir(bitstream_path: Path, source: Path, out_dir: Path, score: Scorer, codec_options: dict[str, Any],
             ids: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    from vcbench.codecs.diffvc import bitstream
    from vcbench.codecs.diffvc.settings import OPTIONS
    from vcbench.diffusion.strength import first_step

    set_here = sorted(set(codec_options) & set(ANALYSIS_OPTIONS))
    if set_here:
        raise ConfigError(f"TDIR analysis: {', '.join(set_here)} is set by the analysis for each decode; leave it out of -o")
    OPTIONS.parse(codec_options, "diffvc options (-o)")
    bitstream.read(bitstream_path)  # checked before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tdir-", dir=out_dir) as scratch:
        table, header = tdir_sweep(bitstream_path, source, score, codec_options, Path(scratch))
    table, findings, summary = tdir_findings(table, header)
    write_text_atomic(out_dir / "tdir.csv", table.to_csv(index=False, float_format="%.6f"))
    plot_tdir(table, out_dir / "tdir.png")
    runs = f"the last {header['steps'] - first_step(header['steps'], header['strength'])} of {header['steps']} sampling steps run"
    note = (f"One bitstream (q={header['q']}, {runs}, TDIR mode {header['tdir_mode']}) decoded with every TDIR "
            f"r: P-frames start from the previous frame's sampling state after r steps and skip them (r = 0: off; I-frames always run "
            "all of them). Each panel plots a metric against the decode time per frame; a point is one r. Loss is relative to r = 0, "
            "positive = worse.")
    _record(out_dir, "tdir", ids, "DiffVC: TDIR speed against quality", note, "tdir.png",
            ("Decode time, denoiser evaluations and every metric per TDIR r; speed-up and loss against r = 0", "tdir.csv"), findings,
            {"summary": summary, "bitstream": str(bitstream_path), "bitstream_sha256": sha256_file(bitstream_path),
             "source": str(source), "source_sha256": sha256_file(source), "codec_options": codec_options,
             "not_computed": header["not_computed"]})
    return table, findings


# -- QPP -----------------------------------------------------------------------------------------------------------
def qpp_grid_rates(source: Path, frames: int, grid: list[int], codec_options: dict[str, Any]) -> pd.DataFrame:
    """The exact file size (bpp) of the first ``frames`` frames coded at every q of ``grid``, one model, one VAE pass."""
    from vcbench.codecs.diffvc import bitstream
    from vcbench.codecs.diffvc.codec import DiffVcCodec

    codec = DiffVcCodec(**codec_options)
    fmt = read_y4m_header(source)
    model = codec.load()
    latents = list(codec.latents(source, frames, model))
    rows = []
    for q in grid:
        size = len(bitstream.FORMAT.pack(codec.code(model, latents, q, fmt)))
        rows.append({"q": q, "bytes": size, "bpp": 8.0 * size / (frames * fmt.width * fmt.height)})
    return pd.DataFrame(rows)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read this record ({err}); run the job that writes it again") from None


def run_qpp(source: Path, out_dir: Path, points: list[tuple[Path, Path]], grid: list[int], codec_options: dict[str, Any],
            ids: dict[str, str]) -> pd.DataFrame:
    ladder = []
    for encode_path, summary_path in points:
        encoded, summary = _read_json(encode_path), _read_json(summary_path)
        if summary.get("bitstream_sha256") != encoded.get("bitstream_sha256"):
            raise ConfigError(f"{summary_path}: scores another bitstream than {encode_path} records; score it again")
        ladder.append({"q": encoded["params"]["q"], "rate": encoded["rate"], "bpp": encoded["bpp"],
                       **{k: v for k, v in summary.items() if column_spec(k) is not None}})
    frames = {_read_json(e)["frames"] for e, _ in points}
    if len(frames) != 1:
        raise ConfigError(f"QPP analysis: the rate points coded different frame counts ({sorted(frames)}); give points of one sequence")
    grid_rates = qpp_grid_rates(source, frames.pop(), grid, codec_options)
    ladder_table = pd.DataFrame(ladder).sort_values("q").reset_index(drop=True)
    table = pd.concat([grid_rates.assign(point="grid"), ladder_table.assign(point="ladder")], ignore_index=True)
    bpp = grid_rates["bpp"].tolist()
    monotone = all(later <= earlier for earlier, later in zip(bpp, bpp[1:]))
    findings = [f"Bits per pixel {'falls monotonically' if monotone else 'does NOT fall monotonically'} as q rises over the grid "
                f"q = {', '.join(map(str, grid))}: {bpp[0]:.5f} bpp at q={grid[0]} to {bpp[-1]:.5f} bpp at q={grid[-1]} "
                f"({bpp[0] / bpp[-1]:.1f} x), one model."]
    metrics = metric_columns(ladder_table, ("q", "rate", "bpp"))
    if len(ladder_table) > 1:
        first, last = ladder_table.iloc[0], ladder_table.iloc[-1]
        findings.append(f"Ladder q={int(first['q'])} -> q={int(last['q'])}: " + ", ".join(
            f"{m} {first[m]:.4g} -> {last[m]:.4g}" for m in metrics) + f"; bpp {first['bpp']:.5f} -> {last['bpp']:.5f}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "qpp.csv", table.to_csv(index=False, float_format="%.6f"))
    plt = _pyplot()
    fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(2.9 * (1 + len(metrics)), 3.0), squeeze=False)
    axes[0][0].plot(grid_rates["q"], grid_rates["bpp"], marker=".", label="grid (file size)")
    axes[0][0].plot(ladder_table["q"], ladder_table["bpp"], "s", label="ladder")
    axes[0][0].set_yscale("log")
    axes[0][0].set_title("bpp")
    axes[0][0].legend(fontsize=7)
    for axis, metric in zip(axes[0][1:], metrics):
        axis.plot(ladder_table["q"], ladder_table[metric], marker="s", color="tab:orange")
        axis.set_title(metric)
    for axis in axes[0]:
        axis.set_xlabel("q")
    _save(fig, out_dir / "qpp.png")
    note = ("One DiffVC model at every rate: the quantisation index q sets the quantiser scales (learned vectors interpolated in the "
            "log domain) and the denoiser's prompt. Left: bits per pixel against q, from the file sizes of the sequence coded at a grid "
            "of q (line) and the ladder's points (squares); then each metric against q at the ladder's points.")
    _record(out_dir, "qpp", ids, "DiffVC: rate and quality against q (QPP, one model)", note, "qpp.png",
            ("bpp per q (grid: file size only; ladder: with every metric)", "qpp.csv"), findings,
            {"monotone": monotone, "source": str(source), "codec_options": codec_options, "grid": grid})
    return table


# -- error propagation ---------------------------------------------------------------------------------------------
def run_propagation(out_dir: Path, points: list[tuple[str, Path]], intra_period: int, ids: dict[str, str]) -> pd.DataFrame:
    """Per-frame scores of each rate point against the frame's position in its intra period."""
    tables = []
    for rate, frames_csv in points:
        table = pd.read_csv(frames_csv)
        table.insert(0, "rate", rate)
        table.insert(2, "position", table["frame"] % intra_period)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    metrics = metric_columns(table, ("rate", "frame", "position"))
    by_position = table.groupby(["rate", "position"], sort=False)[metrics].mean().reset_index()
    last = int(by_position["position"].max())
    findings = []
    for metric in metrics:
        drops = [(group.loc[group["position"] == 0, metric].iloc[0], group.loc[group["position"] == last, metric].iloc[0])
                 for _, group in by_position.groupby("rate", sort=False)]
        mean_change = sum(end - start for start, end in drops) / len(drops)
        findings.append(f"{metric}: from the I-frame (position 0) to position {last} it changes by {mean_change:+.4g} on average over "
                        f"{len(drops)} rate points ({'worse' if (mean_change > 0) == lower_is_better(metric) else 'better'}).")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "propagation.csv", by_position.to_csv(index=False, float_format="%.6f"))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.9 * len(metrics), 3.0), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        for rate, group in by_position.groupby("rate", sort=False):
            axis.plot(group["position"], group[metric], label=rate)
        axis.set_title(metric)
        axis.set_xlabel(f"position in intra period ({intra_period})")
    axes[0][0].legend(fontsize=7)
    _save(fig, out_dir / "propagation.png")
    note = ("Quality of each frame against its position after the I-frame of its intra period, one line per rate point (means over "
            "intra periods where the sequence has several). P-frames are predicted from the previous decoded latent, so coding errors "
            "accumulate along the period until the next I-frame.")
    _record(out_dir, "error-propagation", ids, "DiffVC: quality against frame position within the intra period", note,
            "propagation.png", ("Mean of every metric per rate point and position in the intra period", "propagation.csv"), findings,
            {"intra_period": intra_period, "frames_csv": [str(p) for _, p in points]})
    return by_position


# -- the jobs of the workflow's plan (`vcbench analysis NAME`; declared in vcbench.codecs.diffvc.analyses) -----------
def _ids(job: AnalysisJob) -> dict[str, str]:
    return {"codec": job.codec, "dataset": job.dataset, "sequence": job.sequence}


def tdir_job(job: AnalysisJob) -> str:
    table, findings = run_tdir(job.file("bitstream"), job.source, job.out_dir, job.score, job.codec_options, _ids(job))
    return "\n".join([table.round(4).to_string(index=False), *findings])


def qpp_job(job: AnalysisJob) -> str:
    from vcbench.codecs.diffvc.settings import OPTIONS

    OPTIONS.parse(job.codec_options, "diffvc options (-o)")  # before anything is read or written
    points = [(encode, summary) for (_, encode), (_, summary) in zip(job.inputs["encode_record"], job.inputs["summary"])]
    table = run_qpp(job.source, job.out_dir, points, sorted(set(job.settings["grid"])), job.codec_options, _ids(job))
    return table.round(5).to_string(index=False)


def propagation_job(job: AnalysisJob) -> str:
    from vcbench.codecs.diffvc.settings import OPTIONS

    intra_period = OPTIONS.parse(job.codec_options, "diffvc options (-o)")["intra_period"]
    table = run_propagation(job.out_dir, job.inputs["frames"], intra_period, _ids(job))
    return table.round(4).to_string(index=False)
