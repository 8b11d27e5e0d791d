"""Parsing of repeated KEY=VALUE options shared by the commands."""

from __future__ import annotations

from typing import Any

import click
import yaml


def parse_pairs(pairs: tuple[str, ...], what: str) -> dict[str, Any]:
    """``("qp=37", "preset=slow")`` -> ``{"qp": 37, "preset": "slow"}`` (values parsed as YAML scalars)."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=what)
        parsed[key] = yaml.safe_load(value) if value else ""
    return parsed
