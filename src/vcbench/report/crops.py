"""Visual comparison that judges generative codecs: per sequence, the full frame with the crop box
marked, then the same detailed crop of each codec at its lowest rate point and near a chosen bpp,
zoomed nearest-neighbour so that hallucinated texture is not smoothed away by the display.

The crop is where detail is spread over the whole window (`vcbench.video.texture`: the rule the
analyses' strips share). Each panel's title gives the PSNR of that crop, not of the sequence.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle

from vcbench.job_files import JobFiles
from vcbench.report.figures import plt, save
from vcbench.report.plots import nearest_rate_points
from vcbench.video import read_rgb_frame
from vcbench.video.texture import BLOCK, crop_psnr, detail_window

ZOOM = 2  # each source pixel drawn as ZOOM x ZOOM screen pixels (nearest neighbour)
_PANEL_INCHES = 2.1


def lowest_rate_points(rd: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, sequence and codec, the RD point with the lowest bpp."""
    valid = rd[rd["bpp"] > 0]
    return valid.loc[valid.groupby(["dataset", "sequence", "codec"])["bpp"].idxmin()].reset_index(drop=True)


def _zoomed(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0, 1).repeat(ZOOM, axis=0).repeat(ZOOM, axis=1)


def _bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def crop_figures(rd: pd.DataFrame, target_bpp: float, out_dir: Path, previews: JobFiles, sources: JobFiles) -> list[dict]:
    """One figure per sequence (``sources``: every sequence's file; ``previews``: every job's preview.png, the
    reconstruction's middle frame): the original crop, then each codec's crop at its lowest rate point (first row);
    the full frame with the crop box, then each codec's crop at its point nearest ``target_bpp`` (second row)."""
    entries = []
    rows_of = {"lowest rate point": lowest_rate_points(rd), f"nearest {target_bpp:g} bpp": nearest_rate_points(rd, target_bpp)}
    for (dataset, sequence), group in rd.groupby(["dataset", "sequence"], sort=True):
        codecs = sorted(group["codec"].unique())
        middle = int(group["frames"].iloc[0]) // 2
        original = read_rgb_frame(sources.of(dataset, sequence), middle)
        detail = detail_window(original)
        top, left, side, window = detail.top, detail.left, detail.side, detail.slices
        fig, axes = plt.subplots(2, len(codecs) + 1, figsize=(_PANEL_INCHES * (len(codecs) + 1), _PANEL_INCHES * 2.3),
                                 squeeze=False)
        axes[0, 0].imshow(_zoomed(original[window]), interpolation="nearest")
        axes[0, 0].set_title(f"original crop\n{side}x{side} px at ({left}, {top}), {ZOOM}x", fontsize=7)
        axes[1, 0].imshow(np.clip(original, 0, 1), interpolation="nearest")
        axes[1, 0].add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor="red", linewidth=1.2))
        axes[1, 0].set_title(f"{sequence}, frame {middle}", fontsize=7)
        for row, (label, chosen) in enumerate(rows_of.items()):
            points = chosen[(chosen["dataset"] == dataset) & (chosen["sequence"] == sequence)].set_index("codec")
            for column, codec in enumerate(codecs, start=1):
                ax = axes[row, column]
                if codec not in points.index:
                    ax.set_axis_off()
                    continue
                point = points.loc[codec]
                image = matplotlib.image.imread(previews.of(dataset, sequence, codec, point["rate"]))[..., :3][window]
                ax.imshow(_zoomed(image), interpolation="nearest")
                ax.set_title(f"{codec} {point['rate']}\n{point['bpp']:.4f} bpp, crop PSNR {crop_psnr(original[window], image):.1f} dB",
                             fontsize=7)
                if column == 1:
                    ax.set_ylabel(label, fontsize=8)
        for ax in axes.flat:
            _bare(ax)
        fig.tight_layout()
        files = save(fig, out_dir / f"crops_{dataset}_{sequence}", svg=False)
        entries.append({"kind": "crops", "dataset": dataset, "sequence": sequence, **files,
                        "caption": f"{dataset}/{sequence}, middle frame {middle}: the {side}x{side} px window with the most detail "
                                   f"spread over it (median {BLOCK}x{BLOCK}-block high-pass energy; red box, bottom left), drawn "
                                   f"{ZOOM}x nearest-neighbour; top row each codec at its lowest rate point, bottom row at its "
                                   f"point nearest {target_bpp:g} bpp; titles give the crop's own PSNR (RGB)."})
    return entries
