"""What a study folder holds, and its config ``study.json`` (written once by `vcbench study create`).

A study folder: ``study.json`` (conditions, clips and their hashes, the report's provenance, the
session plan), ``clips/`` (one lossless clip per condition), ``answers.sqlite`` (the default store),
and what `export` and `scale` write (``export/``, ``scale/``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcbench.errors import ConfigError

CONFIG = "study.json"
CLIPS = "clips"
DATABASE = "answers.sqlite"
EXPORT = "export"
SCALE = "scale"
REFERENCE = "reference"  # the codec name of the reference condition (the source itself)


@dataclass(frozen=True)
class Condition:
    """One thing people see: a codec at a rate point on a sequence, or the reference."""

    id: str  # "<dataset>/<sequence>/<codec>/<rate>", or "<dataset>/<sequence>/reference"
    dataset: str
    sequence: str
    codec: str
    rate: str
    bpp: float | None  # None for the reference
    clip: str  # relative to the study folder

    @property
    def group(self) -> str:
        """Conditions are only ever compared within their sequence."""
        return f"{self.dataset}/{self.sequence}"

    @property
    def is_reference(self) -> bool:
        return self.codec == REFERENCE


@dataclass(frozen=True)
class SessionPlan:
    """What one participant does: practice pairs first, then active pairs with hidden repeats among them."""

    training: int = 2
    trials: int = 30
    repeats: int = 3

    @property
    def total(self) -> int:
        return self.training + self.trials + self.repeats


class Study:
    """A study folder and its config."""

    def __init__(self, root: Path):
        self.root = Path(root)
        path = self.root / CONFIG
        if not path.is_file():
            raise ConfigError(f"{path}: no such file; make the study with `vcbench study create reports/<preset> --out {self.root}`")
        try:
            self.config: dict[str, Any] = json.loads(path.read_text())
            self.conditions = [Condition(**{k: c[k] for k in Condition.__dataclass_fields__}) for c in self.config["conditions"]]
            self.session = SessionPlan(**self.config["session"])
            self.training_pairs: list[tuple[str, str]] = [tuple(p) for p in self.config["training_pairs"]]
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{path}: not a study config ({err!r}); make it again with `vcbench study create`") from None
        self.by_id = {c.id: c for c in self.conditions}
        self.metrics: dict[str, dict[str, float]] = {c["id"]: c.get("metrics", {}) for c in self.config["conditions"]}
        self.metric_columns: list[str] = self.config.get("metric_columns", [])
        # each sequence's conditions, the reference first (conditions are only compared within their sequence)
        self.groups: dict[str, list[Condition]] = {}
        for condition in sorted(self.conditions, key=lambda c: (not c.is_reference, c.codec, c.bpp or 0.0)):
            self.groups.setdefault(condition.group, []).append(condition)
        problems = [f"sequence {group} needs one reference and a coded condition" for group, members in self.groups.items()
                    if sum(c.is_reference for c in members) != 1 or len(members) < 2]
        problems += [f"training pair condition {cid} is not a condition" for pair in self.training_pairs for cid in pair
                     if cid not in self.by_id]
        problems += [] if self.training_pairs else ["no training pairs"]
        if problems:
            raise ConfigError(f"{path}: {problems[0]}; make it again with `vcbench study create`")

    def default_database_url(self) -> str:
        return f"sqlite:///{(self.root / DATABASE).resolve()}"
