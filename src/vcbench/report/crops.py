"""Visual comparison: the same crop of the original and of each codec near one low bpp."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd

from vcbench.job_files import JobFiles
from vcbench.report.figures import plt, save
from vcbench.report.plots import nearest_rate_points
from vcbench.video import Y4MReader, yuv_to_rgb

CROP = (160, 240)  # height, width in pixels of the source


def original_frame(path: Path, index: int) -> np.ndarray:
    """RGB float image of frame ``index`` of a Y4M sequence."""
    with Y4MReader(path) as reader:
        frame = next(reader.frames(limit=1, start=index))
        return yuv_to_rgb(frame, reader.format)


def busiest_window(rgb: np.ndarray, height: int, width: int) -> tuple[int, int]:
    """Top-left corner of the window with the most texture (gradient energy): where low rates hurt first."""
    luma = rgb[..., :3].mean(axis=2)
    energy = np.abs(np.diff(luma, axis=0, append=luma[-1:])) + np.abs(np.diff(luma, axis=1, append=luma[:, -1:]))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, corner = -1.0, (0, 0)
    step = max(8, min(height, width) // 4)
    for top in range(0, rgb.shape[0] - height + 1, step):
        for left in range(0, rgb.shape[1] - width + 1, step):
            total = (integral[top + height, left + width] - integral[top, left + width]
                     - integral[top + height, left] + integral[top, left])
            if total > best:
                best, corner = total, (top, left)
    return corner


def crop_figures(rd: pd.DataFrame, target_bpp: float, out_dir: Path, previews: JobFiles, sources: JobFiles,
                 quality: str = "psnr_yuv") -> list[dict]:
    """Per sequence: the original middle frame (``sources``: every sequence's file) and each codec's preview
    (``previews``: every job's preview.png) at its rate point nearest ``target_bpp``."""
    entries = []
    chosen = nearest_rate_points(rd, target_bpp)
    for (dataset, sequence), points in chosen.groupby(["dataset", "sequence"], sort=True):
        source = sources.of(dataset, sequence)
        panels = [(point, matplotlib.image.imread(previews.of(dataset, sequence, point["codec"], point["rate"]))[..., :3])
                  for _, point in points.sort_values("codec").iterrows()]
        middle = int(panels[0][0]["frames"]) // 2
        original = original_frame(source, middle)
        height, width = min(CROP[0], original.shape[0]), min(CROP[1], original.shape[1])
        top, left = busiest_window(original, height, width)
        window = (slice(top, top + height), slice(left, left + width))
        fig, axes = plt.subplots(1, len(panels) + 1, figsize=(2.9 * (len(panels) + 1), 2.4), squeeze=False)
        axes[0, 0].imshow(np.clip(original[window], 0, 1), interpolation="nearest")
        axes[0, 0].set_title(f"original (frame {middle})", fontsize=8)
        for ax, (point, image) in zip(axes[0, 1:], panels):
            ax.imshow(np.clip(image[window], 0, 1), interpolation="nearest")
            score = f", {quality} {point[quality]:.2f}" if quality in point and pd.notna(point[quality]) else ""
            ax.set_title(f"{point['codec']} {point['rate']}: {point['bpp']:.4f} bpp{score}", fontsize=8)
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"{dataset}/{sequence}: crop at ({left}, {top}), {width}x{height} px, near {target_bpp} bpp", fontsize=9)
        fig.tight_layout()
        files = save(fig, out_dir / f"crops_{dataset}_{sequence}", svg=False)
        entries.append({"kind": "crops", "dataset": dataset, "sequence": sequence, **files,
                        "caption": f"{dataset}/{sequence}: original vs each codec at its rate point nearest {target_bpp} bpp "
                                   f"(middle frame {middle}, most textured {width}x{height} window)."})
    return entries
