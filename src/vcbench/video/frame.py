"""The in-memory frame and the format it belongs to (YUV 4:2:0, 8 to 16 bit)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class VideoFormat:
    """Geometry and sample format of a 4:2:0 sequence, as a Y4M header states it."""

    width: int
    height: int
    bit_depth: int = 8
    fps_num: int = 25
    fps_den: int = 1
    full_range: bool = False
    # Y4M's chroma-siting tag for 8-bit 4:2:0 ("420jpeg", "420mpeg2", "420paldv"); kept for round trips.
    chroma_siting: str = "420jpeg"

    @property
    def chroma_width(self) -> int:
        return (self.width + 1) // 2

    @property
    def chroma_height(self) -> int:
        return (self.height + 1) // 2

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8) if self.bit_depth == 8 else np.dtype("<u2")

    @property
    def bytes_per_sample(self) -> int:
        return self.dtype.itemsize

    @property
    def frame_bytes(self) -> int:
        luma = self.width * self.height
        chroma = self.chroma_width * self.chroma_height
        return (luma + 2 * chroma) * self.bytes_per_sample

    @property
    def max_value(self) -> int:
        return (1 << self.bit_depth) - 1

    @property
    def fps(self) -> float:
        return self.fps_num / self.fps_den

    @property
    def pix_fmt(self) -> str:
        """The ffmpeg pixel format with this layout."""
        return "yuv420p" if self.bit_depth == 8 else f"yuv420p{self.bit_depth}le"

    def range_and_rate_differences(self, other: VideoFormat) -> list[str]:
        """How this format's colour range and frame rate differ from ``other``'s, in words (this one's
        value first): e.g. ``["colour range (full vs limited)"]``; 30000/1001 equals 60000/2002."""
        found = []
        if self.full_range != other.full_range:
            found.append(f"colour range ({self.range_name} vs {other.range_name})")
        if self.fps_num * other.fps_den != other.fps_num * self.fps_den:
            found.append(f"frame rate ({self.fps_num}/{self.fps_den} vs {other.fps_num}/{other.fps_den} fps)")
        return found

    @property
    def range_name(self) -> str:
        return "full" if self.full_range else "limited"

    def with_size(self, width: int, height: int) -> VideoFormat:
        return replace(self, width=width, height=height)

    def describe(self) -> str:
        return f"{self.width}x{self.height} 4:2:0 {self.bit_depth}-bit {self.range_name} range @ {self.fps_num}/{self.fps_den} fps"


def out_of_range_sample(samples: np.ndarray, fmt: VideoFormat) -> int | None:
    """A sample of ``samples`` outside ``0..fmt.max_value`` (the largest, or a negative one), None if all fit.

    Free for 8- and 16-bit samples in the format's own dtype, which cannot hold one; a 10-bit file's
    16-bit words can (a damaged file, or 16-bit data under a C420p10 header), and a metric would
    then score values no codec can code."""
    if samples.size == 0 or (samples.dtype == fmt.dtype and fmt.bit_depth in (8, 16)):
        return None
    high = samples.max()
    if high > fmt.max_value:
        return int(high)
    if samples.dtype.kind == "u":
        return None
    low = samples.min()
    return int(low) if low < 0 else None


@dataclass
class Frame:
    """One YUV 4:2:0 frame: three planes of uint8 (8-bit) or uint16 (higher bit depths)."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @property
    def planes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.y, self.u, self.v

    def crop(self, width: int, height: int, left: int = 0, top: int = 0) -> Frame:
        """Crop to width x height at (left, top); left and top must be even to keep chroma aligned."""
        if left % 2 or top % 2:
            raise ValueError("crop offsets must be even for 4:2:0")
        cl, ct = left // 2, top // 2
        cw, ch = (width + 1) // 2, (height + 1) // 2
        return Frame(
            self.y[top : top + height, left : left + width].copy(),
            self.u[ct : ct + ch, cl : cl + cw].copy(),
            self.v[ct : ct + ch, cl : cl + cw].copy(),
        )

    def to_bytes(self) -> bytes:
        return b"".join(np.ascontiguousarray(p).tobytes() for p in self.planes)

    @classmethod
    def from_bytes(cls, data: bytes | memoryview, fmt: VideoFormat) -> Frame:
        samples = np.frombuffer(data, dtype=fmt.dtype)
        luma = fmt.width * fmt.height
        chroma = fmt.chroma_width * fmt.chroma_height
        y = samples[:luma].reshape(fmt.height, fmt.width)
        u = samples[luma : luma + chroma].reshape(fmt.chroma_height, fmt.chroma_width)
        v = samples[luma + chroma : luma + 2 * chroma].reshape(fmt.chroma_height, fmt.chroma_width)
        return cls(y, u, v)
