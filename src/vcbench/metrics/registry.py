"""Frame-metric registry: name -> implementing class, imported lazily (learned metrics load torch),
and each metric's declared options, read without torch (the command line checks them before it
scores, the workflow when it parses the DAG)."""

from __future__ import annotations

from typing import Any

from vcbench.errors import ConfigError
from vcbench.lazy import resolve
from vcbench.metrics.base import FrameMetric
from vcbench.options import OptionSet

# name -> "module:Class". VMAF is not here: it runs through ffmpeg on whole files (see metrics/vmaf.py).
_METRICS: dict[str, str] = {
    "psnr": "vcbench.metrics.psnr:PSNR",
    "ms_ssim": "vcbench.metrics.msssim:MSSSIM",
    "lpips": "vcbench.metrics.learned:LPIPSMetric",
    "dists": "vcbench.metrics.learned:DISTSMetric",
}
# metrics whose module imports torch: "module:NAME" of their declared options in a light module
_OPTIONS_ELSEWHERE: dict[str, str] = {
    "lpips": "vcbench.metrics.learned_options:LPIPS_OPTIONS",
    "dists": "vcbench.metrics.learned_options:DISTS_OPTIONS",
}

FILE_METRICS = ("vmaf",)
# libvmaf's models are fixed (metrics/vmaf.py); its threads are `vcbench score --threads`
_VMAF_OPTIONS = OptionSet()


def available_metrics() -> list[str]:
    return sorted([*_METRICS, *FILE_METRICS])


def _unknown(name: str) -> ConfigError:
    return ConfigError(f"unknown metric {name!r}; available metrics: {', '.join(available_metrics())}")


def metric_class(name: str) -> type[FrameMetric]:
    if name not in _METRICS:
        raise _unknown(name)
    return resolve(_METRICS[name])


def declared_metric_options(name: str) -> OptionSet:
    """The options metric ``name`` takes, without importing torch."""
    if name in FILE_METRICS:
        return _VMAF_OPTIONS
    if name not in _METRICS:
        raise _unknown(name)
    if name in _OPTIONS_ELSEWHERE:
        return resolve(_OPTIONS_ELSEWHERE[name])
    return metric_class(name).option_set


def create_metric(name: str, **options: Any) -> FrameMetric:
    return metric_class(name)(**options)
