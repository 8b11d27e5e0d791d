"""The metric registry: one line per metric, naming its declaration (`vcbench.metrics.spec.MetricSpec`).

Declarations are torch-free (a metric whose class imports torch declares itself in a light module
beside it, as `metrics/learned_options.py`); the class is imported only when it scores. Metrics
outside vcbench are added without touching it: every ``*.py`` module in a folder on
``VCBENCH_METRICS`` (os.pathsep-separated, as ``VCBENCH_DATASETS`` for datasets) that defines
``SPEC`` registers it, its implementation named by the module's file name ("toy:ToyMetric").
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from vcbench.errors import ConfigError, VideoFormatError
from vcbench.lazy import resolve
from vcbench.metrics.base import FrameMetric, SequenceMetric
from vcbench.metrics.spec import LIBVMAF, Column, MetricSpec
from vcbench.options import OptionSet, parse_pairs

# "module:NAME" of each metric's declaration, in the order of rd.csv's and the report's columns.
_METRICS = (
    "vcbench.metrics.psnr:SPEC",
    "vcbench.metrics.msssim:SPEC",
    "vcbench.metrics.vmaf:VMAF",
    "vcbench.metrics.vmaf:PSNR_HVS",
    "vcbench.metrics.vmaf:CIEDE2000",
    "vcbench.metrics.vmaf:CAMBI",
    "vcbench.metrics.ssimulacra2:SPEC",
    "vcbench.metrics.butteraugli:SPEC",
    "vcbench.metrics.flip:SPEC",
    "vcbench.metrics.cvvdp:SPEC",
    "vcbench.metrics.learned_options:LPIPS",
    "vcbench.metrics.learned_options:DISTS",
    "vcbench.metrics.learned_options:FID",
)
PLUGIN_PATH = "VCBENCH_METRICS"


def _plugin_specs(folders: str) -> list[MetricSpec]:
    specs = []
    for folder in (Path(p) for p in folders.split(os.pathsep) if p):
        if not folder.is_dir():
            raise ConfigError(f"{PLUGIN_PATH}: {folder} is not a folder; name folders of metric modules")
        for path in sorted(folder.glob("*.py")):
            if path.stem.startswith("_"):
                continue
            module = sys.modules.get(path.stem)
            if module is None or Path(getattr(module, "__file__", "")).resolve() != path.resolve():
                loader = importlib.util.spec_from_file_location(path.stem, path)
                module = importlib.util.module_from_spec(loader)
                sys.modules[path.stem] = module  # so that "stem:Class" resolves
                loader.loader.exec_module(module)
            spec = getattr(module, "SPEC", None)
            if not isinstance(spec, MetricSpec):
                raise ConfigError(f"{path}: a metric module on {PLUGIN_PATH} must define SPEC, a vcbench.metrics.spec.MetricSpec")
            specs.append(spec)
    return specs


@cache
def _specs(plugin_folders: str) -> dict[str, MetricSpec]:
    specs: dict[str, MetricSpec] = {}
    columns: dict[str, str] = {}
    for spec in [resolve(line) for line in _METRICS] + _plugin_specs(plugin_folders):
        if spec.name in specs:
            raise ConfigError(f"metric {spec.name!r} is declared twice (check the modules on {PLUGIN_PATH})")
        for column in spec.column_names:
            if column in columns or column in ("frame", *specs):
                raise ConfigError(f"metric {spec.name}: column {column!r} is already {columns.get(column, 'taken')}'s")
            columns[column] = spec.name
        specs[spec.name] = spec
    return specs


def specs() -> dict[str, MetricSpec]:
    """Every declared metric, built-in then plugins, in column order."""
    return _specs(os.environ.get(PLUGIN_PATH, ""))


def available_metrics() -> list[str]:
    return list(specs())


def metric_spec(name: str) -> MetricSpec:
    try:
        return specs()[name]
    except KeyError:
        raise ConfigError(f"unknown metric {name!r}; available metrics: {', '.join(available_metrics())}") from None


def libvmaf_metrics() -> tuple[str, ...]:
    """The metrics of the score job's one libvmaf pass."""
    return tuple(name for name, spec in specs().items() if spec.implementation == LIBVMAF)


def metric_class(name: str) -> type[FrameMetric] | type[SequenceMetric]:
    spec = metric_spec(name)
    if spec.implementation in (None, LIBVMAF):
        raise ConfigError(f"metric {name} has no class: it is computed {'by libvmaf' if spec.implementation else 'in its own jobs'}")
    return resolve(spec.implementation)


def metric_columns(name: str) -> tuple[str, ...]:
    return metric_spec(name).column_names


def declared_metric_options(name: str) -> OptionSet:
    """The options metric ``name`` takes, without importing torch."""
    return metric_spec(name).options


def checked_metric_options(pairs: Iterable[str], scored: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """``-m METRIC.KEY=VALUE`` pairs (the score command's, and verify's, which scores as it did) -> {metric:
    its complete, checked options}, for every metric named (and, when ``scored`` is given, each of those).
    An option for a metric that is not scored would be silently ignored, so it is refused."""
    by_metric: dict[str, dict[str, str]] = {}
    for key, value in parse_pairs(pairs, "-m/--metric-option").items():
        metric, dot, option = key.partition(".")
        if not dot or not metric or not option:
            raise ConfigError(f"-m/--metric-option: {key}={value} is not METRIC.KEY=VALUE (e.g. -m lpips.net=vgg)")
        if scored is not None and metric not in scored:
            raise ConfigError(f"-m/--metric-option: {key}={value} is for {metric}, which is not among the metrics scored "
                              f"({', '.join(scored)})")
        by_metric.setdefault(metric, {})[option] = value
    names = list(dict.fromkeys([*(scored or []), *by_metric]))
    return {name: declared_metric_options(name).parse(by_metric.get(name, {}), f"{name} options (-m)") for name in names}


def create_metric(name: str, **options: Any) -> FrameMetric | SequenceMetric:
    return metric_class(name)(**options)


def column_spec(column: str) -> Column | None:
    """The declaration of an rd.csv metric column (None: no declared metric fills it)."""
    for spec in specs().values():
        for declared in spec.columns:
            if declared.name == column:
                return declared
    return None


def lower_is_better(column: str) -> bool:
    """Direction of a metric column as its metric declares it (case-insensitive); an undeclared one
    counts as higher-is-better."""
    declared = column_spec(column.lower())
    return declared is not None and declared.lower_is_better


def headline_columns(metrics: list[str]) -> list[str]:
    """The headline columns of ``metrics`` (BD table, plots), in registry order."""
    return [column.name for name, spec in specs().items() if name in metrics for column in spec.columns if column.headline]


def check_frame_size(metrics: list[str], width: int, height: int, where: str) -> dict[str, str]:
    """Before scoring ``width`` x ``height`` frames: a one-line error for the first metric that refuses
    them; the metrics that would leave their columns empty instead -> why."""
    not_computed = {}
    for name in metrics:
        spec = metric_spec(name)
        reason = spec.too_small(width, height)
        if reason is None:
            continue
        if spec.small_frames == "refuse":
            raise VideoFormatError(f"{where}: {reason}; leave {name} out of the metrics or score larger frames")
        not_computed[name] = reason
    return not_computed
