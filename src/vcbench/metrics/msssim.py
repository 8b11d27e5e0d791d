"""MS-SSIM on the luma plane (pytorch-msssim: 5 scales, 11x11 Gaussian window, sigma 1.5, valid
filtering, Wang et al.'s weights).

pytorch-msssim because every score job is its own process: it imports nothing but torch (piq
takes 3 s more, torchmetrics longer still). In float32, nine times faster than float64 on a CPU;
tests/test_metrics.py checks it against piq's independent implementation in float64 to 1e-5.
(torchmetrics differs from both by about 1e-3 on real frames; the cause was not traced.)
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
        import torch  # deferred: the PSNR-only path stays light
        from pytorch_msssim import ms_ssim

        self._torch, self._ms_ssim = torch, ms_ssim

    def compute(self, reference: list[Frame], distorted: list[Frame], fmt: VideoFormat) -> dict[str, list[float]]:
        if min(fmt.width, fmt.height) < MIN_SIDE:
            raise MetricUnavailable(f"MS-SSIM needs frames of at least {MIN_SIDE}x{MIN_SIDE}, these are {fmt.width}x{fmt.height}")
        torch = self._torch
        ref = torch.from_numpy(np.stack([f.y for f in reference]).astype(np.float32))[:, None]
        dist = torch.from_numpy(np.stack([f.y for f in distorted]).astype(np.float32))[:, None]
        values = self._ms_ssim(dist, ref, data_range=float(fmt.max_value), size_average=False)
        return {"ms_ssim": [float(v) for v in values.reshape(-1)]}
