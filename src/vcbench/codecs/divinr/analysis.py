"""The analysis DiV-INR's argument rests on: does the sampler lay out the scene and its objects
before it adds texture?

Two measurements from one bitstream:
  per step       decode once with the header's steps and keep the predicted clean frames
                 (x0 estimates) of every denoising step; score each step's frames against the source
  per step count decode again with each number of sampling steps asked for; score each output

Both score every frame metric that can run here (PSNR, MS-SSIM and VMAF; LPIPS and DISTS when
their weights are present). If layout comes first, PSNR and MS-SSIM (structure) should settle
within the first steps while LPIPS/DISTS/VMAF (texture, detail) keep improving.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vcbench.analysis_record import AnalysisRecord, JobName, Table
from vcbench.codecs.analyses import AnalysisJob
from vcbench.codecs.divinr import bitstream
from vcbench.codecs.divinr.codec import DivInrCodec
from vcbench.errors import ConfigError
from vcbench.io import atomic_path, sha256_file, write_text_atomic
from vcbench.video import read_y4m_header
from vcbench.video.convert import match_format

# Scores one reconstruction against the source: (means per column, {metric: why not computed}); `AnalysisJob.score`.
Scorer = Callable[[Path], tuple[dict[str, float], dict[str, str]]]


@dataclass
class DenoisingAnalysis:
    per_step: pd.DataFrame  # step (1..N), then the mean of every metric column over frames
    # steps, decode_seconds, recorded_x0 (that decode also loaded the backbone and wrote every step's x0: slower; later ones reuse
    # the frames of latents it already decoded), metric means
    per_step_count: pd.DataFrame
    header_steps: int
    not_computed: dict[str, str] = field(default_factory=dict)


def analyse(bitstream_path: Path, source: Path, step_counts: list[int], score: Scorer, codec_options: dict[str, Any],
            workdir: Path) -> DenoisingAnalysis:
    """Decode ``bitstream_path`` once with the header's steps (recording every step's x0), once with
    each other step count, in ``workdir``, and score every output."""
    header_steps = int(bitstream.read(bitstream_path).header["sampling_steps"])
    source_format = read_y4m_header(source)
    not_computed: dict[str, str] = {}

    decoder = DivInrCodec(**codec_options).decoder(bitstream_path)  # the backbone loaded once for every decode

    def decode(name: str, steps: int | None = None, x0_dir: Path | None = None) -> tuple[Path, float]:
        print(f"{bitstream_path}: decoding ({name.replace('_', ' ')}{', recording x0' if x0_dir else ''})",
              file=sys.stderr, flush=True)
        started = time.perf_counter()
        reconstruction = workdir / f"{name}.y4m"
        decoder.decode(reconstruction, steps, x0_dir)
        return reconstruction, time.perf_counter() - started

    def scored(reconstruction: Path) -> dict[str, float]:
        match_format(reconstruction, source_format)
        means, missing = score(reconstruction)
        not_computed.update(missing)
        return means

    x0_dir = workdir / "x0"
    normative, normative_seconds = decode(f"steps_{header_steps:02d}", x0_dir=x0_dir)
    x0_files = sorted(x0_dir.glob("step_*.y4m"))
    per_step = pd.DataFrame([{"step": index + 1, **scored(path)} for index, path in enumerate(x0_files)])
    rows = []
    for count in sorted(set(step_counts)):
        if count == header_steps:
            reconstruction, seconds = normative, normative_seconds
        else:
            reconstruction, seconds = decode(f"steps_{count:02d}", steps=count)
        rows.append({"steps": count, "decode_seconds": seconds, "recorded_x0": count == header_steps, **scored(reconstruction)})
    return DenoisingAnalysis(per_step, pd.DataFrame(rows), header_steps, not_computed)


NOTE = ("Top row: quality of the predicted clean frames (x0 estimates) after each denoising step of the coded sampler; "
        "bottom row: the same bitstream decoded with each number of sampling steps. If layout and objects come before "
        "texture, PSNR and MS-SSIM settle in the first steps while LPIPS, DISTS and VMAF keep improving.")


def write_analysis(result: DenoisingAnalysis, out_dir: Path, job: JobName, provenance: dict[str, Any]) -> None:
    """per_step.csv, per_step_count.csv, denoising.png and the analysis record (what was analysed, how)."""
    write_text_atomic(out_dir / "per_step.csv", result.per_step.to_csv(index=False, float_format="%.6f"))
    write_text_atomic(out_dir / "per_step_count.csv", result.per_step_count.to_csv(index=False, float_format="%.6f"))
    plot_analysis(result, out_dir / "denoising.png")
    AnalysisRecord(
        kind="denoising", section="DiV-INR denoising analysis", codec=job.codec, dataset=job.dataset, sequence=job.sequence,
        title=f"{job.dataset}/{job.sequence}, {job.codec} at {job.rate} ({result.header_steps} steps coded)", note=NOTE,
        figures=["denoising.png"], tables=[Table("Quality against the number of sampling steps", "per_step_count.csv")],
        details={**provenance, "header_steps": result.header_steps, "not_computed": result.not_computed},
    ).write(out_dir)


def plot_analysis(result: DenoisingAnalysis, out: Path) -> None:
    """One column per metric: quality of each step's x0 estimate (top), and against the step count (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in result.per_step.columns if c != "step" and result.per_step[c].notna().any()]
    fig, axes = plt.subplots(2, len(columns), figsize=(2.8 * len(columns), 5.2), squeeze=False)
    for top, bottom, column in zip(axes[0], axes[1], columns):
        top.plot(result.per_step["step"], result.per_step[column], marker="o")
        top.set_title(column)
        top.set_xlabel(f"denoising step (of {result.header_steps})")
        bottom.plot(result.per_step_count["steps"], result.per_step_count[column], marker="s", color="tab:orange")
        bottom.set_xscale("log", base=2)
        bottom.set_xlabel("sampling steps")
    axes[0][0].set_ylabel("x0 estimate at step")
    axes[1][0].set_ylabel("decoded with N steps")
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


#: decoder options the analysis sets itself, per decode
ANALYSIS_OPTIONS = ("x0_dir", "decode_steps")


def run(bitstream_path: Path, source: Path, out_dir: Path, job: JobName, step_counts: list[int], score: Scorer,
        codec_options: dict[str, Any]) -> DenoisingAnalysis:
    """Analyse one bitstream into ``out_dir``; decoded videos live in a scratch folder beside it."""
    # checked before anything is written: the options, then the bitstream's header
    set_here = sorted(set(codec_options) & set(ANALYSIS_OPTIONS))
    if set_here:
        raise ConfigError(f"denoising analysis: {', '.join(set_here)} are set by the analysis for each decode; leave them out of -o")
    DivInrCodec.option_set.parse(codec_options, "divinr options (-o)")
    bitstream.read(bitstream_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".denoising-", dir=out_dir) as scratch:
        result = analyse(bitstream_path, source, step_counts, score, codec_options, Path(scratch))
    write_analysis(result, out_dir, job, {"bitstream": str(bitstream_path), "bitstream_sha256": sha256_file(bitstream_path),
                                     "source": str(source), "source_sha256": sha256_file(source),
                                     "step_counts": sorted(set(step_counts)), "codec_options": codec_options})
    return result



def denoising_job(job: AnalysisJob) -> str:
    """`vcbench analysis denoising`: one bitstream of the workflow's plan (`vcbench.codecs.divinr.analyses`)."""
    result = run(job.file("bitstream"), job.source, job.out_dir, JobName(job.dataset, job.sequence, job.codec, job.rate),
                 list(job.settings["steps"]), job.score, job.codec_options)
    return (f"per denoising step (of {result.header_steps}):\n{result.per_step.round(4).to_string(index=False)}\n"
            f"per number of sampling steps:\n{result.per_step_count.round(4).to_string(index=False)}"
            + "".join(f"\nnot computed: {name}: {reason}" for name, reason in result.not_computed.items()))
