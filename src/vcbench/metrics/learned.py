"""LPIPS and DISTS as frame metrics, with the reference packages' semantics and our verified weights.

Conventions (README): RGB from YUV by BT.709 with chroma upsampled and the range the source
states (`vcbench.video.yuv_to_rgb`), full resolution, one value per frame. LPIPS is the `lpips`
package's module (AlexNet v0.1 by default) fed [-1, 1]; DISTS is `DISTS_pytorch`'s forward pass
fed [0, 1], without any resize. The networks come from `vcbench.perceptual.nets` (verified
weights, nothing downloads); a missing asset makes the metric unavailable, with the fix.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from tqdm import tqdm

from vcbench.assets import AssetError
from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.learned_options import DISTS_OPTIONS, LPIPS_OPTIONS
from vcbench.options import OptionSet
from vcbench.perceptual.nets import dists_network, lpips_network
from vcbench.tools.device import choose_device
from vcbench.video import Frame, VideoFormat, yuv_to_rgb


def frames_to_tensor(frames: list[Frame], fmt: VideoFormat) -> torch.Tensor:
    """N x 3 x H x W float32 RGB in [0, 1] (BT.709, range per ``fmt``)."""
    rgb = np.stack([yuv_to_rgb(frame, fmt) for frame in frames])
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous()


class _PairMetric:
    """Shared batching: RGB conversion, device, chunks of ``batch_size`` pairs, progress bar."""

    columns: tuple[str, ...] = ()
    option_set: ClassVar[OptionSet]

    def __init__(self, batch_size: int, device: str, progress: bool) -> None:
        self.batch_size = batch_size
        self.device = choose_device(device, f"{self.columns[0]} options")
        self.progress = progress

    def _score(self, reference: torch.Tensor, distorted: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def compute(self, reference: list[Frame], distorted: list[Frame], fmt: VideoFormat) -> dict[str, list[float]]:
        if len(reference) != len(distorted):
            raise ValueError(f"{len(reference)} reference frames but {len(distorted)} distorted frames")
        values: list[float] = []
        starts = range(0, len(reference), self.batch_size)
        for start in tqdm(starts, desc=self.columns[0], unit="batch", disable=None if self.progress else True, leave=False):
            ref = frames_to_tensor(reference[start : start + self.batch_size], fmt).to(self.device)
            dis = frames_to_tensor(distorted[start : start + self.batch_size], fmt).to(self.device)
            with torch.no_grad():
                values.extend(self._score(ref, dis).reshape(-1).double().cpu().tolist())
        return {self.columns[0]: values}


class LPIPSMetric(_PairMetric):
    """LPIPS v0.1 through the `lpips` package; ``net="alex"`` (default, the papers') or ``"vgg"``."""

    columns = ("lpips",)
    option_set = LPIPS_OPTIONS

    def __init__(self, **options) -> None:
        options = self.option_set.parse(options, "lpips options")
        super().__init__(options["batch_size"], options["device"], options["progress"])
        try:
            self.model = lpips_network(options["net"], options["cache_dir"], options["registry_path"]).to(self.device)
        except AssetError as err:
            raise MetricUnavailable(str(err)) from None

    def _score(self, reference: torch.Tensor, distorted: torch.Tensor) -> torch.Tensor:
        # lpips expects [-1, 1]; the ScalingLayer of v0.1 then applies ImageNet statistics.
        return self.model(reference * 2 - 1, distorted * 2 - 1)


class DISTSMetric(_PairMetric):
    """DISTS with the reference `DISTS_pytorch` forward pass; inputs in [0, 1], no resize."""

    columns = ("dists",)
    option_set = DISTS_OPTIONS

    def __init__(self, **options) -> None:
        options = self.option_set.parse(options, "dists options")
        super().__init__(options["batch_size"], options["device"], options["progress"])
        try:
            self.model = dists_network(options["cache_dir"], options["registry_path"]).to(self.device)
        except AssetError as err:
            raise MetricUnavailable(str(err)) from None

    def _score(self, reference: torch.Tensor, distorted: torch.Tensor) -> torch.Tensor:
        return self.model(reference, distorted)
