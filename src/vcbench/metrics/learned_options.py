"""The options of the learned metrics (LPIPS, DISTS), declared once and torch-free, so that the
command line and the workflow check them without loading the networks (see metrics/learned.py)."""

from __future__ import annotations

from vcbench.options import Option, OptionSet

LPIPS_NETS: dict[str, tuple[str, str]] = {
    # net -> (torchvision trunk asset, LPIPS linear-layer asset)
    "alex": ("torchvision-alexnet", "lpips-alex-v0.1"),
    "vgg": ("torchvision-vgg16", "lpips-vgg-v0.1"),
}
# DISTS' VGG16 trunk and its alpha/beta (the workflow reads which assets a metric needs from here).
DISTS_ASSETS: tuple[str, str] = ("torchvision-vgg16", "dists-alpha-beta")


def _shared(batch_size: int) -> tuple[Option, ...]:
    return (
        Option("cache_dir", str, None, "TORCH_HOME-style folder of the verified weights (default: $VCBENCH_ASSETS_DIR, "
                                       "$TORCH_HOME, ~/.cache/torch)"),
        Option("registry_path", str, None, "asset registry YAML to verify the weights against (default: vcbench's)"),
        Option("batch_size", int, batch_size, "frame pairs per forward pass", minimum=1),
        Option("device", str, "auto", "auto (CUDA when present, else the CPU), cpu or cuda", choices=("auto", "cpu", "cuda")),
        Option("progress", bool, True, "show a progress bar"),
    )


LPIPS_OPTIONS = OptionSet(
    Option("net", str, "alex", "LPIPS v0.1 trunk: alex (the papers') or vgg", choices=tuple(LPIPS_NETS)),
    *_shared(batch_size=4),
)

# VGG16 keeps full-resolution 64-channel maps of both images: ~1 GB per 1080p pair.
DISTS_OPTIONS = OptionSet(*_shared(batch_size=1))
