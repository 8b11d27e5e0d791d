"""Per-GOP optimisation of GIViC's denoiser: its weights are the GOP's bitstream.

Each iteration draws ``batch_tokens`` tokens from every level of the GOP's pyramid, a level of N
tokens with probability proportional to N^-0.6 (72, 21, 6 and 2 % of the draws for K = 4): every
finer level is conditioned on the coarser ones and inherits their errors, and within a CPU's few
hundred iterations the finest levels cannot be fitted token by token anyway. On the demo's Big Buck
Bunny (width 16, 300 iterations) this gave level 1 31.4 dB and the decode 23.1 dB PSNR, against
26.7 and 22.3 dB with every level drawn equally often. A noise level
t ~ U(0, 1) and noise per token, and minimises

    loss = MSE(x0 estimate, x0)  +  rate_weight x estimated bits per pixel of the quantised weights

(the bits: a Laplace model of every tensor's rounded values, ``vcbench.entropy.laplace_bits``).

Cross-resolution consistency: a fraction ``consistency`` of the tokens below level 1 are
conditioned not on the true coarser level but on the denoiser's own decode of it (the sampler
the decoder runs, with the decoder's noise), with the parent states that decode leaves: the
model learns to correct what its coarser levels get wrong, as the decoder will need it to.

Carried states: a token's carried HGLA state depends on every earlier token of its context
window and its ancestors; back-propagating through all of them would cost a pass over most of
the pyramid per iteration. Instead the end states E of the true pyramid (and of the own decode)
are recomputed with the current weights every ``refresh`` iterations and held fixed in between:
the gradient reaches the gates that mix the carried state and everything the token itself
computes, not the earlier tokens' writing of it (truncated back-propagation through the
sequence and scale axes, one token deep). The decoder computes the exact states of its own
tokens.

Quantisation-aware at the end: the last ``qat_fraction`` of the iterations run forward and
backward at the weights rounded to their per-tensor steps (fixed when that phase starts; the
refreshes then use them too), and the optimiser updates the full-precision copies
(straight-through).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F
from tqdm import tqdm

from vcbench.codecs.givic.model import Denoiser
from vcbench.codecs.givic.pyramid import Geometry, build_pyramid, tokenise
from vcbench.codecs.givic.sampling import Sampler, alpha_sigma
from vcbench.entropy.quantize import estimated_bits, quantised_weights

LEVEL_POWER = -0.6  # a level of N tokens is drawn with probability ~ N ** LEVEL_POWER (module docstring)


@dataclass(frozen=True)
class TrainSettings:
    """The optimisation's settings: the codec options of ``settings.ENCODER_OPTIONS``, two rate
    knobs, and what the header fixes for the decoder (steps, context, seed)."""

    iterations: int
    qat_fraction: float
    learning_rate: float
    batch_tokens: int
    consistency: float
    refresh: int
    rate_weight: float
    quant_step: float
    steps: int
    context: int
    seed: int


class TokenTable:
    """Every token of a GOP's pyramid, all levels in one table: what training draws from."""

    def __init__(self, geometry: Geometry, pyramid: list[torch.Tensor], sampler: Sampler):
        self.geometry = geometry
        levels = range(1, geometry.levels + 1)
        self.level = torch.cat([torch.full((geometry.tokens(k),), k - 1) for k in levels])
        first = [sum(geometry.tokens(j) for j in range(1, k)) for k in levels]
        self.x0 = torch.cat([tokenise(video, geometry, k) for k, video in zip(levels, pyramid)])
        self.cond = torch.cat([sampler.conditioning(k, pyramid[k - 2] if k > 1 else None) for k in levels])
        # the same per level (views): the true pyramid's conditioning does not change with the weights, every refresh reuses it
        self.true_cond = self.cond.split([geometry.tokens(k) for k in levels])
        self.positions = torch.cat([sampler.positions[k] for k in levels])
        window = [sampler.window(geometry.tokens(k)) for k in levels]
        index = [torch.arange(geometry.tokens(k)) for k in levels]
        # the global row of each token's previous token in its context window, and of its parent (-1: none)
        self.previous = torch.cat([torch.where(n % w > 0, f + n - 1, -1) for n, f, w in zip(index, first, window)])
        self.parent = torch.cat([torch.full_like(index[0], -1)] + [first[k - 2] + index[k - 1] // 8 for k in levels[1:]])
        weights = torch.cat([torch.full((geometry.tokens(k),), geometry.tokens(k) ** (LEVEL_POWER - 1)) for k in levels])
        self.weights = weights / weights.sum()
        device = sampler.device
        self.level, self.previous, self.parent = self.level.to(device), self.previous.to(device), self.parent.to(device)
        # refreshed: end states of the true pyramid, the own decode of levels 1 .. K-1 and its states
        self.true_states: list[torch.Tensor] = []
        self.own_cond = self.cond
        self.own_states: list[torch.Tensor] = []

    def refresh(self, sampler: Sampler, pyramid: list[torch.Tensor], seed: int) -> None:
        levels = self.geometry.levels
        with torch.no_grad():
            true = sampler.pass_clean(pyramid, self.true_cond)
            own = sampler.decode(seed, levels=levels - 1) if levels > 1 else []
        blocks = range(len(true[0].states))
        self.true_states = [torch.cat([r.states[b] for r in true]) for b in blocks]
        self.own_cond = torch.cat([self.cond[: self.geometry.tokens(1)]]
                                  + [sampler.conditioning(k, own[k - 2].video) for k in range(2, levels + 1)])
        # the own decode stops above the finest level, whose states no token reads as a parent's
        self.own_states = [torch.cat([r.states[b] for r in own] + [true[-1].states[b]]) for b in blocks]

    def carried(self, model: Denoiser, rows: torch.Tensor, own: torch.Tensor, cond: torch.Tensor) -> list[torch.Tensor]:
        previous, parent = self.previous[rows], self.parent[rows]
        has_previous, has_parent = (previous >= 0).view(-1, 1, 1, 1), (parent >= 0).view(-1, 1, 1, 1)
        mine = own.view(-1, 1, 1, 1)
        before = [torch.where(has_previous, s[previous.clamp_min(0)], 0.0) for s in self.true_states]
        above = [torch.where(has_parent, torch.where(mine, o[parent.clamp_min(0)], s[parent.clamp_min(0)]), 0.0)
                 for s, o in zip(self.true_states, self.own_states)]
        return model.carry(self.level[rows], cond, before, above)


def optimise_gop(model: Denoiser, sampler: Sampler, finest: torch.Tensor, settings: TrainSettings, pixels: int,
                 description: str) -> dict:
    """Fit ``model`` to the GOP whose finest level is ``finest`` (6, T, H, W); return the per-tensor
    quantisation steps and the loss history."""
    geometry = model.geometry
    device = finest.device
    pyramid = build_pyramid(finest, geometry.levels)
    table = TokenTable(geometry, pyramid, sampler)
    generator = torch.Generator().manual_seed(settings.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, settings.iterations, eta_min=settings.learning_rate * 0.05)
    qat_start = int(settings.iterations * (1 - settings.qat_fraction))
    steps = model.steps(settings.quant_step)
    history = []
    progress = tqdm(range(settings.iterations), desc=description, unit="it", leave=False, mininterval=1.0, disable=None)
    for iteration in progress:
        if iteration == qat_start or (iteration < qat_start and iteration % 25 == 0):
            steps = model.steps(settings.quant_step)  # the RMS (and so the step) follows the weights; frozen for QAT
        quantised = quantised_weights(model.named_tensors(), steps) if iteration >= qat_start else contextlib.nullcontext()
        with quantised:
            if iteration % settings.refresh == 0 or iteration == qat_start:
                table.refresh(sampler, pyramid, settings.seed)
            rows = torch.multinomial(table.weights, settings.batch_tokens, replacement=True, generator=generator).to(device)
            count = len(rows)
            own = ((torch.rand(count, generator=generator) < settings.consistency).to(device)) & (table.level[rows] > 0)
            cond = torch.where(own.view(-1, 1, 1, 1, 1), table.own_cond[rows], table.cond[rows])
            x0 = table.x0[rows]
            t = torch.rand(count, generator=generator).to(device)
            noise = torch.randn(x0.shape, generator=generator).to(device)
            alpha, sigma = alpha_sigma(t.view(-1, 1, 1, 1, 1))
            carried = table.carried(model, rows, own, cond)
            estimate, _ = model(alpha * x0 + sigma * noise, cond, t, table.level[rows], table.positions[rows], carried)
            distortion = F.mse_loss(estimate, x0)
            bits = estimated_bits(model.named_tensors(), steps)
            loss = distortion + settings.rate_weight * bits / pixels
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
        optimiser.step()
        schedule.step()
        if iteration % 10 == 0 or iteration == settings.iterations - 1:
            psnr = 10 * math.log10(4 / max(distortion.item(), 1e-12))  # samples span [-1, 1]: peak 2
            progress.set_postfix(loss=f"{loss.item():.5f}", psnr=f"{psnr:.1f}", kB=f"{bits.item() / 8192:.2f}")
            history.append({"iteration": iteration, "loss": loss.item(), "mse": distortion.item(), "estimated_bits": bits.item()})
    progress.close()
    return {"steps": steps, "history": history}
