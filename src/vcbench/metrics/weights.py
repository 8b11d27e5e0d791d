"""Pretrained weights of the learned metrics: located and verified through the asset registry.

Checking costs no torch import, so a metric whose weights are absent fails fast and cheaply (a
FID feature job without the Inception weights only counts patches).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from vcbench.assets import AssetError, require
from vcbench.metrics.base import MetricUnavailable

if TYPE_CHECKING:
    pass


def require_weights(asset: str, cache_dir: str | os.PathLike | None, registry_path: str | os.PathLike | None) -> Path:
    """The verified path of ``asset``; MetricUnavailable (reason + fix) when it is missing."""
    try:
        return require(asset, cache_dir=cache_dir, registry_path=registry_path)
    except AssetError as err:
        raise MetricUnavailable(str(err)) from None


def load_weights(asset: str, cache_dir: str | os.PathLike | None, registry_path: str | os.PathLike | None) -> dict:
    """The state dict of a verified asset; MetricUnavailable (reason + fix) when it is missing."""
    path = require_weights(asset, cache_dir, registry_path)
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)

