"""Provenance of one job: what every encode, decode and score record says about where it came from.

The code: the commit of the checkout the running vcbench comes from, whether its tree was dirty,
and the versions of vcbench and Python (a codec's own versions are in the codec's record). The
source: its sha256 as the dataset record beside it states it (``data/<set>/<seq>.json``, written
by `vcbench data prepare`), so that no job re-hashes gigabytes; a source without a record is
hashed, and the record says which it was.

Kept light (no pandas, no torch): every job imports it.
"""

from __future__ import annotations

import functools
import json
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import vcbench
from vcbench import layout
from vcbench.errors import VcbenchError
from vcbench.io import sha256_file


@dataclass(frozen=True)
class GitState:
    """A working tree's commit and dirty flag; ``commit`` is None where there is no git checkout
    (``note`` says why) and ``dirty`` None where it cannot be told."""

    commit: str | None
    dirty: bool | None
    note: str = ""


def _git(folder: Path, *args: str) -> str:
    # --no-optional-locks: parallel jobs run this at once; `git status` must not write the index.
    return subprocess.run(["git", "--no-optional-locks", "-C", str(folder), *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def _failure(err: OSError | subprocess.CalledProcessError) -> str:
    if isinstance(err, OSError):
        return f"git cannot run: {err.strerror or err}"
    lines = (err.stderr or "").strip().splitlines()
    return lines[0] if lines else f"git exited with {err.returncode}"


def git_state(root: Path) -> GitState:
    """Commit and dirty flag of the working tree at ``root`` (untracked files do not count, as
    `git describe --dirty`)."""
    try:
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError) as err:
        return GitState(None, None, f"{root} is not a git checkout: {_failure(err)}")
    try:
        commit = _git(root, "rev-parse", "HEAD")
    except subprocess.CalledProcessError:
        return GitState(None, True, f"{root} is a git repository without commits")
    return GitState(commit, bool(status))


@functools.cache
def code_state() -> GitState:
    """The checkout the running vcbench code comes from (an editable install's). An installed
    package has none, even inside someone's repository: the package must be a tracked file there."""
    package = Path(vcbench.__file__).resolve().parent
    try:
        _git(package, "ls-files", "--error-unmatch", "--", "__init__.py")
        root = Path(_git(package, "rev-parse", "--show-toplevel"))
    except (OSError, subprocess.CalledProcessError) as err:
        return GitState(None, None, f"vcbench runs from {package}, which no git checkout tracks (an installed package?): "
                                    f"no commit to record ({_failure(err)})")
    return git_state(root)


def recorded_sha256(source: Path) -> str | None:
    """The sha256 of ``source`` that its dataset record (``<source>.json``) states; None without a record."""
    record = layout.sequence_record(source)
    if not record.is_file():
        return None
    try:
        sha = json.loads(record.read_text()).get("sha256")
    except (json.JSONDecodeError, AttributeError):
        sha = None
    if not isinstance(sha, str) or len(sha) != 64:
        raise VcbenchError(f"{record}: no sha256 of {Path(source).name} in it (not a `vcbench data prepare` record); "
                           "prepare the sequence again or remove the stray file")
    return sha


def source_sha256(source: Path) -> tuple[str, dict[str, Any]]:
    """The source's sha256 as its dataset record states it, and how it was found:
    ``{"source_sha256_from": "record", "source_record": path}``, or ``{"source_sha256_from": "hashed"}``
    for a source without a record (then it is hashed here)."""
    sha = recorded_sha256(source)
    if sha is None:
        return sha256_file(source), {"source_sha256_from": "hashed"}
    return sha, {"source_sha256_from": "record", "source_record": str(layout.sequence_record(source))}


def job_provenance(source: Path | None) -> dict[str, Any]:
    """The provenance block of a job record: code commit, dirty tree, versions, and (for a job on
    a source sequence) the source's sha256 and where it came from."""
    code = code_state()
    # when the job began (UTC): with the record's seconds, the job's real start and end in its MLflow run
    block: dict[str, Any] = {"started_utc": datetime.now(UTC).isoformat(timespec="milliseconds"),
                             "commit": code.commit, "dirty": code.dirty}
    if code.note:
        block["commit_note"] = code.note
    block["versions"] = {"vcbench": metadata.version("vcbench"), "python": platform.python_version()}
    if source is not None:
        sha, how = source_sha256(source)
        block.update(source_sha256=sha, **how)
    return block


def finished(block: dict[str, Any]) -> dict[str, Any]:
    """``block`` (a job's provenance) with when the job finished (UTC): the end of a job whose record states no seconds
    of its whole work (scoring), so that its MLflow run ends when the job did."""
    return {**block, "finished_utc": datetime.now(UTC).isoformat(timespec="milliseconds")}


def require_same_source(encode_record: dict[str, Any], encode_path: Path, reference: Path, provenance: dict[str, Any]) -> None:
    """A reconstruction is scored only against the source version it was coded from: its encode
    record's source sha256 must be the reference's (``provenance``: the score job's, on ``reference``)."""
    coded = (encode_record.get("provenance") or {}).get("source_sha256")
    if coded is None:
        raise VcbenchError(f"{encode_path}: names no source sha256 (written before per-job provenance); encode it again")
    if coded != provenance["source_sha256"]:
        how = f"its record {provenance['source_record']}" if provenance["source_sha256_from"] == "record" else "hashed"
        raise VcbenchError(f"{encode_path}: coded from source sha256 {coded[:16]}..., but {reference} is now "
                           f"{provenance['source_sha256'][:16]}... ({how}): the data changed since; encode it again "
                           "(snakemake reruns the encode when the sequence's record changes)")
