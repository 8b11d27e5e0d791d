"""Quantisation and entropy coding of tensors: exact round trips and honest bit estimates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vcbench.entropy import decode_tensors, dequantize, encode_tensors, laplace_bits, quantize, quantize_ste
from vcbench.errors import BitstreamError


def _laplace_symbols(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    return np.round(rng.laplace(0.0, scale, size)).astype(np.int32)


def test_round_trip_mixed_tensors() -> None:
    rng = np.random.default_rng(1)
    tensors = [_laplace_symbols(rng, 500, 3.0), np.zeros(40, np.int32), _laplace_symbols(rng, 7, 0.2), np.array([], np.int32),
               np.array([300, -300, 0], np.int32)]
    data = encode_tensors(tensors)
    decoded = decode_tensors(data, [t.size for t in tensors])
    for original, back in zip(tensors, decoded):
        np.testing.assert_array_equal(original, back)


def test_all_zero_tensor_costs_only_its_header() -> None:
    assert len(encode_tensors([np.zeros(10_000, np.int32)])) == 2


def test_coded_size_matches_the_differentiable_estimate() -> None:
    rng = np.random.default_rng(2)
    symbols = _laplace_symbols(rng, 20_000, 2.5)
    coded_bits = 8 * len(encode_tensors([symbols]))
    estimate = float(laplace_bits(torch.from_numpy(symbols.astype(np.float32))))
    # per-tensor side information and ANS word padding are the only overheads
    assert estimate <= coded_bits <= estimate * 1.02 + 96
    # and a wider distribution costs more
    assert len(encode_tensors([_laplace_symbols(rng, 20_000, 10.0)])) > coded_bits / 8


def test_quantise_dequantise_and_straight_through_gradient() -> None:
    values = torch.tensor([0.26, -0.74, 1.01], requires_grad=True)
    symbols = quantize(values, 0.5)
    np.testing.assert_array_equal(symbols, [1, -1, 2])
    torch.testing.assert_close(dequantize(symbols, 0.5, (3,)), torch.tensor([0.5, -0.5, 1.0]))
    out = quantize_ste(values, 0.5)
    torch.testing.assert_close(out.detach(), torch.tensor([0.5, -0.5, 1.0]))
    out.sum().backward()
    torch.testing.assert_close(values.grad, torch.ones(3))


def test_truncated_side_information_is_an_error() -> None:
    with pytest.raises(BitstreamError, match="truncated"):
        decode_tensors(b"\x05", [10])


def test_magnitudes_beyond_the_header_range_are_refused() -> None:
    with pytest.raises(ValueError, match="larger quantisation step"):
        encode_tensors([np.array([70_000], np.int32)])


def test_an_ans_stream_no_encoder_wrote_is_a_bitstream_error() -> None:
    with pytest.raises(BitstreamError, match="entropy-coded payload is invalid"):
        decode_tensors(b"\x05\x00\x00\x3c" + b"\x00" * 4, [1000])  # max_abs 5, scale 1.0, then a zero word: never ends so
