"""ColorVideoVDP (Mantiuk et al., SIGGRAPH 2024) from ``cvvdp`` (PyPI, module ``pycvvdp``): a
full-reference video metric built from psychophysical models of spatio-temporal colour vision, in JOD
(just-objectionable differences; 10 = identical, one JOD less = 75 % of observers prefer the other).

It is a *video* metric: it filters over time at the sequence's frame rate, so it yields one value per
sequence (scope "sequence"), computed on all of the sequence's frames at once through pycvvdp's own
array API (``cvvdp.predict``, frames as display-encoded 8-bit sRGB); per-frame difference maps are off.
Only the ``cvvdp`` metric is used, never the ``cvvdp_ml_*`` variants (they download weights); it needs no
network. Torch runs with the threads the process set (``torch.set_num_threads``), on the CPU.

The display model is the ``display`` option. Its default, ``standard_4k`` (a 30-inch 4K SDR monitor,
200 cd/m2 peak, 1000:1, 250 lux office light, seen from 0.75 m = 2 x its height), is the one the
authors make pycvvdp's and its command line's default and describe as the standard viewing of SDR
content; the other choices are pycvvdp's other SDR (sRGB-encoded) display models.
"""

from __future__ import annotations

import numpy as np

from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.spec import Column, FrameLimit, MetricSpec
from vcbench.options import Option, OptionSet
from vcbench.video import Frame, VideoFormat
from vcbench.video.color import yuv_to_srgb8

DEFAULT_DISPLAY = "standard_4k"
#: pycvvdp 0.5.7's display models (vvdp_data/display_models.json) whose input is sRGB-encoded SDR
SDR_DISPLAYS = (
    "standard_4k", "standard_fhd", "standard_phone", "sdr_4k_30", "sdr_fhd_24", "eizo_CG3146", "lg_oled_2017_sdr",
    "ipad_pro_12_9", "macbook_pro_16", "iphone_12_pro", "iphone_14_pro",
)  # fmt: skip
#: pycvvdp's Laplacian pyramid and its 1-pixel-per-degree floor need a few pixels per side
MIN_SIDE = 16


def _model(display: str):
    try:
        import pycvvdp
        import torch
    except ImportError:
        raise MetricUnavailable("cvvdp needs the cvvdp package (ColorVideoVDP); `pip install cvvdp==0.5.7`") from None
    return pycvvdp.cvvdp(display_name=display, heatmap=None, quiet=True, device=torch.device("cpu"))


def _jod(model, reference, distorted, fps: float) -> float:
    """JOD of uint8 sRGB arrays or tensors F x H x W x 3 (a video at ``fps``) or H x W x 3 (an image, fps 0)."""
    import torch

    dims = "FHWC" if reference.ndim == 4 else "HWC"
    with torch.no_grad():
        jod, _ = model.predict(distorted, reference, dim_order=dims, frames_per_second=fps)
    return float(jod)


def cvvdp(reference: np.ndarray, distorted: np.ndarray, display: str = DEFAULT_DISPLAY) -> dict[str, float]:
    """ColorVideoVDP of two sRGB uint8 H x W x 3 images, as pycvvdp scores an image pair (JOD)."""
    if reference.shape != distorted.shape or reference.ndim != 3 or reference.shape[2] != 3:
        raise ValueError(f"ColorVideoVDP needs two H x W x 3 images of one size, got {reference.shape} and {distorted.shape}")
    if reference.dtype != np.uint8 or distorted.dtype != np.uint8:
        raise ValueError("ColorVideoVDP here takes 8-bit sRGB images (uint8)")
    return {"cvvdp": _jod(_model(display), reference, distorted, 0.0)}


SPEC = MetricSpec(
    "cvvdp", (Column("cvvdp", "higher", 0.05, unit="JOD"),), "sequence", "vcbench.metrics.cvvdp:ColorVideoVDP",
    "ColorVideoVDP: pycvvdp 0.5.7's cvvdp on the whole sequence at its frame rate (one value per sequence, in JOD, 10 = "
    "identical), frames converted from the Y4M's YUV to 8-bit sRGB (BT.709, the header's range, chroma upsampled), "
    "display model standard_4k (30-inch 4K SDR, 200 cd/m2, 250 lux, 0.75 m: the authors' default) unless the cvvdp "
    "option display names another; no per-frame maps.",
    options=OptionSet(
        Option("display", str, DEFAULT_DISPLAY, "pycvvdp display model the video is seen on (SDR models only)",
               choices=SDR_DISPLAYS),
    ),
    smallest_frame=FrameLimit(min_side=MIN_SIDE, why="ColorVideoVDP's contrast pyramid"),
)


class ColorVideoVDP:
    """ColorVideoVDP of a whole sequence (a `SequenceMetric`): one JOD for all frames, at ``fmt``'s frame rate."""

    columns = SPEC.column_names
    option_set = SPEC.options

    def __init__(self, **options):
        self.options = self.option_set.parse(options, "cvvdp options")
        self._model = _model(self.options["display"])

    def compute_sequence(self, reference: list[Frame], distorted: list[Frame], fmt: VideoFormat) -> dict[str, float]:
        if SPEC.too_small(fmt.width, fmt.height):
            raise MetricUnavailable(SPEC.too_small(fmt.width, fmt.height))
        import torch

        # handed over as tensors on the stacked arrays: pycvvdp copies a numpy array into a tensor, and each frame's
        # sRGB image (yuv_to_srgb8's, shared with the frame metrics) is held already
        ref = torch.from_numpy(np.stack([yuv_to_srgb8(frame, fmt) for frame in reference]))
        dist = torch.from_numpy(np.stack([yuv_to_srgb8(frame, fmt) for frame in distorted]))
        # one frame is an image to pycvvdp (it refuses a frame rate for it)
        if len(ref) == 1:
            return {"cvvdp": _jod(self._model, ref[0], dist[0], 0.0)}
        return {"cvvdp": _jod(self._model, ref, dist, fmt.fps)}
