"""Diffusion backbones for the latent-diffusion codecs: a VAE, a denoiser and a scheduler loaded with diffusers'
``from_pretrained`` from a local folder (``vae/``, ``unet/``, ``scheduler/`` subfolders, the
layout of every diffusers pipeline) or a hub id written ``hf://owner/name``, identified by a
content hash that bitstreams record.

Two kinds of denoiser are driven, both conditioned by channel concatenation:

* image LDMs (``UNet2DModel``, ``UNet2DConditionModel``): the condition (DiV-INR: the INR
  latent) is concatenated to the noisy latent, frame by frame;
* image-to-video models of the SVD kind (``UNetSpatioTemporalConditionModel``): the condition
  takes the slot of the encoded keyframe latent (channel concatenation, one per frame) and the
  whole GOP is denoised as one clip.

Whatever else a denoiser expects is sent in the bitstream and counted: the cross-attention
context is a few learned tokens optimised with the INR, and SVD's ``added_time_ids`` (fps,
motion bucket, noise augmentation) are three header numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import diffusers
import torch

from vcbench.errors import BitstreamError, ConfigError
from vcbench.lazy import resolve

# subfolders whose every file decides what a bitstream decodes to (the content hash covers them)
HASHED_SUBFOLDERS = ("vae", "unet", "scheduler")
_DENOISERS = {"UNet2DModel": "image", "UNet2DConditionModel": "image", "UNetSpatioTemporalConditionModel": "video"}
_VAES = ("AutoencoderKL", "AutoencoderKLTemporalDecoder", "PatchAutoencoder")
# components vcbench defines itself (diffusers ModelMixins, loaded the same way), by class name
_OWN_CLASSES = {"PatchAutoencoder": "vcbench.diffusion.patch_vae:PatchAutoencoder"}
CONTEXT_TOKENS = 1  # learned cross-attention tokens per GOP, when the denoiser has cross-attention


def backbone_hash(folder: str | Path) -> str:
    """sha256 over the relative paths and contents of the vae/unet/scheduler files of ``folder``."""
    root = Path(folder)
    digest = hashlib.sha256()
    files = sorted(p for sub in HASHED_SUBFOLDERS for p in (root / sub).rglob("*") if p.is_file())
    if not files:
        raise ConfigError(f"{root} holds no diffusers backbone (expected {', '.join(HASHED_SUBFOLDERS)} subfolders)")
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _component_class(root: Path, subfolder: str, allowed) -> type:
    config_path = root / subfolder / "config.json"
    if subfolder == "scheduler":
        config_path = root / subfolder / "scheduler_config.json"
    try:
        class_name = json.loads(config_path.read_text())["_class_name"]
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"{config_path}: cannot read the diffusers component class ({err})") from None
    if allowed is not None and class_name not in allowed:
        raise ConfigError(f"{config_path}: {class_name} is not supported; vcbench drives {', '.join(allowed)}")
    if class_name in _OWN_CLASSES:
        return resolve(_OWN_CLASSES[class_name])
    return getattr(diffusers, class_name)


def resolve_folder(name_or_path: str | Path) -> Path:
    """A local diffusers folder, or ``hf://owner/name`` fetched once into the Hugging Face cache."""
    text = str(name_or_path)
    if text.startswith("hf://"):
        from huggingface_hub import snapshot_download  # only for hub ids; a network is needed once

        return Path(snapshot_download(text[len("hf://") :], allow_patterns=[f"{s}/*" for s in HASHED_SUBFOLDERS]))
    path = Path(name_or_path)
    if path.is_dir():
        return path
    raise ConfigError(f"backbone {name_or_path} not found; train it with `vcbench train-prior --out {name_or_path}` "
                      "or pass a diffusers folder")


@dataclass
class Backbone:
    """A loaded backbone and the few facts its codecs need about it."""

    folder: Path
    hash: str
    vae: torch.nn.Module
    unet: torch.nn.Module
    scheduler_config: dict
    device: torch.device

    @property
    def kind(self) -> str:
        return _DENOISERS[type(self.unet).__name__]

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @property
    def downscale(self) -> int:
        if hasattr(self.vae, "spatial_compression_ratio"):
            return int(self.vae.spatial_compression_ratio)
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def context_dim(self) -> int | None:
        dim = getattr(self.unet.config, "cross_attention_dim", None)
        if self.kind == "image" and type(self.unet).__name__ == "UNet2DModel":
            return None
        return int(dim if isinstance(dim, int) else dim[0]) if dim is not None else None

    # -- VAE ---------------------------------------------------------------------------------
    def _scale_shift(self) -> tuple[float, float]:
        return float(self.vae.config.scaling_factor), float(getattr(self.vae.config, "shift_factor", None) or 0.0)

    @torch.no_grad()
    def encode_frames(self, rgb: torch.Tensor, chunk: int = 4) -> torch.Tensor:
        """Latents (a KL autoencoder's mode, or a deterministic latent; scaled as the denoiser expects) of RGB in [-1, 1]."""
        scale, shift = self._scale_shift()
        out = [_latent(self.vae.encode(part.to(self.device))) for part in rgb.split(chunk)]
        return (torch.cat(out) - shift) * scale

    @torch.inference_mode()
    def decode_latents(self, latents: torch.Tensor, chunk: int = 4) -> torch.Tensor:
        """RGB in [-1, 1] from scaled latents (``chunk`` frames at a time: the VAE's bits may depend on it)."""
        scale, shift = self._scale_shift()
        z = latents / scale + shift
        parts = []
        for part in z.split(chunk):
            if type(self.vae).__name__ == "AutoencoderKLTemporalDecoder":
                parts.append(self.vae.decode(part, num_frames=part.shape[0]).sample)
            else:
                parts.append(self.vae.decode(part).sample)
        return torch.cat(parts).clamp(-1, 1)

    # -- denoiser ------------------------------------------------------------------------------
    def check_concatenated(self, condition_channels: int, what: str) -> None:
        """A ConfigError unless the denoiser takes the noisy latent plus ``condition_channels``
        concatenated channels (``what`` names them and their codec, for the message)."""
        expected = self.latent_channels + condition_channels
        if int(self.unet.config.in_channels) != expected:
            raise ConfigError(
                f"{self.folder}: the denoiser takes {self.unet.config.in_channels} input channels; {what} concatenated to the "
                f"noisy latent need {expected}; pass a backbone trained for this conditioning"
            )

    def predict(self, noisy: torch.Tensor, timestep: torch.Tensor, condition: torch.Tensor,
                context: torch.Tensor | None, time_ids: torch.Tensor | None) -> torch.Tensor:
        """Denoiser output for frames ``noisy`` (F, C, h, w) given the concatenated ``condition``.

        ``timestep`` is one value for all frames or one per frame (image kind only)."""
        sample = torch.cat([noisy, condition], dim=1)
        frames = sample.shape[0]
        if self.kind == "video":
            out = self.unet(sample.unsqueeze(0), timestep.reshape(-1)[:1], encoder_hidden_states=context,
                            added_time_ids=time_ids, return_dict=False)[0]
            return out[0]
        steps = timestep.reshape(-1).expand(frames) if timestep.numel() == 1 else timestep
        if self.context_dim is None:
            return self.unet(sample, steps, return_dict=False)[0]
        return self.unet(sample, steps, encoder_hidden_states=context.expand(frames, -1, -1), return_dict=False)[0]


def _latent(encoded) -> torch.Tensor:
    """The latent of an encoder output: a KL autoencoder's distribution mode, or a deterministic latent."""
    return encoded.latent_dist.mode() if hasattr(encoded, "latent_dist") else encoded.latent


def load_backbone(name_or_path: str | Path, device: torch.device | str = "cpu") -> Backbone:
    """Load a backbone through diffusers' ``from_pretrained`` and hash it."""
    root = resolve_folder(name_or_path)
    vae = _component_class(root, "vae", _VAES).from_pretrained(root, subfolder="vae")
    unet = _component_class(root, "unet", tuple(_DENOISERS)).from_pretrained(root, subfolder="unet")
    scheduler = _component_class(root, "scheduler", None).from_pretrained(root, subfolder="scheduler")
    for module in (vae, unet):
        module.to(device).eval().requires_grad_(False)
    return Backbone(root, backbone_hash(root), vae, unet, dict(scheduler.config), torch.device(device))


def find_backbone(digest: str, candidates: list[str | Path], models_dir: str | Path | None, bitstream: Path) -> Path:
    """The folder among ``candidates`` (and the subfolders of ``models_dir``) whose hash is ``digest``."""
    folders = [Path(c) for c in candidates if c and Path(c).is_dir()]
    if models_dir and Path(models_dir).is_dir():
        folders += sorted(p.parent for p in Path(models_dir).glob("*/model_index.json"))
    for folder in folders:
        try:
            if backbone_hash(folder) == digest:
                return folder
        except ConfigError:
            continue
    searched = ", ".join(str(f) for f in folders) or "nothing"
    raise BitstreamError(
        f"{bitstream}: needs backbone {digest[:16]}... which is not present (searched {searched}); "
        "pass the backbone it was encoded with (option backbone=<diffusers folder>)"
    )
