"""Deterministic sampling: DDIM (eta = 0, trailing timestep spacing so that few steps start from
pure noise) from seeded Gaussian noise, conditioned on the INR latents."""

from __future__ import annotations

from typing import Callable

import torch
from diffusers import DDIMScheduler

from vcbench.codecs.divinr.backbone import Backbone

SAMPLER = "ddim-trailing"


def sampling_scheduler(config: dict, steps: int) -> DDIMScheduler:
    scheduler = DDIMScheduler.from_config(config, timestep_spacing="trailing", clip_sample=False)
    scheduler.set_timesteps(steps)
    return scheduler


@torch.no_grad()
def sample(backbone: Backbone, condition: torch.Tensor, context: torch.Tensor | None, time_ids: torch.Tensor | None,
           steps: int, seed: int, on_step: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Latents (F, C, h, w) of a GOP; ``on_step(step, predicted_x0)`` sees every step's clean estimate."""
    scheduler = sampling_scheduler(backbone.scheduler_config, steps)
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(condition.shape, generator=generator).to(condition.device) * scheduler.init_noise_sigma
    for index, timestep in enumerate(scheduler.timesteps):
        model_input = scheduler.scale_model_input(latents, timestep)
        output = backbone.predict(model_input, timestep.reshape(1).to(condition.device), condition, context, time_ids)
        result = scheduler.step(output, timestep, latents, eta=0.0)
        latents = result.prev_sample
        if on_step is not None:
            on_step(index, result.pred_original_sample)
    return latents
