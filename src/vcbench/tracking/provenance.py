"""Provenance: the code, data, configuration, tools and bitstreams behind each reported number."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from vcbench.io import sha256_file

# Python packages whose versions can change a number in the report (not imported, only looked up).
TOOL_PACKAGES = (
    "vcbench", "numpy", "scipy", "pandas", "bjontegaard", "matplotlib", "mlflow", "imageio-ffmpeg",
    "scikit-video", "scikit-image", "torch", "torchvision", "torchmetrics", "lpips", "DISTS-pytorch",
    "pytorch-fid", "diffusers", "peft", "constriction",
)
# rd.csv columns that are identifiers or provenance rather than measured numbers.
ID_COLUMNS = ("dataset", "sequence", "codec", "rate")
PROVENANCE_COLUMNS = ("bitstream", "bitstream_sha256", "source_sha256", "codec_version", "config_hash", "not_computed")


@dataclass
class GitState:
    commit: str
    dirty: bool
    describe: str

    @property
    def warning(self) -> str:
        """One line for the top of a report; empty for a clean tree."""
        if not self.dirty:
            return ""
        return (f"WARNING: built from a dirty working tree (commit {self.commit} plus uncommitted changes); "
                "these numbers cannot be reproduced from the commit alone.")


def git_state(root: Path) -> GitState:
    """Commit and dirty flag of the repository at ``root`` (untracked files do not count, as `git describe --dirty`)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout.strip()

    try:
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return GitState("unknown (not a git repository)", True, "")
    try:
        commit = git("rev-parse", "HEAD")
    except subprocess.CalledProcessError:
        # A repository without commits: everything in it is uncommitted.
        return GitState("none (no commit yet)", True, "")
    return GitState(commit, bool(status), commit[:12] + ("-dirty" if status else ""))


def data_version(root: Path) -> str:
    """The DVC md5 of the data/ folder from data.dvc, or "untracked"."""
    dvc_file = root / "data.dvc"
    if not dvc_file.is_file():
        return "untracked"
    try:
        outs = yaml.safe_load(dvc_file.read_text()).get("outs") or []
        return str(outs[0]["md5"])
    except (yaml.YAMLError, AttributeError, IndexError, KeyError, TypeError):
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


def sidecar(root: Path, bitstream: str, kind: str) -> dict:
    """The ``<rate>.<kind>.json`` record written beside a bitstream ({} if missing)."""
    if not isinstance(bitstream, str) or not bitstream:
        return {}
    path = root / Path(bitstream).with_suffix(f".{kind}.json")
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def _clean(value):
    """JSON-safe scalar: NaN becomes None, numpy scalars become Python ones."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def build_provenance(root: Path, preset: str, rd_path: Path, bd_path: Path | None) -> dict:
    """Provenance for every number of the report: each RD point with its measured values, and each BD value
    with the RD points it was computed from; both carry commit, data version, config hash and tool versions."""
    git = git_state(root)
    data = data_version(root)
    tools = tool_versions()
    rd = pd.read_csv(rd_path, keep_default_na=True)
    points = []
    for _, row in rd.iterrows():
        encode = sidecar(root, row.get("bitstream"), "encode")
        decode = sidecar(root, row.get("bitstream"), "decode")
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
            "commit": git.commit,
            "dirty": git.dirty,
            "data_version": data,
            "codec_version": _clean(row.get("codec_version")),
            "encoder_versions": encode.get("versions", {}),
            "decoder_versions": decode.get("versions", {}),
            "encode_command": encode.get("command"),
            "tool_versions": tools,
        })
    bd_values = []
    if bd_path is not None and bd_path.is_file():
        bd = pd.read_csv(bd_path)
        by_sequence = {k: g for k, g in rd.groupby(["dataset", "sequence"])}
        by_dataset = {k: g for k, g in rd.groupby("dataset")}
        for _, row in bd.iterrows():
            scope = by_dataset.get(row["dataset"]) if row["sequence"] == "mean" else by_sequence.get((row["dataset"], row["sequence"]))
            used = scope[scope["codec"].isin([row["anchor"], row["codec"]])] if scope is not None else rd.iloc[0:0]
            bd_values.append({
                **{c: _clean(row[c]) for c in bd.columns},
                "rd_points": [point_key(r) for _, r in used.iterrows()],
                "bitstream_sha256": sorted({str(s) for s in used.get("bitstream_sha256", []) if isinstance(s, str)}),
                "config_hash": sorted({str(s) for s in used.get("config_hash", []) if isinstance(s, str)}),
                "commit": git.commit,
                "dirty": git.dirty,
                "data_version": data,
                "tool_versions": tools,
            })
    return {
        "warning": git.warning,
        "preset": preset,
        "generated_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": asdict(git),
        "data_version": data,
        "config_hashes": sorted({str(h) for h in rd.get("config_hash", pd.Series(dtype=str)).dropna()}),
        "rd_csv_sha256": sha256_file(rd_path),
        "tool_versions": tools,
        "rd_points": points,
        "bd_values": bd_values,
    }
