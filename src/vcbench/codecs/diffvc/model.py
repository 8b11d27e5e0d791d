"""DiffVC's compression modules, in the latent space of the backbone's VAE, and QPP's quantiser.

Choices, and why:

* **Latent space.** Both codecs code the VAE latent (16 channels at 1/8 resolution for the embedded
  backbone), not pixels: the diffusion decoder works there, and the VAE's 48x reduction leaves the
  transforms little to do, so they are small (about 1.5 M parameters for both) and fast on a CPU.
* **Intra codec** (I-frames): a mean-scale hyperprior model (Balle et al. 2018, Minnen et al. 2018)
  over the latent: analysis transform to a code at 1/4 of the latent's resolution, a hyper-latent at
  1/8 with a factorised prior, a Gaussian conditional whose means and scales the hyper-synthesis
  predicts.
* **Predictive codec** (P-frames): conditional coding in feature space as DCVC does (Li et al. 2021),
  without motion: a context network turns the previous frame's *decoded latent* into a temporal
  context that the analysis transform, the entropy model (a temporal prior beside the hyperprior)
  and the synthesis transform all take, and the synthesis predicts the change from that reference.
  Nothing but the two entropy-coded strings is sent, so everything sent is counted. No motion
  field is coded: at 1/8 resolution the context network's three 3x3 layers span +-24 pixels of
  motion, and a coded flow would cost bits a low-rate P-frame cannot spare.
* **The reference is the decoded latent, not the diffusion output.** Encoder and decoder both have
  it after entropy decoding alone, so the closed-loop encoder never runs the denoiser, and
  generated texture (which the diffusion decoder invents) never propagates into the prediction.
* **QPP's quantiser.** One model covers every rate: the quantisation index q in 0..63 sets a
  per-channel quantiser scale s(q) by log-domain interpolation between two learned scale vectors,
  as DCVC-FM does: log s(q) = log s_fine + (q / 63) softplus(gap), so every channel's step grows
  strictly with q and rate falls as q rises. The latent is divided by s(q) before rounding; the
  entropy model predicts means and scales of the unscaled code and divides them by s(q) too, so
  one hyperprior serves all q. The same q enters the denoiser as a prompt
  (:mod:`vcbench.codecs.diffvc.conditioning`).

Coding goes through :meth:`reconstruct`, which the encoder (closed loop) and the decoder share, so
both compute the same latents from the same symbols.
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from vcbench.codecs.diffvc.settings import Q_MAX
from vcbench.entropy.learned import FactorizedPrior, GaussianConditional, bits, round_ste

#: the code is at 1/4 of the latent's resolution, the hyper-latent at 1/8
CODE_STRIDE, HYPER_STRIDE = 4, 8


def _conv(inputs: int, outputs: int, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, kernel, stride, padding=kernel // 2)


def _up(inputs: int, outputs: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(inputs, outputs, 4, stride=2, padding=1)


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.1)


class QppScales(nn.Module):
    """Per-channel quantiser scales s(q), interpolated in the log domain between s(0) and s(Q_MAX)."""

    def __init__(self, channels: int):
        super().__init__()
        self.log_fine = nn.Parameter(torch.full((channels,), -1.0))
        self.gap = nn.Parameter(torch.full((channels,), 2.5))  # softplus(2.5) = 2.6: s(63) = 13.6 x s(0) at first

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        """q (B,) -> scales (B, C, 1, 1)."""
        weight = (q.float() / Q_MAX)[:, None]
        return (self.log_fine[None] + weight * nn.functional.softplus(self.gap)[None]).exp()[..., None, None]


class _Coded:
    """What coding one frame gives: the strings sent, the symbols (for the digest) and the decoded latent."""

    def __init__(self, strings: tuple[bytes, bytes], symbols: tuple[torch.Tensor, torch.Tensor], latent: torch.Tensor,
                 context: torch.Tensor | None):
        self.strings, self.symbols, self.latent, self.context = strings, symbols, latent, context


class _LatentCodec(ModelMixin, ConfigMixin):
    """What both codecs share: the hyperprior, the Gaussian conditional and QPP's scales.

    Subclasses define ``analysis(latent, context)``, ``entropy_parameters(hyper_features, context)``,
    ``synthesis(code, context, reference)`` and ``temporal_context(reference)``."""

    def _build_shared(self, code_channels: int, channels: int, hyper_channels: int) -> None:
        self.hyper_analysis = nn.Sequential(_conv(code_channels, hyper_channels), _act(), _conv(hyper_channels, hyper_channels, 5, 2))
        self.hyper_synthesis = nn.Sequential(_up(hyper_channels, channels), _act(), _conv(channels, channels))
        self.hyper_prior = FactorizedPrior(hyper_channels)
        self.gaussian = GaussianConditional()
        self.qpp = QppScales(code_channels)

    def temporal_context(self, reference: torch.Tensor | None) -> torch.Tensor | None:
        return None

    def _mean_scale(self, z_hat: torch.Tensor, context: torch.Tensor | None, scales: torch.Tensor):
        raw = self.entropy_parameters(self.hyper_synthesis(z_hat), context)
        mean, log_scale = raw.chunk(2, dim=1)
        return mean / scales, log_scale.clamp(-10, 10).exp() / scales  # both in the quantiser's (scaled) domain

    # -- training ------------------------------------------------------------------------------
    def forward(self, latent: torch.Tensor, q: torch.Tensor, reference: torch.Tensor | None = None, noisy: bool = False):
        """Training pass: (decoded latent, temporal context, bits per item). Rates are measured on
        noisy values (uniform noise for rounding); reconstructions use rounding (straight-through),
        or with ``noisy`` the noisy values too (early in training: a code stuck at zero still gets a
        gradient that says which values would help, where rounding to zero hides it)."""
        context = self.temporal_context(reference)
        scales = self.qpp(q)
        code = self.analysis(latent, context) / scales
        hyper = self.hyper_analysis(code)
        z_bits = bits_per_item(self.hyper_prior.likelihood(hyper + torch.rand_like(hyper) - 0.5))
        z_hat = round_ste(self.hyper_prior.clip(hyper))
        mean, scale = self._mean_scale(z_hat, context, scales)
        residual = code - mean
        y_bits = bits_per_item(self.gaussian.likelihood(residual + torch.rand_like(residual) - 0.5, scale))
        quantised = residual + torch.rand_like(residual) - 0.5 if noisy else round_ste(self.gaussian.clip(residual))
        code_hat = (quantised + mean) * scales
        return self.synthesis(code_hat, context, reference), context, z_bits + y_bits

    # -- coding (closed loop: the encoder decodes with reconstruct, as the decoder does) ---------
    @torch.inference_mode()
    def encode(self, latent: torch.Tensor, q: int, reference: torch.Tensor | None = None) -> _Coded:
        """Code one frame's latent (1, C, h, w); the strings, symbols and the decoded latent."""
        context = self.temporal_context(reference)
        scales = self.qpp(torch.tensor([q], device=latent.device))
        code = self.analysis(latent, context) / scales
        z_symbols = self.hyper_prior.clip(torch.round(self.hyper_analysis(code))).to(torch.int64)
        mean, scale = self._mean_scale(z_symbols.float(), context, scales)
        y_symbols = self.gaussian.clip(torch.round(code - mean)).to(torch.int64)
        strings = (self.hyper_prior.compress(z_symbols)[0], self.gaussian.compress(y_symbols, self.gaussian.indexes(scale))[0])
        return self.reconstruct(strings, (z_symbols, y_symbols), q, reference, context)

    @torch.inference_mode()
    def decode(self, strings: tuple[bytes, bytes], q: int, latent_hw: tuple[int, int], reference: torch.Tensor | None = None) -> _Coded:
        """The decoded latent of one frame from its two strings (the side information first)."""
        device = self.qpp.log_fine.device
        context = self.temporal_context(reference)
        hyper_hw = (latent_hw[0] // HYPER_STRIDE, latent_hw[1] // HYPER_STRIDE)
        z_symbols = self.hyper_prior.decompress([strings[0]], (self.hyper_prior.channels, *hyper_hw)).to(device)
        scales = self.qpp(torch.tensor([q], device=device))
        _, scale = self._mean_scale(z_symbols.float(), context, scales)
        y_symbols = self.gaussian.decompress([strings[1]], self.gaussian.indexes(scale)).to(device)
        return self.reconstruct(strings, (z_symbols, y_symbols), q, reference, context)

    def reconstruct(self, strings, symbols, q: int, reference, context) -> _Coded:
        z_symbols, y_symbols = symbols
        scales = self.qpp(torch.tensor([q], device=z_symbols.device))
        mean, _ = self._mean_scale(z_symbols.float(), context, scales)
        latent = self.synthesis((y_symbols.float() + mean) * scales, context, reference)
        return _Coded(strings, symbols, latent, context)


def bits_per_item(likelihoods: torch.Tensor) -> torch.Tensor:
    return torch.stack([bits(item) for item in likelihoods])


class IntraCodec(_LatentCodec):
    """I-frames: a mean-scale hyperprior codec over the latent."""

    @register_to_config
    def __init__(self, latent_channels: int = 16, channels: int = 48, code_channels: int = 48, hyper_channels: int = 32):
        super().__init__()
        self.encoder = nn.Sequential(_conv(latent_channels, channels), _act(), _conv(channels, channels, 5, 2), _act(),
                                     _conv(channels, code_channels, 5, 2))
        self.decoder = nn.Sequential(_up(code_channels, channels), _act(), _up(channels, channels), _act(),
                                     _conv(channels, latent_channels))
        self.parameters_head = _conv(channels, 2 * code_channels)
        self._build_shared(code_channels, channels, hyper_channels)

    def analysis(self, latent, context):
        return self.encoder(latent)

    def entropy_parameters(self, hyper_features, context):
        return self.parameters_head(hyper_features)

    def synthesis(self, code, context, reference):
        return self.decoder(code)


class PredictiveCodec(_LatentCodec):
    """P-frames: DCVC-style conditional coding given the previous frame's decoded latent."""

    @register_to_config
    def __init__(self, latent_channels: int = 16, channels: int = 48, code_channels: int = 48, hyper_channels: int = 32,
                 context_channels: int = 32):
        super().__init__()
        self.context_net = nn.Sequential(_conv(latent_channels, context_channels), _act(), _conv(context_channels, context_channels),
                                         _act(), _conv(context_channels, context_channels))
        self.encoder = nn.Sequential(_conv(latent_channels + context_channels, channels), _act(), _conv(channels, channels, 5, 2),
                                     _act(), _conv(channels, code_channels, 5, 2))
        self.temporal_prior = nn.Sequential(_conv(context_channels, channels, 5, 2), _act(), _conv(channels, channels, 5, 2))
        self.parameters_head = nn.Sequential(_conv(2 * channels, 2 * channels, 1), _act(), _conv(2 * channels, 2 * code_channels, 1))
        self.decoder = nn.Sequential(_up(code_channels, channels), _act(), _up(channels, channels))
        self.fuse = nn.Sequential(_conv(channels + context_channels, channels), _act(), _conv(channels, latent_channels))
        self._build_shared(code_channels, channels, hyper_channels)

    def temporal_context(self, reference):
        return self.context_net(reference)

    def analysis(self, latent, context):
        return self.encoder(torch.cat([latent, context], dim=1))

    def entropy_parameters(self, hyper_features, context):
        return self.parameters_head(torch.cat([hyper_features, self.temporal_prior(context)], dim=1))

    def synthesis(self, code, context, reference):
        return reference + self.fuse(torch.cat([self.decoder(code), context], dim=1))
