"""MS-SSIM on the luma plane (piq: 5 scales, 11x11 Gaussian window, sigma 1.5, Wang et al.'s weights).

piq rather than torchmetrics: the same definition, but it imports in a fraction of the time,
which matters when every score job is its own process.
"""

from __future__ import annotations

import numpy as np

from vcbench.metrics.base import MetricUnavailable
from vcbench.video import Frame, VideoFormat

# The 5-scale pyramid with an 11-tap window needs each side > (11 - 1) * 2^4.
MIN_SIDE = 161


class MSSSIM:
    columns = ("ms_ssim",)

    def __init__(self, **options):
        import piq  # deferred: the PSNR-only path stays light
        import torch

        self._torch, self._piq = torch, piq

    def compute(self, reference: list[Frame], distorted: list[Frame], fmt: VideoFormat) -> dict[str, list[float]]:
        if min(fmt.width, fmt.height) < MIN_SIDE:
            raise MetricUnavailable(f"MS-SSIM needs frames of at least {MIN_SIDE}x{MIN_SIDE}, these are {fmt.width}x{fmt.height}")
        torch = self._torch
        ref = torch.from_numpy(np.stack([f.y for f in reference]).astype(np.float64))[:, None]
        dist = torch.from_numpy(np.stack([f.y for f in distorted]).astype(np.float64))[:, None]
        values = self._piq.multi_scale_ssim(dist, ref, data_range=float(fmt.max_value), reduction="none")
        return {"ms_ssim": [float(v) for v in values.reshape(-1)]}
