"""Quantisation and entropy coding of tensors (neural codecs send their weights with this).

The interface is CompressAI-like but learned-free: each integer tensor is coded with a zero-mean
quantised Laplace model whose scale is fitted to that tensor and sent beside it, so nothing but
the bitstream is needed to decode. :func:`laplace_bits` is the differentiable estimate of the
same cost that encoders put in their rate term.
"""

from vcbench.entropy.laplace import TensorHeader, decode_tensors, encode_tensors, laplace_bits
from vcbench.entropy.quantize import dequantize, estimated_bits, quantised_weights, quantize, quantize_ste

__all__ = ["TensorHeader", "decode_tensors", "encode_tensors", "laplace_bits", "dequantize", "quantize", "quantize_ste",
           "quantised_weights", "estimated_bits"]
