"""A toy per-sequence metric, higher is better: the luma PSNR of the whole sequence (its samples pooled
before the logarithm), one value per sequence. Registered by this module alone (VCBENCH_METRICS)."""

from __future__ import annotations

import math

import numpy as np

from vcbench.metrics.spec import Column, MetricSpec

SPEC = MetricSpec(
    "toy_sequence_psnr", (Column("toy_sequence_psnr", "higher", unit="dB"),), "sequence", "toy_sequence_psnr:ToySequencePSNR",
    "Toy sequence PSNR (a test plugin): luma squared errors pooled over every frame, then one PSNR per sequence.",
)


class ToySequencePSNR:
    columns = SPEC.column_names
    option_set = SPEC.options

    def __init__(self, **options) -> None:
        self.option_set.parse(options, "toy_sequence_psnr options")

    def compute_sequence(self, reference, distorted, fmt) -> dict[str, float]:
        mse = np.mean([np.mean((ref.y.astype(np.float64) - dist.y.astype(np.float64)) ** 2) for ref, dist in zip(reference, distorted)])
        return {"toy_sequence_psnr": 100.0 if mse == 0 else 10 * math.log10(fmt.max_value**2 / mse)}
