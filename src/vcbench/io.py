"""Atomic file output, strict JSON (written and read back as a checked record), strict YAML (no key
given twice), hashing, and the one way to open a file a user names (regular files only): every file
vcbench writes appears whole or not at all, and no read blocks forever on a FIFO.

Writers put their bytes in a temporary sibling ``.<name>.<random>.partial<suffix>`` and rename it
over the target. Each writer holds an exclusive ``flock`` on its temporary file until the rename,
so a sweep of the siblings a killed writer (kill -9, node failure) left removes exactly those
whose lock it can take: a live writer's file is never touched, and two writers of one target
both finish (the last rename wins; either way the target is whole). Where the file system has no
locks (NFS mounted ``nolock``), nothing is swept. Files get the mode ``open()`` would give them
(0666 less the umask), not mkstemp's 0600.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Hashable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import yaml

from vcbench.errors import ConfigError, VcbenchError

# Errors of a write that the OS reports without a file name (a full disk, a quota, a size limit).
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO})
# The names open_temporary_sibling gives (tempfile's 8 random characters between the parts).
_TEMPORARY_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.partial.*")
_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def open_regular_file(path: str | os.PathLike, fix: str = "copy it into a regular file first",
                      error: type[VcbenchError] = ConfigError) -> BinaryIO:
    """``path`` opened for reading, refused in one line (``error``, naming the file and ``fix``)
    unless it is a regular file; a missing file raises FileNotFoundError as open() does.

    Every file a user names is read through here: a FIFO would block the open (or the read)
    forever, a device never ends, a directory cannot be read. O_NONBLOCK makes opening a FIFO
    return at once so that it can be refused; regular files ignore the flag."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    mode = os.fstat(fd).st_mode
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), None)  # fstat follows links: a link is what it points to
    if kind is not None:
        os.close(fd)
        raise error(f"{path}: is {kind}, not a regular file; {fix}")
    return os.fdopen(fd, "rb")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place if the block succeeds.

    ``suffix`` keeps the temporary file's extension meaningful for tools that look at it
    (ffmpeg picks a muxer from the name). On error the temporary file is removed and an
    existing ``path`` is left untouched.
    """
    fd, tmp_path = open_temporary_sibling(path, suffix)
    in_place = tmp_path == Path(path)
    try:
        with naming_write_errors(path):
            yield tmp_path
            if not in_place:
                os.replace(tmp_path, path)
    finally:
        if not in_place:  # in place, the temporary is its owner's to keep or remove
            tmp_path.unlink(missing_ok=True)
        os.close(fd)  # releases the lock only once the temporary name is gone


def open_temporary_sibling(path: str | os.PathLike, suffix: str = "") -> tuple[int, Path]:
    """Create ``.<name>.<random>.partial<suffix>`` beside ``path``, locked; return its descriptor and path.

    The lock lasts as long as the descriptor stays open: keep it open until the file is renamed.
    Temporary siblings of the same target that no live writer holds are removed first.

    A target that is itself such a temporary (a codec writing the temporary path a command gave
    it) is opened in place: its own rename makes the write atomic, and replacing it with another
    file would drop the lock its writer holds on it.
    """
    target = Path(path)
    if _TEMPORARY_NAME.fullmatch(target.name) and target.is_file():
        return os.open(target, os.O_RDWR | os.O_TRUNC), target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_siblings(target, suffix)
    while True:
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".partial{suffix}", dir=target.parent)
        except OSError as err:
            raise OSError(err.errno, f"cannot create a file in {target.parent} ({err.strerror})", str(target)) from None
        with contextlib.suppress(OSError):  # no locks on this file system: proceed unlocked (sweeps keep unlockable files)
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks only while a concurrent sweep looks at it
        if _is_same_file(tmp, fd):
            break
        os.close(fd)  # that sweep removed it between mkstemp and flock: make another
    os.fchmod(fd, file_mode())
    return fd, Path(tmp)


def _remove_stale_siblings(target: Path, suffix: str) -> None:
    for candidate in target.parent.glob(f".{glob.escape(target.name)}.*.partial{glob.escape(suffix)}"):
        try:
            fd = os.open(candidate, os.O_RDWR)
        except OSError:
            continue  # gone already (renamed by its writer), or not ours to remove
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _is_same_file(candidate, fd):
                candidate.unlink()
        except OSError:
            pass  # a live writer holds it, it vanished meanwhile, or the file system has no locks: keep it
        finally:
            os.close(fd)


def _is_same_file(path: str | os.PathLike, fd: int) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.fstat(fd))
    except FileNotFoundError:
        return False


def file_mode() -> int:
    """The mode ``open()`` gives a new file: 0666 less the process umask (0644 under umask 022)."""
    try:
        with open("/proc/self/status") as status:  # read, not set: os.umask() would race other threads
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def naming_write_errors(path: str | os.PathLike) -> Iterator[None]:
    """Give a write error that the OS raised without a file name (disk full) the name of ``path``."""
    try:
        yield
    except OSError as err:
        if err.filename is not None or err.errno not in _WRITE_ERRNOS:
            raise
        raise OSError(err.errno, f"cannot write ({err.strerror})", str(path)) from err


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def finite_json(data: Any) -> Any:
    """``data`` with NaN and infinities as None (JSON null), numpy scalars and arrays as Python values."""
    if isinstance(data, np.ndarray):
        data = data.tolist()
    elif isinstance(data, np.generic):
        data = data.item()
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite_json(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_json(value) for value in data]
    return data


def dumps_json(data: Any, **kwargs: Any) -> str:
    """Strict JSON (jq and every strict parser read it): non-finite numbers become null."""
    return json.dumps(finite_json(data), allow_nan=False, default=str, **kwargs)


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    write_text_atomic(path, dumps_json(data, indent=2, sort_keys=True) + "\n")


def read_record(path: Path, fields: Mapping[str, type]) -> dict[str, Any]:
    """A JSON record with at least ``fields`` (name -> type); a ConfigError naming what is wrong."""
    try:
        with open_regular_file(path) as fh:
            record = json.loads(fh.read())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read this record ({err}); re-run the step that wrote it") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{path}: is not a JSON object; re-run the step that wrote it")
    for name, kind in fields.items():
        value = record.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{path}: field {name!r} is {value!r}, not {kind.__name__}; re-run the step that wrote it")
    return record


class _DuplicateKey(Exception):
    def __init__(self, key: Any, first: yaml.Mark, second: yaml.Mark):
        super().__init__(key)
        self.key = key
        if first.line == second.line:
            self.where = f"line {first.line + 1}, columns {first.column + 1} and {second.column + 1}"
        else:
            self.where = f"lines {first.line + 1} and {second.line + 1}"


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error: PyYAML keeps
    the last value silently (a ladder entry ``{label: qp51, qp: 51, qp: 10}`` would code qp 10)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may be overridden: that is its purpose
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise _DuplicateKey(key, seen[key], key_node.start_mark)
            if isinstance(key, Hashable):
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | os.PathLike) -> Any:
    """A YAML file read strictly (safe types only, no key given twice in a mapping); anything wrong
    is a one-line ConfigError naming the file (and, for a repeated key, both lines)."""
    try:
        with open_regular_file(path) as fh:
            text = fh.read().decode()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read ({getattr(err, 'strerror', None) or err})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: safe types only
    except _DuplicateKey as err:
        raise ConfigError(f"{path}: key {err.key!r} is given twice ({err.where}); "
                          "YAML would keep the last silently, keep one") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML ({problem}{where})") from None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open_regular_file(path) as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
