"""MS-SSIM on the luma plane, as Wang et al. define it and pytorch-msssim computes it: 5 scales,
11x11 Gaussian window (sigma 1.5), valid filtering, 2x2 average pooling between scales (odd sides
zero-padded, as torch's avg_pool2d), K1 0.01, K2 0.03, data range 2^bitdepth - 1, weights
(0.0448, 0.2856, 0.3001, 0.2363, 0.1333), contrast-structure and SSIM clipped at 0.

In numpy, not torch: a score job is its own process, and importing torch alone took 4.3 s of the
7.8 s that pytorch-msssim needed on a 32-frame 640x256 pair (this takes about 0.4 s). Not
libvmaf's float_ms_ssim either, although `vcbench score` runs libvmaf anyway: that is another
algorithm (IQA's: 9/7 wavelet low-pass before each decimation, symmetric borders instead of valid
filtering, luminance, contrast and structure each averaged before they are multiplied), 1.5e-3
below or above this per frame on the demo clip bikes coded by x265 at qp 39 (6 % of 1 - MS-SSIM),
and it costs as much CPU as this.

Float32, with each scale centred on its reference's mean before the second moments are taken
(variances and covariance do not change with the centre; the means get it back): float64's accuracy
at float32's speed, within 1e-6 of pytorch-msssim in float64 (5.8e-7 at most over the 32 frames of
bikes; tests/test_metrics.py, tests/test_classic_metrics.py).
"""

from __future__ import annotations

import numpy as np

from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.spec import Column, FrameLimit, MetricSpec
from vcbench.options import OptionSet
from vcbench.video import Frame, VideoFormat

WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03
# The 5-scale pyramid with an 11-tap window needs each side > (11 - 1) * 2^4.
MIN_SIDE = 161

_TAPS = np.exp(-((np.arange(WINDOW) - WINDOW // 2) ** 2) / (2 * SIGMA**2))
_TAPS = (_TAPS / _TAPS.sum()).astype(np.float32)


def _filter_axis(maps: np.ndarray, axis: int) -> np.ndarray:
    """Valid correlation with the Gaussian along ``axis``: the taps are symmetric, so pairs of shifted
    views are added before one multiply (16 whole-array passes instead of 21)."""
    n = maps.shape[axis] - (WINDOW - 1)

    def shifted(k: int) -> np.ndarray:
        index = [slice(None)] * maps.ndim
        index[axis] = slice(k, k + n)
        return maps[tuple(index)]

    half = WINDOW // 2
    out = shifted(half) * _TAPS[half]
    pair = np.empty_like(out)
    for k in range(half):
        np.add(shifted(k), shifted(WINDOW - 1 - k), out=pair)
        pair *= _TAPS[k]
        out += pair
    return out


def _gaussian(maps: np.ndarray) -> np.ndarray:
    return _filter_axis(_filter_axis(maps, -1), -2)


def _pool(plane: np.ndarray) -> np.ndarray:
    """2x2 average with stride 2; an odd side is zero-padded by one sample on both ends first."""
    pad_h, pad_w = plane.shape[0] % 2, plane.shape[1] % 2
    if pad_h or pad_w:
        plane = np.pad(plane, ((pad_h, pad_h), (pad_w, pad_w)))
    plane = plane[: plane.shape[0] // 2 * 2, : plane.shape[1] // 2 * 2]
    return (plane[0::2, 0::2] + plane[1::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 1::2]) * np.float32(0.25)


def ms_ssim(reference: np.ndarray, distorted: np.ndarray, data_range: float) -> float:
    """MS-SSIM of two luma planes (any integer or float dtype) whose sides are at least MIN_SIDE."""
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    x, y = reference.astype(np.float32), distorted.astype(np.float32)
    factors = []
    for scale in range(len(WEIGHTS)):
        centre = np.float32(x.mean(dtype=np.float64))
        xc, yc = x - centre, y - centre
        mu_x, mu_y, energy, cross = _gaussian(np.stack([xc, yc, xc * xc + yc * yc, xc * yc]))
        product, squares = mu_x * mu_y, mu_x * mu_x + mu_y * mu_y
        contrast_structure = (2 * (cross - product) + c2) / (energy - squares + c2)
        if scale < len(WEIGHTS) - 1:
            factors.append(max(float(contrast_structure.mean(dtype=np.float64)), 0.0))
            x, y = _pool(x), _pool(y)
        else:
            mu_x += centre
            mu_y += centre
            luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
            factors.append(max(float((luminance * contrast_structure).mean(dtype=np.float64)), 0.0))
    return float(np.prod(np.array(factors) ** WEIGHTS))


SPEC = MetricSpec(
    "ms_ssim", (Column("ms_ssim", "higher", 1e-3),), "frame", "vcbench.metrics.msssim:MSSSIM",
    "MS-SSIM: luma, Wang et al.'s as pytorch-msssim computes it (5 scales, 11x11 Gaussian, sigma 1.5, valid filtering, "
    "2x2 average pooling), in numpy to within 1e-6 of pytorch-msssim in float64, per frame, averaged over frames; not "
    "libvmaf's float_ms_ssim, another algorithm (up to 1.5e-3 apart per frame on the demo clip bikes).",
    options=OptionSet(),  # the conventions above are fixed: nothing to choose
    smallest_frame=FrameLimit(min_side=MIN_SIDE, why="its 5-scale pyramid with an 11-tap window"),
    small_frames="not computed",
)


class MSSSIM:
    columns = SPEC.column_names
    option_set = SPEC.options

    def __init__(self, **options):
        self.option_set.parse(options, "ms_ssim options")

    def compute(self, reference: list[Frame], distorted: list[Frame], fmt: VideoFormat) -> dict[str, list[float]]:
        if min(fmt.width, fmt.height) < MIN_SIDE:
            raise MetricUnavailable(SPEC.too_small(fmt.width, fmt.height))
        return {"ms_ssim": [ms_ssim(ref.y, dist.y, float(fmt.max_value)) for ref, dist in zip(reference, distorted)]}
