"""A backbone's ceiling: what its VAE alone loses (encode to the posterior's mode, decode), the
best any latent-diffusion codec on it can do whatever its rate. Scored by the caller's scorer (the
command gives the report's own metrics: PSNR-YUV, MS-SSIM, VMAF) plus PSNR over 8-bit BT.709 RGB
(the VAE's own space); diffusion/ never imports metrics/."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vcbench.diffusion.backbone import Backbone
from vcbench.diffusion.frames import pad_to_multiple, read_rgb, to_frames
from vcbench.video import Y4MWriter

#: score(source, reconstruction) -> mean metric values over the reconstruction's frames
Scorer = Callable[[Path, Path], dict[str, float]]


def rgb_psnr(reference: torch.Tensor, decoded: torch.Tensor) -> float:
    """PSNR over 8-bit RGB of two (F, 3, H, W) tensors in [-1, 1], pooled over all frames."""
    def to_8bit(x: torch.Tensor) -> np.ndarray:
        return np.round((x.clamp(-1, 1).numpy().astype(np.float64) + 1) * 127.5)

    mse = float(np.mean((to_8bit(reference) - to_8bit(decoded)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@torch.inference_mode()
def round_trip(backbone: Backbone, source: Path, frames: int, score: Scorer, progress: bool = True) -> dict[str, float]:
    """The VAE round trip of the first ``frames`` frames of ``source``: mean metric values."""
    fmt, rgb = read_rgb(source, frames)
    padded = pad_to_multiple(rgb, backbone.downscale)
    decoded = []
    for chunk in tqdm(padded.split(4), desc=f"VAE round trip {source.name}", unit="chunk", disable=None if progress else True):
        decoded.append(backbone.decode_latents(backbone.encode_frames(chunk)).cpu())
    decoded_rgb = torch.cat(decoded)[:, :, : fmt.height, : fmt.width]
    with tempfile.TemporaryDirectory(prefix="vcbench-ceiling-") as scratch:
        reconstruction = Path(scratch) / "round_trip.y4m"
        with Y4MWriter(reconstruction, fmt) as writer:
            for frame in to_frames(decoded_rgb, fmt):
                writer.write(frame)
        scores = score(source, reconstruction)
    return {"frames": rgb.shape[0], "psnr_rgb": rgb_psnr(rgb, decoded_rgb), **scores}
