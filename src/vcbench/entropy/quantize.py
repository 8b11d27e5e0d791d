"""Uniform scalar quantisation with a per-tensor step, its straight-through version for
quantisation-aware training (rounding in the forward pass, identity gradient), and what the
encoders that send their weights share: training at the rounded weights, and the weights' bits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from vcbench.entropy.laplace import laplace_bits


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


@contextlib.contextmanager
def quantised_weights(named: Sequence[tuple[str, torch.nn.Parameter]], quant_steps: Sequence[float]) -> Iterator[None]:
    """Forward/backward at the rounded weights; the optimiser then updates the saved originals."""
    originals = [p.detach().clone() for _, p in named]
    with torch.no_grad():
        for (_, p), step in zip(named, quant_steps):
            p.copy_(torch.round(p / step) * step)
    try:
        yield
    finally:
        with torch.no_grad():
            for (_, p), original in zip(named, originals):
                p.copy_(original)


def estimated_bits(named: Sequence[tuple[str, torch.nn.Parameter]], quant_steps: Sequence[float]) -> torch.Tensor:
    """The differentiable estimate of what the weights ``named`` cost at ``quant_steps``."""
    return sum(laplace_bits(p / step) for (_, p), step in zip(named, quant_steps))
