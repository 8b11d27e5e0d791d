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

Coding is exact (:mod:`vcbench.entropy.fixed_point`): everything the decoder computes from the
symbols -- the hyper-synthesis, the entropy parameters (means, and the scales' table indexes), the
temporal context, the synthesis and so the decoded latent that the next P-frame predicts from --
runs as dyadic fixed point in float64 on the CPU, the same bit for bit on every device, thread
count and precision. Its only inputs are the integer symbols, QPP's per-channel quantiser at q
(computed in Python floats and put on the grid) and, for P-frames, the previous frame's decoded
latent from this same exact path: the diffusion decoder's output never feeds it. The encoder runs
the identical path (:meth:`_LatentCodec._reconstruct`, closed loop); only its analysis transforms,
whose output is sent as symbols, run on the device in float32. Training (:meth:`forward`) keeps the
float modules; coding uses them with their weights rounded to a grid per layer (2**-17 to 2**-21
for models/diffvc) and activations to 2**-16: decodes move by about 1e-5 from the float ones.
"""

from __future__ import annotations

import math

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from vcbench.codecs.diffvc.settings import Q_MAX
from vcbench.entropy.fixed_point import ExactNet, grid_value, to_grid
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
    """What coding one frame gives: the strings sent, the symbols (for the digest), the exact decoded
    latent (the next P-frame's reference) and, on the coding device in float32 for the diffusion
    decoder, the decoded latent and the temporal context."""

    def __init__(self, strings: tuple[bytes, bytes], symbols: tuple[torch.Tensor, torch.Tensor], reference: torch.Tensor,
                 context: torch.Tensor | None, device: torch.device):
        self.strings, self.symbols, self.reference = strings, symbols, reference
        self.latent = reference.to(device=device, dtype=torch.float32)
        self.context = None if context is None else context.to(device=device, dtype=torch.float32)


class _ExactNets:
    """Exact copies (:class:`ExactNet`) of the named sub-networks, under the same names."""

    def __init__(self, codec: nn.Module, names: tuple[str, ...]):
        for name in names:
            setattr(self, name, ExactNet(getattr(codec, name)))


class _LatentCodec(ModelMixin, ConfigMixin):
    """What both codecs share: the hyperprior, the Gaussian conditional and QPP's scales.

    Subclasses define ``analysis(latent, context)`` (the encoder's, on the device) and, on a set
    of ``nets`` (the module itself when training, its exact copies when coding),
    ``entropy_parameters(nets, hyper_features, context)``, ``synthesis(nets, code, context, reference)``
    and ``temporal_context(nets, reference)``; ``DECODER_NETS`` names the sub-networks these use."""

    DECODER_NETS: tuple[str, ...] = ()

    def _build_shared(self, code_channels: int, channels: int, hyper_channels: int) -> None:
        self.hyper_analysis = nn.Sequential(_conv(code_channels, hyper_channels), _act(), _conv(hyper_channels, hyper_channels, 5, 2))
        self.hyper_synthesis = nn.Sequential(_up(hyper_channels, channels), _act(), _conv(channels, channels))
        self.hyper_prior = FactorizedPrior(hyper_channels)
        self.gaussian = GaussianConditional()
        self.qpp = QppScales(code_channels)
        self._exact_nets: tuple[tuple[int, ...], _ExactNets] | None = None

    def temporal_context(self, nets, reference: torch.Tensor | None) -> torch.Tensor | None:
        return None

    def _mean_scale(self, z_hat: torch.Tensor, context: torch.Tensor | None, scales: torch.Tensor):
        raw = self.entropy_parameters(self, self.hyper_synthesis(z_hat), context)
        mean, log_scale = raw.chunk(2, dim=1)
        return mean / scales, log_scale.clamp(-10, 10).exp() / scales  # both in the quantiser's (scaled) domain

    # -- training ------------------------------------------------------------------------------
    def forward(self, latent: torch.Tensor, q: torch.Tensor, reference: torch.Tensor | None = None, noisy: bool = False):
        """Training pass: (decoded latent, temporal context, bits per item). Rates are measured on
        noisy values (uniform noise for rounding); reconstructions use rounding (straight-through),
        or with ``noisy`` the noisy values too (early in training: a code stuck at zero still gets a
        gradient that says which values would help, where rounding to zero hides it)."""
        context = self.temporal_context(self, reference)
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
        return self.synthesis(self, code_hat, context, reference), context, z_bits + y_bits

    # -- coding (exact; closed loop: the encoder reconstructs as the decoder does) ----------------
    def _exact(self) -> _ExactNets:
        """The exact copies of DECODER_NETS, made again whenever a weight has changed since."""
        versions = tuple(parameter._version for parameter in self.parameters())
        if self._exact_nets is None or self._exact_nets[0] != versions:
            self._exact_nets = (versions, _ExactNets(self, self.DECODER_NETS))
        return self._exact_nets[1]

    def _quantiser(self, q: int) -> tuple[torch.Tensor, torch.Tensor]:
        """QPP's per-channel quantiser at q on the grid, (log s(q), s(q)), float64 (1, C, 1, 1): the
        formula of :class:`QppScales` in Python floats (math's exp and log are within 1 ulp on
        every platform; a value within 1 ulp of a grid midpoint is what could round otherwise)."""
        logs = [grid_value(fine + q / Q_MAX * _softplus(gap))
                for fine, gap in zip(self.qpp.log_fine.detach().double().tolist(), self.qpp.gap.detach().double().tolist())]
        log_scales = torch.tensor(logs, dtype=torch.float64)
        scales = torch.tensor([grid_value(math.exp(value)) for value in logs], dtype=torch.float64)
        return log_scales[None, :, None, None], scales[None, :, None, None]

    def _entropy_model(self, nets: _ExactNets, z_symbols: torch.Tensor, context: torch.Tensor | None, log_scales: torch.Tensor):
        """The exact means (unscaled code's domain) and the scales' table indexes of a frame's code."""
        raw = self.entropy_parameters(nets, nets.hyper_synthesis(to_grid(z_symbols.double())), context)
        mean, log_scale = raw.chunk(2, dim=1)
        return mean, self.gaussian.indexes(log_scale.clamp(-10, 10) - log_scales)  # log(scale / s(q)), exact on the grid

    def _reconstruct(self, nets: _ExactNets, strings, symbols, mean, scales, context, reference, device) -> _Coded:
        code = to_grid(symbols[1].double() * scales + mean)  # exact: integers times grid values plus grid values
        latent = self.synthesis(nets, code, context, reference)
        return _Coded(strings, symbols, latent, context, device)

    @torch.inference_mode()
    def encode(self, latent: torch.Tensor, q: int, reference: torch.Tensor | None = None) -> _Coded:
        """Code one frame's latent (1, C, h, w) given the previous frame's exact decoded latent
        (``_Coded.reference``); the strings, symbols and the decoded latent."""
        nets, device = self._exact(), latent.device
        context = self.temporal_context(nets, reference)
        log_scales, scales = self._quantiser(q)
        device_context = None if context is None else context.to(device=device, dtype=torch.float32)
        code = self.analysis(latent, device_context).to(device="cpu", dtype=torch.float64)
        hyper = self.hyper_analysis((code / scales).to(device=device, dtype=torch.float32))
        z_symbols = self.hyper_prior.clip(torch.round(hyper)).to(device="cpu", dtype=torch.int64)
        mean, indexes = self._entropy_model(nets, z_symbols, context, log_scales)
        y_symbols = self.gaussian.clip(torch.round((code - mean) / scales)).to(torch.int64)
        strings = (self.hyper_prior.compress(z_symbols)[0], self.gaussian.compress(y_symbols, indexes)[0])
        return self._reconstruct(nets, strings, (z_symbols, y_symbols), mean, scales, context, reference, device)

    @torch.inference_mode()
    def decode(self, strings: tuple[bytes, bytes], q: int, latent_hw: tuple[int, int], reference: torch.Tensor | None = None) -> _Coded:
        """The decoded latent of one frame from its two strings (the side information first)."""
        nets = self._exact()
        context = self.temporal_context(nets, reference)
        hyper_hw = (latent_hw[0] // HYPER_STRIDE, latent_hw[1] // HYPER_STRIDE)
        z_symbols = self.hyper_prior.decompress([strings[0]], (self.hyper_prior.channels, *hyper_hw))
        log_scales, scales = self._quantiser(q)
        mean, indexes = self._entropy_model(nets, z_symbols, context, log_scales)
        y_symbols = self.gaussian.decompress([strings[1]], indexes)
        return self._reconstruct(nets, strings, (z_symbols, y_symbols), mean, scales, context, reference, self.qpp.log_fine.device)


def _softplus(value: float) -> float:
    return value if value > 20 else math.log1p(math.exp(value))  # torch's softplus, threshold 20 included


def bits_per_item(likelihoods: torch.Tensor) -> torch.Tensor:
    return torch.stack([bits(item) for item in likelihoods])


class IntraCodec(_LatentCodec):
    """I-frames: a mean-scale hyperprior codec over the latent."""

    DECODER_NETS = ("hyper_synthesis", "parameters_head", "decoder")

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

    def entropy_parameters(self, nets, hyper_features, context):
        return nets.parameters_head(hyper_features)

    def synthesis(self, nets, code, context, reference):
        return nets.decoder(code)


class PredictiveCodec(_LatentCodec):
    """P-frames: DCVC-style conditional coding given the previous frame's decoded latent."""

    DECODER_NETS = ("hyper_synthesis", "parameters_head", "decoder", "context_net", "temporal_prior", "fuse")

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

    def temporal_context(self, nets, reference):
        return nets.context_net(reference)

    def analysis(self, latent, context):
        return self.encoder(torch.cat([latent, context], dim=1))

    def entropy_parameters(self, nets, hyper_features, context):
        return nets.parameters_head(torch.cat([hyper_features, nets.temporal_prior(context)], dim=1))

    def synthesis(self, nets, code, context, reference):
        return reference + nets.fuse(torch.cat([nets.decoder(code), context], dim=1))
