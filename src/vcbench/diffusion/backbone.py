"""Diffusion backbones for the latent-diffusion codecs: a VAE, a denoiser and a scheduler loaded with diffusers'
``from_pretrained`` from a local folder (``vae/``, ``unet/``, ``scheduler/`` subfolders, the
layout of every diffusers pipeline) or a hub id written ``hf://owner/name``, identified by a
content hash that bitstreams record.

Two kinds of denoiser are driven, both conditioned by channel concatenation:

* image LDMs (``UNet2DModel``, ``UNet2DConditionModel``): the condition (e.g. an INR's
  latent) is concatenated to the noisy latent, frame by frame;
* image-to-video models of the SVD kind (``UNetSpatioTemporalConditionModel``): the condition
  takes the slot of the encoded keyframe latent (channel concatenation, one per frame) and the
  whole GOP is denoised as one clip.

Whatever else a denoiser expects is sent in the bitstream and counted: the cross-attention
context is a few learned tokens optimised with the INR, and SVD's ``added_time_ids`` (fps,
motion bucket, noise augmentation) are three header numbers.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import diffusers
import torch

from vcbench.assets.backbones import load_backbones
from vcbench.diffusion.compatibility import DENOISERS, PRECISIONS, VAES
from vcbench.diffusion.identity import CONFIGS, backbone_hash
from vcbench.errors import BitstreamError, ConfigError
from vcbench.lazy import resolve

# components vcbench defines itself (diffusers ModelMixins, loaded the same way), by class name
_OWN_CLASSES = {"PatchAutoencoder": "vcbench.diffusion.patch_vae:PatchAutoencoder"}
CONTEXT_TOKENS = 1  # learned cross-attention tokens per GOP, when the denoiser has cross-attention


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

        return Path(snapshot_download(text[len("hf://") :], allow_patterns=[f"{s}/*" for s in CONFIGS]))
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.name in load_backbones():  # a pretrained backbone the asset registry declares
        raise ConfigError(f"backbone {name_or_path} not found; fetch it with `vcbench assets fetch-backbone {path.name} --out "
                          f"{name_or_path}` (or place its files there and run that command to verify them)")
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
    precision: str = "fp32"  # the forward passes' autocast dtype (compatibility.PRECISIONS); fp32: no autocast
    unet_batch: int = 0  # frames per denoiser call for image denoisers (0: all at once)

    @property
    def kind(self) -> str:
        return DENOISERS[type(self.unet).__name__]

    def configure_memory(self, precision: str, vae_tiling: bool, unet_batch: int = 0) -> None:
        """Set the memory options (:data:`vcbench.diffusion.compatibility.MEMORY_OPTIONS`, and frames per denoiser call)."""
        self.precision, self.unet_batch = precision, unet_batch
        if vae_tiling:
            self.vae.enable_tiling()

    def autocast(self, vae: bool = False):
        """The context the backbone's forward passes run in: autocast to ``precision`` (weights stay fp32, so
        LoRA and the codecs' own tensors train in fp32: activations halve, weights do not), or nothing for fp32
        (the bits stay those of fp32). A VAE whose config says ``force_upcast`` (SDXL's: it overflows in fp16)
        stays in fp32 under fp16, as diffusers' pipelines keep it."""
        if self.precision == "fp32" or (vae and self.precision == "fp16" and getattr(self.vae.config, "force_upcast", False)):
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=getattr(torch, PRECISIONS[self.precision]))

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
        with self.autocast(vae=True):
            out = [_latent(self.vae.encode(part.to(self.device))).float() for part in rgb.split(chunk)]
        return (torch.cat(out) - shift) * scale

    @torch.inference_mode()
    def decode_latents(self, latents: torch.Tensor, chunk: int = 4) -> torch.Tensor:
        """RGB in [-1, 1] from scaled latents (``chunk`` frames at a time: the VAE's bits may depend on it)."""
        scale, shift = self._scale_shift()
        z = latents / scale + shift
        parts = []
        with self.autocast(vae=True):
            for part in z.split(chunk):
                if type(self.vae).__name__ == "AutoencoderKLTemporalDecoder":
                    parts.append(self.vae.decode(part, num_frames=part.shape[0]).sample.float())
                else:
                    parts.append(self.vae.decode(part).sample.float())
        return torch.cat(parts).clamp(-1, 1)

    # -- denoiser ------------------------------------------------------------------------------
    @property
    def concatenates(self) -> bool:
        """Whether the denoiser's input convolution takes a condition concatenated to the noisy latent
        (the embedded backbone, SVD, a stock one a codec widened) or the noisy latent alone (stock SD)."""
        return int(self.unet.conv_in.in_channels) == 2 * self.latent_channels

    def added_conditions(self, frames: int, latent_hw: tuple[int, int]) -> dict | None:
        """SDXL's micro-conditioning (``addition_embed_type: text_time``): a pooled text embedding, zero
        (the unconditional prompt; the codecs' own tokens go through cross-attention), and the time ids
        (original size, crop corner, target size) of an uncropped frame of the coded size. None for others."""
        if getattr(self.unet.config, "addition_embed_type", None) != "text_time":
            return None
        config = self.unet.config
        text_dim = int(config.projection_class_embeddings_input_dim) - 6 * int(config.addition_time_embed_dim)
        height, width = latent_hw[0] * self.downscale, latent_hw[1] * self.downscale
        time_ids = torch.tensor([[height, width, 0, 0, height, width]], dtype=torch.float32, device=self.device)
        return {"text_embeds": torch.zeros(frames, text_dim, device=self.device), "time_ids": time_ids.expand(frames, -1)}

    def predict(self, noisy: torch.Tensor, timestep: torch.Tensor, condition: torch.Tensor | None,
                context: torch.Tensor | None, time_ids: torch.Tensor | None) -> torch.Tensor:
        """Denoiser output for frames ``noisy`` (F, C, h, w) given the concatenated ``condition`` (None:
        a denoiser that takes the noisy latent alone), in fp32 whatever the precision.

        ``timestep`` is one value for all frames or one per frame (image kind only)."""
        sample = noisy if condition is None else torch.cat([noisy, condition], dim=1)
        with self.autocast():
            if self.kind == "video":
                out = self.unet(sample.unsqueeze(0), timestep.reshape(-1)[:1], encoder_hidden_states=context,
                                added_time_ids=time_ids, return_dict=False)[0]
                return out[0].float()
            frames = sample.shape[0]
            steps = timestep.reshape(-1).expand(frames) if timestep.numel() == 1 else timestep
            batch = self.unet_batch or frames
            outputs = [self._predict_image(sample[first : first + batch], steps[first : first + batch], context)
                       for first in range(0, frames, batch)]
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)

    def _predict_image(self, sample: torch.Tensor, steps: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        frames = sample.shape[0]
        if self.context_dim is None:
            return self.unet(sample, steps, return_dict=False)[0].float()
        added = self.added_conditions(frames, tuple(sample.shape[-2:]))
        return self.unet(sample, steps, encoder_hidden_states=context.expand(frames, -1, -1), added_cond_kwargs=added,
                         return_dict=False)[0].float()


def _latent(encoded) -> torch.Tensor:
    """The latent of an encoder output: a KL autoencoder's distribution mode, or a deterministic latent."""
    return encoded.latent_dist.mode() if hasattr(encoded, "latent_dist") else encoded.latent


def check_precision(precision: str, device: torch.device, owner: str) -> None:
    """A ConfigError naming ``owner`` where ``device`` has no native ``precision`` (bf16 on a CUDA GPU before
    Ampere, where torch would emulate it slowly); bf16 and fp16 both run on the CPU."""
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise ConfigError(f"{owner}: precision=bf16, but {torch.cuda.get_device_name(device)} has no native bfloat16; use fp16 or fp32")


def load_backbone(name_or_path: str | Path, device: torch.device | str = "cpu", precision: str = "fp32", vae_tiling: bool = False,
                  unet_batch: int = 0) -> Backbone:
    """Load a backbone through diffusers' ``from_pretrained`` and hash it (``precision``, ``vae_tiling``,
    ``unet_batch``: the memory options of :data:`vcbench.diffusion.compatibility.MEMORY_OPTIONS`)."""
    root = resolve_folder(name_or_path)
    vae = _component_class(root, "vae", VAES).from_pretrained(root, subfolder="vae")
    unet = _component_class(root, "unet", tuple(DENOISERS)).from_pretrained(root, subfolder="unet")
    scheduler = _component_class(root, "scheduler", None).from_pretrained(root, subfolder="scheduler")
    for module in (vae, unet):
        module.to(device).eval().requires_grad_(False)
    backbone = Backbone(root, backbone_hash(root), vae, unet, dict(scheduler.config), torch.device(device))
    backbone.configure_memory(precision, vae_tiling, unet_batch)
    return backbone


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
