"""Learned entropy models of neural codecs' latents, behind a small CompressAI-like interface
that yields real byte strings (constriction's range coder):

``FactorizedPrior``     the side information (a hyper-latent): one learned density per channel
                        (Balle et al. 2018's non-parametric cumulative, as CompressAI's
                        EntropyBottleneck), coded with a fixed categorical table per channel.
``GaussianConditional`` the latents: a zero-mean Gaussian per symbol whose scale is picked from a
                        fixed table by index (the caller predicts the scales, e.g. from a
                        hyperprior, and codes ``round(value - mean)``).

Both code integers in a fixed support (``[-support, support]``); a caller clips its symbols to
it (:meth:`FactorizedPrior.clip`, :meth:`GaussianConditional.clip`) *before* it uses them, so the
encoder reconstructs exactly what the decoder will (no escape codes needed at these rates).

What decides the decoded symbols is fixed data, not float arithmetic: the factorised prior's
probability tables are computed once (:meth:`FactorizedPrior.update_tables`) and stored with the
weights (buffers in the state dict), and the Gaussian's scales are the table's exact float64
values. The scale *index* comes from the caller's network, so a decoder on another platform
can compute another index at a boundary; callers that care check a digest of the symbols.

``compress(...) -> list[bytes]`` gives one string per batch item; ``decompress(strings, ...)``
inverts it and refuses, as a BitstreamError, a string that is not whole 32-bit words or that is
not exactly used up by the symbols it must hold.
"""

from __future__ import annotations

import math

import constriction
import numpy as np
import torch
from torch import nn

from vcbench.errors import BitstreamError

LIKELIHOOD_BOUND = 1e-9
# CompressAI's default scale table: 64 scales log-spaced over [0.11, 256]
SCALE_TABLE = tuple(float(v) for v in np.exp(np.linspace(math.log(0.11), math.log(256.0), 64)))


def bits(likelihoods: torch.Tensor) -> torch.Tensor:
    """The differentiable cost in bits of symbols of these likelihoods."""
    return -torch.log2(likelihoods.clamp_min(LIKELIHOOD_BOUND)).sum()


def round_ste(values: torch.Tensor) -> torch.Tensor:
    """round() in the forward pass, identity in the backward pass."""
    return values + (torch.round(values) - values).detach()


def _to_bytes(encoder) -> bytes:
    return encoder.get_compressed().astype("<u4").tobytes()


def _decoder(string: bytes, what: str):
    if len(string) % 4:
        raise BitstreamError(f"{what}: the range-coded string is not a whole number of 32-bit words ({len(string)} bytes)")
    return constriction.stream.queue.RangeDecoder(np.frombuffer(string, dtype="<u4").astype(np.uint32))


def _check_used_up(decoder, what: str) -> None:
    if not decoder.maybe_exhausted():
        raise BitstreamError(f"{what}: the range-coded string holds more than its symbols (damaged or not written for this model)")


class FactorizedPrior(nn.Module):
    """A learned, factorised density per channel for a hyper-latent of ``channels`` channels."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0, support: int = 64):
        super().__init__()
        self.channels, self.support = channels, support
        widths = (1, *filters, 1)
        scale = init_scale ** (1 / (len(widths) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for index in range(len(widths) - 1):
            init = math.log(math.expm1(1 / scale / widths[index + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, widths[index + 1], widths[index]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, widths[index + 1], 1) - 0.5))
            if index < len(widths) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, widths[index + 1], 1)))
        # probabilities of the symbols -support..support per channel (what the coder uses), set by update_tables
        self.register_buffer("tables", torch.zeros(channels, 2 * support + 1, dtype=torch.float64))
        self._models: list | None = None

    def _logits_cumulative(self, values: torch.Tensor) -> torch.Tensor:
        """values (C, 1, N) -> logits of the cumulative density at each value."""
        logits = values
        for index, matrix in enumerate(self.matrices):
            logits = torch.matmul(nn.functional.softplus(matrix), logits) + self.biases[index]
            if index < len(self.factors):
                logits = logits + torch.tanh(self.factors[index]) * torch.tanh(logits)
        return logits

    def likelihood(self, values: torch.Tensor) -> torch.Tensor:
        """Probability mass of [v - 0.5, v + 0.5] for every value of ``values`` (B, C, ...)."""
        shape = values.shape
        flat = values.transpose(0, 1).reshape(self.channels, 1, -1)
        lower = self._logits_cumulative(flat - 0.5)
        upper = self._logits_cumulative(flat + 0.5)
        sign = -torch.sign(lower + upper).detach()  # evaluate in the tail where the sigmoid is accurate
        mass = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return mass.reshape(self.channels, shape[0], *shape[2:]).transpose(0, 1)

    def clip(self, symbols: torch.Tensor) -> torch.Tensor:
        return symbols.clamp(-self.support, self.support)

    @torch.no_grad()
    def update_tables(self) -> None:
        """Freeze the coder's tables from the current density (call before saving or coding)."""
        grid = torch.arange(-self.support, self.support + 1, dtype=torch.float32)
        edges = torch.cat([grid - 0.5, grid[-1:] + 0.5]).expand(self.channels, 1, -1).contiguous()
        cdf = torch.sigmoid(self._logits_cumulative(edges))[:, 0].double()
        mass = cdf[:, 1:] - cdf[:, :-1]
        mass[:, 0] += cdf[:, 0]  # the tails belong to the end symbols (the encoder clips to them)
        mass[:, -1] += 1 - cdf[:, -1]
        self.tables.copy_(mass.clamp_min(0))
        self._models = None

    def _categoricals(self) -> list:
        if self._models is None:
            if not bool((self.tables.sum(dim=1) > 0).all()):
                raise RuntimeError("FactorizedPrior.update_tables() was never called")
            self._models = [constriction.stream.model.Categorical(row.cpu().numpy(), perfect=False) for row in self.tables]
        return self._models

    def compress(self, symbols: torch.Tensor) -> list[bytes]:
        """Integer symbols (B, C, ...) within the support -> one string per batch item."""
        if symbols.numel() and int(symbols.abs().max()) > self.support:
            raise ValueError(f"symbols beyond the support +-{self.support}: clip them first")
        models = self._categoricals()
        strings = []
        for item in symbols.to(torch.int32).cpu().numpy():
            encoder = constriction.stream.queue.RangeEncoder()
            for channel, model in zip(item.reshape(self.channels, -1), models):
                encoder.encode((channel + self.support).astype(np.int32), model)
            strings.append(_to_bytes(encoder))
        return strings

    def decompress(self, strings: list[bytes], shape: tuple[int, ...]) -> torch.Tensor:
        """Inverse of :meth:`compress` for items of ``shape`` (C, ...)."""
        if shape[0] != self.channels:
            raise ValueError(f"shape {shape} does not start with the {self.channels} channels")
        per_channel = int(np.prod(shape[1:]))
        models = self._categoricals()
        items = []
        for index, string in enumerate(strings):
            what = f"side information {index}"
            decoder = _decoder(string, what)
            channels = [decoder.decode(model, per_channel).astype(np.int64) - self.support for model in models]
            _check_used_up(decoder, what)
            items.append(np.stack(channels).reshape(shape))
        return torch.from_numpy(np.stack(items))


class GaussianConditional(nn.Module):
    """Zero-mean Gaussians on a fixed scale table for symbols ``round(value - mean)``."""

    def __init__(self, scale_table: tuple[float, ...] = SCALE_TABLE, support: int = 1023):
        super().__init__()
        self.support = support
        self.register_buffer("scale_table", torch.tensor(scale_table, dtype=torch.float64), persistent=False)
        self._family = constriction.stream.model.QuantizedGaussian(-support, support)

    @property
    def scale_bound(self) -> float:
        return float(self.scale_table[0])

    def likelihood(self, values: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        """Mass of [v - 0.5, v + 0.5] under N(0, scale) for (mean-removed) ``values``."""
        scales = scales.clamp_min(self.scale_bound)
        magnitude = values.abs()
        normal = torch.distributions.Normal(torch.zeros((), device=values.device), torch.ones((), device=values.device))
        return normal.cdf((0.5 - magnitude) / scales) - normal.cdf((-0.5 - magnitude) / scales)

    def clip(self, symbols: torch.Tensor) -> torch.Tensor:
        return symbols.clamp(-self.support, self.support)

    def indexes(self, scales: torch.Tensor) -> torch.Tensor:
        """The table entry each scale is coded with: the largest table scale not above it (int64)."""
        table = self.scale_table.to(device=scales.device, dtype=scales.dtype)
        return (scales.detach()[..., None] >= table[1:]).sum(dim=-1)

    def compress(self, symbols: torch.Tensor, indexes: torch.Tensor) -> list[bytes]:
        """Integer symbols (B, ...) within the support and their scale indexes -> one string per item."""
        if symbols.numel() and int(symbols.abs().max()) > self.support:
            raise ValueError(f"symbols beyond the support +-{self.support}: clip them first")
        table = self.scale_table.cpu().numpy()
        strings = []
        for item, index in zip(symbols.to(torch.int32).cpu().numpy(), indexes.cpu().numpy()):
            encoder = constriction.stream.queue.RangeEncoder()
            flat = index.reshape(-1)
            encoder.encode(item.reshape(-1).astype(np.int32), self._family, np.zeros(flat.size), table[flat])
            strings.append(_to_bytes(encoder))
        return strings

    def decompress(self, strings: list[bytes], indexes: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`compress`: the symbols (B, ...) of the shape of ``indexes``."""
        table = self.scale_table.cpu().numpy()
        items = []
        for number, (string, index) in enumerate(zip(strings, indexes.cpu().numpy())):
            what = f"latent {number}"
            flat = index.reshape(-1)
            if flat.size and (flat.min() < 0 or flat.max() >= len(table)):
                raise ValueError("scale indexes outside the table")
            decoder = _decoder(string, what)
            decoded = decoder.decode(self._family, np.zeros(flat.size), table[flat])
            _check_used_up(decoder, what)
            items.append(decoded.astype(np.int64).reshape(index.shape))
        return torch.from_numpy(np.stack(items)) if items else torch.zeros((0, *indexes.shape[1:]), dtype=torch.int64)
