"""Raw planar YUV 4:2:0 files (no header): the geometry must be given explicitly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vcbench.errors import VideoFormatError
from vcbench.video.frame import Frame, VideoFormat, out_of_range_sample
from vcbench.video.y4m import open_regular_file


class YUVReader:
    """Frames of a raw ``.yuv`` file of the given format (8-bit, or little-endian 16-bit words)."""

    def __init__(self, path: str | os.PathLike, fmt: VideoFormat):
        self.path = Path(path)
        self.format = fmt
        with open_regular_file(self.path) as fh:
            size = os.fstat(fh.fileno()).st_size
        if size % fmt.frame_bytes:
            raise VideoFormatError(
                f"{self.path}: size {size} is not a whole number of {fmt.width}x{fmt.height} {fmt.bit_depth}-bit 4:2:0 frames "
                f"({fmt.frame_bytes} bytes each); check --width/--height/--bit-depth"
            )
        self.num_frames = size // fmt.frame_bytes

    def frames(self, limit: int | None = None, start: int = 0) -> Iterator[Frame]:
        stop = self.num_frames if limit is None else start + limit
        if stop > self.num_frames:
            raise VideoFormatError(f"{self.path}: has {self.num_frames} frames, {stop} were asked for")
        with open(self.path, "rb") as fh:
            fh.seek(start * self.format.frame_bytes)
            for index in range(start, stop):
                data = fh.read(self.format.frame_bytes)
                bad = out_of_range_sample(np.frombuffer(data, dtype=self.format.dtype), self.format)
                if bad is not None:
                    fmt = self.format
                    raise VideoFormatError(f"{self.path}: frame {index} holds the sample value {bad}, above {fmt.max_value}, the "
                                           f"largest a {fmt.bit_depth}-bit sample can be; check the bit depth stated for it, or "
                                           "the file is damaged")
                yield Frame.from_bytes(data, self.format)

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()
