"""The encoders' rate term: the multi-tensor ``estimated_bits`` is ``sum(laplace_bits(p / step))`` bit for bit,
in its value and in the gradient it sends every tensor (what the optimisation, and so the bitstream, depends on)."""

from __future__ import annotations

import torch

from vcbench.entropy import estimated_bits, laplace_bits


def _named() -> list[tuple[str, torch.nn.Parameter]]:
    # an INR's and LoRA adapters' shapes, odd sizes (vector kernels' tails), all-zero tensors (LoRA B at the start)
    generator = torch.Generator().manual_seed(3)
    shapes = [(20, 24), (20,), (800, 20), (20, 20, 3, 3), (16, 20, 3, 3), (32, 2, 1, 1), (16, 2), (7,), (33,), (1,), (1000,)]
    return [(f"t{i}", torch.nn.Parameter(torch.randn(shape, generator=generator) * 0.1 * (i % 3)))
            for i, shape in enumerate(shapes)]


def _value_and_gradients(named, bits) -> tuple[torch.Tensor, list[torch.Tensor]]:
    for _, p in named:
        p.grad = None
    value = bits()
    (value / 12345.0).backward()
    return value.detach(), [p.grad for _, p in named]


def test_estimated_bits_is_the_sum_of_laplace_bits_bit_for_bit() -> None:
    named = _named()
    steps = [0.013 * (i + 1) for i in range(len(named))]
    reference, reference_grads = _value_and_gradients(named, lambda: sum(laplace_bits(p / s) for (_, p), s in zip(named, steps)))
    value, grads = _value_and_gradients(named, lambda: estimated_bits(named, steps))
    assert torch.equal(value, reference)
    for got, expected in zip(grads, reference_grads):
        assert torch.equal(got.view(torch.int32), expected.view(torch.int32))  # the signs of zeros too
