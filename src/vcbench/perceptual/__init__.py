"""The perceptual networks (LPIPS, DISTS) built from verified weights: one place that both the learned
metrics (`metrics/learned.py`) and the codecs' training losses (a DISTS term) use, so that codecs
never reach into metrics/. This module is torch-free (which assets each network needs, read by the
metric declarations and the workflow); `perceptual.nets` builds the networks."""

from __future__ import annotations

LPIPS_NETS: dict[str, tuple[str, str]] = {
    # net -> (torchvision trunk asset, LPIPS linear-layer asset)
    "alex": ("torchvision-alexnet", "lpips-alex-v0.1"),
    "vgg": ("torchvision-vgg16", "lpips-vgg-v0.1"),
}
# DISTS' VGG16 trunk and its alpha/beta
DISTS_ASSETS: tuple[str, str] = ("torchvision-vgg16", "dists-alpha-beta")
