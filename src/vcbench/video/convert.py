"""Bring a reconstruction to its source's exact format (bit depth, range and rate in the header)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from vcbench.errors import VideoFormatError
from vcbench.video.frame import Frame, VideoFormat
from vcbench.video.y4m import Y4MReader, Y4MWriter


def _rescale(plane: np.ndarray, from_depth: int, to_depth: int, dtype: np.dtype) -> np.ndarray:
    if to_depth >= from_depth:
        return (plane.astype(np.uint16) << (to_depth - from_depth)).astype(dtype)
    shift = from_depth - to_depth
    rounded = (plane.astype(np.uint32) + (1 << (shift - 1))) >> shift  # round half up, as HM/VTM write output
    return np.minimum(rounded, (1 << to_depth) - 1).astype(dtype)


def match_format(path: str | os.PathLike, target: VideoFormat) -> bool:
    """Rewrite ``path`` (atomically) so that its format equals ``target``'s.

    Only the bit depth is converted (by shifts with rounding); a different frame size is an
    error. Returns whether the file was rewritten.
    """
    path = Path(path)
    # The frames are read from a memory map of ``path``: the converted file is written beside it
    # and renamed over it only when complete (writing ``path`` itself would truncate the mapped
    # file under the reader: SIGBUS).
    converted = path.with_name(f".{path.name}.converted")
    with Y4MReader(path) as reader:
        fmt = reader.format
        if (fmt.width, fmt.height) != (target.width, target.height):
            raise VideoFormatError(f"{path}: decoded size {fmt.width}x{fmt.height} differs from the source's "
                                   f"{target.width}x{target.height}")
        if fmt == target:
            return False
        with Y4MWriter(converted, replace(target)) as writer:
            for frame in reader.frames():
                writer.write(Frame(*(_rescale(p, fmt.bit_depth, target.bit_depth, target.dtype) for p in frame.planes)))
    os.replace(converted, path)
    return True
