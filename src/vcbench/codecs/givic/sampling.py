"""GIViC's implicit diffusion: the noise process and the coarse-to-fine, token-by-token sampler.

Noise process: variance preserving with the cosine schedule, x_t = cos(pi t / 2) x0 + sin(pi t / 2) eps
for t in [0, 1]; training draws t uniformly. Sampler (header name ``ddim-cosine``): DDIM with eta 0
from pure noise (t = 1) to t = 0 in ``steps`` equal steps, each step's noise estimate taken from the
x0 estimate; deterministic given the initial noise.

Decoding a GOP: level 1 (one token: the whole downsampled GOP diffuses at once), then each finer
level conditioned on the upsampled decoded level above. Within a level the tokens are sampled in
order: each starts from its carried HGLA state (``hgla.py``), is denoised from its own noise, and
is then passed once more, clean (t = 0), through the denoiser, which gives the end state E that
the next token (sequence axis) and its children (scale axis) carry. Tokens at the same place of
different context windows do not depend on each other and are sampled as one batch, so a short
context length L decodes in L sequential rounds per level instead of one per token.

The noise is drawn from one generator seeded with the header's seed plus the GOP index, level by
level, token by token, on the CPU (the same numbers on every device), before any batching: the
same file decodes to the same frames every time. The encoder runs the same sampler on levels
1 .. K-1 during training (its own coarser levels, for cross-resolution consistency), with the
decoder's very noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vcbench.codecs.givic.hgla import gla
from vcbench.codecs.givic.model import Denoiser
from vcbench.codecs.givic.pyramid import CHANNELS, positions, tokenise, untokenise, upsample


def alpha_sigma(t: torch.Tensor | float) -> tuple:
    """Signal and noise scales of noise level ``t``."""
    if isinstance(t, torch.Tensor):
        return torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)
    return math.cos(t * math.pi / 2), math.sin(t * math.pi / 2)


@dataclass
class LevelResult:
    video: torch.Tensor  # (6, T, H, W) the level as decoded (or given)
    states: list[torch.Tensor]  # per block (N, heads, d_k, d_v): the end state of every token


class Sampler:
    """One GOP's denoiser with its geometry, context length and step count: samples and passes levels."""

    def __init__(self, model: Denoiser, context: int, steps: int, form=gla):
        self.model, self.geometry, self.context, self.steps, self.form = model, model.geometry, context, steps, form
        self.device = next(model.parameters()).device
        self.positions = {level: positions(self.geometry, level).to(self.device) for level in range(1, self.geometry.levels + 1)}

    def window(self, tokens: int) -> int:
        return tokens if self.context == 0 else min(self.context, tokens)

    def conditioning(self, level: int, above: torch.Tensor | None) -> torch.Tensor:
        """The tokens of the upsampled level above, ``above`` (6, T, H, W) (zeros at level 1, where it is None)."""
        if above is None:
            return torch.zeros(self.geometry.tokens(level), CHANNELS, *self.geometry.token, device=self.device)
        return tokenise(upsample(above), self.geometry, level)

    def level(self, level: int, above: torch.Tensor | None, above_states: list[torch.Tensor] | None,
              noise: torch.Tensor | None = None, clean: torch.Tensor | None = None, cond: torch.Tensor | None = None) -> LevelResult:
        """Sample ``level`` from ``noise`` (N, 6, t, h, w), or pass its ``clean`` tokens to get their
        states. ``above`` is the level above as decoded and ``above_states`` its tokens' end states
        (None at level 1); ``cond``, where the caller has it, is ``conditioning(level, above)``."""
        cond = self.conditioning(level, above) if cond is None else cond
        count = cond.shape[0]
        window = self.window(count)
        level_index = torch.full((count,), level - 1, dtype=torch.long, device=self.device)
        parent = torch.arange(count, device=self.device) // 8
        states = self.model.zero_states(count, self.device)
        tokens = torch.empty_like(cond)
        for offset in range(window):
            batch = torch.arange(offset, count, window, device=self.device)
            zeros = self.model.zero_states(len(batch), self.device)
            previous = [s[batch - 1] for s in states] if offset else zeros
            parents = [s[parent[batch]] for s in above_states] if above_states is not None else zeros
            carried = self.model.carry(level_index[batch], cond[batch], previous, parents)
            args = (cond[batch], level_index[batch], self.positions[level][batch], carried)
            x0 = clean[batch] if clean is not None else self._denoise(noise[batch], *args)
            _, ends = self.model(x0, args[0], torch.zeros(len(batch), device=self.device), *args[1:], form=self.form)
            for state, end in zip(states, ends):
                state[batch] = end
            tokens[batch] = x0
        return LevelResult(untokenise(tokens, self.geometry, level), states)

    def _denoise(self, x: torch.Tensor, cond, level_index, pos, carried) -> torch.Tensor:
        for step in range(self.steps):
            t, t_next = 1 - step / self.steps, 1 - (step + 1) / self.steps
            x0, _ = self.model(x, cond, torch.full((len(x),), t, device=self.device), level_index, pos, carried, form=self.form)
            alpha, sigma = alpha_sigma(t)
            alpha_next, sigma_next = alpha_sigma(t_next)
            x = alpha_next * x0 + sigma_next * (x - alpha * x0) / sigma
        return x

    def noise(self, seed: int, levels: int | None = None) -> list[torch.Tensor]:
        """The initial noise of levels 1 .. ``levels`` (all by default), in level order, from one seeded CPU
        generator: a level's noise is the same however many levels follow it."""
        generator = torch.Generator().manual_seed(seed)
        return [torch.randn((self.geometry.tokens(level), CHANNELS, *self.geometry.token), generator=generator).to(self.device)
                for level in range(1, (levels or self.geometry.levels) + 1)]

    def decode(self, seed: int, levels: int | None = None) -> list[LevelResult]:
        """Sample levels 1 .. ``levels`` (all by default), coarse to fine."""
        results: list[LevelResult] = []
        for level, noise in enumerate(self.noise(seed, levels), start=1):
            above = (results[-1].video, results[-1].states) if results else (None, None)
            results.append(self.level(level, *above, noise=noise))
        return results

    def pass_clean(self, pyramid: list[torch.Tensor], conditions: list[torch.Tensor] | None = None) -> list[LevelResult]:
        """The states of the true pyramid (levels coarsest first), each level conditioned on the true level above
        (``conditions``: those conditionings, per level, where the caller keeps them)."""
        results: list[LevelResult] = []
        for level, video in enumerate(pyramid, start=1):
            above = (pyramid[level - 2], results[-1].states) if results else (None, None)
            cond = conditions[level - 1] if conditions is not None else None
            results.append(self.level(level, *above, clean=tokenise(video, self.geometry, level), cond=cond))
        return results
