"""The declarations of the learned metrics (LPIPS, DISTS, FID/KID), torch-free, so that the command line and
the workflow check their options and find their weights without loading the networks (see
metrics/learned.py)."""

from __future__ import annotations

from vcbench.metrics.spec import Column, MetricSpec
from vcbench.options import Option, OptionSet
from vcbench.perceptual import DISTS_ASSETS, LPIPS_NETS

# FID's Inception network (metrics/fid.py)
INCEPTION_ASSET = "fid-inception-2015-12-05"


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

_RGB = "RGB (BT.709, chroma upsampled, the range the source states, video/color.py)"

LPIPS = MetricSpec(
    "lpips", (Column("lpips", "lower", 1e-3),), "frame", "vcbench.metrics.learned:LPIPSMetric",
    f"LPIPS: the lpips package's v0.1 (AlexNet, or VGG with option net=vgg) on {_RGB} in [-1, 1] at full resolution, "
    "per frame, averaged over frames.",
    options=LPIPS_OPTIONS, assets=lambda options: LPIPS_NETS[options["net"]],
)
DISTS = MetricSpec(
    "dists", (Column("dists", "lower", 1e-3),), "frame", "vcbench.metrics.learned:DISTSMetric",
    f"DISTS: the reference DISTS_pytorch forward pass on {_RGB} in [0, 1], without resizing, per frame, averaged over frames.",
    options=DISTS_OPTIONS, assets=lambda options: DISTS_ASSETS,
)

FID = MetricSpec(
    "fid", (Column("fid", "lower"), Column("kid", "lower")), "pooled", None,
    "FID and KID: Inception features of 256x256 patches of 8-bit RGB (BT.709, the source's range) pooled over a dataset per "
    "codec and rate point, against the sources' patches; their BD rows (sequence mean) are computed on that pooled curve "
    "with the mean bpp of the dataset's sequences as rate. Below 2048 patches (the feature dimension) FID is biased: see "
    "the warning column.",
    assets=lambda options: (INCEPTION_ASSET,),
)
