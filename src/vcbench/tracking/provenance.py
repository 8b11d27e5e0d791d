"""Provenance: the code, data, configuration, tools and bitstreams behind each reported number."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import pandas as pd

from vcbench.errors import ConfigError
from vcbench.io import load_yaml, sha256_file
from vcbench.job_files import JobFiles
from vcbench.tracking.job import GitState, code_state, git_state

# Python packages whose versions can change a number in the report (not imported, only looked up).
TOOL_PACKAGES = (
    "vcbench", "numpy", "scipy", "pandas", "bjontegaard", "matplotlib", "mlflow", "imageio-ffmpeg",
    "scikit-video", "scikit-image", "torch", "torchvision", "torchmetrics", "lpips", "DISTS-pytorch",
    "pytorch-fid", "diffusers", "peft", "constriction", "cvvdp", "flip-evaluator", "numba",
)
# rd.csv columns that are identifiers or provenance rather than measured numbers.
ID_COLUMNS = ("dataset", "sequence", "codec", "rate")
PROVENANCE_COLUMNS = ("bitstream", "bitstream_sha256", "source_sha256", "codec_version", "config_hash", "not_computed")


def data_version(root: Path) -> str:
    """The DVC md5 of the data/ folder from data.dvc, or "untracked"."""
    dvc_file = root / "data.dvc"
    if not dvc_file.is_file():
        return "untracked"
    try:
        outs = load_yaml(dvc_file).get("outs") or []
        return str(outs[0]["md5"])
    except (ConfigError, AttributeError, IndexError, KeyError, TypeError):
        return "untracked (data.dvc unreadable)"


def tool_versions() -> dict[str, str]:
    versions = {}
    for name in TOOL_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def point_key(row: pd.Series | dict) -> str:
    """Stable identifier of an RD point: dataset/sequence/codec/rate."""
    return "/".join(str(row[c]) for c in ID_COLUMNS)


def _clean(value):
    """JSON-safe scalar: NaN becomes None, numpy scalars become Python ones."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


#: the jobs behind an RD point; each writes a record (the score job's is its summary) with its provenance block
JOBS = ("encode", "decode", "score")


def job_commits(records: dict[str, dict]) -> dict:
    """Which code made an RD point, from its jobs' ``records`` (job -> record): each job's recorded commit
    and dirty flag (None where its record holds no provenance or no git checkout held the code), the one
    commit they share (None otherwise), and whether any job ran on a dirty tree (None: not known for every job)."""
    jobs = {}
    for job in JOBS:
        block = records[job].get("provenance") or {}
        jobs[job] = {"commit": block.get("commit"), "dirty": block.get("dirty")}
    commits = {j["commit"] for j in jobs.values()}
    flags = {j["dirty"] for j in jobs.values()}
    return {"commit": next(iter(commits)) if len(commits) == 1 else None,
            "dirty": True if True in flags else (None if None in flags else False), "jobs": jobs}


def numbers_warning(commits: Counter, dirty: int, unrecorded: int, report: GitState) -> str:
    """One line for the top of a report whose numbers do not all come from one clean commit; empty
    otherwise. ``commits``: RD points per commit their jobs name."""
    problems = []
    if len(commits) > 1:
        problems.append(f"the RD points come from {len(commits)} commits ("
                        + ", ".join(f"{commit[:12]}: {count} points" for commit, count in sorted(commits.items())) + ")")
    if dirty:
        problems.append(f"{dirty} RD point(s) were made from a dirty working tree (commit plus uncommitted changes)")
    if unrecorded:
        problems.append(f"{unrecorded} RD point(s) have jobs that recorded no commit (records from before per-job "
                        "provenance, or vcbench outside a git checkout)")
    if report.dirty is not False:
        problems.append("the BD values and the report were built from " + ("a dirty working tree" if report.dirty else report.note))
    if not problems:
        return ""
    return "WARNING: " + "; ".join(problems) + ". These numbers cannot be reproduced from one clean commit (see provenance.json)."


def build_provenance(root: Path, preset: str, rd_path: Path, bd_path: Path | None, records: Mapping[str, JobFiles]) -> dict:
    """Provenance for every number of the report: each RD point with its measured values and the
    commit its encode, decode and score jobs recorded (``records``: job of `JOBS` -> the records the
    command was given, by RD point), and each BD value with the RD points it was computed from; the
    top level flags numbers from several commits or a dirty tree."""
    workflow_git = git_state(root)
    report_code = code_state()
    data = data_version(root)
    tools = tool_versions()
    rd = pd.read_csv(rd_path, keep_default_na=True)
    points = []
    for _, row in rd.iterrows():
        jobs = {job: records[job].read_json(point_key(row)) for job in JOBS}
        encode, decode = jobs["encode"], jobs["decode"]
        values = {c: _clean(row[c]) for c in rd.columns if c not in ID_COLUMNS and c not in PROVENANCE_COLUMNS}
        points.append({
            "id": point_key(row),
            **{c: _clean(row[c]) for c in ID_COLUMNS},
            "values": values,
            "bitstream": _clean(row.get("bitstream")),
            "bitstream_sha256": _clean(row.get("bitstream_sha256")),
            "source_sha256": _clean(row.get("source_sha256")),
            "config_hash": _clean(row.get("config_hash")),
            "not_computed": _clean(row.get("not_computed")) or "",
            **job_commits(jobs),
            "data_version": data,
            "codec_version": _clean(row.get("codec_version")),
            "encoder_versions": encode.get("versions", {}),
            "decoder_versions": decode.get("versions", {}),
            "encode_command": encode.get("command"),
            "tool_versions": tools,
        })
    commit_of = {p["id"]: p["commit"] for p in points}
    bd_values = []
    if bd_path is not None:
        bd = pd.read_csv(bd_path)
        by_sequence = {k: g for k, g in rd.groupby(["dataset", "sequence"])}
        by_dataset = {k: g for k, g in rd.groupby("dataset")}
        for _, row in bd.iterrows():
            scope = by_dataset.get(row["dataset"]) if row["sequence"] == "mean" else by_sequence.get((row["dataset"], row["sequence"]))
            used = scope[scope["codec"].isin([row["anchor"], row["codec"]])] if scope is not None else rd.iloc[0:0]
            keys = [point_key(r) for _, r in used.iterrows()]
            bd_values.append({
                **{c: _clean(row[c]) for c in bd.columns},
                "rd_points": keys,
                "bitstream_sha256": sorted({str(s) for s in used.get("bitstream_sha256", []) if isinstance(s, str)}),
                "config_hash": sorted({str(s) for s in used.get("config_hash", []) if isinstance(s, str)}),
                "rd_commits": sorted({commit_of[k] for k in keys if commit_of[k] is not None}),
                "report_commit": report_code.commit,
                "data_version": data,
                "tool_versions": tools,
            })
    commits = Counter(c for p in points for c in {j["commit"] for j in p["jobs"].values()} if c is not None)
    dirty = sum(1 for p in points if p["dirty"])
    unrecorded = sum(1 for p in points if any(j["commit"] is None for j in p["jobs"].values()))
    return {
        "warning": numbers_warning(commits, dirty, unrecorded, report_code),
        "commits": dict(sorted(commits.items())),
        "mixed_commits": len(commits) > 1,
        "dirty": bool(dirty) or report_code.dirty is True,
        "preset": preset,
        "generated_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "report_code": asdict(report_code),
        "workflow_git": asdict(workflow_git),  # the folder the workflow ran in: its Snakefile and config
        "data_version": data,
        "config_hashes": sorted({str(h) for h in rd.get("config_hash", pd.Series(dtype=str)).dropna()}),
        "rd_csv_sha256": sha256_file(rd_path),
        "tool_versions": tools,
        "rd_points": points,
        "bd_values": bd_values,
    }
