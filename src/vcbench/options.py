"""Declared options: each codec option, rate knob and metric option is stated once, with its type,
default, allowed values and a line of doc. That one declaration checks the command line
(`-o`, `-p`, `-m`), the workflow configuration at `snakemake -n` time, and writes the docs.

Kept free of heavy imports (no torch): the workflow checks every configured codec's options each
time it parses the DAG.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vcbench.errors import ConfigError

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class Option:
    """One option: ``name`` of ``type`` (int, float, str or bool), with a ``default`` (None: not
    set unless given; ``required`` options must be given), optional ``choices`` or bounds.
    ``changes_output`` False declares that no output depends on the value (e.g. the anchors' encoder
    threads: the same bytes at any count), so the workflow passes it without making it a rerun trigger."""

    name: str
    type: type
    default: Any
    doc: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False
    changes_output: bool = True

    def check(self, value: Any, where: str) -> Any:
        """``value`` as this option's type, or a one-line ConfigError naming ``where``, the value and
        what is allowed. Nothing is rounded or coerced silently: 37.5 is not an integer."""
        checked = self._typed(value)
        if checked is None:
            raise ConfigError(f"{where}: {self.name}={value!r} is not {_TYPE_NAMES[self.type]}; {self.allowed()}")
        if self.choices is not None and checked not in self.choices:
            raise ConfigError(f"{where}: {self.name}={value!r} is not allowed; {self.allowed()}")
        if (self.minimum is not None and checked < self.minimum) or (self.maximum is not None and checked > self.maximum):
            raise ConfigError(f"{where}: {self.name}={value!r} is out of range; {self.allowed()}")
        return checked

    def _typed(self, value: Any) -> Any:
        if self.type is bool:
            if isinstance(value, bool):
                return value
            lowered = str(value).lower()
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(lowered)
        if self.type is int:
            if isinstance(value, bool):
                return None
            if isinstance(value, int):
                return value
            if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
                return int(value)
            return None
        if self.type is float:
            if isinstance(value, bool):
                return None
            try:
                number = float(value)
            except (TypeError, ValueError):
                return None
            return number if math.isfinite(number) else None
        if self.type is str:
            if isinstance(value, os.PathLike):  # a path given from Python (options that name files)
                return os.fspath(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
            return value if isinstance(value, str) else None
        raise TypeError(f"option {self.name}: unsupported type {self.type}")

    def allowed(self) -> str:
        """What values are allowed, in words (used in errors and docs)."""
        if self.choices is not None:
            return f"{self.name} is one of {', '.join(str(c) for c in self.choices)}"
        low = "" if self.minimum is None else f"{self.minimum:g}"
        high = "" if self.maximum is None else f"{self.maximum:g}"
        span = f" in [{low or '-inf'}, {high or 'inf'}]" if low or high else ""
        return f"{self.name} is {_TYPE_NAMES[self.type]}{span}"

    def describe(self) -> str:
        default = "required" if self.required else f"default {self.default!r}"
        return f"{self.name} ({self.allowed().split(' is ', 1)[1]}; {default}): {self.doc}"


@dataclass(frozen=True)
class ListOption(Option):
    """An option whose value is a list of ``type`` (a YAML list, or comma-separated on the command
    line: ``steps=1,2,4``), each item checked as an `Option` of that type; [] is allowed (e.g. off)."""

    def check(self, value: Any, where: str) -> Any:
        items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(f"{where}: {self.name}={value!r} is not a list; {self.allowed()}")
        checked = [super(ListOption, self).check(item, where) for item in items]
        if len(set(checked)) != len(checked):
            raise ConfigError(f"{where}: {self.name}={value!r} repeats an item; {self.allowed()}")
        return checked

    def allowed(self) -> str:
        return super().allowed().replace(" is ", " is a list, each ", 1)  # "steps is a list, each an integer in [1, inf]"


class OptionSet:
    """A declared set of options: parses what a user gave into a complete, checked dict."""

    def __init__(self, *options: Option, check: Callable[[dict[str, Any], str], None] | None = None):
        self.options = {option.name: option for option in options}
        if len(self.options) != len(options):
            raise ValueError("an option is declared twice")
        # a check of the parsed values together (e.g. that a backbone fits them): a ConfigError naming ``where``
        self.check = check

    def __iter__(self):
        return iter(self.options.values())

    def __contains__(self, name: str) -> bool:
        return name in self.options

    def names(self) -> list[str]:
        return list(self.options)

    def parse(self, given: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Check every given value and fill in the defaults. An unknown name, a value of the
        wrong type or range, or a missing required option is a ConfigError naming ``where``."""
        unknown = [name for name in given if name not in self.options]
        if unknown:
            known = ", ".join(self.options) or "none"
            raise ConfigError(f"{where}: unknown option {', '.join(repr(n) for n in unknown)}; known: {known}")
        parsed: dict[str, Any] = {}
        for name, option in self.options.items():
            if name in given and given[name] is not None:
                parsed[name] = option.check(given[name], where)
            elif option.required:
                raise ConfigError(f"{where}: {name} is required; {option.allowed()}")
            else:
                parsed[name] = option.default
        if self.check is not None:
            self.check(parsed, where)
        return parsed

    def docs(self) -> list[str]:
        return [option.describe() for option in self.options.values()]


def parse_pairs(pairs: Iterable[str], what: str) -> dict[str, str]:
    """``("qp=37", "preset=slow")`` -> ``{"qp": "37", "preset": "slow"}``: the raw strings, for an
    :class:`OptionSet` to check. A pair without ``=`` or a key given twice is a ConfigError."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what}: {pair!r} is not KEY=VALUE")
        if key in parsed:
            raise ConfigError(f"{what}: {key} is given twice ({key}={parsed[key]} and {pair})")
        parsed[key] = value
    return parsed
