"""A toy per-frame metric, lower is better: the mean absolute difference of the luma samples.

Registered by this module alone, through VCBENCH_METRICS=tests/metric_plugin (tests/test_metric_plugin.py):
nothing in vcbench names it.
"""

from __future__ import annotations

import numpy as np

from vcbench.metrics.spec import Column, MetricSpec
from vcbench.options import Option, OptionSet

SPEC = MetricSpec(
    "toy_mae", (Column("toy_mae", "lower", cross_device=0.5),), "frame", "toy_mae:ToyMAE",
    "Toy MAE (a test plugin): the mean absolute difference of the luma samples per frame, averaged over frames.",
    options=OptionSet(Option("scale", float, 1.0, "multiplies every value", minimum=0.0)),
)


class ToyMAE:
    columns = SPEC.column_names
    option_set = SPEC.options

    def __init__(self, **options) -> None:
        self.scale = self.option_set.parse(options, "toy_mae options")["scale"]

    def compute(self, reference, distorted, fmt) -> dict[str, list[float]]:
        return {"toy_mae": [self.scale * float(np.mean(np.abs(ref.y.astype(np.int64) - dist.y.astype(np.int64))))
                            for ref, dist in zip(reference, distorted)]}
