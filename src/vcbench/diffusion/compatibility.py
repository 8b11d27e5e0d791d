"""Whether a diffusers backbone folder fits a latent-diffusion codec, read from its JSON configs
alone (``vae/config.json``, ``unet/config.json``, ``scheduler/scheduler_config.json``; no torch).

The codecs' declared option checks call :func:`check_backbone_option` with their own rule (each in its
torch-free ``settings.py``; the workflow runs them when it parses the DAG, ``snakemake -n`` included),
and the codecs run the same rules on the folder they load, so an incompatible backbone or sampler is
one line at option-check time, never a failed GPU job. A backbone folder that does not exist yet
passes (the DAG may fetch or train it first); the job that needs it then fails in one line naming it
and the fix (:func:`vcbench.diffusion.backbone.resolve_folder`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from vcbench.errors import ConfigError
from vcbench.options import Option

#: denoiser classes the codecs drive, and their kind: image LDMs denoise frame by frame, SVD-style ones a clip
DENOISERS = {"UNet2DModel": "image", "UNet2DConditionModel": "image", "UNetSpatioTemporalConditionModel": "video"}
VAES = ("AutoencoderKL", "AutoencoderKLTemporalDecoder", "PatchAutoencoder")
#: VAEs whose diffusers class can decode in spatial tiles (``enable_tiling``)
TILING_VAES = ("AutoencoderKL",)
#: precision option -> torch dtype name (the backbone's forward passes run under autocast to it)
PRECISIONS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
#: the extra embeddings a denoiser may add to its timestep embedding that the codecs supply: none, or
#: SDXL's "text_time" (a pooled text embedding and six size/crop numbers, see Backbone.added_conditions)
ADDITION_EMBEDDINGS = (None, "text_time")
#: the options of every backbone codec that trade precision and memory (recorded in encode and decode records)
MEMORY_OPTIONS = (
    Option("precision", str, "fp32", "the backbone's forward passes (VAE, denoiser) under autocast to bf16 or fp16 (half the "
                                     "activation memory; weights stay fp32; a VAE with force_upcast stays fp32 under fp16) or in "
                                     "fp32; the bits depend on it, so records state it",
           choices=tuple(PRECISIONS)),
    Option("vae_tiling", bool, False, "the VAE encodes and decodes in overlapping spatial tiles (diffusers' enable_tiling; "
                                      "AutoencoderKL only): bounded memory at 1080p, other bits above the tile size"),
)
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
CONFIGS = {"vae": "vae/config.json", "unet": "unet/config.json", "scheduler": "scheduler/scheduler_config.json"}


def sampler_name(scheduler_config: dict[str, Any]) -> str:
    """The deterministic sampler for a backbone's noise process (see :mod:`vcbench.diffusion.noise`):
    ``euler-edm`` for continuous-noise models of the SVD kind, ``ddim-trailing`` for discrete-timestep
    ones (DDPM/DDIM/PNDM-trained SD 1.5 and 2.1, eps or v-prediction; SD-Turbo's trailing Euler)."""
    return "euler-edm" if scheduler_config.get("timestep_type") == "continuous" else "ddim-trailing"


@dataclass(frozen=True)
class BackboneFacts:
    """What the codecs need to know about a backbone before loading it."""

    folder: Path
    vae_class: str
    unet_class: str
    latent_channels: int
    in_channels: int
    addition_embed_type: str | None
    class_embed_type: str | None
    encoder_hid_dim_type: str | None
    sampler: str
    prediction_type: str

    @property
    def kind(self) -> str:
        return DENOISERS[self.unet_class]

    @property
    def stock_input(self) -> bool:
        """The denoiser takes the noisy latent alone (every public image LDM), no concatenated condition."""
        return self.in_channels == self.latent_channels

    def common_problem(self) -> str | None:
        """What no codec here can drive, or None."""
        if self.unet_class not in DENOISERS:
            return f"its denoiser {self.unet_class} is not one vcbench drives ({', '.join(DENOISERS)}); pass another backbone"
        if self.vae_class not in VAES:
            return f"its VAE {self.vae_class} is not one vcbench drives ({', '.join(VAES)}); pass another backbone"
        if self.addition_embed_type not in ADDITION_EMBEDDINGS:
            return (f"its denoiser adds a {self.addition_embed_type!r} embedding that vcbench does not supply (only SDXL's "
                    "'text_time'); pass another backbone")
        if self.class_embed_type or self.encoder_hid_dim_type:
            return "its denoiser needs class labels or an image/text projection that vcbench does not supply; pass another backbone"
        if self.prediction_type not in PREDICTION_TYPES:
            return f"its scheduler's prediction_type {self.prediction_type!r} is not one of {', '.join(PREDICTION_TYPES)}"
        return None


def _read(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read this backbone config ({err}); pass a diffusers folder with vae/, unet/ and "
                          "scheduler/ configs") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: not a diffusers config (a JSON object); pass a diffusers backbone folder")
    return value


def _stamp(folder: Path) -> tuple:
    """(path, size, mtime) of each config: the cache key, so an edited config is read again."""
    stamps = []
    for relative in CONFIGS.values():
        try:
            stat = (folder / relative).stat()
            stamps.append((relative, stat.st_size, stat.st_mtime_ns))
        except OSError:
            stamps.append((relative, None, None))
    return tuple(stamps)


def backbone_facts(folder: str | Path) -> BackboneFacts:
    """The facts of the diffusers backbone in ``folder`` (a ConfigError naming a config it cannot read)."""
    folder = Path(folder)
    return _facts(folder, _stamp(folder))


@lru_cache(maxsize=64)
def _facts(folder: Path, stamp: tuple) -> BackboneFacts:
    vae, unet, scheduler = (_read(folder / CONFIGS[name]) for name in ("vae", "unet", "scheduler"))
    try:
        return BackboneFacts(folder, str(vae["_class_name"]), str(unet["_class_name"]), int(vae.get("latent_channels", 4)),
                             int(unet["in_channels"]), unet.get("addition_embed_type"), unet.get("class_embed_type"),
                             unet.get("encoder_hid_dim_type"), sampler_name(scheduler), str(scheduler.get("prediction_type", "epsilon")))
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{folder}: its unet/vae configs lack {err} (a diffusers _class_name, in_channels); pass a diffusers "
                          "backbone folder") from None


def memory_problem(facts: BackboneFacts, options: dict[str, Any]) -> str | None:
    """What the memory options (:data:`MEMORY_OPTIONS`) ask of this backbone that it cannot do, or None."""
    if options.get("vae_tiling") and facts.vae_class not in TILING_VAES:
        return f"vae_tiling=true, but its VAE {facts.vae_class} cannot decode in tiles ({', '.join(TILING_VAES)} can); set it false"
    return None


#: a codec's rule for the backbones it can drive: why it cannot run on one with these options, or None
BackboneRule = Callable[[BackboneFacts, dict[str, Any]], str | None]


def check_backbone_option(rule: BackboneRule, options: dict[str, Any], where: str) -> None:
    """The declared option check of a codec with a ``backbone`` option, by the codec's own ``rule``: a ConfigError
    naming ``where``, the folder, what is wrong and the fix. Hub ids and folders not present yet pass (checked once
    loaded)."""
    folder = str(options.get("backbone") or "")
    if not folder or folder.startswith("hf://") or not Path(folder).is_dir():
        return
    problem = rule(backbone_facts(folder), options)
    if problem:
        raise ConfigError(f"{where}: backbone {folder}: {problem}")
