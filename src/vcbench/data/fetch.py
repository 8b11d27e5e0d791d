"""Obtain a dataset's source files once, verify them, unpack them and convert them to Y4M.

Two source kinds live here (registered in ``prepare._PREPARERS``):

- ``archive``: archives downloaded from ``source.archives[<name>].url`` into
  ``$VCBENCH_DOWNLOADS/<dataset>/`` (default ``downloads/<dataset>/`` under the working
  directory). Downloads resume through HTTP Range requests, are checked against the registry's
  sha256 (and size), and a mismatching file is moved aside as ``<name>.rejected``. One process
  at a time fetches a given archive (an ``flock`` on ``.<name>.lock``), so parallel Snakemake
  jobs that need the same archive wait for the first one and then reuse its verified copy.
- ``manual``: files that cannot be downloaded freely; the user places them in the same folder and
  the error message says where.

Where the registry has no published sha256 (``sha256: null``), nothing is trusted silently:
``vcbench data fetch --accept-unverified`` downloads it once and records the computed hash in
``<name>.verified.json`` beside the archive (trust on first use); later downloads of the same
archive must match that hash. Every prepared sequence's JSON record carries the archive hash and
how it was verified, and the sha256 of the raw file it was converted from.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import itertools
import json
import os
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import py7zr
import requests
import urllib3
from tqdm import tqdm

from vcbench.data.registry import Dataset, SequenceSpec
from vcbench.errors import ConfigError, VcbenchError
from vcbench.io import sha256_file, write_json_atomic
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter, YUVReader

DOWNLOADS_ENV = "VCBENCH_DOWNLOADS"
_CHUNK = 1 << 20
_RAW_SUFFIXES = (".yuv", ".y4m")


class FetchError(VcbenchError):
    """A source file cannot be obtained (network, missing file placed by hand, bad archive)."""


class ChecksumError(FetchError):
    """A downloaded or placed file does not match its expected sha256 (or size)."""


@dataclass(frozen=True)
class ArchiveSpec:
    """One downloadable file of a dataset's source, as the registry describes it."""

    name: str
    url: str
    sha256: str | None
    size: int | None


def downloads_dir(dataset: Dataset) -> Path:
    """Where a dataset's archives (and files placed by hand) live: $VCBENCH_DOWNLOADS/<dataset>."""
    return Path(os.environ.get(DOWNLOADS_ENV) or "downloads") / dataset.name


def archive_spec(dataset: Dataset, name: str) -> ArchiveSpec:
    try:
        entry = dataset.source["archives"][name]
        return ArchiveSpec(name, entry["url"], (entry.get("sha256") or None), entry.get("size"))
    except (KeyError, TypeError):
        raise ConfigError(f"{dataset.path}: archive {name!r} is not listed under source.archives (with a url)") from None


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (other processes block until it is released)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- download with resume ---------------------------------------------------------------------


def download(url: str, part: Path, *, progress: bool = True, retries: int = 3, timeout: float = 60.0, backoff: float = 2.0) -> None:
    """Download ``url`` into ``part``, continuing from the bytes ``part`` already holds.

    A dropped connection is retried ``retries`` times, each time resuming with a Range request;
    a server that ignores Range (answers 200) makes the download restart from zero.
    """
    attempt = 0
    while True:
        try:
            _download_once(url, part, progress, timeout)
            return
        except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError, _Incomplete) as err:
            attempt += 1
            if attempt > retries:
                have = part.stat().st_size if part.exists() else 0
                raise FetchError(
                    f"{url}: download interrupted ({err.__class__.__name__}) after {have} bytes; "
                    f"run the same command again to resume from {part}"
                ) from None
            time.sleep(backoff * attempt)
        except requests.HTTPError as err:
            raise FetchError(f"{url}: {err}; check the URL in the dataset registry or place the file by hand in {part.parent}") from None


class _Incomplete(Exception):
    """The server closed the response before sending every byte it announced."""


def _download_once(url: str, part: Path, progress: bool, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if have and response.status_code == 416:  # nothing left to send: the part is complete
            return
        response.raise_for_status()
        resumed = have > 0 and response.status_code == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {have}-")
        if not resumed:
            have = 0
        remaining = int(response.headers.get("Content-Length") or 0) or None
        total = have + remaining if remaining is not None else None
        written = 0
        with open(part, "ab" if resumed else "wb") as out, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=part.name.removesuffix(".part"), disable=None if progress else True
        ) as bar:
            # read1 hands over whatever arrived, so a connection dropped midway loses nothing that
            # was received (iter_content would discard the partly filled chunk).
            while block := response.raw.read1(_CHUNK, decode_content=True):
                out.write(block)
                written += len(block)
                bar.update(len(block))
        if remaining is not None and written < remaining:
            raise _Incomplete(f"{written} of {remaining} bytes")


# -- verification -------------------------------------------------------------------------------


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _read_marker(path: Path) -> dict[str, Any]:
    marker = _marker(path)
    try:
        return json.loads(marker.read_text()) if marker.is_file() else {}
    except (OSError, ValueError):
        return {}


def _reject(candidate: Path, final: Path, expected: str, actual: str, expected_size: int | None, actual_size: int, url: str) -> None:
    rejected = final.with_name(final.name + ".rejected")
    os.replace(candidate, rejected)
    sizes_differ = expected_size is not None and expected_size != actual_size
    size_note = f" (size {actual_size} bytes, expected {expected_size})" if sizes_differ else ""
    raise ChecksumError(
        f"{final.name}: sha256 {actual} does not match the expected {expected}{size_note}; "
        f"the file was rejected and kept aside as {rejected} (from {url}); delete it and fetch again, "
        "or correct the registry if the source was updated"
    )


def fetch_archive(dataset: Dataset, name: str, *, accept_unverified: bool = False, progress: bool = True,
                  retries: int = 3) -> dict[str, Any]:
    """Make sure ``downloads/<dataset>/<name>`` is there and verified; returns its record
    (archive, url, sha256, size, mtime_ns, verification).

    Safe to call from parallel jobs: the first one downloads under a lock, the others wait and reuse.
    """
    spec = archive_spec(dataset, name)
    final = downloads_dir(dataset) / name
    with exclusive_lock(final.with_name(f".{name}.lock")):
        recorded = _read_marker(final)
        expected = spec.sha256 or recorded.get("sha256")
        if spec.sha256:
            how = "published sha256"
        else:
            how = "sha256 recorded at first fetch" if expected else "unverified: sha256 recorded at first fetch (--accept-unverified)"
        if final.is_file() and recorded.get("sha256") == expected and expected is not None:
            stat = final.stat()
            if recorded.get("size") == stat.st_size and recorded.get("mtime_ns") == stat.st_mtime_ns:
                return recorded  # verified earlier and untouched since: no need to hash gigabytes again
        if expected is None and not accept_unverified:
            raise FetchError(
                f"{dataset.path}: archive {name} has no published sha256, so its download cannot be verified; "
                f"run `vcbench data fetch --dataset {dataset.name} --accept-unverified` once to trust it and record its hash"
            )
        candidate = final if final.is_file() else final.with_name(name + ".part")
        if candidate != final:
            download(spec.url, candidate, progress=progress, retries=retries)
        actual = sha256_file(candidate)
        size = candidate.stat().st_size
        if expected is not None and (actual != expected or (spec.size is not None and size != spec.size)):
            _reject(candidate, final, expected, actual, spec.size, size, spec.url)
        os.replace(candidate, final)
        stat = final.stat()
        record = {"archive": name, "url": spec.url, "sha256": actual, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                  "verification": how}
        write_json_atomic(_marker(final), record)
        return record


# -- unpacking ----------------------------------------------------------------------------------


def _safe_member(name: str, archive: Path) -> str:
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts:
        raise FetchError(f"{archive}: refusing archive member with an unsafe path {name!r}")
    return name


def extract_member(archive: Path, pattern: str, dest_dir: Path) -> Path:
    """Extract the one member of ``archive`` whose file name matches ``pattern`` into ``dest_dir``.

    Supports .zip, .7z (py7zr) and tar (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz). A raw .yuv/.y4m
    "archive" is returned as is.
    """
    lower = archive.name.lower()
    if lower.endswith(_RAW_SUFFIXES):
        return archive
    if lower.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            member = _pick([i.filename for i in zf.infolist() if not i.is_dir()], pattern, archive)
            zf.extract(member, dest_dir)
    elif lower.endswith(".7z"):
        with py7zr.SevenZipFile(archive) as sz:
            member = _pick([i.filename for i in sz.list() if not i.is_directory], pattern, archive)
            sz.extract(path=dest_dir, targets=[member])
    elif any(lower.endswith(s) for s in (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        with tarfile.open(archive) as tf:
            member = _pick([m.name for m in tf.getmembers() if m.isfile()], pattern, archive)
            tf.extract(member, dest_dir, filter="data")
    else:
        raise FetchError(f"{archive}: unknown archive type; vcbench unpacks .zip, .7z and .tar(.gz/.bz2/.xz), or takes a raw .yuv/.y4m")
    path = dest_dir / member
    if not path.is_file():
        raise FetchError(f"{archive}: extracting {member!r} produced no file")
    return path


def _pick(names: list[str], pattern: str, archive: Path) -> str:
    matches = [n for n in names if fnmatch.fnmatch(Path(n).name, pattern)]
    if len(matches) != 1:
        raise FetchError(f"{archive}: {len(matches)} members match {pattern!r} (members: {', '.join(names) or 'none'}); "
                         "fix `file:` in the dataset registry")
    return _safe_member(matches[0], archive)


# -- conversion ---------------------------------------------------------------------------------


def sequence_format(dataset: Dataset, spec: SequenceSpec) -> VideoFormat:
    """The geometry the registry states for a sequence (limited-range 4:2:0, as all these sets are)."""
    p = spec.params
    try:
        fps = str(p["fps"])
        num, den = (int(x) for x in fps.split("/")) if "/" in fps else (int(fps), 1)
        return VideoFormat(int(p["width"]), int(p["height"]), int(p.get("bit_depth", 8)), num, den, False)
    except (KeyError, ValueError) as err:
        raise ConfigError(f"{dataset.path}: sequence {spec.name!r} needs width, height, fps (N or N/D), frames and bit_depth "
                          f"({err})") from None


def convert_to_y4m(source: Path, fmt: VideoFormat, frames: int, out_y4m: Path, *, keep: int | None = None,
                   progress: bool = True) -> None:
    """Write the first ``keep`` frames (default: all) of ``source`` (raw planar .yuv in ``fmt``, or a .y4m of that
    geometry) to ``out_y4m``.

    The source must hold exactly ``frames`` frames: a short or long file means a wrong download
    or wrong registry geometry, and is an error rather than a silently different test set.
    """
    if source.name.lower().endswith(".y4m"):
        reader: Y4MReader | YUVReader = Y4MReader(source)
        got = reader.format
        if (got.width, got.height, got.bit_depth) != (fmt.width, fmt.height, fmt.bit_depth):
            raise FetchError(f"{source}: is {got.describe()}, the registry says {fmt.describe()}")
        count = reader.count_frames()
        fmt = got
    else:
        reader = YUVReader(source, fmt)
        count = reader.num_frames
    if count != frames:
        raise FetchError(f"{source}: has {count} frames of {fmt.width}x{fmt.height} {fmt.bit_depth}-bit 4:2:0, the registry says {frames}; "
                         "the file is truncated or not the registered sequence")
    keep = frames if keep is None else keep
    with Y4MWriter(out_y4m, fmt) as writer:
        for frame in tqdm(itertools.islice(reader.frames(), keep), total=keep, unit="frame", desc=out_y4m.name,
                          disable=None if progress else True):
            writer.write(frame)


def _frames(dataset: Dataset, spec: SequenceSpec) -> int:
    if spec.frames is None:
        raise ConfigError(f"{dataset.path}: sequence {spec.name!r} has no `frames` count")
    return int(spec.frames)


def _record(dataset: Dataset, spec: SequenceSpec, fmt: VideoFormat, raw: Path, out_y4m: Path, frames: int,
            **source: Any) -> dict[str, Any]:
    return {
        "dataset": dataset.name,
        "sequence": spec.name,
        **source,
        "raw_file": raw.name,
        "raw_sha256": sha256_file(raw),
        "frames": frames,  # written: the source's first
        "source_frames": _frames(dataset, spec),
        "format": fmt.describe(),
        "licence": dataset.licence,
        "sha256": sha256_file(out_y4m),
    }


# -- the two source kinds ----------------------------------------------------------------------


def prepare_archive(dataset: Dataset, spec: SequenceSpec, out_y4m: Path, frames: int, *, accept_unverified: bool = False,
                    progress: bool = True) -> dict[str, Any]:
    """Source kind ``archive``: fetch (once) and verify the sequence's archive, unpack, convert, check."""
    try:
        name = spec.params["archive"]
    except KeyError:
        raise ConfigError(f"{dataset.path}: sequence {spec.name!r} names no `archive`") from None
    fmt = sequence_format(dataset, spec)
    archive = fetch_archive(dataset, name, accept_unverified=accept_unverified, progress=progress)
    folder = downloads_dir(dataset)
    # Each job unpacks into its own temporary folder: parallel jobs never touch each other's files.
    with tempfile.TemporaryDirectory(prefix=f".{spec.name}.", dir=folder) as tmp:
        raw = extract_member(folder / name, spec.params.get("file", "*.yuv"), Path(tmp))
        convert_to_y4m(raw, fmt, _frames(dataset, spec), out_y4m, keep=frames, progress=progress)
        return _record(
            dataset, spec, fmt, raw, out_y4m, frames,
            source=archive["url"], archive=name, archive_sha256=archive["sha256"], archive_verification=archive["verification"],
        )


def prepare_manual(dataset: Dataset, spec: SequenceSpec, out_y4m: Path, frames: int, *, progress: bool = True) -> dict[str, Any]:
    """Source kind ``manual``: convert a file the user placed by hand, or say exactly where to put it."""
    fmt = sequence_format(dataset, spec)
    folder = downloads_dir(dataset)
    name = spec.params.get("file")
    if not name:
        raise ConfigError(f"{dataset.path}: sequence {spec.name!r} names no `file`")
    candidates = [folder / name, (folder / name).with_suffix(".y4m")]
    raw = next((c for c in candidates if c.is_file()), None)
    if raw is None:
        where = " ".join(str(dataset.source.get("place", "")).split())
        raise FetchError(
            f"{folder / name}: missing; {dataset.name} cannot be downloaded automatically. {where} "
            f"Put {name} in {folder.resolve()} (or set {DOWNLOADS_ENV} to another root holding {dataset.name}/)."
        )
    expected = spec.params.get("sha256")
    if expected:
        actual = sha256_file(raw)
        if actual != expected:
            raise ChecksumError(f"{raw}: sha256 {actual} does not match the registry's {expected}; it is not the registered file")
    convert_to_y4m(raw, fmt, _frames(dataset, spec), out_y4m, keep=frames, progress=progress)
    return _record(dataset, spec, fmt, raw, out_y4m, frames, source=f"placed by hand in {folder}",
                   source_page=dataset.source.get("page", ""))
