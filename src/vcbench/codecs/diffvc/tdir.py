"""The diffusion decoder, with temporal diffusion information reuse (TDIR).

Every frame is sampled with the backbone's deterministic sampler (DDIM, eta 0, trailing spacing:
:class:`vcbench.diffusion.noise.DdimTrailing`) from the same seeded noise, conditioned on the
frame's condition and prompted with q. The noise is drawn once per sequence (not per frame): fresh
noise per frame makes invented texture flicker from frame to frame.

TDIR (r > 0): a P-frame does not start from noise. It starts from the previous frame's sampling
state after r of the ``steps`` steps (the input of step r) and runs only the last steps - r, so a
P-frame costs steps - r denoiser evaluations instead of steps. Two modes (a header field):

``reuse``    that state as it is;
``aligned``  that state moved by the change of the decoded latent, scaled as the sampler scales
             the clean latent at that step: x_r + sqrt(alpha_bar(t_r)) (decoded_t - decoded_{t-1}).
             At step r the state is sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) noise; the shift moves
             its clean part to the current frame (aligned to its motion, as the decoded latents
             are) and keeps the noise part, and the remaining steps refine it.

r = 0 is off: every frame runs every step that runs. I-frames always run them all (nothing to reuse).
``evaluations`` counts the denoiser calls.

A ``strength`` below 1 (a header field, diffusers' img2img convention:
:func:`vcbench.diffusion.strength.first_step`) skips the first ``start`` steps for every frame:
sampling begins from the frame's decoded latent noised to the level of step ``start`` (SDEdit),
so the denoiser refines the decoded latent instead of inventing the frame from noise. TDIR then
needs r > start: at r = start an aligned reuse is exactly that start state (same noise, clean
part moved to the current frame), so there would be nothing to reuse.
"""

from __future__ import annotations

import torch

from vcbench.codecs.diffvc.conditioning import DenoiserAdapter
from vcbench.codecs.diffvc.settings import backbone_problem, tdir_problem
from vcbench.diffusion.backbone import Backbone
from vcbench.diffusion.compatibility import backbone_facts
from vcbench.diffusion.noise import DdimTrailing, noise_process, start_latents
from vcbench.diffusion.strength import first_step
from vcbench.errors import ConfigError

SAMPLER = DdimTrailing.name


def check_sampler(backbone: Backbone) -> None:
    """A ConfigError unless DiffVC can drive ``backbone`` (:func:`vcbench.codecs.diffvc.settings.backbone_problem`, the rule
    the option check runs before any job: image denoisers with a discrete-timestep scheduler, sampled with DDIM)."""
    problem = backbone_problem(backbone_facts(backbone.folder), {})
    if problem:
        raise ConfigError(f"diffvc: backbone {backbone.folder}: {problem}")


class DiffusionDecoder:
    """Samples the frames of one sequence in order, keeping what TDIR reuses."""

    def __init__(self, backbone: Backbone, adapter: DenoiserAdapter, steps: int, strength: float, seed: int, q: int, tdir_r: int,
                 mode: str):
        problem = tdir_problem(tdir_r, steps, strength)
        if problem:
            raise ValueError(problem)
        check_sampler(backbone)
        self.backbone, self.adapter, self.steps, self.seed, self.tdir_r, self.mode = backbone, adapter, steps, seed, tdir_r, mode
        self.start = first_step(steps, strength)
        process = noise_process(backbone.scheduler_config)
        self.process, self.scheduler = process, process.scheduler(steps)
        self.q = torch.tensor([q], device=backbone.device)
        self.evaluations = 0
        self._noise: torch.Tensor | None = None
        self._reused: tuple[torch.Tensor, torch.Tensor] | None = None  # (state at step r, that frame's decoded latent)

    def _sequence_noise(self, shape: torch.Size) -> torch.Tensor:
        if self._noise is None or self._noise.shape != shape:
            generator = torch.Generator().manual_seed(self.seed)
            self._noise = torch.randn(shape, generator=generator).to(self.backbone.device)
        return self._noise

    def _signal_scale(self, step: int) -> float:
        timestep = int(self.scheduler.timesteps[step])
        return float(self.scheduler.alphas_cumprod[timestep].sqrt())

    @torch.inference_mode()
    def frame(self, decoded: torch.Tensor, context: torch.Tensor | None, intra: bool) -> torch.Tensor:
        """The sampled latent (1, C, h, w) of the next frame from its decoded latent and temporal context."""
        condition = self.adapter.condition(decoded, context)
        if self.tdir_r and not intra and self._reused is not None:
            first, (state, previous) = self.tdir_r, self._reused
            if self.mode == "aligned":
                state = state + self._signal_scale(first) * (decoded - previous)
        else:
            first = self.start
            state = start_latents(self.process, self.scheduler, decoded, self._sequence_noise(decoded.shape), first)
        for step in range(first, self.steps):
            if step == self.tdir_r:
                self._reused = (state, decoded)
            timestep = self.scheduler.timesteps[step]
            model_input = self.scheduler.scale_model_input(state, timestep)
            output = self.adapter.predict(self.backbone, model_input, timestep.reshape(1).to(state.device), condition, self.q)
            self.evaluations += 1
            state = self.process.step(self.scheduler, output, timestep, state).prev_sample
        return state
