"""SSIMULACRA 2.1 (Sneyers, Cloudinary 2023), re-derived from the reference C++
(github.com/cloudinary/ssimulacra2, which prints "SSIMULACRA 2.1") and compiled with numba, not the
PyPI package ``ssimulacra2`` (0.7 to 10 points off the reference).

The algorithm, as the reference computes it:

- 8-bit sRGB -> linear RGB; then, at each of up to 6 scales (each a 2x2 box downsampling of the last,
  in linear RGB, the last row/column repeated for odd sizes; stopping once the last scale is below
  8x8), linear RGB -> XYB (JPEG XL's opsin absorbance and cube root) moved to a positive 0..1 range;
- per channel, libjxl's ``FastGaussian`` blur (sigma 1.5) of both images, their squares and their
  product, then an SSIM map without SSIM's luminance denominator, and two edge maps comparing each
  image with its blur: artifacts (distorted has edges the original lacks) and lost detail;
- the mean and the 4-norm of each map: 6 scales x 3 channels x 3 maps x 2 norms = 108 numbers, a
  weighted sum, and the reference's final polynomial to a score of 100 (identical) down to -inf.

Checked: within 5e-9 points (the reference prints 8 decimals) of the reference's scores on the 24
pairs of tests/data/perceptual (tests/test_perceptual_metrics.py), and of the reference built from
cloudinary/ssimulacra2 (commit 81feacf, AVX3) on 106 other pairs: sizes 8x8 to 1283x721 (odd ones,
8x15, 64x9, 513x321 among them), JPEG q10 to q98, noise, blur, a one-pixel shift, one-bit changes,
flat, black-versus-white and saturated images (scores -27 to 100).

The arithmetic, libjxl's float32 steps repeated exactly, is compiled with numba in
`vcbench.metrics.ssimulacra2_kernels` (imported on the first score, so that reading this declaration
costs no compiler); its docstring says why and how fast.
"""

from __future__ import annotations

import math

import numpy as np

from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.spec import Column, FrameLimit, MetricSpec
from vcbench.options import OptionSet
from vcbench.video import Frame, VideoFormat
from vcbench.video.color import yuv_to_srgb8

#: smallest side the reference accepts ("Minimum image size is 8x8 pixels")
MIN_SIDE = 8
#: at most 6 scales, 1:1 to 1:32
SCALES = 6


# The 108 weights of SSIMULACRA 2.1, ordered channel (X, Y, B) > scale (1:1 .. 1:32) > norm (1, 4)
# > map (SSIM, artifact, detail lost), then the final mapping to the 100-point scale.
_WEIGHTS = np.array([
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0,
    0.0, 0.0004371155730107379, 0.0, 1.1041726426657346, 0.00066284834129271, 0.00015231632783718752,
    0.0, 0.0016406437456599754, 0.0, 1.8422455520539298, 11.441172603757666, 0.0,
    0.0007989109436015163, 0.000176816438078653, 0.0, 1.8787594979546387, 10.94906990605142, 0.0,
    0.0007289346991508072, 0.9677937080626833, 0.0, 0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053,
    0.0004550992113792063, 0.0, 0.0, 0.0013648766163243398, 0.0, 0.0,
    0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
    225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
    176.39317598450694, 0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408,
    0.0, 0.0, 0.0, 34.77906344483772, 44.835625328877896, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0008680556573291698, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0004179171803251336, 0.0017290828234722833, 0.0,
    0.0020827005846636437, 0.0, 0.0, 8.826982764996862, 23.19243343998926, 0.0,
    95.1080498811086, 0.9863978034400682, 0.9834382792465353, 0.0012286405048278493, 171.2667255897307, 0.9807858872435379,
    0.0, 0.0, 0.0, 0.0005130064588990679, 0.0, 0.00010854057858411537,
])
_PRESCALE = 0.9562382616834844


def _score(scales: np.ndarray, pixels: np.ndarray) -> float:
    """The reference's weighted sum of the 108 (fewer below 32 x 32) norms, in its order and precision,
    mapped to the 100-point scale. ``scales[i]`` holds scale i's map sums (channel x 6), over ``pixels[i]``."""
    total, weights = 0.0, iter(_WEIGHTS)
    for channel in range(3):
        for sums, count in zip(scales, pixels):
            one_per_pixel = 1.0 / int(count)
            for norm in (0, 1):  # the mean, then the 4-norm, of the SSIM error, artifact and detail-lost maps
                for index in (norm, 2 + norm, 4 + norm):
                    value = one_per_pixel * sums[channel, index]
                    total += next(weights) * abs(math.sqrt(math.sqrt(value)) if norm else value)
    total = total * _PRESCALE
    total = 2.326765642916932 * total - 0.020884521182843837 * total * total + 6.248496625763138e-05 * total * total * total
    return 100.0 - 10.0 * total**0.6276336467831387 if total > 0.0 else 100.0


def ssimulacra2(reference: np.ndarray, distorted: np.ndarray) -> dict[str, float]:
    """SSIMULACRA 2.1 of two sRGB uint8 H x W x 3 images (at least 8 x 8), as the reference tool scores two PNGs."""
    if reference.shape != distorted.shape or reference.ndim != 3 or reference.shape[2] != 3:
        raise ValueError(f"SSIMULACRA 2 needs two H x W x 3 images of one size, got {reference.shape} and {distorted.shape}")
    if reference.dtype != np.uint8 or distorted.dtype != np.uint8:
        raise ValueError(f"SSIMULACRA 2 needs 8-bit (uint8) sRGB images, got {reference.dtype} and {distorted.dtype}")
    if min(reference.shape[:2]) < MIN_SIDE:
        raise ValueError(f"SSIMULACRA 2 needs images of at least {MIN_SIDE}x{MIN_SIDE}, got {reference.shape[1]}x{reference.shape[0]}")
    from vcbench.metrics.ssimulacra2_kernels import map_sums

    # C-ordered and writable, so that every caller runs the one compiled version (numba compiles read-only apart)
    reference, distorted = (np.require(image, requirements=["C", "W"]) for image in (reference, distorted))
    sums, pixels = map_sums(reference, distorted, SCALES, MIN_SIDE)
    return {"ssimulacra2": _score(sums, pixels)}


SPEC = MetricSpec(
    "ssimulacra2", (Column("ssimulacra2", "higher", 0.5),), "frame", "vcbench.metrics.ssimulacra2:SSIMULACRA2",
    "SSIMULACRA 2.1: on each frame converted from the Y4M's YUV to 8-bit sRGB (BT.709, the header's range, chroma "
    "upsampled), equal to the reference C++ (cloudinary/ssimulacra2, its float32 steps repeated exactly: within 1e-8 points; "
    "XYB at 6 scales downsampled in linear RGB), 100 = identical; per frame, averaged over frames.",
    options=OptionSet(),  # the reference has no settings
    smallest_frame=FrameLimit(min_side=MIN_SIDE, why="the reference refuses images below 8x8"),
)


class SSIMULACRA2:
    """SSIMULACRA 2.1 per frame, on the sRGB frames :func:`vcbench.video.color.yuv_to_srgb8` makes."""

    columns = SPEC.column_names
    option_set = SPEC.options

    def __init__(self, **options):
        self.option_set.parse(options, "ssimulacra2 options")

    def compute(self, reference: list[Frame], distorted: list[Frame], fmt: VideoFormat) -> dict[str, list[float]]:
        if SPEC.too_small(fmt.width, fmt.height):
            raise MetricUnavailable(SPEC.too_small(fmt.width, fmt.height))
        return {"ssimulacra2": [ssimulacra2(yuv_to_srgb8(ref, fmt), yuv_to_srgb8(dist, fmt))["ssimulacra2"]
                                for ref, dist in zip(reference, distorted)]}
