"""Between Y4M frames and a backbone's pixel space: RGB in [-1, 1] (BT.709, the range the source
states), padded by edge replication to what the VAE and denoiser divide evenly, and back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vcbench.video import Frame, VideoFormat, Y4MReader, rgb_to_yuv, yuv_to_rgb


def read_rgb(source: Path, frames: int | None = None) -> tuple[VideoFormat, torch.Tensor]:
    """The format and the first ``frames`` frames (all if None) of ``source`` as (F, 3, H, W) in [-1, 1]."""
    with Y4MReader(source) as reader:
        fmt = reader.format
        rgb = [yuv_to_rgb(frame, fmt) for frame in reader.frames(limit=frames)]
    return fmt, torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2) * 2 - 1


def pad_to_multiple(rgb: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom and right edges by replication to multiples of ``multiple``."""
    height, width = rgb.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    return torch.nn.functional.pad(rgb, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else rgb


def to_frames(rgb: torch.Tensor, fmt: VideoFormat) -> list[Frame]:
    """(F, 3, H', W') in [-1, 1], cropped to ``fmt``'s size, as 4:2:0 frames of ``fmt``."""
    images = ((rgb[:, :, : fmt.height, : fmt.width] + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return [rgb_to_yuv(np.ascontiguousarray(image), fmt) for image in images]
