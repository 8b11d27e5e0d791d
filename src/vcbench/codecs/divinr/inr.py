"""The per-GOP implicit neural representation: frame index -> backbone latent (NeRV/HNeRV-like).

A NeRV positional embedding of the normalised frame index feeds an MLP whose output is reshaped
to a coarse grid; nearest x2 up-sampling stages with 3x3 convolutions grow it to the latent grid
and a last 3x3 convolution gives the latent channels. ``width`` is the rate knob: the MLP hidden
size and every channel count grow with it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

PE_BASE = 1.6  # NeRV's b (1.25 at 80 frequencies); fewer, faster-growing frequencies suit GOPs of <= 64 frames
PE_FREQUENCIES = 12


def upsampling_stages(latent_height: int, latent_width: int, max_stages: int = 3) -> int:
    """As many x2 stages as keep the coarse grid at least 2 cells on its short side."""
    stages = 0
    while stages < max_stages and min(latent_height, latent_width) / 2 ** (stages + 1) >= 2:
        stages += 1
    return stages


class FrameInr(nn.Module):
    """Maps frame indices (F,) of a GOP of ``frames`` frames to latents (F, channels, height, width)."""

    def __init__(self, frames: int, channels: int, height: int, width: int, hidden: int, stages: int):
        super().__init__()
        self.frames, self.out_shape, self.stages = frames, (channels, height, width), stages
        self.grid = (math.ceil(height / 2**stages), math.ceil(width / 2**stages))
        self.hidden = hidden
        self.mlp = nn.Sequential(
            nn.Linear(2 * PE_FREQUENCIES, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden * self.grid[0] * self.grid[1]),
            nn.GELU(),
        )
        self.ups = nn.ModuleList(nn.Conv2d(hidden, hidden, 3, padding=1) for _ in range(stages))
        self.head = nn.Conv2d(hidden, channels, 3, padding=1)

    def embed(self, index: torch.Tensor) -> torch.Tensor:
        t = index.float() / max(self.frames - 1, 1)
        freqs = PE_BASE ** torch.arange(PE_FREQUENCIES, device=index.device, dtype=torch.float32) * math.pi
        angles = t[:, None] * freqs[None]
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        x = self.mlp(self.embed(index)).reshape(-1, self.hidden, *self.grid)
        for conv in self.ups:
            x = nn.functional.gelu(conv(nn.functional.interpolate(x, scale_factor=2, mode="nearest")))
        channels, height, width = self.out_shape
        return self.head(x)[:, :, :height, :width]
