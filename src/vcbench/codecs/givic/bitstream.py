"""The GIViC file format: vcbench's container (``codecs/container.py``: magic, version, codec id,
typed header, sections, CRC32) with these header fields and one section per GOP.

Header: the coded video (``VIDEO_FIELDS``; width and height are the coded, even sizes, and
``crop_right``/``crop_bottom`` say by how much the source was smaller: odd sizes are padded by one
column or row), the GOP, the pyramid and token geometry, the denoiser's shape, the relative
quantisation step, the sampler, its steps, the context length and the seed.

Section of a GOP: the per-tensor quantisation steps (float16, one per weight tensor in the
denoiser's parameter order) and the entropy-coded weights (``vcbench.entropy``: per tensor a
coded Laplace scale, then one ANS stream).

What single fields cannot tell is checked here too: the section count the frames and GOP imply,
a width divisible into heads, and the token geometry, which must be the one the video's size,
the GOP and the pyramid make (``pyramid.geometry_for``); so a header edited with its CRC recomputed
still cannot make the decoder build something else than the encoder trained. The decoder checks
each section against the shapes the header gives when it loads it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vcbench.codecs.container import NO_MODEL, VIDEO_FIELDS, Container, Field, Format
from vcbench.codecs.givic.pyramid import geometry_for
from vcbench.codecs.givic.settings import KNOBS, OPTIONS, SAMPLER_NAMES
from vcbench.errors import BitstreamError


def _declared(name: str, kind: str, doc: str, option) -> Field:
    return Field(name, kind, doc, minimum=option.minimum, maximum=option.maximum)


FIELDS = VIDEO_FIELDS + (
    Field("crop_right", "u8", "luma columns the decoder drops at the right (1: the source's width is odd)", choices=(0, 1)),
    Field("crop_bottom", "u8", "luma rows the decoder drops at the bottom (1: the source's height is odd)", choices=(0, 1)),
    _declared("gop", "u16", "frames per GOP", OPTIONS.options["gop"]),
    _declared("levels", "u8", "pyramid levels K", OPTIONS.options["levels"]),
    Field("token_frames", "u16", "frames of a token (of a full GOP)", minimum=1),
    Field("token_height", "u16", "rows of a token, chroma-resolution samples (of a full GOP)", minimum=1),
    Field("token_width", "u16", "columns of a token, chroma-resolution samples (of a full GOP)", minimum=1),
    _declared("patch", "u8", "patch side, chroma-resolution samples", OPTIONS.options["patch"]),
    _declared("net_width", "u16", "feature width of the denoiser (the knob width)", KNOBS.options["width"]),
    _declared("depth", "u8", "HGLA blocks", OPTIONS.options["depth"]),
    _declared("head_dim", "u8", "d_k = d_v of a GLA head", OPTIONS.options["head_dim"]),
    _declared("quant_step", "f32", "the encoder's quantisation step relative to each tensor's RMS (the steps are in the sections)",
              KNOBS.options["quant_step"]),
    Field("sampler", "str", "the sampler", choices=SAMPLER_NAMES),
    _declared("steps", "u16", "sampling steps per token", OPTIONS.options["steps"]),
    _declared("context", "u16", "context length L: the sequence state restarts every L tokens (0: never)", OPTIONS.options["context"]),
    _declared("seed", "u32", "seed of the sampling noise (plus the GOP index)", OPTIONS.options["seed"]),
)


def gop_count(header: dict[str, Any]) -> int:
    return math.ceil(header["frames"] / header["gop"])


def _check(header: dict[str, Any], sections: Sequence[bytes], path: Path | str) -> None:
    def bad(what: str) -> BitstreamError:
        return BitstreamError(f"{path}: GIViC header {what}; the file is damaged or was not written by vcbench, re-encode it")

    if len(sections) != gop_count(header):
        raise bad(f"fields frames={header['frames']} and gop={header['gop']} make {gop_count(header)} GOP sections, "
                  f"the file holds {len(sections)}")
    if header["net_width"] % header["head_dim"]:
        raise bad(f"field net_width={header['net_width']} is not a multiple of head_dim={header['head_dim']}")
    geometry = geometry_for(min(header["gop"], header["frames"]), header["height"] // 2, header["width"] // 2, header["levels"],
                            header["patch"])
    token = (header["token_frames"], header["token_height"], header["token_width"])
    if token != geometry.token:
        raise bad(f"token geometry {token} is not the {geometry.token} that the video size, GOP, levels and patch make")


FORMAT = Format("givic", 1, FIELDS, _check)


def write(path: Path, header: dict[str, Any], sections: list[bytes]) -> int:
    return FORMAT.write(path, Container(NO_MODEL, header, sections))


def read(path: Path) -> Container:
    container = FORMAT.read(path)
    if container.model_hash != NO_MODEL:
        raise BitstreamError(f"{path}: a GIViC file names a model ({container.model_hash[:16]}...), GIViC files need none; "
                             "the file is damaged, re-encode it")
    return container
