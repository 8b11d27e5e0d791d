"""The commands' repeated KEY=VALUE options (``-o``, ``-p``, ``-m``), checked against their
declarations (:mod:`vcbench.options`) before a command does anything."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vcbench.codecs.registry import declared_options
from vcbench.errors import ConfigError
from vcbench.metrics.registry import declared_metric_options
from vcbench.options import parse_pairs

__all__ = ["codec_options", "default_label", "metric_options", "parse_pairs", "rate_knobs"]


def codec_options(codec: str, pairs: Iterable[str]) -> dict[str, Any]:
    """``-o KEY=VALUE`` pairs as the codec's complete, checked options."""
    return declared_options(codec)[0].parse(parse_pairs(pairs, "-o/--option"), f"{codec} options (-o)")


def rate_knobs(codec: str, pairs: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """``-p KEY=VALUE`` pairs as the codec's complete, checked rate knobs, and the names that were given."""
    given = parse_pairs(pairs, "-p/--param")
    return declared_options(codec)[1].parse(given, f"{codec} rate knobs (-p)"), list(given)


def default_label(knobs: dict[str, Any], given: list[str]) -> str:
    """The label of a rate point from the knobs given, as checked: qp=37 -> "qp37", quant_step=0.05 ->
    "quant_step0p05" (labels name files)."""
    return "_".join(f"{name}{knobs[name]}" for name in given).replace(".", "p").replace("-", "m") or "default"


def metric_options(pairs: Iterable[str], scored: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """``-m METRIC.KEY=VALUE`` pairs -> {metric: its complete, checked options}, for every metric
    named (and, when ``scored`` is given, each of those). An option for a metric that is not
    scored would be silently ignored, so it is refused."""
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
