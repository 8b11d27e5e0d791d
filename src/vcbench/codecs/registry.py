"""Codec registry: one line per built-in codec, naming its declared facts (`vcbench.codecs.base.CodecFacts`),
plus the codec packages in the folders on ``VCBENCH_CODECS``.

The workflow needs each codec's bitstream extension, whether it wants a GPU, and its declared
options and rate knobs every time Snakemake parses the DAG (on a cluster: in every job), so the
facts are read from torch-free modules (a neural codec's ``settings.py``); a codec's class is
imported only when it codes. Codecs outside vcbench are added without touching this file: every
subfolder of a folder on ``VCBENCH_CODECS`` (os.pathsep-separated, as ``VCBENCH_METRICS`` for
metrics) that is a Python package with a ``settings.py`` defining ``FACTS`` is a codec; the folder
goes on ``sys.path``, so its ``FACTS.implementation`` reads "<package>.codec:Class".
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from vcbench.codecs.base import Codec, CodecFacts
from vcbench.errors import ConfigError, UnknownCodecError
from vcbench.lazy import resolve
from vcbench.options import OptionSet, parse_pairs

# "module:NAME" of each built-in codec's facts. A codec whose facts are its package's `settings` module's
# is that package's codec (`codec_package`: where its other declarations, such as its analyses, live).
_CODECS = (
    "vcbench.codecs.ffmpeg:X265_FACTS",
    "vcbench.codecs.ffmpeg:VVENC_FACTS",
    "vcbench.codecs.ffmpeg:SVTAV1_FACTS",
    "vcbench.codecs.divinr.settings:FACTS",
    "vcbench.codecs.diffvc.settings:FACTS",
    "vcbench.codecs.givic.settings:FACTS",
)
PLUGIN_PATH = "VCBENCH_CODECS"
SETTINGS = "settings"  # the module of a codec package that declares its FACTS


class _Registered(NamedTuple):
    facts: CodecFacts
    package: str | None  # the codec's package; None for a codec declared in a plain module (the anchors)


def _package_of(module: str) -> str | None:
    package, _, last = module.rpartition(".")
    return package if last == SETTINGS else None


def _plugin_modules(folders: str) -> list[str]:
    """The ``<package>.settings`` module of every codec package in ``folders``, each folder put on sys.path."""
    modules = []
    for folder in (Path(p).resolve() for p in folders.split(os.pathsep) if p):
        if not folder.is_dir():
            raise ConfigError(f"{PLUGIN_PATH}: {folder} is not a folder; name folders of codec packages")
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
        for package in sorted(p for p in folder.iterdir() if (p / "__init__.py").is_file() and (p / f"{SETTINGS}.py").is_file()):
            found = importlib.util.find_spec(package.name)
            if found is None or found.origin is None or Path(found.origin).resolve().parent != package:
                raise ConfigError(f"{PLUGIN_PATH}: {package} is shadowed by the package {package.name!r} at "
                                  f"{found and found.origin}; rename the folder")
            modules.append(f"{package.name}.{SETTINGS}")
    return modules


@cache
def _registry(plugin_folders: str) -> dict[str, _Registered]:
    registered: dict[str, _Registered] = {}
    lines = list(_CODECS) + [f"{module}:FACTS" for module in _plugin_modules(plugin_folders)]
    for line in lines:
        module, _, attribute = line.partition(":")
        facts = getattr(importlib.import_module(module), attribute, None)
        if not isinstance(facts, CodecFacts):
            raise ConfigError(f"{module}: a codec's {SETTINGS}.py on {PLUGIN_PATH} must define FACTS, a vcbench.codecs.base.CodecFacts")
        if facts.name in registered:
            raise ConfigError(f"codec {facts.name!r} is declared twice (check the packages on {PLUGIN_PATH})")
        extensions = {entry.facts.extension: name for name, entry in registered.items()}
        if facts.extension in extensions:
            raise ConfigError(f"codec {facts.name}: bitstream extension .{facts.extension} is already {extensions[facts.extension]}'s")
        registered[facts.name] = _Registered(facts, _package_of(module))
    return registered


def _codecs() -> dict[str, _Registered]:
    return _registry(os.environ.get(PLUGIN_PATH, ""))


def available_codecs() -> list[str]:
    return sorted(_codecs())


def _registered(name: str) -> _Registered:
    try:
        return _codecs()[name]
    except KeyError:
        raise UnknownCodecError(f"unknown codec {name!r}; available codecs: {', '.join(available_codecs())}") from None


def codec_entry(name: str) -> CodecFacts:
    """The codec's declared facts (extension, GPU use, options and knobs), without importing its class."""
    return _registered(name).facts


def codec_package(name: str) -> str | None:
    """The package of the codec (``vcbench.codecs.divinr``, or a plugin's ``<package>``), whose modules
    declare what else it brings; None for the anchors, which are classes of one module."""
    return _registered(name).package


def codec_class(name: str) -> type[Codec]:
    return resolve(codec_entry(name).implementation)


def declared_options(name: str) -> tuple[OptionSet, OptionSet]:
    """The codec's declared (options, rate knobs), without importing torch."""
    facts = codec_entry(name)
    return facts.options, facts.knobs


def checked_codec_options(name: str, pairs: Iterable[str]) -> dict[str, Any]:
    """``-o KEY=VALUE`` pairs as the codec's complete, checked options: the commands' and the study's (which
    decodes as `vcbench decode` does)."""
    return codec_entry(name).options.parse(parse_pairs(pairs, "-o/--option"), f"{name} options (-o)")


def create_codec(name: str, **options: Any) -> Codec:
    return codec_class(name)(**options)


def codec_for_extension(extension: str) -> str:
    """The codec name whose bitstreams carry ``extension`` (for `vcbench decode` without --codec)."""
    ext = extension.lstrip(".")
    matches = [name for name, entry in _codecs().items() if entry.facts.extension == ext]
    if len(matches) != 1:
        raise UnknownCodecError(f"cannot tell the codec from the extension .{ext}; pass --codec ({', '.join(available_codecs())})")
    return matches[0]
