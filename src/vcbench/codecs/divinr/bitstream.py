"""The DiV-INR file format: vcbench's container (:mod:`vcbench.codecs.container`: magic,
version, codec id, the backbone's content hash, the declared header fields below, one section
per GOP, CRC32). A GOP section is the per-tensor quantisation steps and the entropy-coded INR,
context and LoRA weights (see :mod:`vcbench.codecs.divinr.gop`).

Every field is checked on reading against the same declarations the options use, so an edited
header cannot make a decoder allocate gigabytes; what needs the backbone to check (padding, INR
stages, sampler, SVD time ids) the decoder checks once it has loaded it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vcbench.codecs.container import VIDEO_FIELDS, Container, Field, Format
from vcbench.codecs.divinr.settings import KNOBS, OPTIONS, SAMPLER_NAMES
from vcbench.errors import BitstreamError
from vcbench.options import Option

MAX_INR_STAGES = 3  # inr.upsampling_stages' default
MAX_PADDING = 1024


def _declared(name: str, kind: str, option: Option, doc: str) -> Field:
    return Field(name, kind, doc, minimum=option.minimum, maximum=option.maximum)


FIELDS = VIDEO_FIELDS + (
    _declared("gop", "u16", OPTIONS.options["gop"], "frames per GOP"),
    Field("padded_height", "u16", "coded height: the frame padded to what the backbone divides", minimum=2),
    Field("padded_width", "u16", "coded width", minimum=2),
    _declared("inr_width", "u16", KNOBS.options["inr_width"], "hidden width of the INR"),
    Field("inr_stages", "u8", "upsampling stages of the INR", minimum=0, maximum=MAX_INR_STAGES),
    _declared("lora_rank", "u8", KNOBS.options["lora_rank"], "rank of the LoRA adapters (0: none)"),
    Field("sampler", "str", "the deterministic sampler", choices=SAMPLER_NAMES),
    _declared("sampling_steps", "u16", OPTIONS.options["steps"], "sampling steps of the normative decode"),
    _declared("strength", "f32", OPTIONS.options["strength"], "share of the sampling steps run, from the INR latents noised to "
                                                               "their level (1: all, from pure noise)"),
    _declared("seed", "u32", OPTIONS.options["seed"], "sampling and LoRA seed (GOP g uses seed + g)"),
    Field("svd_time_ids", "u8", "1: an SVD-style denoiser's micro-conditioning follows; 0: none (image denoisers)", choices=(0, 1)),
    Field("fps_id", "f32", "SVD micro-conditioning: frame rate - 1 (0 without)"),
    Field("motion_bucket_id", "f32", "SVD micro-conditioning: motion bucket (0 without)"),
    Field("noise_aug_strength", "f32", "SVD micro-conditioning: noise augmentation (0 without)"),
)


def _check(header: dict[str, Any], sections: Sequence[bytes], path: Path | str) -> None:
    """Fields at odds with each other or with the sections."""
    for size in ("height", "width"):
        padded = header[f"padded_{size}"]
        if not header[size] <= padded <= header[size] + MAX_PADDING:
            raise BitstreamError(f"{path}: DiV-INR header field padded_{size}={padded} is not within {MAX_PADDING} of {size}="
                                 f"{header[size]}; the file is damaged, re-encode it")
    expected = math.ceil(header["frames"] / header["gop"])
    if len(sections) != expected:
        raise BitstreamError(f"{path}: DiV-INR file holds {len(sections)} GOP sections; the header's frames={header['frames']} and "
                             f"gop={header['gop']} make {expected}; the file is damaged, re-encode it")


FORMAT = Format("divinr", 3, FIELDS, _check)


def time_ids(header: dict[str, Any]) -> list[float] | None:
    """The SVD micro-conditioning numbers of a header (None for image denoisers)."""
    return [header["fps_id"], header["motion_bucket_id"], header["noise_aug_strength"]] if header["svd_time_ids"] else None


def time_id_fields(values: list[float] | None) -> dict[str, Any]:
    """The header fields that carry ``values`` (see :func:`time_ids`)."""
    fps, motion, noise = values or (0.0, 0.0, 0.0)
    return {"svd_time_ids": int(values is not None), "fps_id": fps, "motion_bucket_id": motion, "noise_aug_strength": noise}


def write(path: Path, backbone_hash: str, header: dict[str, Any], sections: list[bytes]) -> int:
    return FORMAT.write(Path(path), Container(backbone_hash, header, sections))


def read(path: Path) -> Container:
    return FORMAT.read(Path(path))
