"""Exact evaluation of small convolutional networks: the same output, bit for bit, on every machine.

Why: when a network predicts an entropy model's parameters (the scale that picks a Gaussian's
probability table, the mean that symbols are coded around), the decoder must compute exactly what
the encoder did, or it reads other symbols from the same bytes. Float arithmetic does not promise
that: float32 on another GPU, CPU or thread count sums in another order, and even float64 on the
CPU only shrinks the difference (BLAS's blocking and SIMD paths vary with the CPU and the threads).

Here nothing inside a layer is rounded at all. Values are dyadic fixed point carried in float64 on
the CPU:

* activations are multiples of ``2**-FRACTION_BITS``, clamped to ``+-2**MAGNITUDE_BITS`` (far above
  what the trained networks reach; the clamp only bounds the sums below);
* each convolution's weights and bias are rounded to a grid ``2**-w``, ``w`` chosen per layer so
  that every partial sum of its products, in any order, is a multiple of ``2**-(FRACTION_BITS + w)``
  below ``2**53`` in magnitude: float64 holds each one exactly, so every multiplication and
  addition is exact and the result does not depend on the order (threads, BLAS, CPU model). Only
  direct and GEMM convolutions qualify (no Winograd or FFT: torch has none for float64 on the CPU);
* a layer's output is rounded back to the activation grid (exact), LeakyReLU's product is one
  IEEE multiplication (correctly rounded, so the same everywhere) rounded back to the grid too.

The weights stay as trained; their grids (2**-17 to 2**-21 for the committed model of models/; a layer that
would get coarser than 2**-10 is refused) and the activations' move the outputs by about 1e-5,
far below a quantiser's step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

FRACTION_BITS = 16
MAGNITUDE_BITS = 10
GRID = 2.0**FRACTION_BITS
_MANTISSA_BITS = 53
_MIN_WEIGHT_BITS = 10  # a layer that would leave its weights coarser than this is refused


def to_grid(values: torch.Tensor) -> torch.Tensor:
    """Float64 values on the CPU rounded to the activation grid and clamped to its range (exact)."""
    limit = 2.0**MAGNITUDE_BITS
    return torch.round(values.to(device="cpu", dtype=torch.float64) * GRID).div_(GRID).clamp_(-limit, limit)


def grid_value(value: float) -> float:
    """One number on the activation grid (Python float arithmetic: what math.* computes, rounded)."""
    return round(value * GRID) / GRID


class _ExactConv:
    """A Conv2d or ConvTranspose2d with its weights on a grid fine enough and coarse enough to be exact."""

    def __init__(self, layer: nn.Conv2d | nn.ConvTranspose2d):
        if layer.groups != 1 or layer.dilation != (1, 1) or layer.padding_mode != "zeros":
            raise TypeError(f"{layer}: only plain convolutions are evaluated exactly")
        weight = layer.weight.detach().to(device="cpu", dtype=torch.float64)
        bias = layer.bias.detach().to(device="cpu", dtype=torch.float64) if layer.bias is not None else None
        terms = layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]  # at most this many products per output
        bound = terms * 2.0**MAGNITUDE_BITS * float(weight.abs().max()) + (float(bias.abs().max()) if bias is not None else 0.0)
        bits = _MANTISSA_BITS - 1 - FRACTION_BITS - math.ceil(math.log2(max(bound, 1.0)))
        if bits < _MIN_WEIGHT_BITS:
            raise ValueError(f"{layer}: too wide or its weights too large to evaluate exactly in float64 ({bits} weight bits)")
        scale = 2.0**bits
        self.weight = torch.round(weight * scale) / scale
        self.bias = None if bias is None else torch.round(bias * (scale * GRID)) / (scale * GRID)
        self.transposed = isinstance(layer, nn.ConvTranspose2d)
        self.stride, self.padding = layer.stride, layer.padding
        self.output_padding = layer.output_padding if self.transposed else None

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            out = nn.functional.conv_transpose2d(values, self.weight, self.bias, self.stride, self.padding, self.output_padding)
        else:
            out = nn.functional.conv2d(values, self.weight, self.bias, self.stride, self.padding)
        return to_grid(out)


class _ExactLeakyReLU:
    def __init__(self, layer: nn.LeakyReLU):
        self.slope = float(layer.negative_slope)

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        return to_grid(torch.where(values >= 0, values, values * self.slope))


class ExactNet:
    """An exact copy of a network of convolutions and LeakyReLUs (a Sequential or one layer):
    float64 CPU tensors in (put on the activation grid and clamped first), grid values out."""

    def __init__(self, module: nn.Module):
        layers = list(module) if isinstance(module, nn.Sequential) else [module]
        self.steps = []
        for layer in layers:
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                self.steps.append(_ExactConv(layer))
            elif isinstance(layer, nn.LeakyReLU):
                self.steps.append(_ExactLeakyReLU(layer))
            else:
                raise TypeError(f"{type(layer).__name__}: no exact evaluation for this layer")

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        if values.dtype != torch.float64 or values.device.type != "cpu":
            raise ValueError("exact evaluation takes float64 CPU tensors (to_grid)")
        values = to_grid(values)
        for step in self.steps:
            values = step(values)
        return values
