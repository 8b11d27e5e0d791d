"""LDR-FLIP (Andersson et al., NVIDIA 2020) from ``flip-evaluator``, NVIDIA's own package: the mean of
the FLIP error map per frame (0 = identical, 1 = the largest difference), on the frame as 8-bit sRGB,
at the pixels per degree of visual angle the ``ppd`` option states (FLIP's default, 67.02: a 0.7 m
wide 3840-pixel monitor seen from 0.7 m). Its OpenMP loops run on the job's threads (`job_threads`).
"""

from __future__ import annotations

import ctypes
import math
from functools import cache
from pathlib import Path

import numpy as np

from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.spec import Column, FrameLimit, MetricSpec
from vcbench.options import Option, OptionSet
from vcbench.tools.threads import job_threads
from vcbench.video import Frame, VideoFormat
from vcbench.video.color import yuv_to_srgb8

#: FLIP's default observer, 0.7 m from a 0.7 m wide 3840-pixel display: distance x pixels / width x pi / 180
DEFAULT_PPD = 0.7 * 3840 / 0.7 * math.pi / 180.0  # 67.02


def _evaluate():
    try:
        from flip_evaluator import evaluate
    except ImportError:
        raise MetricUnavailable("flip needs the flip-evaluator package; `pip install flip-evaluator==1.7`") from None
    return evaluate


@cache
def _openmp() -> ctypes.CDLL | None:
    """The OpenMP runtime FLIP's loops run on: the libgomp flip-evaluator's wheel bundles (flip_evaluator.libs/),
    else None (a build on the system's libgomp, which OMP_NUM_THREADS sizes like every other pool)."""
    import flip_evaluator

    bundled = sorted((Path(flip_evaluator.__file__).parent.parent / "flip_evaluator.libs").glob("libgomp*.so*"))
    return ctypes.CDLL(str(bundled[0])) if bundled else None


def _use_job_threads() -> None:
    """Size FLIP's OpenMP pool to the job's threads. OpenMP keeps the count per calling thread, and the
    score job runs its frame metrics in a worker thread, so this is called where FLIP is."""
    openmp = _openmp()
    if openmp is not None:
        openmp.omp_set_num_threads(job_threads())


def flip(reference: np.ndarray, distorted: np.ndarray, ppd: float = DEFAULT_PPD) -> dict[str, float]:
    """Mean LDR-FLIP error of two sRGB uint8 H x W x 3 images (flip-evaluator's own computation)."""
    if reference.shape != distorted.shape or reference.ndim != 3 or reference.shape[2] != 3:
        raise ValueError(f"FLIP needs two H x W x 3 images of one size, got {reference.shape} and {distorted.shape}")
    if reference.dtype != np.uint8 or distorted.dtype != np.uint8:
        raise ValueError("FLIP here takes 8-bit sRGB images (uint8)")
    _use_job_threads()
    # flip-evaluator reads an 8-bit PNG as value / 255 in float32, sRGB-encoded: the same numbers
    ref = reference.astype(np.float32) / np.float32(255.0)
    dist = distorted.astype(np.float32) / np.float32(255.0)
    _, mean, _ = _evaluate()(ref, dist, "LDR", inputsRGB=True, applyMagma=False, computeMeanError=True,
                             parameters={"ppd": float(ppd)})
    return {"flip": float(mean)}


SPEC = MetricSpec(
    "flip", (Column("flip", "lower", 2e-3),), "frame", "vcbench.metrics.flip:FLIP",
    "FLIP: NVIDIA's LDR-FLIP (flip-evaluator 1.7) at 67.02 pixels per degree unless the flip option ppd says otherwise, on "
    "each frame converted from the Y4M's YUV to 8-bit sRGB (BT.709, the header's range, chroma upsampled); the mean of "
    "the error map per frame, averaged over frames; 0 = identical.",
    options=OptionSet(
        Option("ppd", float, DEFAULT_PPD, "observer's pixels per degree of visual angle (FLIP's default 67.02: "
               "a 0.7 m wide 3840-pixel monitor at 0.7 m)", minimum=1.0, maximum=1000.0),
    ),
    smallest_frame=FrameLimit(),
)


class FLIP:
    """LDR-FLIP per frame, on the sRGB frames :func:`vcbench.video.color.yuv_to_srgb8` makes."""

    columns = SPEC.column_names
    option_set = SPEC.options

    def __init__(self, **options):
        self.options = self.option_set.parse(options, "flip options")
        _evaluate()

    def compute(self, reference: list[Frame], distorted: list[Frame], fmt: VideoFormat) -> dict[str, list[float]]:
        return {"flip": [flip(yuv_to_srgb8(ref, fmt), yuv_to_srgb8(dist, fmt), self.options["ppd"])["flip"]
                         for ref, dist in zip(reference, distorted)]}
