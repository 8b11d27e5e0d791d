"""Per-GOP optimisation of the INR, its context tokens and the LoRA adapters, in two phases.

First ``fit_iterations`` fit the INR alone: latent loss + rate term, no denoiser. An INR needs
hundreds of iterations to take in a GOP (at 120 it explains a quarter of bigbuckbunny's latent
variance), and without the denoiser's forward and backward passes an iteration costs about a
quarter as much, so this phase buys the INR most of its fit cheaply. Then ``iterations`` joint ones:

Loss = latent loss (INR latents vs the GOP's true VAE latents)
     + denoise_weight x denoising loss (the backbone, with the adapters, denoising the true
       latents given the INR latents as conditioning; random timesteps, frames and crops)
     + rate_weight x estimated bits per pixel of the quantised weights (Laplace model).
The last ``qat_fraction`` of the iterations are quantisation-aware: the forward pass uses the
weights rounded to their per-tensor step (fixed when that phase starts) and the gradient
updates the full-precision copies (straight-through).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from tqdm import tqdm

from vcbench.codecs.divinr.gop import GopModel, relative_steps
from vcbench.diffusion.backbone import Backbone
from vcbench.diffusion.noise import DdimTrailing, EulerEdm, noise_process
from vcbench.entropy.quantize import estimated_bits, quantised_weights


@dataclass(frozen=True)
class EncoderSettings:
    """The optimisation's settings: the codec options of ``settings.ENCODER_OPTIONS`` and two rate
    knobs (their defaults, ranges and meaning are declared in :mod:`vcbench.codecs.divinr.settings`)."""

    fit_iterations: int
    fit_learning_rate: float
    iterations: int
    qat_fraction: float
    learning_rate: float
    lora_learning_rate: float
    denoise_weight: float
    inr_frames: int
    batch_frames: int
    crop: int
    rate_weight: float
    quant_step: float


def _denoising_loss(backbone: Backbone, process: DdimTrailing | EulerEdm, model: GopModel, latents: torch.Tensor,
                    condition: torch.Tensor, time_ids: torch.Tensor | None, settings: EncoderSettings,
                    generator: torch.Generator) -> torch.Tensor:
    _, _, height, width = latents.shape
    if backbone.kind == "image":
        latents, condition = latents[: settings.batch_frames], condition[: settings.batch_frames]
    # the crop keeps the denoiser's cost per iteration independent of the resolution
    multiple = 2 ** (len(backbone.unet.config.block_out_channels) - 1)
    crop_h = min(height, max(multiple, settings.crop // multiple * multiple))
    crop_w = min(width, max(multiple, settings.crop // multiple * multiple))
    top = int(torch.randint(0, height - crop_h + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - crop_w + 1, (1,), generator=generator))
    latents = latents[:, :, top : top + crop_h, left : left + crop_w]
    condition = condition[:, :, top : top + crop_h, left : left + crop_w]
    # one noise level per frame for image denoisers, one for the whole clip for video ones
    example = process.training_example(latents, 1 if backbone.kind == "video" else latents.shape[0], generator)
    # a stock denoiser (no concatenated input) learns the GOP through the context and LoRA alone; the INR reaches it as the start
    concatenated = condition if backbone.concatenates else None
    return example.loss(backbone.predict(example.model_input, example.timesteps, concatenated, model.context, time_ids))


def _frames_to_fit(backbone: Backbone, index: torch.Tensor, settings: EncoderSettings, generator: torch.Generator) -> torch.Tensor:
    """This iteration's frames: ``inr_frames`` of the GOP drawn at random for image denoisers, every one for video ones."""
    if backbone.kind == "image" and len(index) > settings.inr_frames:
        return index[torch.randperm(len(index), generator=generator)[: settings.inr_frames].to(index.device)]
    return index


def _fit_inr(backbone: Backbone, model: GopModel, latents: torch.Tensor, settings: EncoderSettings, generator: torch.Generator,
             pixels: int, description: str) -> float | None:
    """The first phase: the INR alone against the true latents (latent loss + rate term); its last latent loss."""
    named = model.inr_tensors()
    optimiser = torch.optim.Adam([p for _, p in named], lr=settings.fit_learning_rate)
    lr_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(settings.fit_iterations, 1),
                                                             eta_min=settings.fit_learning_rate * 0.05)
    index = torch.arange(latents.shape[0], device=latents.device)
    latent_loss = None
    progress = tqdm(range(settings.fit_iterations), desc=f"{description} INR", unit="it", leave=False, mininterval=1.0, disable=None)
    for iteration in progress:
        if iteration % 25 == 0:
            quant_steps = relative_steps(named, settings.quant_step)  # the RMS (and so the step) follows the weights
        optimiser.zero_grad(set_to_none=True)
        pick = _frames_to_fit(backbone, index, settings, generator)
        latent_loss = torch.nn.functional.mse_loss(model.inr(pick), latents[pick])
        bits = estimated_bits(named, quant_steps)
        (latent_loss + settings.rate_weight * bits / pixels).backward()
        optimiser.step()
        lr_schedule.step()
        if iteration % 25 == 0:
            progress.set_postfix(lat=f"{latent_loss.item():.4f}", kB=f"{bits.item() / 8192:.2f}")
    progress.close()
    return None if latent_loss is None else latent_loss.item()


def optimise_gop(backbone: Backbone, model: GopModel, latents: torch.Tensor, time_ids: torch.Tensor | None,
                 settings: EncoderSettings, seed: int, pixels: int, description: str) -> dict:
    """Fit ``model`` to the GOP's true ``latents`` (F, C, h, w); return the per-tensor quantisation steps and statistics."""
    generator = torch.Generator().manual_seed(seed)
    fitted_latent_loss = _fit_inr(backbone, model, latents, settings, generator, pixels, description)
    process = noise_process(backbone.scheduler_config)
    named = model.named_tensors()
    groups = [{"params": list(model.inr.parameters()), "lr": settings.learning_rate}]
    if model.context is not None:
        groups.append({"params": [model.context], "lr": settings.learning_rate})
    if model.lora:
        groups.append({"params": [p for _, p in model.lora], "lr": settings.lora_learning_rate})
    optimiser = torch.optim.Adam(groups)
    qat_start = int(settings.iterations * (1 - settings.qat_fraction))
    lr_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(settings.iterations, 1), eta_min=settings.learning_rate * 0.05)
    index = torch.arange(latents.shape[0], device=latents.device)
    quant_steps = model.quant_steps(settings.quant_step)
    history = []
    progress = tqdm(range(settings.iterations), desc=description, unit="it", leave=False, mininterval=1.0, disable=None)
    for iteration in progress:
        if iteration == qat_start:
            quant_steps = model.quant_steps(settings.quant_step)  # frozen for the quantisation-aware phase
        elif iteration < qat_start and iteration % 25 == 0:
            quant_steps = model.quant_steps(settings.quant_step)  # the RMS (and so the step) follows the weights
        quantised = quantised_weights(named, quant_steps) if iteration >= qat_start else contextlib.nullcontext()
        optimiser.zero_grad(set_to_none=True)
        pick = _frames_to_fit(backbone, index, settings, generator)
        with quantised:
            condition = model.inr(pick)
            latent_loss = torch.nn.functional.mse_loss(condition, latents[pick])
            denoise_loss = torch.zeros((), device=latents.device)
            if settings.denoise_weight > 0:
                denoise_loss = _denoising_loss(backbone, process, model, latents[pick], condition, time_ids, settings, generator)
            bits = estimated_bits(named, quant_steps)
            loss = latent_loss + settings.denoise_weight * denoise_loss + settings.rate_weight * bits / pixels
            loss.backward()
        optimiser.step()
        lr_schedule.step()
        if iteration % 10 == 0 or iteration == settings.iterations - 1:
            progress.set_postfix(loss=f"{loss.item():.4f}", lat=f"{latent_loss.item():.4f}", den=f"{denoise_loss.item():.4f}",
                                 kB=f"{bits.item() / 8192:.2f}")
            history.append({"iteration": iteration, "loss": loss.item(), "latent_loss": latent_loss.item(),
                            "denoise_loss": denoise_loss.item(), "estimated_bits": bits.item()})
    progress.close()
    return {"quant_steps": quant_steps, "fitted_latent_loss": fitted_latent_loss, "history": history}
