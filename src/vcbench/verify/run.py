"""One `vcbench verify` run over reports/<preset>: which rows, the BD recomputation, the table and verify.json."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vcbench import layout
from vcbench.errors import ConfigError, VcbenchError
from vcbench.io import sha256_file
from vcbench.metrics.registry import checked_metric_options
from vcbench.results import read_rd, record_path
from vcbench.tracking.job import code_state
from vcbench.verify.bd import read_bd, verify_bd
from vcbench.verify.compare import CROSS_DEVICE, EXACT, SIX_DECIMALS, Check
from vcbench.verify.rows import RowResult, scored_metrics, verify_row

TOLERANCES = {
    "numbers": f"{EXACT.describe()} (relative 1e-9 above 1, absolute 1e-9 below); integers, hashes and text exactly",
    "frames_csv": f"the numbers' tolerance plus {SIX_DECIMALS:.7g} absolute (the file keeps 6 decimals)",
    "neural_codecs": "as the numbers when decoded on the decode record's platform (device, device model, dtype, CPU instruction "
                     "set, torch/CUDA/cuDNN versions and, on the CPU, the thread count, which verify decodes with); "
                     "otherwise these absolute tolerances per metric",
    "cross_device": CROSS_DEVICE,
}
NOT_REDERIVED = [
    "encode_seconds and decode_seconds: compared with their records, not re-measured",
    "dataset, sequence, codec and rate: labels, compared with the bitstream's path, the score summary and the encode record",
    "fid.csv (FID/KID pooled over Inception features): an input of the BD recomputation, not re-derived",
    "not_computed: its reasons name local paths; whether each metric has a value is checked per column",
]


def select_rows(count: int, sample: int | None, seed: int) -> list[int]:
    """All row indices, or ``sample`` of them drawn without replacement with numpy's generator seeded by ``seed``."""
    if sample is None or sample >= count:
        return list(range(count))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(count, size=sample, replace=False))


# config_hash is the hash of the configuration Snakemake ran with (--config overrides included), which
# no record keeps: re-derived only where the caller passes it (the verify rule passes its own).
CONFIG_HASH_NOT_GIVEN = ("config_hash: no --config-hash given, so not re-derived; checked only to be one value in every row "
                         "(the verify rule passes the hash of the configuration it runs under)")


def report_files(report_dir: Path, root: Path = Path(".")) -> dict[str, Path]:
    """Every file `vcbench verify` reads for ``report_dir`` (by what it is), resolved: its --out must be none of them."""
    report_dir, root = Path(report_dir).resolve(), Path(root).resolve()
    files = {f"the report's {name}": report_dir / name for name in ("rd.csv", "bd.csv", "fid.csv")}
    rd_path = files["the report's rd.csv"]
    if not rd_path.is_file():
        return files
    for line, row in enumerate(read_rd(rd_path).to_dict("records"), 2):
        bitstream = root / str(row["bitstream"])
        files[f"the bitstream of rd.csv line {line}"] = bitstream
        for kind in ("encode", "decode", "summary"):
            files[f"{row['bitstream']}'s {kind} record"] = record_path(bitstream, kind)
        files[f"{row['bitstream']}'s frames.csv"] = layout.record_of(bitstream, "frames.csv")
        try:
            source = root / str(json.loads(record_path(bitstream, "encode").read_text())["source"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # verify names an unreadable record as a failed check
        files[f"{row['bitstream']}'s source"] = source
        files[f"{row['bitstream']}'s source record"] = layout.sequence_record(source)
    return files


def refuse_replacing_other_than_verify_json(out: Path) -> None:
    """A ConfigError if ``out`` exists and is not an earlier verify.json (any other file there is a result)."""
    if not out.exists():
        return
    try:
        earlier = json.loads(out.read_bytes())
    except (OSError, ValueError):
        earlier = None
    if not (isinstance(earlier, dict) and {"checks", "results", "not_rederived"} <= earlier.keys()):
        raise ConfigError(f"--out {out}: exists and is not a verify.json; writing there would destroy it, give another path")


@dataclass
class Verification:
    report_dir: Path
    rows_total: int
    indices: list[int]
    sample: int | None
    seed: int
    rows: list[RowResult] = field(default_factory=list)
    bd_checks: list[Check] = field(default_factory=list)
    table_checks: list[Check] = field(default_factory=list)  # of rd.csv as a whole (its config_hash)
    not_rederived: list[str] = field(default_factory=lambda: list(NOT_REDERIVED))
    hashes: dict[str, str] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)  # the commit this run's vcbench comes from
    seconds: float = 0.0

    @property
    def checks(self) -> list[Check]:
        return self.table_checks + [check for row in self.rows for check in row.checks] + self.bd_checks

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
            "tolerances": TOLERANCES, "not_rederived": self.not_rederived,
            "rows": [{"row": row.label, "index": index, "checks": len(row.checks), "failed": sum(not c.passed for c in row.checks),
                      **row.info} for index, row in zip(self.indices, self.rows)],
            "results": [check.to_dict() for check in self.checks],
        }


def verify_report(report_dir: Path, root: Path = Path("."), sample: int | None = None, seed: int = 0,
                  metric_options: tuple[str, ...] = (), progress: Callable[[str], None] = lambda line: None,
                  config_hash: str | None = None) -> Verification:
    """Re-derive every number of ``report_dir`` (rd.csv, bd.csv) from the bitstreams under ``root``.

    Paths in rd.csv and in the records are relative to ``root``, the repository root of the run,
    so the check works on any machine holding the repository, results/ and data/.
    ``metric_options``: the score jobs' ``METRIC.KEY=VALUE`` pairs (the config's metric_options);
    ``config_hash``: the hash of the configuration the report must have been built under.
    """
    report_dir, root = Path(report_dir), Path(root).resolve()
    report_abs = report_dir.resolve()  # before moving to root
    rd_path = report_abs / "rd.csv"
    if not rd_path.is_file():
        raise VcbenchError(f"{report_dir / 'rd.csv'}: no such file; verify needs a finished report (snakemake {report_dir / 'rd.csv'})")
    started = time.perf_counter()
    rd = read_rd(rd_path)  # as the bd_table command reads it
    if (report_abs / "bd.csv").is_file():
        read_bd(report_abs / "bd.csv")  # a malformed one is refused now, not after every row is decoded
    result = Verification(report_dir, len(rd), select_rows(len(rd), sample, seed), sample, seed)
    result.table_checks = _check_config_hash(rd, config_hash)
    if config_hash is None:
        result.not_rederived.append(CONFIG_HASH_NOT_GIVEN)
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


def _check_config_hash(rd: pd.DataFrame, config_hash: str | None) -> list[Check]:
    """rd.csv's config_hash: one value in every row (aggregate writes one), and the given one where given."""
    found = sorted({str(value) for value in rd["config_hash"].fillna("")})
    if config_hash is None:
        return [Check("rd.csv", "config_hash: one value in every row", "one value", ", ".join(found) or "(empty)", len(found) == 1)]
    mismatched = rd.index[rd["config_hash"].fillna("").astype(str) != config_hash]
    return [Check("rd.csv", "config_hash (rd.csv vs --config-hash)", ", ".join(found), config_hash, mismatched.empty,
                  f"{len(mismatched)} of {len(rd)} rows differ" if len(mismatched) else "every row")]


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
