"""PSNR per frame: Y, U, V and the YUV average weighted 6:1:1 (the JVET/CTC convention).

The peak is an option, because the tools disagree above 8 bit:

- ``jvet`` (default): 255 x 2^(bitdepth - 8), 1020 at 10 bit, as HM, VTM and VVenC compute it
  (VVenC: ``maxval = 255 << (bitDepth - 8)`` in ``EncPicture::xCalcDistortion``). It makes PSNR
  invariant to an exact up-shift: an 8-bit frame and the same frame shifted to 10 bit score alike.
- ``ffmpeg``: 2^bitdepth - 1, 1023 at 10 bit, as ffmpeg's ``psnr`` filter.

At 10 bit the two differ by exactly 20 log10(1023 / 1020) = 0.0255 dB; at 8 bit they agree.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from vcbench.metrics.spec import Column, MetricSpec
from vcbench.options import Option, OptionSet
from vcbench.tools.threads import job_threads
from vcbench.video import Frame, VideoFormat

#: PSNR of an exact match: capped so that averages stay finite (stated in every report).
PSNR_CAP_DB = 100.0

# numpy releases the GIL in its loops, so threads use every core the job was given.
_POOL = ThreadPoolExecutor(max_workers=job_threads(), thread_name_prefix="psnr")


#: rows per work item: a block of about 256 KiB stays in cache through the passes below.
_BLOCK_SAMPLES = 1 << 18


def squared_error_sum(reference: np.ndarray, distorted: np.ndarray) -> int:
    """Exact sum of squared differences (integer arithmetic: no rounding, no overflow)."""
    if reference.dtype == np.uint8:
        # |a - b| <= 255, so its square fits uint16: the narrowest, fastest exact path.
        diff = np.abs(np.subtract(reference, distorted, dtype=np.int16)).view(np.uint16)
        np.multiply(diff, diff, out=diff)
        return int(diff.sum(dtype=np.uint64))
    diff = np.subtract(reference, distorted, dtype=np.int64)
    np.multiply(diff, diff, out=diff)
    return int(diff.sum())


def plane_mse(reference: np.ndarray, distorted: np.ndarray) -> float:
    """Mean squared error of two planes, computed in cache-sized row blocks on all cores."""
    rows = max(1, _BLOCK_SAMPLES // reference.shape[1])
    blocks = [(reference[i : i + rows], distorted[i : i + rows]) for i in range(0, reference.shape[0], rows)]
    return sum(_POOL.map(lambda pair: squared_error_sum(*pair), blocks)) / reference.size


def psnr_from_mse(mse: float, peak: int) -> float:
    if mse <= 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(peak * peak / mse))


#: the peak sample value of each convention, by bit depth
PEAKS = {"jvet": lambda bit_depth: 255 << (bit_depth - 8), "ffmpeg": lambda bit_depth: (1 << bit_depth) - 1}


SPEC = MetricSpec(
    "psnr",
    (Column("psnr_y", "higher", 0.05, unit="dB"), Column("psnr_u", "higher", 0.05, headline=False, unit="dB"),
     Column("psnr_v", "higher", 0.05, headline=False, unit="dB"), Column("psnr_yuv", "higher", 0.05, unit="dB")),
    "frame", "vcbench.metrics.psnr:PSNR",
    "PSNR: per frame on the Y4M's YUV, YUV weighted (6Y + U + V) / 8, averaged over frames; PSNR-Y is the luma alone. Peak "
    "255 x 2^(bitdepth-8) (1020 at 10 bit), as HM, VTM and VVenC compute it, unless the psnr metric option "
    "peak=ffmpeg is set (2^bitdepth - 1 = 1023, as ffmpeg's psnr filter; 0.0255 dB more at 10 bit, equal at 8 bit); "
    "an exact match counts as 100 dB.",
    options=OptionSet(
        Option("peak", str, "jvet", "peak sample value: jvet = 255 x 2^(bitdepth-8) (HM/VTM/VVenC), ffmpeg = 2^bitdepth - 1",
               choices=tuple(PEAKS)),
    ),
)


class PSNR:
    columns = SPEC.column_names
    option_set = SPEC.options

    def __init__(self, **options):
        self.options = self.option_set.parse(options, "psnr options")

    def compute(self, reference: list[Frame], distorted: list[Frame], fmt: VideoFormat) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {c: [] for c in self.columns}
        peak = PEAKS[self.options["peak"]](fmt.bit_depth)
        for ref, dist in zip(reference, distorted):
            y, u, v = (psnr_from_mse(plane_mse(a, b), peak) for a, b in zip(ref.planes, dist.planes))
            out["psnr_y"].append(y)
            out["psnr_u"].append(u)
            out["psnr_v"].append(v)
            out["psnr_yuv"].append((6.0 * y + u + v) / 8.0)
        return out
