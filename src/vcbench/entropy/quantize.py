"""Uniform scalar quantisation with a per-tensor step, its straight-through version for
quantisation-aware training (rounding in the forward pass, identity gradient), and what the
encoders that send their weights share: training at the rounded weights, and the weights' bits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from vcbench.entropy.laplace import MIN_SCALE, laplace_bits


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
    tensors = [p for _, p in named]
    if tensors and all(t.device.type == "cpu" for t in tensors):
        return _cpu_estimated_bits(tensors, list(quant_steps))
    return sum(laplace_bits(p / step) for p, step in zip(tensors, quant_steps))


def _cpu_estimated_bits(tensors: list[torch.Tensor], quant_steps: list[float]) -> torch.Tensor:
    """``sum(laplace_bits(p / step))``, bit for bit in value and gradient, on the CPU.

    An encoder calls it every iteration on dozens of small tensors, where one op per tensor at a
    time cost a sixth of an INR codec's iteration, nearly all of it per-op overhead. So the same ops as
    :func:`~vcbench.entropy.laplace.laplace_bits` and torch's ``Laplace.cdf`` (zero mean, the
    tensor's detached mean magnitude as scale) run here as multi-tensor ``torch._foreach_*`` calls,
    which on the CPU apply the per-tensor kernels (and their derivatives) tensor by tensor: the
    arithmetic, and so what is coded, is unchanged (tests/test_estimated_bits.py holds it to
    laplace_bits). On CUDA, torch fuses them into kernels of its own, which need not round alike."""
    scaled = torch._foreach_div(tensors, quant_steps)
    with torch.no_grad():
        scales = torch._foreach_clamp_min([s.abs().mean() for s in scaled], MIN_SCALE)
    zeros = [torch.zeros(()) for _ in scaled]  # the Laplace's loc

    def cdf(values: list[torch.Tensor]) -> list[torch.Tensor]:
        signs = torch._foreach_mul(torch._foreach_sign(torch._foreach_sub(values, zeros)), 0.5)
        decays = torch._foreach_expm1(torch._foreach_div(torch._foreach_neg(torch._foreach_abs(torch._foreach_sub(values, zeros))), scales))
        return torch._foreach_add(torch._foreach_neg(torch._foreach_mul(signs, decays)), 0.5)  # 0.5 - x, exactly

    upper, lower = cdf(torch._foreach_add(scaled, 0.5)), cdf(torch._foreach_sub(scaled, 0.5))
    logs = torch._foreach_log2(torch._foreach_clamp_min(torch._foreach_sub(upper, lower), 1e-9))
    return sum(-log.sum() for log in logs)
