"""The noise processes the latent-diffusion codecs drive, chosen from the backbone's own scheduler config, each with
the training example the encoder's denoising loss uses and the deterministic sampler the decoder
runs (its name is written in the bitstream header) and the loss each trains with:

ddim-trailing  discrete-timestep models (DDPM/DDIM-trained image LDMs, the embedded prior):
               noise from the scheduler's alphas at a random timestep; DDIM with eta = 0 and
               trailing timestep spacing, so that few steps start from pure noise. Whatever
               discrete scheduler a backbone ships (SD 1.5's PNDM, SD 2.1's v-prediction DDIM,
               SD-Turbo's trailing Euler), its betas and prediction type are what matter: DDIM
               with eta = 0 integrates the same probability-flow ODE as those samplers do
euler-edm      continuous-noise models of the SVD kind (EulerDiscreteScheduler with
               ``timestep_type: continuous``): EDM preconditioning (input scaled by
               1/sqrt(sigma^2 + 1), timestep 0.25 ln sigma), log-normal training noise levels,
               and the deterministic Euler sampler on Karras sigmas that SVD's pipeline runs
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from diffusers import DDIMScheduler

from vcbench.diffusion.backbone import Backbone
from vcbench.diffusion.compatibility import sampler_name

if TYPE_CHECKING:
    from diffusers import EulerDiscreteScheduler

# EDM's training distribution of noise levels: ln sigma ~ N(P_MEAN, P_STD^2) (Karras et al. 2022)
EDM_P_MEAN, EDM_P_STD = -1.2, 1.2


@dataclass
class TrainingExample:
    """A noised crop of true latents: what the denoiser sees, and the loss of its output."""

    model_input: torch.Tensor
    timesteps: torch.Tensor
    loss: Callable[[torch.Tensor], torch.Tensor]


class DdimTrailing:
    name = "ddim-trailing"

    def __init__(self, config: dict):
        self.config = config
        self.training = DDIMScheduler.from_config(config)

    def training_example(self, latents: torch.Tensor, count: int, generator: torch.Generator) -> TrainingExample:
        """``count`` random timesteps: one per frame (image denoisers) or one for the clip (1)."""
        noise = torch.randn(latents.shape, generator=generator).to(latents.device)
        timesteps = torch.randint(0, self.training.config.num_train_timesteps, (count,), generator=generator).to(latents.device)
        per_frame = timesteps.expand(latents.shape[0])
        prediction = self.training.config.prediction_type
        if prediction == "epsilon":
            target = noise
        elif prediction == "v_prediction":
            target = self.training.get_velocity(latents, noise, per_frame)
        else:
            target = latents
        noisy = self.training.add_noise(latents, noise, per_frame)
        return TrainingExample(noisy, timesteps, lambda output: torch.nn.functional.mse_loss(output, target))

    def scheduler(self, steps: int) -> DDIMScheduler:
        scheduler = DDIMScheduler.from_config(self.config, timestep_spacing="trailing", clip_sample=False)
        scheduler.set_timesteps(steps)
        return scheduler

    @staticmethod
    def noised(scheduler, clean: torch.Tensor, noise: torch.Tensor, step: int) -> torch.Tensor:
        """``clean`` noised to the level of sampling step ``step`` (SDEdit's start)."""
        return scheduler.add_noise(clean, noise, scheduler.timesteps[step : step + 1])

    @staticmethod
    def step(scheduler, output, timestep, latents):
        return scheduler.step(output, timestep, latents, eta=0.0)


class EulerEdm:
    name = "euler-edm"

    def __init__(self, config: dict):
        self.config = config
        self.sigma_min = float(config.get("sigma_min") or 0.002)
        self.sigma_max = float(config.get("sigma_max") or 80.0)

    def training_example(self, latents: torch.Tensor, count: int, generator: torch.Generator) -> TrainingExample:
        noise = torch.randn(latents.shape, generator=generator).to(latents.device)
        log_sigma = EDM_P_MEAN + EDM_P_STD * torch.randn((count,), generator=generator)
        sigma = log_sigma.exp().clamp(self.sigma_min, self.sigma_max).to(latents.device)
        s = sigma.expand(latents.shape[0]).reshape(-1, 1, 1, 1)
        noisy = latents + s * noise
        scale_in = 1 / (s**2 + 1).sqrt()
        prediction = self.config.get("prediction_type", "epsilon")

        def loss(output: torch.Tensor) -> torch.Tensor:
            # the clean estimate as diffusers' Euler step forms it, with EDM's weighting (sigma_data = 1)
            if prediction == "v_prediction":
                clean = output * (-s * scale_in) + noisy / (s**2 + 1)
            elif prediction == "epsilon":
                clean = noisy - s * output
            else:
                clean = output
            return ((s**2 + 1) / s**2 * (clean - latents) ** 2).mean()

        return TrainingExample(noisy * scale_in, 0.25 * sigma.log(), loss)

    def scheduler(self, steps: int) -> EulerDiscreteScheduler:
        from diffusers import EulerDiscreteScheduler  # here: its module imports scipy.stats (2 s) for a sigma schedule not used

        scheduler = EulerDiscreteScheduler.from_config(self.config)
        scheduler.set_timesteps(steps)
        return scheduler

    @staticmethod
    def noised(scheduler, clean: torch.Tensor, noise: torch.Tensor, step: int) -> torch.Tensor:
        """``clean`` noised to the level of sampling step ``step`` (SDEdit's start)."""
        scheduler.set_begin_index(step)  # Euler's add_noise and step count their sigmas from the begin index
        return scheduler.add_noise(clean, noise, scheduler.timesteps[step : step + 1])

    @staticmethod
    def step(scheduler, output, timestep, latents):
        return scheduler.step(output, timestep, latents)  # s_churn = 0: deterministic


SAMPLERS = {cls.name: cls for cls in (DdimTrailing, EulerEdm)}


def noise_process(config: dict) -> DdimTrailing | EulerEdm:
    """The process a backbone was trained with, from its scheduler config (the rule: :func:`sampler_name`)."""
    return SAMPLERS[sampler_name(config)](config)


def start_latents(process: DdimTrailing | EulerEdm, scheduler, clean: torch.Tensor, noise: torch.Tensor, start: int) -> torch.Tensor:
    """Where sampling begins: pure noise at step 0, else ``clean`` noised to the level of step ``start`` (SDEdit)."""
    if not 0 <= start < len(scheduler.timesteps):
        raise ValueError(f"the first sampling step {start} must be below the {len(scheduler.timesteps)} steps")
    return process.noised(scheduler, clean, noise, start) if start else noise * scheduler.init_noise_sigma


@torch.inference_mode()
def sample(backbone: Backbone, process: DdimTrailing | EulerEdm, condition: torch.Tensor, context: torch.Tensor | None,
           time_ids: torch.Tensor | None, steps: int, seed: int,
           on_step: Callable[[int, torch.Tensor], None] | None = None, start: int = 0, concatenate: bool = True) -> torch.Tensor:
    """Latents (F, C, h, w) of a GOP; ``on_step(step, predicted_x0)`` sees every step's clean estimate.

    ``start`` > 0 skips the first ``start`` of the ``steps`` steps: sampling begins from the
    condition (a latent-space estimate of the frames) noised to the level of step ``start``, as
    SDEdit does, so the denoiser refines the estimate instead of inventing the frames from noise;
    every step's clean estimate is still reported, those skipped as the condition itself. Without
    ``concatenate`` (a denoiser that takes the noisy latent alone) that start is all the denoiser sees of it."""
    scheduler = process.scheduler(steps)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(condition.shape, generator=generator).to(condition.device)
    latents = start_latents(process, scheduler, condition, noise, start)
    for index, timestep in enumerate(scheduler.timesteps):
        if index < start:
            if on_step is not None:
                on_step(index, condition)
            continue
        model_input = scheduler.scale_model_input(latents, timestep)
        output = backbone.predict(model_input, timestep.reshape(1).to(condition.device), condition if concatenate else None, context,
                                  time_ids)
        result = process.step(scheduler, output, timestep, latents)
        latents = result.prev_sample
        if on_step is not None:
            on_step(index, result.pred_original_sample)
    return latents
