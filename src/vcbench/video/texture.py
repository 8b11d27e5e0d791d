"""Where a frame has detail, and how close a crop of it is: the one rule by which the report's crops and
a codec's analysis strip pick their window (RGB images in [0, 1], numpy only).

The window is where detail is spread over the whole of it (texture energy: the median over its 8x8
blocks of the high-pass energy of luma), not where a few strong edges sit in a flat area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CROP = 96  # side of the square window shown, in source pixels
BLOCK = 8  # texture energy is measured per BLOCK x BLOCK block


def block_energy(rgb: np.ndarray) -> np.ndarray:
    """Mean squared high-pass luma (luma minus its 3x3 mean) per BLOCK x BLOCK block."""
    luma = rgb[..., :3].mean(axis=2)
    padded = np.pad(luma, 1, mode="edge")
    blurred = sum(padded[dy:dy + luma.shape[0], dx:dx + luma.shape[1]] for dy in range(3) for dx in range(3)) / 9.0
    high = (luma - blurred) ** 2
    rows, cols = luma.shape[0] // BLOCK, luma.shape[1] // BLOCK
    return high[:rows * BLOCK, :cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK).mean(axis=(1, 3))


def textured_window(rgb: np.ndarray, side: int) -> tuple[int, int]:
    """Top-left corner (on the block grid) of the ``side`` x ``side`` window whose median block energy is highest."""
    energy = block_energy(rgb)
    span = max(side // BLOCK, 1)
    best, corner = -1.0, (0, 0)
    for row in range(0, max(energy.shape[0] - span, 0) + 1):
        for col in range(0, max(energy.shape[1] - span, 0) + 1):
            score = float(np.median(energy[row:row + span, col:col + span]))
            if score > best:
                best, corner = score, (row * BLOCK, col * BLOCK)
    return corner


@dataclass(frozen=True)
class Window:
    top: int
    left: int
    side: int  # in source pixels

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.side), slice(self.left, self.left + self.side)


def detail_window(rgb: np.ndarray) -> Window:
    """The CROP x CROP window (or as large as the frame allows) with the most detail spread over it."""
    side = min(CROP, rgb.shape[0], rgb.shape[1])
    top, left = textured_window(rgb, side)
    return Window(top, left, side)


def crop_psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR (dB) of two RGB crops in [0, 1]; 100 dB for identical crops."""
    mse = float(np.mean((np.clip(reference, 0, 1) - np.clip(test, 0, 1)) ** 2))
    return 100.0 if mse == 0 else 10 * math.log10(1.0 / mse)
