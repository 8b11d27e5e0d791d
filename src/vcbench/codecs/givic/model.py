"""GIViC's per-GOP denoiser, and how its weights become bytes and back.

The denoiser sees one batch of tokens (any levels) as sequences of patches and predicts the
clean token x0 (x0-prediction: the overfitted model is meant to reproduce the GOP, and the
deterministic sampler only needs x0; the noise estimate follows from it). Per patch it reads

    the noisy patch x_t | the conditioning patch (the upsampled decoded coarser level; zeros at
    level 1) | Fourier features of the patch centre in GOP coordinates (the "implicit" part: the
    network is a coordinate-based representation of the GOP) | features of the noise level |
    the level (one-hot)

embeds them with one linear layer, runs ``depth`` HGLA blocks (pre-norm GLA token mixer from the
carried state, then an MLP, both residual) and predicts x0 = conditioning + a linear head of the
features: finer levels learn the detail the upsampled coarser level lacks.

Every parameter is sent: each tensor is a group with its own quantisation step (``quant_step``
times its RMS, carried as float16) and its own Laplace scale (coded by ``vcbench.entropy``).
"""

from __future__ import annotations

import struct

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vcbench.codecs.givic.hgla import CarryGates, GlaLayer, gla
from vcbench.codecs.givic.pyramid import CHANNELS, NOISE_FEATURES, Geometry, noise_features, patchify, unpatchify
from vcbench.entropy import decode_tensors, dequantize, encode_tensors, quantize
from vcbench.errors import BitstreamError

MIN_STEP = 1e-4


def grid_channels(width: int) -> int:
    """Channels of the learned feature grid: a quarter of the width (its share of the bits stays small)."""
    return max(1, width // 4)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, head_dim: int, levels: int):
        super().__init__()
        self.mixer = GlaLayer(width, heads, head_dim)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.carry = CarryGates(heads, head_dim, levels, CHANNELS)


class Denoiser(nn.Module):
    #: marks it for `vcbench decoder-cost` (vcbench.tools.decoder_cost.MARK): a call's samples are its first input's B tokens
    denoiser_sample_dims = 1

    def __init__(self, geometry: Geometry, width: int, depth: int, head_dim: int):
        super().__init__()
        self.geometry, self.width = geometry, width
        self.heads, self.head_dim = width // head_dim, head_dim
        self.grid = nn.Parameter(torch.randn(1, grid_channels(width), *geometry.grid_shape) * 0.1)
        inputs = 2 * geometry.patch_values + geometry.position_features + grid_channels(width) + NOISE_FEATURES + geometry.levels
        self.embed = nn.Linear(inputs, width)
        self.blocks = nn.ModuleList(Block(width, self.heads, head_dim, geometry.levels) for _ in range(depth))
        self.head = nn.Linear(width, geometry.patch_values)
        with torch.no_grad():  # start at "x0 = the conditioning": a finer level adds only what it learns to
            self.head.weight.zero_()
            self.head.bias.zero_()

    def zero_states(self, count: int, device: torch.device) -> list[torch.Tensor]:
        return [torch.zeros(count, self.heads, self.head_dim, self.head_dim, device=device) for _ in self.blocks]

    def carry(self, level: torch.Tensor, cond: torch.Tensor, previous: list[torch.Tensor],
              parent: list[torch.Tensor]) -> list[torch.Tensor]:
        """The carried state of every block for tokens of 0-based ``level`` with conditioning ``cond``."""
        descriptor = cond.mean(dim=(2, 3, 4))
        return [block.carry(level, descriptor, p, q) for block, p, q in zip(self.blocks, previous, parent)]

    def forward(self, noisy: torch.Tensor, cond: torch.Tensor, t: torch.Tensor, level: torch.Tensor, positions: torch.Tensor,
                carried: list[torch.Tensor], form=gla) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x0 estimates (B, 6, t, h, w) of B noisy tokens, and each block's end state.

        noisy, cond: (B, 6, t, h, w); t: (B,) noise levels in [0, 1]; level: (B,) 0-based;
        positions: (B, patches, features); carried: per block (B, heads, d_k, d_v)."""
        batch, patches = positions.shape[:2]
        centres = positions[..., -3:].reshape(1, 1, 1, batch * patches, 3)
        grid = F.grid_sample(self.grid, centres, mode="bilinear", padding_mode="border", align_corners=False)
        grid = grid.reshape(-1, batch, patches).permute(1, 2, 0)
        extra = torch.cat([noise_features(t), F.one_hot(level, self.geometry.levels).to(noisy.dtype)], dim=-1)
        features = torch.cat([patchify(noisy, self.geometry.patch), patchify(cond, self.geometry.patch), positions, grid,
                              extra.unsqueeze(1).expand(-1, patches, -1)], dim=-1)
        h = self.embed(features)
        ends = []
        for block, state in zip(self.blocks, carried):
            mixed, end = block.mixer(F.layer_norm(h, (self.width,)), state, form)
            h = h + mixed
            h = h + block.mlp(F.layer_norm(h, (self.width,)))
            ends.append(end)
        return cond + unpatchify(self.head(F.layer_norm(h, (self.width,))), self.geometry), ends

    # -- the transmitted weights -----------------------------------------------------------------
    def named_tensors(self) -> list[tuple[str, nn.Parameter]]:
        return list(self.named_parameters())

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def steps(self, quant_step: float) -> list[float]:
        """Per-tensor step = quant_step x the tensor's RMS, rounded to float16 as the file carries it."""
        return [float(np.float16(max(quant_step * float(p.detach().float().pow(2).mean().sqrt()), MIN_STEP)))
                for _, p in self.named_tensors()]

    def serialise(self, steps: list[float]) -> bytes:
        symbols = [quantize(p, s) for (_, p), s in zip(self.named_tensors(), steps)]
        return struct.pack(f"<{len(steps)}e", *steps) + encode_tensors(symbols)

    def load(self, section: bytes) -> None:
        """Set every weight from a serialised section (the decoder's side)."""
        named = self.named_tensors()
        try:
            steps = struct.unpack_from(f"<{len(named)}e", section, 0)
        except struct.error:
            raise BitstreamError("GOP section is truncated (quantisation steps)") from None
        if not all(np.isfinite(step) and step > 0 for step in steps):
            raise BitstreamError("GOP section has a quantisation step that is not a positive number")
        symbols = decode_tensors(section[2 * len(named):], [p.numel() for _, p in named])  # BitstreamError on a bad stream
        # the entropy coder stores no sizes: a section read with other shapes than it was coded with
        # would decode to garbage silently, so it must be exactly what its decoded symbols encode to
        if struct.pack(f"<{len(steps)}e", *steps) + encode_tensors(symbols) != section:
            raise BitstreamError("GOP section does not hold weights of the shapes the header gives")
        with torch.no_grad():
            for (_, p), step, values in zip(named, steps, symbols):
                p.copy_(dequantize(values, step, tuple(p.shape)).to(p.device))
