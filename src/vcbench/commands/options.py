"""The commands' repeated KEY=VALUE options (``-o``, ``-p``, ``-m``), checked against their
declarations (:mod:`vcbench.options`) before a command does anything."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vcbench.codecs.registry import checked_codec_options as codec_options, declared_options
from vcbench.metrics.registry import checked_metric_options as metric_options
from vcbench.options import parse_pairs

# parse_pairs, codec_options and metric_options live below the commands (verify parses -m as the score command does;
# the study parses a decoder's -o as `vcbench decode` does)
__all__ = ["codec_options", "default_label", "metric_options", "parse_pairs", "rate_knobs"]


def rate_knobs(codec: str, pairs: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """``-p KEY=VALUE`` pairs as the codec's complete, checked rate knobs, and the names that were given."""
    given = parse_pairs(pairs, "-p/--param")
    return declared_options(codec)[1].parse(given, f"{codec} rate knobs (-p)"), list(given)


def default_label(knobs: dict[str, Any], given: list[str]) -> str:
    """The label of a rate point from the knobs given, as checked: qp=37 -> "qp37", quant_step=0.05 ->
    "quant_step0p05" (labels name files)."""
    return "_".join(f"{name}{knobs[name]}" for name in given).replace(".", "p").replace("-", "m") or "default"
