"""DiV-INR's layout-before-texture analysis: quality of the predicted clean frame at every
denoising step (decode with option ``record_x0=true``, which writes ``<rec>.x0/step_<k>.y4m``).

    python -m vcbench.codecs.divinr.analysis SOURCE.y4m REC.y4m.x0 OUT.csv [OUT.png]

writes one row per step with the mean of every metric that can run here (PSNR, MS-SSIM, VMAF,
and LPIPS/DISTS when their weights are present) and plots them against the step.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from vcbench.io import atomic_path
from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.registry import create_metric
from vcbench.metrics.vmaf import compute_vmaf
from vcbench.video import Y4MReader

FRAME_METRICS = ("psnr", "ms_ssim", "lpips", "dists")


def per_step_quality(source: Path, x0_folder: Path, frame_metrics: tuple[str, ...] = FRAME_METRICS) -> pd.DataFrame:
    steps = sorted(Path(x0_folder).glob("step_*.y4m"))
    metrics = {}
    for name in frame_metrics:
        try:
            metrics[name] = create_metric(name)
        except MetricUnavailable as reason:
            print(f"{name}: not computed ({reason})", file=sys.stderr)
    rows = []
    for path in steps:
        with Y4MReader(path) as rec:
            distorted = list(rec.frames())
            fmt = rec.format
        with Y4MReader(source) as src:
            reference = list(src.frames(limit=len(distorted)))
        row: dict[str, float] = {"step": int(path.stem.split("_")[1])}
        for metric in metrics.values():
            for column, values in metric.compute(reference, distorted, fmt).items():
                row[column] = sum(values) / len(values)
        for column, values in compute_vmaf(source, path, len(distorted)).items():
            row[column] = sum(values) / len(values)
        rows.append(row)
    return pd.DataFrame(rows)


def plot_per_step(table: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in table.columns if c != "step"]
    fig, axes = plt.subplots(1, len(columns), figsize=(3 * len(columns), 2.8), squeeze=False)
    for axis, column in zip(axes[0], columns):
        axis.plot(table["step"] + 1, table[column], marker="o")
        axis.set_xlabel("denoising step")
        axis.set_title(column)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    source, folder, csv = (Path(a) for a in sys.argv[1:4])
    table = per_step_quality(source, folder)
    with atomic_path(csv, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    if len(sys.argv) > 4:
        plot_per_step(table, Path(sys.argv[4]))
    print(table.to_string(index=False))
