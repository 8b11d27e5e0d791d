"""The dataset registry: one YAML file per dataset in ``registry/`` (or ``VCBENCH_DATASETS``).

A dataset names its source (how its files are obtained) and its sequences with their geometry
and the frames to keep. Preparing a sequence yields ``data/<dataset>/<sequence>.y4m`` plus a
JSON record of how it was made and its sha256.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from vcbench.errors import ConfigError
from vcbench.io import load_yaml

_BUILTIN = Path(__file__).parent / "registry"


@dataclass(frozen=True)
class SequenceSpec:
    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> int | None:
        return self.params.get("frames")


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    licence: str
    source: dict[str, Any]
    sequences: dict[str, SequenceSpec]
    path: Path

    def sequence(self, name: str) -> SequenceSpec:
        try:
            return self.sequences[name]
        except KeyError:
            raise ConfigError(f"{self.path}: dataset {self.name!r} has no sequence {name!r}; it has {', '.join(self.sequences)}") from None


def _registry_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("VCBENCH_DATASETS", "").split(os.pathsep) if p]
    return [*extra, _BUILTIN]


def list_datasets() -> list[str]:
    return sorted({p.stem for d in _registry_dirs() if d.is_dir() for p in d.glob("*.yaml")})


@cache
def load_dataset(name: str) -> Dataset:
    for directory in _registry_dirs():
        path = directory / f"{name}.yaml"
        if path.is_file():
            break
    else:
        raise ConfigError(f"unknown dataset {name!r}; registered datasets: {', '.join(list_datasets())}")
    raw = load_yaml(path)
    try:
        sequences = {seq: SequenceSpec(seq, params or {}) for seq, params in raw["sequences"].items()}
        return Dataset(raw["name"], raw.get("description", ""), raw.get("licence", ""), raw["source"], sequences, path)
    except (KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"{path}: malformed dataset entry ({err}); see src/vcbench/data/registry/demo.yaml for the format") from None
