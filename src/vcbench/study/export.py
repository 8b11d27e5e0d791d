"""The raw answers as CSV (one row per shown trial) and the study's config beside them: `vcbench study export`,
and the input `vcbench study scale --answers` reads back."""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import asdict, fields
from pathlib import Path

from vcbench.errors import ConfigError
from vcbench.io import atomic_path, write_text_atomic
from vcbench.study.folder import CONFIG, Study
from vcbench.study.store import TrialView

COLUMNS = [f.name for f in fields(TrialView)] + ["winner", "sequence"]


def answers_csv(study: Study, answers: list[TrialView]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for a in answers:
        writer.writerow({**asdict(a), "winner": a.winner or ("same" if a.choice == "same" else ""),
                         "sequence": study.by_id[a.left].group})
    return out.getvalue()


def export(study: Study, answers: list[TrialView], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    csv_path, config_path = out / "answers.csv", out / CONFIG
    write_text_atomic(csv_path, answers_csv(study, answers))
    with atomic_path(config_path) as tmp:
        shutil.copyfile(study.root / CONFIG, tmp)
    return csv_path, config_path


def read_answers(path: Path) -> list[TrialView]:
    """Answers from an exported CSV (only answered trials)."""
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        return [TrialView(r["participant"], int(r["index"]), r["kind"], r["left"], r["right"],
                          int(r["repeat_of"]) if r["repeat_of"] else None, r["choice"],
                          float(r["response_ms"]) if r["response_ms"] else None, r["answered_at"] or None)
                for r in rows if r["choice"]]
    except (OSError, KeyError, ValueError) as err:
        raise ConfigError(f"--answers {path}: not an answers CSV of `vcbench study export` ({err!r})") from None
