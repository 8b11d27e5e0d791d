"""LPIPS and DISTS as torch modules, with the reference packages' layers and our verified weights.

The networks are built with random initialisation (weights=None / pnet_rand) and then loaded from
the verified asset cache: nothing downloads here. A missing or unverified asset is an `AssetError`
naming it and the fix.
"""

from __future__ import annotations

import os
import warnings

import torch

from vcbench.assets import AssetError, require
from vcbench.perceptual import DISTS_ASSETS, LPIPS_NETS

PathLike = str | os.PathLike | None


def load_state(asset: str, cache_dir: PathLike, registry_path: PathLike) -> dict:
    """The state dict of a verified asset (AssetError with the fix when it is missing)."""
    return torch.load(require(asset, cache_dir=cache_dir, registry_path=registry_path), map_location="cpu", weights_only=True)


def lpips_network(net: str, cache_dir: PathLike = None, registry_path: PathLike = None) -> torch.nn.Module:
    """The `lpips` package's LPIPS v0.1 (``net`` alex or vgg), in eval mode; it takes RGB in [-1, 1]."""
    trunk_asset, linear_asset = LPIPS_NETS[net]
    trunk_state = load_state(trunk_asset, cache_dir, registry_path)
    linear_state = load_state(linear_asset, cache_dir, registry_path)
    import lpips  # after the weights are found: a job without them skips this import

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's deprecation notice for pretrained=False
        model = lpips.LPIPS(pretrained=False, net=net, version="0.1", pnet_rand=True, verbose=False)
    model.net.load_state_dict(_trunk_state(model.net, trunk_state))
    # `lins.<k>` alias `lin<k>`; the file holds exactly the `lin<k>` layers.
    linear_keys = {key for key in model.state_dict() if key.startswith("lin") and not key.startswith("lins.")}
    if set(linear_state) != linear_keys:
        raise AssetError(f"the {linear_asset} weights do not fit lpips' {net} model")
    model.load_state_dict(linear_state, strict=False)
    return model.eval()


def _trunk_state(trunk: torch.nn.Module, features_state: dict) -> dict:
    """Map torchvision's `features.<i>.<param>` keys onto lpips' sliced trunk (`slice<k>.<i>.<param>`).

    lpips keeps torchvision's layer index as the module name inside each slice.
    """
    mapped = {}
    for key in trunk.state_dict():
        _, index, param = key.split(".", 2)
        mapped[key] = features_state[f"features.{index}.{param}"]
    return mapped


def dists_network(cache_dir: PathLike = None, registry_path: PathLike = None) -> torch.nn.Module:
    """DISTS with the reference `DISTS_pytorch` forward pass, in eval mode, no gradients to its weights;
    it takes RGB in [0, 1], without any resize."""
    vgg_state, alpha_beta = (load_state(asset, cache_dir, registry_path) for asset in DISTS_ASSETS)
    import torchvision  # after the weights are found, as for LPIPS

    vgg = torchvision.models.vgg16(weights=None)
    vgg.load_state_dict(vgg_state)
    return _build_dists(vgg.features, alpha_beta).eval()


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
