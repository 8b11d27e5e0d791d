"""Files a command was given by key (its repeatable ``--option KEY FILE`` pairs): the per-job files
of the aggregate stage's commands, each passed by its rule from the DAG's declared inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vcbench.errors import VcbenchError
from vcbench.io import read_record


@dataclass(frozen=True)
class JobFiles:
    """The files of one kind a command was given (its ``option`` KEY FILE pairs, written by rule ``rule``), by key:
    dataset/sequence/codec/rate for a job's, dataset/sequence for a sequence's."""

    option: str
    rule: str
    files: dict[str, Path]

    def of(self, *key_parts: object) -> Path:
        """The file of the key ``key_parts`` joined by "/"; one not given, or given but absent, is one line naming the fix."""
        key = "/".join(str(part) for part in key_parts)
        if key not in self.files:
            raise VcbenchError(f"no {self.option} file given for {key} (a point of rd.csv); pass {self.option} {key} FILE "
                               "(the DAG passes every job's)")
        path = self.files[key]
        if not path.is_file():
            raise VcbenchError(f"{path}: no such file ({self.option} {key}); build it first (rule {self.rule}: snakemake {path})")
        return path

    def read_json(self, *key_parts: object) -> dict:
        """The JSON record of the key ``key_parts``; one that does not parse is one line naming the fix."""
        return read_record(self.of(*key_parts), {})
