"""What a GOP sends: its INR, its cross-attention context tokens (when the denoiser has
cross-attention) and its LoRA up-projections, in one fixed order that encoder and decoder share,
with their quantisation and entropy coding."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import torch

from vcbench.codecs.divinr.inr import FrameInr
from vcbench.diffusion.backbone import CONTEXT_TOKENS, Backbone
from vcbench.diffusion.lora import reset_lora
from vcbench.entropy import decode_tensors, dequantize, encode_tensors, quantize
from vcbench.errors import BitstreamError

MIN_STEP = 1e-4


def relative_steps(named: list[tuple[str, torch.nn.Parameter]], quant_step: float) -> list[float]:
    """Per-tensor step = quant_step x the tensor's RMS, rounded to float16 as the file carries it."""
    quant_steps = []
    for _, tensor in named:
        rms = float(tensor.detach().float().pow(2).mean().sqrt())
        quant_steps.append(float(np.float16(max(quant_step * rms, MIN_STEP))))
    return quant_steps


@dataclass
class GopModel:
    """The trainable, transmitted state of one GOP around a shared backbone."""

    inr: FrameInr
    context: torch.nn.Parameter | None
    lora: list[tuple[str, torch.nn.Parameter]]

    @classmethod
    def build(cls, backbone: Backbone, frames: int, latent_hw: tuple[int, int], width: int, stages: int, lora_seed: int | None,
              init_seed: int) -> GopModel:
        torch.manual_seed(init_seed)  # the INR's initialisation is the encoder's choice; the decoder overwrites it
        inr = FrameInr(frames, backbone.latent_channels, *latent_hw, hidden=width, stages=stages).to(backbone.device)
        context = None
        if backbone.context_dim is not None:
            context = torch.nn.Parameter(torch.zeros(1, CONTEXT_TOKENS, backbone.context_dim, device=backbone.device))
        lora = reset_lora(backbone.unet, lora_seed) if lora_seed is not None else []
        return cls(inr, context, lora)

    def named_tensors(self) -> list[tuple[str, torch.nn.Parameter]]:
        named = [(f"inr.{n}", p) for n, p in self.inr.named_parameters()]
        if self.context is not None:
            named.append(("context", self.context))
        return named + [(f"lora.{n}", p) for n, p in self.lora]

    def parameter_count(self) -> dict[str, int]:
        counts = {"inr": 0, "context": 0, "lora": 0}
        for name, tensor in self.named_tensors():
            counts[name.split(".")[0]] += tensor.numel()
        return counts

    def inr_tensors(self) -> list[tuple[str, torch.nn.Parameter]]:
        """The INR's part of :meth:`named_tensors` (what the INR-only fitting optimises)."""
        return [(name, tensor) for name, tensor in self.named_tensors() if name.startswith("inr.")]

    def quant_steps(self, quant_step: float) -> list[float]:
        """Per-tensor steps of :meth:`named_tensors` (see :func:`relative_steps`)."""
        return relative_steps(self.named_tensors(), quant_step)

    def serialise(self, quant_steps: list[float]) -> bytes:
        symbols = [quantize(t, s) for (_, t), s in zip(self.named_tensors(), quant_steps)]
        return struct.pack(f"<{len(quant_steps)}e", *quant_steps) + encode_tensors(symbols)

    def load(self, section: bytes) -> None:
        """Set every transmitted tensor from a serialised section (the decoder's side)."""
        named = self.named_tensors()
        try:
            quant_steps = struct.unpack_from(f"<{len(named)}e", section, 0)
        except struct.error:
            raise BitstreamError("GOP section is truncated (quantisation steps)") from None
        if not all(np.isfinite(step) and step > 0 for step in quant_steps):
            raise BitstreamError("GOP section has a quantisation step that is not a positive number")
        symbols = decode_tensors(section[2 * len(named) :], [t.numel() for _, t in named])  # BitstreamError on a bad stream
        # The entropy coder stores no sizes, so a section read with other shapes than it was coded
        # with would decode to garbage without complaint: the section must be exactly what the
        # decoded symbols encode to.
        if struct.pack(f"<{len(quant_steps)}e", *quant_steps) + encode_tensors(symbols) != section:
            raise BitstreamError("GOP section does not hold tensors of the shapes the header gives")
        with torch.no_grad():
            for (_, tensor), step, values in zip(named, quant_steps, symbols):
                tensor.copy_(dequantize(values, step, tuple(tensor.shape)).to(tensor.device))
