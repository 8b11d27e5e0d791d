"""Uniform scalar quantisation with a per-tensor step, and its straight-through version for
quantisation-aware training (rounding in the forward pass, identity gradient)."""

from __future__ import annotations

import numpy as np
import torch


def quantize(values: torch.Tensor, step: float) -> np.ndarray:
    """Integer symbols round(values / step) as int32 (what the entropy coder receives)."""
    return torch.round(values.detach().float().cpu() / step).to(torch.int32).numpy().reshape(-1)


def dequantize(symbols: np.ndarray, step: float, shape: tuple[int, ...]) -> torch.Tensor:
    """Reconstruction symbols * step in float32, reshaped to ``shape``."""
    return (torch.from_numpy(symbols.astype(np.float32)) * np.float32(step)).reshape(shape)


def quantize_ste(values: torch.Tensor, step: float | torch.Tensor) -> torch.Tensor:
    """round(values / step) * step in the forward pass, identity in the backward pass."""
    scaled = values / step
    return (scaled + (torch.round(scaled) - scaled).detach()) * step
