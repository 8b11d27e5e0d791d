"""Entropy coding of integer tensors with per-tensor quantised Laplace models (constriction ANS).

Wire format of :func:`encode_tensors` (little endian), for tensors whose sizes the reader knows:

    per tensor:  u16 max_abs | f16 scale (only when max_abs > 0)
    then:        the ANS stream as u32 words, to the end of the buffer

A tensor whose symbols are all zero costs two bytes and no symbols. The scale is rounded to
float16 before coding so that encoder and decoder use the identical model.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import constriction
import numpy as np
import torch

from vcbench.errors import BitstreamError

MIN_SCALE = 0.05  # below this the Laplace model is numerically degenerate; coding cost is ~0 anyway
_MAX_ABS = 65535


@dataclass(frozen=True)
class TensorHeader:
    """What the decoder needs to rebuild one tensor's symbol model."""

    max_abs: int
    scale: float


def _fit(symbols: np.ndarray) -> TensorHeader:
    max_abs = int(np.abs(symbols).max()) if symbols.size else 0
    if max_abs > _MAX_ABS:
        raise ValueError(f"symbol magnitude {max_abs} exceeds {_MAX_ABS}; use a larger quantisation step")
    # maximum-likelihood scale of a zero-mean Laplace, rounded to what the header can carry
    scale = float(np.float16(max(float(np.abs(symbols).mean()) if symbols.size else 0.0, MIN_SCALE)))
    return TensorHeader(max_abs, scale)


def _model(header: TensorHeader) -> constriction.stream.model.QuantizedLaplace:
    return constriction.stream.model.QuantizedLaplace(-header.max_abs, header.max_abs, 0.0, header.scale)


def encode_tensors(tensors: list[np.ndarray]) -> bytes:
    """Entropy-code integer arrays (each flattened) into one buffer; sizes are not stored."""
    headers = [_fit(np.asarray(t, dtype=np.int32).reshape(-1)) for t in tensors]
    side = bytearray()
    for header in headers:
        side += struct.pack("<H", header.max_abs)
        if header.max_abs:
            side += struct.pack("<e", header.scale)
    coder = constriction.stream.stack.AnsCoder()
    # ANS is a stack: encode in reverse so that decoding runs forward
    for array, header in reversed(list(zip(tensors, headers))):
        if header.max_abs:
            coder.encode_reverse(np.asarray(array, dtype=np.int32).reshape(-1), _model(header))
    return bytes(side) + coder.get_compressed().astype("<u4").tobytes()


def decode_tensors(data: bytes, sizes: list[int]) -> list[np.ndarray]:
    """Inverse of :func:`encode_tensors` given each tensor's number of elements."""
    offset = 0
    headers = []
    try:
        for _ in sizes:
            (max_abs,) = struct.unpack_from("<H", data, offset)
            offset += 2
            scale = 0.0
            if max_abs:
                (scale,) = struct.unpack_from("<e", data, offset)
                offset += 2
            headers.append(TensorHeader(max_abs, scale))
    except struct.error:
        raise BitstreamError("entropy-coded payload is truncated (tensor headers)") from None
    words = data[offset:]
    if len(words) % 4:
        raise BitstreamError("entropy-coded payload is not a whole number of 32-bit words")
    out = []
    try:
        decoder = constriction.stream.stack.AnsCoder(np.frombuffer(words, dtype="<u4").astype(np.uint32))
        for size, header in zip(sizes, headers):
            if header.max_abs and size:
                if not math.isfinite(header.scale) or header.scale <= 0:
                    raise BitstreamError("entropy-coded payload has an invalid Laplace scale")
                out.append(decoder.decode(_model(header), size).astype(np.int32))
            else:
                out.append(np.zeros(size, dtype=np.int32))
    except (AssertionError, ValueError) as err:  # how constriction refuses data that no encoder wrote
        raise BitstreamError(f"entropy-coded payload is invalid ({err})") from None
    return out


def laplace_bits(scaled: torch.Tensor, scale: torch.Tensor | float | None = None) -> torch.Tensor:
    """Differentiable bit estimate of coding ``scaled`` (values / step, continuous) with a
    zero-mean quantised Laplace; by default the scale is the tensor's own fitted scale (detached)."""
    if scale is None:
        scale = scaled.detach().abs().mean().clamp_min(MIN_SCALE)
    dist = torch.distributions.Laplace(torch.zeros((), device=scaled.device), torch.as_tensor(scale, device=scaled.device))
    upper = dist.cdf(scaled + 0.5)
    lower = dist.cdf(scaled - 0.5)
    return -torch.log2((upper - lower).clamp_min(1e-9)).sum()
