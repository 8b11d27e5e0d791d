"""The analysis record: what an analysis job writes (``analysis.json`` in its folder) and the
report shows, whichever codec's analysis it is (each codec declares its own in its package's
``analyses.py``).

A record names its figures and tables relative to its own folder, so the folder can move; the
report reads exactly the records its rule declares as inputs and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vcbench.errors import VcbenchError
from vcbench.io import write_json_atomic

RECORD_NAME = "analysis.json"


@dataclass(frozen=True)
class JobName:
    """Which result an analysis is of, as the DAG names it (``--job DATASET/SEQUENCE/CODEC/RATE``)."""

    dataset: str
    sequence: str
    codec: str
    rate: str

    @classmethod
    def parse(cls, text: str) -> JobName:
        parts = text.split("/")
        if len(parts) != 4 or not all(parts):
            raise VcbenchError(f"--job {text!r}: give DATASET/SEQUENCE/CODEC/RATE, e.g. demo/bikes/CODEC/d1")
        return cls(*parts)


@dataclass(frozen=True)
class Table:
    caption: str
    csv: str  # relative to the record's folder


@dataclass(frozen=True)
class AnalysisRecord:
    kind: str  # e.g. "denoising"; records of one kind share a report section
    section: str  # the section's heading, e.g. "<codec> denoising analysis"
    codec: str  # the config key of the codec analysed
    dataset: str
    sequence: str
    title: str  # one line: what was analysed
    note: str  # what the figures show and how to read them (the section's first record's is shown)
    figures: list[str] = field(default_factory=list)  # PNG files, relative to the record's folder
    tables: list[Table] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # measured sentences, e.g. "r=2: 41 % faster at 1.2 % more DISTS"
    details: dict[str, Any] = field(default_factory=dict)  # provenance: bitstream and source hashes, options...

    @classmethod
    def of(cls, section: str, fields: dict[str, Any]) -> AnalysisRecord:
        """A record from an analysis's ``fields`` (tables as {caption, csv} dicts); any field that is not
        one of the record's own goes into ``details`` (provenance: bitstream hashes, options, ...)."""
        own = {name for name in cls.__dataclass_fields__ if name not in ("section", "tables", "details")}
        details = {**fields.get("details", {}), **{k: v for k, v in fields.items() if k not in own | {"tables", "details"}}}
        return cls(section=section, **{k: v for k, v in fields.items() if k in own},
                   tables=[Table(**t) for t in fields.get("tables", [])], details=details)

    def write(self, folder: Path) -> Path:
        missing = [name for name in self.figures + [t.csv for t in self.tables] if not (folder / name).is_file()]
        if missing:
            raise VcbenchError(f"{folder}: analysis record names files that were not written: {', '.join(missing)}")
        path = folder / RECORD_NAME
        write_json_atomic(path, asdict(self))
        return path


def read_record(path: Path) -> AnalysisRecord:
    """A record as written by :meth:`AnalysisRecord.write`; a one-line error names a bad one."""
    try:
        raw = json.loads(Path(path).read_text())
        tables = [Table(**t) for t in raw.pop("tables", [])]
        return AnalysisRecord(**raw, tables=tables)
    except (OSError, ValueError, TypeError) as err:
        raise VcbenchError(f"{path}: not an analysis record ({err}); rerun the analysis job that writes it") from None
