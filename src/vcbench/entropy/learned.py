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
weights (buffers in the state dict), and the Gaussian's scales are the table's decimal constants.
The scale *index* is picked on the CPU from the scale's natural log as an exact fixed-point value
(:meth:`GaussianConditional.indexes`; the caller computes it with
:mod:`vcbench.entropy.fixed_point`, the same bit for bit on every device), by comparisons with the
table's logs rounded up to the same grid.

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

from vcbench.entropy import fixed_point
from vcbench.errors import BitstreamError

LIKELIHOOD_BOUND = 1e-9
# CompressAI's default scale table, 64 scales log-spaced over [0.11, 256], rounded to 6 significant
# digits: decimal constants are the same on every machine, where exp() may differ in the last bit
# (no entry lies within 1e-8 of a rounding boundary, so a 1-ulp exp still rounds to the same digits)
SCALE_TABLE = tuple(float(f"{v:.6g}") for v in np.exp(np.linspace(math.log(0.11), math.log(256.0), 64)))


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


def _decode(decoder, what: str, *args) -> np.ndarray:
    """decoder.decode(*args), with constriction's refusals of data no encoder wrote (it raises
    AssertionError or ValueError) as a one-line BitstreamError."""
    try:
        return decoder.decode(*args)
    except (AssertionError, ValueError) as err:
        raise BitstreamError(f"{what}: the range-coded string is invalid for this model ({str(err).rstrip('.')}; damaged or not "
                             "written for it)") from None


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
            channels = [_decode(decoder, what, model, per_channel).astype(np.int64) - self.support for model in models]
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
        # see indexes(); math.log is within 1 ulp everywhere, and no log of SCALE_TABLE lies within
        # 1e-9 (relative) of a grid point, so every machine rounds it up to the same one
        self._log_thresholds = np.array([math.ceil(math.log(scale) * fixed_point.GRID) / fixed_point.GRID for scale in scale_table[1:]])
        if np.any(np.diff(self._log_thresholds) <= 0):
            raise ValueError("the scale table must rise strictly (and its logs by more than the grid's step)")

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

    def indexes(self, log_scales: torch.Tensor) -> torch.Tensor:
        """The table entry each scale is coded with (int64, on the CPU), from the scales' natural
        logs as exact values on :mod:`~vcbench.entropy.fixed_point`'s grid: the number of
        thresholds reached, the thresholds being the logs of the table's scales 1..63 rounded up
        to that grid (so a scale picks the largest table entry not above it, up to the grid's
        resolution, 1.5e-5 in the log).

        Every step is exact, so the decision is the same on every device, thread count and
        precision, as long as the logs are: a caller computes them with
        :class:`~vcbench.entropy.fixed_point.ExactNet`, never with float arithmetic on the device."""
        values = log_scales.detach().to(device="cpu", dtype=torch.float64)
        if not bool(torch.equal(values, fixed_point.to_grid(values))):
            raise ValueError("log scales off the fixed-point grid: compute them with vcbench.entropy.fixed_point")
        picked = np.searchsorted(self._log_thresholds, values.numpy(), side="right")
        return torch.from_numpy(picked.astype(np.int64))

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
            decoded = _decode(decoder, what, self._family, np.zeros(flat.size), table[flat])
            _check_used_up(decoder, what)
            items.append(decoded.astype(np.int64).reshape(index.shape))
        return torch.from_numpy(np.stack(items)) if items else torch.zeros((0, *indexes.shape[1:]), dtype=torch.int64)
