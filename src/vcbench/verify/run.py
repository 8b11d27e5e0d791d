"""One `vcbench verify` run over reports/<preset>: which rows, the BD recomputation, the table and verify.json."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vcbench.commands.options import metric_options as checked_metric_options
from vcbench.errors import VcbenchError
from vcbench.io import sha256_file
from vcbench.tracking.job import code_state
from vcbench.verify.bd import verify_bd
from vcbench.verify.compare import CROSS_DEVICE, EXACT, SIX_DECIMALS, Check
from vcbench.verify.rows import RowResult, scored_metrics, verify_row

TOLERANCES = {
    "numbers": f"{EXACT.describe()} (relative 1e-9 above 1, absolute 1e-9 below); integers, hashes and text exactly",
    "frames_csv": f"the numbers' tolerance plus {SIX_DECIMALS:.7g} absolute (the file keeps 6 decimals)",
    "neural_codecs": "as the numbers when decoded on the decode record's device (DiV-INR decodes in float32 only); "
                     "otherwise these absolute tolerances per metric",
    "cross_device": CROSS_DEVICE,
}
NOT_REDERIVED = [
    "encode_seconds and decode_seconds: compared with their records, not re-measured",
    "fid.csv (FID/KID pooled over Inception features): an input of the BD recomputation, not re-derived",
    "not_computed: its reasons name local paths; whether each metric has a value is checked per column",
]


def select_rows(count: int, sample: int | None, seed: int) -> list[int]:
    """All row indices, or ``sample`` of them drawn without replacement with numpy's generator seeded by ``seed``."""
    if sample is None or sample >= count:
        return list(range(count))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(count, size=sample, replace=False))


@dataclass
class Verification:
    report_dir: Path
    rows_total: int
    indices: list[int]
    sample: int | None
    seed: int
    rows: list[RowResult] = field(default_factory=list)
    bd_checks: list[Check] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)  # the commit this run's vcbench comes from
    seconds: float = 0.0

    @property
    def checks(self) -> list[Check]:
        return [check for row in self.rows for check in row.checks] + self.bd_checks

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def scope(self) -> str:
        sampled = f", --sample {self.sample} --seed {self.seed}" if len(self.indices) < self.rows_total else ""
        return f"{len(self.indices)} of {self.rows_total} rows of rd.csv{sampled}; {len(self.bd_checks)} bd.csv checks"

    def summary(self) -> str:
        return f"{len(self.checks)} checks, {len(self.failed)} failed ({self.scope()}; {self.seconds:.1f} s)"

    def to_json(self) -> dict[str, Any]:
        return {
            "report": str(self.report_dir), "files_sha256": self.hashes, "code": self.code,
            "rows_total": self.rows_total, "rows_verified": self.indices,
            "sample": self.sample if len(self.indices) < self.rows_total else None,
            "seed": self.seed if len(self.indices) < self.rows_total else None,
            "checks": len(self.checks), "failed": len(self.failed), "seconds": self.seconds,
            "tolerances": TOLERANCES, "not_rederived": NOT_REDERIVED,
            "rows": [{"row": row.label, "index": index, "checks": len(row.checks), "failed": sum(not c.passed for c in row.checks),
                      **row.info} for index, row in zip(self.indices, self.rows)],
            "results": [check.to_dict() for check in self.checks],
        }


def verify_report(report_dir: Path, root: Path = Path("."), sample: int | None = None, seed: int = 0,
                  metric_options: tuple[str, ...] = (), progress: Callable[[str], None] = lambda line: None) -> Verification:
    """Re-derive every number of ``report_dir`` (rd.csv, bd.csv) from the bitstreams under ``root``.

    Paths in rd.csv and in the records are relative to ``root``, the repository root of the run,
    so the check works on any machine holding the repository, results/ and data/.
    ``metric_options``: the score jobs' ``METRIC.KEY=VALUE`` pairs (the config's metric_options).
    """
    report_dir, root = Path(report_dir), Path(root).resolve()
    report_abs = report_dir.resolve()  # before moving to root
    rd_path = report_abs / "rd.csv"
    if not rd_path.is_file():
        raise VcbenchError(f"{report_dir / 'rd.csv'}: no such file; verify needs a finished report (snakemake {report_dir / 'rd.csv'})")
    started = time.perf_counter()
    rd = pd.read_csv(rd_path)  # as the bd_table command reads it
    result = Verification(report_dir, len(rd), select_rows(len(rd), sample, seed), sample, seed)
    result.hashes = {name: sha256_file(report_abs / name) for name in ("rd.csv", "bd.csv", "fid.csv") if (report_abs / name).is_file()}
    state = code_state()
    result.code = {"commit": state.commit, "dirty": state.dirty}
    metrics = scored_metrics(list(rd.columns))
    per_metric = checked_metric_options(metric_options, metrics)  # checked and completed as the score command does
    with contextlib.chdir(root):
        for count, index in enumerate(result.indices, 1):
            outcome = verify_row(rd.iloc[index].to_dict(), metrics, per_metric)
            failed = sum(not check.passed for check in outcome.checks)
            progress(f"[{count}/{len(result.indices)}] {outcome.label}: {len(outcome.checks)} checks, {failed} failed"
                     f" ({outcome.info.get('seconds', 0.0):.1f} s)")
            result.rows.append(outcome)
    result.bd_checks = verify_bd(report_abs, rd)
    progress(f"bd.csv: {len(result.bd_checks)} checks, {sum(not c.passed for c in result.bd_checks)} failed")
    result.seconds = time.perf_counter() - started
    return result


CELL = 40  # a passed check's values are cut to this width; a failed one's are shown whole, as in verify.json


def _cell(value: Any, passed: bool) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:16] + "..."  # a sha256: its head tells two apart
    text = repr(value) if isinstance(value, float) else str(value)
    return text[: CELL - 3] + "..." if passed and len(text) > CELL else text


def format_table(checks: list[Check]) -> str:
    """Aligned columns: row, check, result, reported value, derived value, note."""
    header = ("row", "check", "result", "reported", "derived", "note")
    lines = [(c.row, c.what, "pass" if c.passed else "FAIL", _cell(c.reported, c.passed), _cell(c.derived, c.passed), c.note)
             for c in checks]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header) - 1)]
    return "".join(("  ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + "  " + cells[-1]).rstrip() + "\n"
                   for cells in [header, *lines])
