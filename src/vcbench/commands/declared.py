"""`vcbench options`: the declared options of every codec and metric, printed from the same
declarations (:mod:`vcbench.options`) that check the command line and the workflow's config."""

from __future__ import annotations

import click

from vcbench.codecs.registry import available_codecs, declared_options
from vcbench.errors import ConfigError
from vcbench.metrics.registry import available_metrics, declared_metric_options
from vcbench.options import OptionSet


def _section(title: str, options: OptionSet) -> list[str]:
    return [title, *(f"  {line}" for line in options.docs() or ["(none)"])]


def describe(name: str) -> list[str]:
    """The lines describing codec or metric ``name`` (a ConfigError for an unknown name)."""
    if name in available_codecs():
        options, knobs = declared_options(name)
        return [*_section(f"codec {name}: options (config codecs.<key>.options, -o KEY=VALUE)", options),
                *_section(f"codec {name}: rate knobs (a ladder entry, -p KEY=VALUE)", knobs)]
    if name not in available_metrics():
        raise ConfigError(f"unknown codec or metric {name!r}; codecs: {', '.join(available_codecs())}; "
                          f"metrics: {', '.join(available_metrics())}")
    return _section(f"metric {name}: options (config metric_options.{name}, -m {name}.KEY=VALUE)", declared_metric_options(name))


@click.command()
@click.argument("names", nargs=-1)
def options(names: tuple[str, ...]) -> None:
    """Print the options and rate knobs of the codecs and metrics NAMES (default: all of them):
    type, allowed values, default and meaning."""
    for index, name in enumerate(names or [*available_codecs(), *available_metrics()]):
        click.echo(("\n" if index else "") + "\n".join(describe(name)))
