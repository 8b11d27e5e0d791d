"""The embedded backbone: a small conditional latent diffusion model that vcbench trains itself.

Architecture (saved with ``save_pretrained`` in the usual diffusers pipeline layout):
  vae/        PatchAutoencoder (vcbench.diffusion.patch_vae): 16 latent channels at 1/8 resolution, a
              principal-component code of 8x8 patches plus learned 3x3 refinement branches
  unet/       UNet2DModel, 32 input channels = noisy latent + the INR-like conditioning latent,
              16-32-32 channels, attention in its two lower levels (the LoRA targets)
  scheduler/  DDIMScheduler, v-prediction, zero terminal SNR (so trailing few-step sampling
              starts from pure noise, as in training)
Everything is small because the demo's models train in minutes on two CPU cores.

Training material: vcbench.diffusion.material (colour photos and video frames, disjoint from the test
sequences), as random rescaled crops with flips. The VAE comes first: its linear maps are set to
the principal components of training patches, then the whole autoencoder trains on L1 + MSE, its
decoder seeing half of each batch's latents with noise (so a sampler's last error decodes smooth). The
denoiser trains next, on the latents of a pool of crops, with a conditioning latent degraded as an
INR's output is (blurred at a random scale, plus noise). Training resumes from a checkpoint beside
the output folder; the finished folder appears atomically with model_index.json (which also
records the material with its hashes and colour statistics, the steps, losses and time) written last.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DDIMScheduler, UNet2DModel
from tqdm import tqdm

from vcbench.diffusion.backbone import backbone_hash
from vcbench.diffusion.material import colour_statistics, training_images
from vcbench.diffusion.patch_vae import PatchAutoencoder, principal_patches

PRIOR_VERSION = "embedded-v2"

VAE_CONFIG = dict(latent_channels=16, patch_size=8, encoder_channels=64, encoder_blocks=1, decoder_channels=128, decoder_blocks=3)
UNET_CONFIG = dict(
    in_channels=32, out_channels=16, layers_per_block=1, norm_num_groups=4, attention_head_dim=8, sample_size=16,
    block_out_channels=(16, 32, 32), down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
)
SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, prediction_type="v_prediction",
    rescale_betas_zero_snr=True, timestep_spacing="trailing", clip_sample=False, set_alpha_to_one=True,
)

@dataclass(frozen=True)
class PriorSettings:
    vae_steps: int = 1000
    vae_batch: int = 8
    vae_crop: int = 128
    vae_learning_rate: float = 1e-3
    pca_crops: int = 256  # crops whose 8x8 patches set the VAE's linear maps
    vae_latent_noise: float = 0.5  # largest noise (in whitened latent units) the decoder learns to see through
    unet_steps: int = 2000
    batch: int = 4
    latent_pool: int = 64  # crops encoded once after the VAE phase; the denoiser trains on their latents
    pool_crop: int = 256
    learning_rate: float = 3e-3
    seed: int = 0


class CropSampler:
    """Random rescaled crops with horizontal flips, as float tensors in [-1, 1]."""

    def __init__(self, images: list[np.ndarray], generator: torch.Generator):
        self.images = [torch.from_numpy(i).permute(2, 0, 1).float().div(127.5).sub(1) for i in images]
        self.generator = generator

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=self.generator))

    def batch(self, size: int, crop: int) -> torch.Tensor:
        crops = []
        for _ in range(size):
            image = self.images[int(torch.randint(len(self.images), (), generator=self.generator))]
            short = min(image.shape[-2:])
            # a square region of random size (between the crop and the whole short side), resized to the crop
            region = min(short, round(crop / self._uniform(max(crop / short, 0.3), 1.0)))
            top = int(torch.randint(image.shape[-2] - region + 1, (), generator=self.generator))
            left = int(torch.randint(image.shape[-1] - region + 1, (), generator=self.generator))
            patch = image[None, :, top : top + region, left : left + region]
            if region != crop:
                patch = torch.nn.functional.interpolate(patch, size=(crop, crop), mode="bilinear", antialias=True, align_corners=False)
            crops.append(patch[0].flip(-1) if torch.rand((), generator=self.generator) < 0.5 else patch[0])
        return torch.stack(crops)


def degrade_like_inr(latents: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A conditioning latent that looks like an INR's output: blurred at a random scale, plus noise.

    The scales reach 8 latent pixels (64 image pixels): measured on bigbuckbunny at the INR codec's top demo
    rate, its INR misses 81 % of the (whitened) latent's energy, about what a blur of 8 misses."""
    out = []
    for latent in latents:
        factor = [1, 2, 4, 8][int(torch.randint(4, (), generator=generator))]
        blurred = latent[None]
        if factor > 1:
            pooled = torch.nn.functional.avg_pool2d(blurred, factor)
            blurred = torch.nn.functional.interpolate(pooled, size=latent.shape[-2:], mode="bilinear", align_corners=False)
        sigma = 0.5 * float(torch.rand((), generator=generator))
        out.append(blurred[0] + sigma * torch.randn(latent.shape, generator=generator))
    return torch.stack(out)


def _checkpoint_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.checkpoint.pt")


def train_prior(out: Path, settings: PriorSettings = PriorSettings(), device: torch.device | None = None) -> dict:
    """Train (or resume) the embedded backbone on ``device`` and save it to ``out``; return its model_index record.

    Every random draw of the data is made on the CPU, so the batches are the same on any device."""
    device = device or torch.device("cpu")
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    images, sources = training_images()
    crops = CropSampler(images, generator)
    vae, unet = PatchAutoencoder(**VAE_CONFIG).to(device), UNet2DModel(**UNET_CONFIG).to(device)
    scheduler = DDIMScheduler(**SCHEDULER_CONFIG)
    state = {"phase": "vae", "step": 0, "losses": {}, "seconds": 0.0}
    checkpoint = _checkpoint_path(out)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    resumed = False
    if checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False, map_location=device)
        if saved.get("settings") == asdict(settings) and saved.get("version") == PRIOR_VERSION:
            vae.load_state_dict(saved["vae"])
            unet.load_state_dict(saved["unet"])
            vae.register_to_config(scaling_factor=saved["scaling_factor"])
            state = saved["state"]
            generator.set_state(saved["generator"])
            print(f"resuming {out} from {state['phase']} step {state['step']}")
            resumed = True
    if not resumed:  # the VAE's linear maps start as the principal components of training patches
        vae.init_linear(*(t.to(device) for t in principal_patches(crops.batch(settings.pca_crops, settings.vae_crop),
                                                                      vae.config.patch_size, vae.config.latent_channels)))

    def save_checkpoint() -> None:
        tmp = checkpoint.with_suffix(".partial")
        torch.save({"settings": asdict(settings), "version": PRIOR_VERSION, "vae": vae.state_dict(), "unet": unet.state_dict(),
                    "scaling_factor": vae.config.scaling_factor, "state": state, "generator": generator.get_state()}, tmp)
        os.replace(tmp, checkpoint)

    started = time.perf_counter() - state["seconds"]
    if state["phase"] == "vae":
        _train_vae(vae, crops, settings, state, save_checkpoint, started, device)
        vae.register_to_config(scaling_factor=_scaling_factor(vae, crops, settings, device))
        state.update(phase="unet", step=0)
        save_checkpoint()
    if state["phase"] == "unet":
        _train_unet(vae, unet, scheduler, crops, generator, settings, state, save_checkpoint, started, device)
        state.update(phase="done")
        save_checkpoint()
    record = {
        "_class_name": "DivInrEmbeddedPipeline", "_diffusers_version": __import__("diffusers").__version__,
        "vae": ["vcbench.diffusion.patch_vae", "PatchAutoencoder"], "unet": ["diffusers", "UNet2DModel"],
        "scheduler": ["diffusers", "DDIMScheduler"],
        "vcbench": {"version": PRIOR_VERSION, "trained_on": sources, "images": len(images),
                    "colour": colour_statistics(images), "settings": asdict(settings),
                    "losses": state["losses"], "training_seconds": round(time.perf_counter() - started, 1),
                    "device": str(device), "threads": torch.get_num_threads()},
    }
    _save(out, vae, unet, scheduler, record)
    checkpoint.unlink(missing_ok=True)
    return record


def _step(optimiser, loss, step, state, name, shown, progress, save_checkpoint, started) -> None:
    """One optimiser step of either phase: record ``shown`` as loss ``name``, checkpoint every 100 steps."""
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    state["step"], state["losses"][name] = step + 1, round(shown.item(), 5)
    progress.set_postfix({name: f"{shown.item():.4f}"})
    if (step + 1) % 100 == 0:
        state["seconds"] = time.perf_counter() - started
        save_checkpoint()


def _train_vae(vae, crops, settings, state, save_checkpoint, started, device) -> None:
    optimiser = torch.optim.Adam(vae.parameters(), lr=settings.vae_learning_rate)
    vae.train()
    progress = tqdm(range(state["step"], settings.vae_steps), desc="prior: VAE", unit="it", mininterval=2.0, disable=None)
    for step in progress:
        for group in optimiser.param_groups:  # linear decay to 10 %
            group["lr"] = settings.vae_learning_rate * (1 - 0.9 * step / settings.vae_steps)
        images = crops.batch(settings.vae_batch, settings.vae_crop).to(device)
        latents = vae.encode(images).latent
        recon = vae.decode(latents + _latent_noise(latents.shape, settings.vae_latent_noise, crops.generator).to(device)).sample
        l1 = (recon - images).abs().mean()
        loss = l1 + (recon - images).pow(2).mean()
        _step(optimiser, loss, step, state, "vae_l1", l1, progress, save_checkpoint, started)
    vae.eval()


def _latent_noise(shape: torch.Size, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Noise for half of a batch of latents, of a random strength up to ``sigma``: the decoder learns to
    turn a slightly wrong latent (a sampler's last estimate) into a smooth image, not into patch-shaped
    grain (its linear path alone would pass the error straight to the pixels)."""
    strength = sigma * torch.rand(shape[0], 1, 1, 1, generator=generator) * (torch.rand(shape[0], 1, 1, 1, generator=generator) < 0.5)
    return strength * torch.randn(shape, generator=generator)


@torch.no_grad()
def _scaling_factor(vae, crops, settings, device) -> float:
    latents = vae.encode(crops.batch(2 * settings.vae_batch, settings.vae_crop).to(device)).latent
    return float(1.0 / latents.std())


@torch.no_grad()
def _latent_pool(vae, crops, settings, device) -> torch.Tensor:
    """Scaled latents of a pool of crops, kept on the CPU (the denoiser's batches are drawn there)."""
    scale = float(vae.config.scaling_factor)
    images = crops.batch(settings.latent_pool, settings.pool_crop)
    return torch.cat([vae.encode(part.to(device)).latent.cpu() for part in images.split(8)]) * scale


def _train_unet(vae, unet, scheduler, crops, generator, settings, state, save_checkpoint, started, device) -> None:
    pool = _latent_pool(vae, crops, settings, device)
    optimiser = torch.optim.Adam(unet.parameters(), lr=settings.learning_rate)
    unet.train()
    progress = tqdm(range(state["step"], settings.unet_steps), desc="prior: denoiser", unit="it", mininterval=2.0, disable=None)
    for step in progress:
        for group in optimiser.param_groups:
            group["lr"] = settings.learning_rate * (1 - 0.9 * step / settings.unet_steps)
        pick = torch.randint(len(pool), (settings.batch,), generator=generator)
        latents = torch.where(torch.rand(len(pick), 1, 1, 1, generator=generator) < 0.5, pool[pick], pool[pick].flip(-1))
        condition = degrade_like_inr(latents, generator)
        noise = torch.randn(latents.shape, generator=generator)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (latents.shape[0],), generator=generator)
        noisy = scheduler.add_noise(latents, noise, timesteps).to(device)
        target = scheduler.get_velocity(latents, noise, timesteps).to(device)
        model_input = torch.cat([noisy, condition.to(device)], 1)
        loss = torch.nn.functional.mse_loss(unet(model_input, timesteps.to(device)).sample, target)
        _step(optimiser, loss, step, state, "denoiser_mse", loss, progress, save_checkpoint, started)
    unet.eval()


def _save(out: Path, vae, unet, scheduler, record: dict) -> None:
    """Write the folder beside ``out`` and move it into place, model_index.json last."""
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    vae.save_pretrained(tmp / "vae")
    unet.save_pretrained(tmp / "unet")
    scheduler.save_pretrained(tmp / "scheduler")
    record["vcbench"]["backbone_hash"] = backbone_hash(tmp)
    (tmp / "model_index.json").write_text(json.dumps(record, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
