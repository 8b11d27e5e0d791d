"""Atomic file output and hashing: every file vcbench writes appears whole or not at all."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place if the block succeeds.

    ``suffix`` keeps the temporary file's extension meaningful for tools that look at it
    (ffmpeg picks a muxer from the name). On error the temporary file is removed and an
    existing ``path`` is left untouched.
    """
    fd, tmp_path = open_temporary_sibling(path, suffix)
    os.close(fd)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def open_temporary_sibling(path: str | os.PathLike, suffix: str = "") -> tuple[int, Path]:
    """Create ``.<name>.<random>.partial<suffix>`` beside ``path``; return its descriptor and path.

    Temporary siblings that a killed writer (kill -9, node failure) left for the same target are
    removed first: one job owns each output, so any such file is stale.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.partial{glob.escape(suffix)}"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".partial{suffix}", dir=target.parent)
    return fd, Path(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
