"""YUV4MPEG2 (Y4M) reading and writing, frame by frame.

Only 4:2:0 is supported (8-bit ``C420jpeg``/``C420mpeg2``/``C420paldv``/``C420``, and
``C420p10``..``C420p16``), which is what every codec in vcbench consumes. The reader never
loads more than the frames asked for, and refuses in one line what it cannot trust: a file that is
not a regular file (a FIFO would block it forever), a damaged frame, a sample beyond the header's
bit depth. The writer is atomic (temporary file, then rename), so an interrupted run never leaves
a half-written sequence behind, and it refuses samples its bit depth cannot hold.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vcbench import io
from vcbench.errors import VideoFormatError
from vcbench.io import naming_write_errors, open_temporary_sibling
from vcbench.video.color import yuv_to_rgb
from vcbench.video.frame import Frame, VideoFormat, out_of_range_sample

SIGNATURE = b"YUV4MPEG2"
FRAME_TAG = b"FRAME"
_MAX_HEADER = 4096
_8BIT_SITINGS = {"420jpeg", "420mpeg2", "420paldv", "420"}


def open_regular_file(path: Path) -> BinaryIO:
    """The source ``path`` opened for reading, refused in one line unless it is a regular file
    (sources are memory-mapped, sought and read more than once; see `vcbench.io.open_regular_file`)."""
    try:
        return io.open_regular_file(path, "vcbench reads sources by seeking, so write the video to a file first", VideoFormatError)
    except FileNotFoundError:
        raise VideoFormatError(f"{path}: no such file; run the prepare step or check the path") from None


def _parse_header(line: bytes, path: Path) -> VideoFormat:
    tokens = line.decode("ascii", errors="replace").split()
    if not tokens or tokens[0] != SIGNATURE.decode():
        raise VideoFormatError(f"{path}: not a Y4M file (no YUV4MPEG2 signature); convert it with `ffmpeg -i IN -pix_fmt yuv420p OUT.y4m`")
    fields: dict[str, str] = {}
    extensions: dict[str, str] = {}
    for tok in tokens[1:]:
        key, value = tok[0], tok[1:]
        if key == "X" and "=" in value:
            name, val = value.split("=", 1)
            extensions[name.upper()] = val.upper()
        else:
            fields[key] = value
    if not all(_is_decimal(fields.get(key, "")) for key in "WH"):
        raise VideoFormatError(f"{path}: Y4M header lacks a valid W or H field: {line.decode(errors='replace').strip()!r}")
    width, height = int(fields["W"]), int(fields["H"])
    if width <= 0 or height <= 0:
        raise VideoFormatError(f"{path}: Y4M header gives an empty frame size {width}x{height}")
    fps_num, fps_den = 25, 1
    if "F" in fields:
        num, _, den = fields["F"].partition(":")
        if not (_is_decimal(num) and _is_decimal(den) and int(num) > 0 and int(den) > 0):
            raise VideoFormatError(f"{path}: Y4M frame rate {fields['F']!r} is not of the form N:D with N, D > 0")
        fps_num, fps_den = int(num), int(den)
    if fields.get("I", "p") not in ("p", "?"):
        raise VideoFormatError(f"{path}: interlaced Y4M (I{fields['I']}) is not supported; deinterlace it first")
    colour = fields.get("C", "420jpeg")
    if colour in _8BIT_SITINGS:
        bit_depth, siting = 8, ("420jpeg" if colour == "420" else colour)
    elif colour.startswith("420p") and colour[4:].isdigit() and 9 <= int(colour[4:]) <= 16:
        bit_depth, siting = int(colour[4:]), "420jpeg"
    else:
        raise VideoFormatError(
            f"{path}: Y4M colour space C{colour} is not supported (vcbench codes 4:2:0 only); "
            "convert with `ffmpeg -i IN -pix_fmt yuv420p OUT.y4m` (or yuv420p10le)"
        )
    full_range = extensions.get("COLORRANGE") == "FULL"
    return VideoFormat(width, height, bit_depth, fps_num, fps_den, full_range, siting)


def _is_decimal(text: str) -> bool:
    """Plain ASCII digits: int() would also take "+8", " 8" and "1_0", which no Y4M writer produces."""
    return text.isascii() and text.isdigit()


def _header_line(fmt: VideoFormat) -> bytes:
    colour = fmt.chroma_siting if fmt.bit_depth == 8 else f"420p{fmt.bit_depth}"
    rng = "FULL" if fmt.full_range else "LIMITED"
    return f"YUV4MPEG2 W{fmt.width} H{fmt.height} F{fmt.fps_num}:{fmt.fps_den} Ip A1:1 C{colour} XCOLORRANGE={rng}\n".encode()


def read_y4m_header(path: str | os.PathLike) -> VideoFormat:
    """The format of a Y4M file, read from its first line only."""
    with Y4MReader(path) as reader:
        return reader.format


def read_rgb_frame(path: str | os.PathLike, index: int) -> np.ndarray:
    """Frame ``index`` of a Y4M file as an RGB float image in [0, 1] (`vcbench.video.color.yuv_to_rgb`)."""
    with Y4MReader(path) as reader:
        return yuv_to_rgb(next(reader.frames(limit=1, start=index)), reader.format)


class Y4MReader:
    """Iterate the frames of a Y4M file, one at a time.

    >>> with Y4MReader("clip.y4m") as clip:
    ...     for frame in clip.frames(limit=8): ...
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fh = open_regular_file(self.path)
        line = self._fh.readline(_MAX_HEADER)
        if not line.endswith(b"\n"):
            self._fh.close()
            if not line:
                raise VideoFormatError(f"{self.path}: file is empty; re-create it")
            raise VideoFormatError(f"{self.path}: Y4M header is truncated or longer than {_MAX_HEADER} bytes")
        self.format = _parse_header(line, self.path)
        self._data_start = self._fh.tell()
        self._next_index = 0
        # Frames are read-only views into a memory map of the file: no copy, no fresh allocation
        # per frame (which is what makes scoring as fast as ffmpeg's own filters).
        self._size = os.fstat(self._fh.fileno()).st_size
        self._map = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ) if self._size else None

    def __enter__(self) -> Y4MReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass  # frames handed out still view the map; it is unmapped when they are freed
        self._fh.close()

    def _skip_frame(self) -> int | None:
        """Step over the next frame, checking its FRAME line and size; the offset of its samples, None at the end."""
        index = self._next_index
        tag = self._fh.readline(_MAX_HEADER)
        if not tag:
            return None
        if not tag.startswith(FRAME_TAG) or not tag.endswith(b"\n"):
            raise VideoFormatError(f"{self.path}: frame {index} has a malformed FRAME marker {tag[:16]!r}; the file is damaged")
        need = self.format.frame_bytes
        offset = self._fh.tell()
        if offset + need > self._size:
            raise VideoFormatError(f"{self.path}: frame {index} is truncated ({self._size - offset} of {need} bytes); "
                                   "the file is damaged, re-create or re-fetch it")
        self._fh.seek(need, os.SEEK_CUR)
        self._next_index += 1
        return offset

    def _read_frame(self) -> Frame | None:
        offset = self._skip_frame()
        if offset is None:
            return None
        return Frame.from_bytes(self._checked_samples(offset), self.format)

    def _checked_samples(self, offset: int) -> memoryview:
        """The samples of the frame just stepped over, refused if one exceeds the header's bit depth
        (one vectorised max over the frame; nothing to do for 8- and 16-bit files)."""
        data = memoryview(self._map)[offset : offset + self.format.frame_bytes]
        bad = out_of_range_sample(np.frombuffer(data, dtype=self.format.dtype), self.format)
        if bad is not None:
            fmt = self.format
            raise VideoFormatError(f"{self.path}: frame {self._next_index - 1} holds the sample value {bad}, above {fmt.max_value}, "
                                   f"the largest a {fmt.bit_depth}-bit sample can be; the file is damaged or its header's "
                                   f"bit depth is wrong: re-create it")
        return data

    def frames(self, limit: int | None = None, start: int = 0) -> Iterator[Frame]:
        """Yield frames ``start``, ``start+1``, ... (at most ``limit`` of them)."""
        self.seek(start)
        count = 0
        while limit is None or count < limit:
            frame = self._read_frame()
            if frame is None:
                if limit is not None:
                    raise VideoFormatError(
                        f"{self.path}: has {self._next_index} frames, {start + limit} were asked for; use fewer frames or a longer sequence"
                    )
                return
            count += 1
            yield frame

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def seek(self, index: int) -> None:
        """Position the reader before frame ``index`` (skips data without reading it, checks each frame's marker and size)."""
        if index < self._next_index:
            self._fh.seek(self._data_start)
            self._next_index = 0
        while self._next_index < index:
            if self._skip_frame() is None:
                raise VideoFormatError(f"{self.path}: has {self._next_index} frames, frame {index} was asked for; use an earlier frame")

    def count_frames(self) -> int:
        """The number of complete frames; raises on a damaged marker, a truncated frame or a sample
        beyond the bit depth (the whole file checked, as a codec that reads it itself needs)."""
        here = self._fh.tell(), self._next_index
        self._fh.seek(self._data_start)
        self._next_index = 0
        try:
            while (offset := self._skip_frame()) is not None:
                self._checked_samples(offset)
            return self._next_index
        finally:
            self._fh.seek(here[0])
            self._next_index = here[1]


class Y4MWriter:
    """Write a Y4M file atomically: frames go to a temporary file renamed into place on close.

    If the block raises, the temporary file is removed and any existing file is left untouched.
    """

    def __init__(self, path: str | os.PathLike, fmt: VideoFormat):
        self.path = Path(path)
        self.format = fmt
        fd, self._tmp = open_temporary_sibling(self.path)
        self._fh = os.fdopen(fd, "wb")
        self._fh.write(_header_line(fmt))
        self.frames_written = 0

    def write(self, frame: Frame) -> None:
        fmt = self.format
        expected = [(fmt.height, fmt.width), (fmt.chroma_height, fmt.chroma_width), (fmt.chroma_height, fmt.chroma_width)]
        for plane, shape in zip(frame.planes, expected):
            if plane.shape != shape:
                raise ValueError(f"{self.path}: frame {self.frames_written} plane has shape {plane.shape}, expected {shape}")
            bad = out_of_range_sample(plane, fmt)
            if bad is not None:  # astype below would wrap it into a wrong but valid-looking sample
                raise VideoFormatError(f"{self.path}: frame {self.frames_written} holds the sample value {bad}, outside "
                                       f"0..{fmt.max_value} ({fmt.bit_depth}-bit); refusing to write it")
        with naming_write_errors(self.path):
            self._fh.write(b"FRAME\n")
            for plane in frame.planes:
                self._fh.write(plane.astype(fmt.dtype, copy=False).tobytes())
        self.frames_written += 1

    def close(self) -> None:
        if not self._fh.closed:
            with naming_write_errors(self.path):
                self._fh.flush()
                os.fsync(self._fh.fileno())
            # Rename before closing: closing releases the lock that keeps sweeps off the temporary file.
            os.replace(self._tmp, self.path)
            self._fh.close()

    def abort(self) -> None:
        self._tmp.unlink(missing_ok=True)
        if not self._fh.closed:
            with contextlib.suppress(OSError):  # a failed flush (disk full) fails again here; the file is gone anyway
                self._fh.close()

    def __enter__(self) -> Y4MWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.close()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()
