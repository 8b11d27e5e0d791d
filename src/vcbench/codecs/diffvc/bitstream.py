"""The ``.diffvc`` file: vcbench's container (:mod:`vcbench.codecs.container`: magic, version, codec
id, the model's content hash, declared header fields, sections, CRC32) with one section per frame.

Header fields (declared below): the video's format and frame count, the intra period, q, the
sampler, its steps and the share of them run (strength), TDIR's r and mode, the sampling seed,
and a CRC32 of every decoded symbol. That last one is not about damage (the container's CRC32
covers every byte): the entropy model's scales come from a network, and although the model
computes them exactly (:mod:`vcbench.entropy.fixed_point`: the same bits on every device and
thread count), a decoder that still read other symbols from intact bytes (an edit behind a
recomputed CRC, a torch build whose float64 convolutions are not exact) fails in one line instead of decoding garbage.

A frame's section (little endian):

    type     u8   0: I-frame (intra codec), 1: P-frame (predictive codec)
    side     u32 length + the range-coded hyper-latent (side information)
    latent   the rest: the range-coded latent

Nothing else is sent: the P-frames' temporal context comes from the previous decoded frame.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vcbench.codecs.container import VIDEO_FIELDS, Container, Field, Format
from vcbench.codecs.diffvc.settings import MAX_STEPS, OPTIONS, Q_MAX, TDIR_MODES, tdir_problem
from vcbench.errors import BitstreamError

FORMAT_VERSION = 3  # 2: strength; 3: exact (fixed-point) entropy model and decoded latents
INTRA, PREDICTED = 0, 1
SAMPLER_NAMES = ("ddim-trailing",)


def frame_type(index: int, intra_period: int) -> int:
    return INTRA if index % intra_period == 0 else PREDICTED


def _check(header: dict[str, Any], sections: Sequence[bytes], path: Path | str) -> None:
    if len(sections) != header["frames"]:
        raise BitstreamError(f"{path}: {len(sections)} frame sections, the header says {header['frames']} frames; the file is "
                             "damaged, re-encode it")
    problem = tdir_problem(header["tdir_r"], header["steps"], header["strength"])
    if problem:
        raise BitstreamError(f"{path}: header field {problem}; the file is damaged, re-encode it")
    for index, section in enumerate(sections):
        expected = frame_type(index, header["intra_period"])
        if len(section) < 5 or section[0] != expected:
            raise BitstreamError(f"{path}: frame {index} is not a whole {'I' if expected == INTRA else 'P'}-frame record; the file is "
                                 "damaged, re-encode it")
        (side,) = struct.unpack_from("<I", section, 1)
        if 5 + side > len(section) or side % 4 or (len(section) - 5 - side) % 4:
            raise BitstreamError(f"{path}: frame {index}'s record lengths do not add up; the file is damaged, re-encode it")


FORMAT = Format("diffvc", FORMAT_VERSION, VIDEO_FIELDS + (
    Field("intra_period", "u32", "frames from one I-frame to the next", minimum=1, maximum=65535),
    Field("q", "u8", "quantisation index (QPP): the quantiser scales and the denoiser's prompt", minimum=0, maximum=Q_MAX),
    Field("sampler", "str", "the diffusion decoder's sampler", choices=SAMPLER_NAMES),
    Field("steps", "u16", "sampling steps of the schedule", minimum=1, maximum=MAX_STEPS),
    Field("strength", "f32", "share of the steps run, from each frame's decoded latent noised to their level (1: all, from noise)",
          minimum=OPTIONS.options["strength"].minimum, maximum=OPTIONS.options["strength"].maximum),
    Field("tdir_r", "u16", "TDIR: steps a P-frame takes over from the previous frame (0: off)", minimum=0, maximum=MAX_STEPS - 1),
    Field("tdir_mode", "str", "TDIR: how the previous frame's state is reused", choices=TDIR_MODES),
    Field("seed", "u32", "sampling seed"),
    Field("symbols_crc32", "u32", "CRC32 of every decoded symbol, frame by frame (int32 little endian)"),
), _check)


def frame_section(kind: int, strings: tuple[bytes, bytes]) -> bytes:
    side, latent = strings
    return struct.pack("<BI", kind, len(side)) + side + latent


def frame_strings(section: bytes) -> tuple[bytes, bytes]:
    """The (side information, latent) strings of a section that :data:`FORMAT` has checked."""
    (side,) = struct.unpack_from("<I", section, 1)
    return section[5 : 5 + side], section[5 + side :]


def read(path: Path) -> Container:
    return FORMAT.read(path)
