"""LPIPS and DISTS as frame metrics, with the reference packages' semantics and our verified weights.

Conventions (README): RGB from YUV by BT.709 with chroma upsampled and the range the source
states (`vcbench.video.yuv_to_rgb`), full resolution, one value per frame. LPIPS is the `lpips`
package's module (AlexNet v0.1 by default) fed [-1, 1]; DISTS is `DISTS_pytorch`'s forward pass
fed [0, 1], without any resize. The networks are built with random initialisation
(weights=None / pnet_rand) and then loaded from the verified asset cache: nothing downloads here.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import torch
from tqdm import tqdm

from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.learned_options import DISTS_ASSETS, DISTS_OPTIONS, LPIPS_NETS, LPIPS_OPTIONS
from vcbench.metrics.weights import load_weights
from vcbench.options import OptionSet
from vcbench.tools.device import choose_device
from vcbench.video import Frame, VideoFormat, yuv_to_rgb


def frames_to_tensor(frames: list[Frame], fmt: VideoFormat) -> torch.Tensor:
    """N x 3 x H x W float32 RGB in [0, 1] (BT.709, range per ``fmt``)."""
    rgb = np.stack([yuv_to_rgb(frame, fmt) for frame in frames])
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous()


def _trunk_state(trunk: torch.nn.Module, features_state: dict) -> dict:
    """Map torchvision's `features.<i>.<param>` keys onto lpips' sliced trunk (`slice<k>.<i>.<param>`).

    lpips keeps torchvision's layer index as the module name inside each slice.
    """
    mapped = {}
    for key in trunk.state_dict():
        _, index, param = key.split(".", 2)
        mapped[key] = features_state[f"features.{index}.{param}"]
    return mapped


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
        for start in tqdm(starts, desc=self.columns[0], unit="batch", disable=not self.progress, leave=False):
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
        net, cache_dir, registry_path = options["net"], options["cache_dir"], options["registry_path"]
        trunk_asset, linear_asset = LPIPS_NETS[net]
        trunk_state = load_weights(trunk_asset, cache_dir, registry_path)
        linear_state = load_weights(linear_asset, cache_dir, registry_path)
        import lpips  # after the weights are found: a score job without them skips this import

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision's deprecation notice for pretrained=False
            model = lpips.LPIPS(pretrained=False, net=net, version="0.1", pnet_rand=True, verbose=False)
        model.net.load_state_dict(_trunk_state(model.net, trunk_state))
        # `lins.<k>` alias `lin<k>`; the file holds exactly the `lin<k>` layers.
        linear_keys = {key for key in model.state_dict() if key.startswith("lin") and not key.startswith("lins.")}
        if set(linear_state) != linear_keys:
            raise MetricUnavailable(f"the {linear_asset} weights do not fit lpips' {net} model")
        model.load_state_dict(linear_state, strict=False)
        self.model = model.eval().to(self.device)

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
        vgg_state, alpha_beta = (load_weights(asset, options["cache_dir"], options["registry_path"]) for asset in DISTS_ASSETS)
        import torchvision  # after the weights are found, as for LPIPS

        vgg = torchvision.models.vgg16(weights=None)
        vgg.load_state_dict(vgg_state)
        self.model = _build_dists(vgg.features, alpha_beta).eval().to(self.device)

    def _score(self, reference: torch.Tensor, distorted: torch.Tensor) -> torch.Tensor:
        return self.model(reference, distorted)


def _build_dists(vgg_features: torch.nn.Sequential, alpha_beta: dict) -> torch.nn.Module:
    """A `DISTS_pytorch.DISTS` whose VGG trunk and alpha/beta are ours.

    The reference constructor always calls `vgg16(pretrained=True)` (a download), so we build the
    module without it, with the same stage layout, and reuse the reference class's forward.
    """
    from DISTS_pytorch.DISTS_pt import DISTS, L2pooling

    model = DISTS.__new__(DISTS)
    torch.nn.Module.__init__(model)
    stage_layers = {1: range(0, 4), 2: range(5, 9), 3: range(10, 16), 4: range(17, 23), 5: range(24, 30)}
    pooled_channels = {2: (4, 64), 3: (9, 128), 4: (16, 256), 5: (23, 512)}
    for stage, layers in stage_layers.items():
        sequential = torch.nn.Sequential()
        if stage in pooled_channels:
            index, channels = pooled_channels[stage]
            sequential.add_module(str(index), L2pooling(channels=channels))
        for index in layers:
            sequential.add_module(str(index), vgg_features[index])
        setattr(model, f"stage{stage}", sequential)
    model.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, -1, 1, 1))
    model.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, -1, 1, 1))
    model.chns = [3, 64, 128, 256, 512, 512]
    model.register_parameter("alpha", torch.nn.Parameter(alpha_beta["alpha"].float()))
    model.register_parameter("beta", torch.nn.Parameter(alpha_beta["beta"].float()))
    model.requires_grad_(False)
    return model
