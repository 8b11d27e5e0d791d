"""The one resolver of vcbench's lazy registries (codecs, metrics, dataset preparers, commands):
each names its implementations as "module:attribute" strings, imported only when used, so that
light work never pays for torch."""

from __future__ import annotations

import importlib
from typing import Any


def resolve(spec: str) -> Any:
    """The attribute named by ``"package.module:attribute"``."""
    module_name, attribute = spec.split(":")
    return getattr(importlib.import_module(module_name), attribute)
