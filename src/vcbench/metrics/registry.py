"""Frame-metric registry: name -> implementing class, imported lazily (learned metrics load torch)."""

from __future__ import annotations

import importlib
from typing import Any

from vcbench.errors import ConfigError
from vcbench.metrics.base import FrameMetric

# name -> "module:Class". VMAF is not here: it runs through ffmpeg on whole files (see metrics/vmaf.py).
_METRICS: dict[str, str] = {
    "psnr": "vcbench.metrics.psnr:PSNR",
    "ms_ssim": "vcbench.metrics.msssim:MSSSIM",
    "lpips": "vcbench.metrics.learned:LPIPSMetric",
    "dists": "vcbench.metrics.learned:DISTSMetric",
}

FILE_METRICS = ("vmaf",)


def available_metrics() -> list[str]:
    return sorted([*_METRICS, *FILE_METRICS])


def metric_class(name: str) -> type[FrameMetric]:
    try:
        module_name, class_name = _METRICS[name].split(":")
    except KeyError:
        raise ConfigError(f"unknown metric {name!r}; available metrics: {', '.join(available_metrics())}") from None
    return getattr(importlib.import_module(module_name), class_name)


def create_metric(name: str, **options: Any) -> FrameMetric:
    return metric_class(name)(**options)
