"""Pretrained weights of the learned metrics: located and verified through the asset registry.

Checking costs no torch import, so a metric whose weights are absent fails fast and cheaply (a
FID feature job without the Inception weights only counts patches).
"""

from __future__ import annotations

import os

from vcbench.assets import AssetError
from vcbench.metrics.base import MetricUnavailable


def load_weights(asset: str, cache_dir: str | os.PathLike | None, registry_path: str | os.PathLike | None) -> dict:
    """The state dict of a verified asset; MetricUnavailable (reason + fix) when it is missing."""
    from vcbench.perceptual.nets import load_state  # torch, only once the weights are wanted

    try:
        return load_state(asset, cache_dir, registry_path)
    except AssetError as err:
        raise MetricUnavailable(str(err)) from None
