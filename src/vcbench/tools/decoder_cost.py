"""What one decode of a neural codec costs, counted while it runs: multiply-accumulates (torch's
FlopCounterMode: matrix products and convolutions, FLOPs / 2; element-wise work is not counted), the
parameters of the modules that ran, and how often the denoiser ran: its calls, and its evaluations, the samples
through it (a call on a batch of 32 frames is 32 evaluations; a token-wise denoiser's samples are its tokens).

The denoiser is recognised by its class: a diffusers model (``ModelMixin``) from diffusers' UNet or
transformer packages, declared once in `DENOISERS` (every backbone denoiser the latent-diffusion codecs
drive: SD's UNet2DConditionModel, the embedded UNet2DModel, SVD's, DiT-style transformers), or a codec's
own denoiser class, which says so itself with the class attribute `MARK` (its samples per call). A
denoiser called inside another (a Transformer2DModel inside an SD 1.x UNet) is part of its caller's
evaluation, not one of its own.

This module runs whatever decode it is given (a callable): it knows no codec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

#: The diffusers classes whose calls are denoiser evaluations, by qualified name (the first entry that matches decides),
#: each with how many leading dimensions of its first input are samples: one evaluation per sample. An entry names a
#: package of diffusers models (only its ``ModelMixin`` classes count: their building blocks, which the VAE reuses, do
#: not). Samples: frames for image denoisers, (clips, frames) for SVD's.
DENOISERS = (
    ("diffusers.models.unets.unet_spatio_temporal_condition.", 2),
    ("diffusers.models.unets.", 1),
    ("diffusers.models.transformers.", 1),
)
#: The class attribute by which a codec marks its own denoiser class (a torch module outside diffusers): its value is
#: how many leading dimensions of a call's first input are samples, as in `DENOISERS`.
MARK = "denoiser_sample_dims"


def _qualified_name(module: torch.nn.Module) -> str:
    return _class_name(type(module))


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def sample_dims(module: torch.nn.Module) -> int | None:
    """How many leading dimensions of a call's first input are samples where ``module`` is a denoiser (see
    `DENOISERS` and `MARK`); None where it is none."""
    return _sample_dims(type(module))


@cache  # asked at every module call of a decode: once per class
def _sample_dims(cls: type) -> int | None:
    marked = getattr(cls, MARK, None)
    if marked is not None:
        return marked
    name = _class_name(cls)
    return next((dims for entry, dims in DENOISERS if name.startswith(entry) and _is_diffusers_model(cls)), None)


def is_denoiser(module: torch.nn.Module) -> bool:
    return sample_dims(module) is not None


def _samples(args: tuple, dims: int) -> int:
    """The samples of a call: the product of the leading ``dims`` sizes of its first tensor argument (1 without one)."""
    tensor = next((a for a in args if isinstance(a, torch.Tensor)), None)
    return math.prod(tensor.shape[:dims]) if tensor is not None and tensor.dim() >= dims else 1


def _is_diffusers_model(cls: type) -> bool:
    from diffusers import ModelMixin

    return issubclass(cls, ModelMixin)


@dataclass(frozen=True)
class DecodeCost:
    """One decode's counts; per pixel and per frame over the decoded frames."""

    frames: int
    width: int
    height: int
    macs: int
    denoiser_macs: int
    denoiser_calls: int
    denoiser_evaluations: int  # samples through the denoiser, over its calls
    parameters: int  # of every module that ran (each parameter once)
    denoiser_parameters: int  # of the denoisers that ran
    denoiser_classes: tuple[str, ...]

    @property
    def pixels(self) -> int:
        return self.frames * self.width * self.height

    @property
    def macs_per_pixel(self) -> float:
        return self.macs / self.pixels

    @property
    def denoiser_macs_per_pixel(self) -> float:
        return self.denoiser_macs / self.pixels

    @property
    def denoiser_evaluations_per_frame(self) -> float:
        return self.denoiser_evaluations / self.frames

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pixels": self.pixels, "denoiser_classes": list(self.denoiser_classes),
                "macs_per_pixel": self.macs_per_pixel, "denoiser_macs_per_pixel": self.denoiser_macs_per_pixel,
                "denoiser_evaluations_per_frame": self.denoiser_evaluations_per_frame}


def count_decode(decode: Callable[[], tuple[int, int, int]]) -> DecodeCost:
    """Run ``decode`` (one whole decode, returning the frames it decoded, their width and height) and count what it
    computes."""
    ran: dict[int, torch.nn.Module] = {}
    in_denoisers: dict[int, torch.nn.Module] = {}  # the modules that ran inside a denoiser call (the denoiser included)
    denoisers: dict[int, torch.nn.Module] = {}
    inside: list[torch.nn.Module] = []  # the denoiser calls under way, outermost first
    calls = evaluations = 0
    denoiser_flops = 0
    counter = FlopCounterMode(display=False)
    entered_at = 0

    def before(module: torch.nn.Module, args: Any) -> None:
        nonlocal calls, evaluations, entered_at
        ran[id(module)] = module
        dims = sample_dims(module)
        if dims is not None:
            if not inside:
                calls += 1
                evaluations += _samples(args, dims)
                entered_at = counter.get_total_flops()
                denoisers[id(module)] = module
            inside.append(module)
        if inside:
            in_denoisers[id(module)] = module

    def after(module: torch.nn.Module, args: Any, output: Any) -> None:
        nonlocal denoiser_flops
        if inside and inside[-1] is module:
            inside.pop()
            if not inside:
                denoiser_flops += counter.get_total_flops() - entered_at

    hooks = [torch.nn.modules.module.register_module_forward_pre_hook(before),
             torch.nn.modules.module.register_module_forward_hook(after)]
    try:
        with counter:
            frames, width, height = decode()
    finally:
        for hook in hooks:
            hook.remove()
    return DecodeCost(
        frames=frames, width=width, height=height, macs=counter.get_total_flops() // 2, denoiser_macs=denoiser_flops // 2,
        denoiser_calls=calls, denoiser_evaluations=evaluations, parameters=_parameters(ran.values()),
        denoiser_parameters=_parameters(in_denoisers.values()),
        denoiser_classes=tuple(sorted({_qualified_name(m) for m in denoisers.values()})))


def _parameters(modules) -> int:
    """The number of parameter values the ``modules`` hold themselves (not their children's), each tensor counted once."""
    seen: dict[int, int] = {}
    for module in modules:
        for parameter in module.parameters(recurse=False):
            seen[id(parameter)] = parameter.numel()
    return sum(seen.values())
