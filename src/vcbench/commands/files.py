"""The files a command reads and writes: an output that would overwrite an input (or another
output) is refused before anything runs, and the outputs of one command appear together,
complete, or not at all (the records it reads are checked by `vcbench.io.read_record`)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from vcbench.errors import ConfigError
from vcbench.io import open_temporary_sibling


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same inode when both exist (links included),
    else the same resolved path."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def refuse_overlaps(inputs: Mapping[str, Path | None], outputs: Mapping[str, Path | None]) -> None:
    """A ConfigError if an output is an input or another output (names are how the command line calls them)."""
    given_outputs = [(name, path) for name, path in outputs.items() if path is not None]
    given_inputs = [(name, path) for name, path in inputs.items() if path is not None]
    for index, (name, path) in enumerate(given_outputs):
        for other_name, other in given_inputs + given_outputs[:index]:
            if same_file(path, other):
                raise ConfigError(f"{name} {path} is the same file as {other_name} {other}; writing it would destroy that file, "
                                  "give another path")


@contextlib.contextmanager
def written_together(outputs: list[tuple[Path, str]]) -> Iterator[list[Path]]:
    """Temporary siblings of the ``(path, suffix)`` outputs, for the block to write; when it
    succeeds each is renamed onto its path, and a rename that fails undoes the earlier ones, so
    either every output changes or none does. Creating the siblings first also finds an
    unwritable folder before any work is done."""
    with contextlib.ExitStack() as stack:
        temporaries = []
        for path, suffix in outputs:
            fd, tmp = open_temporary_sibling(path, suffix)
            stack.callback(os.close, fd)  # the descriptor holds the sibling's lock until it is gone
            stack.callback(tmp.unlink, missing_ok=True)
            temporaries.append(tmp)
        yield temporaries
        _replace_all([(tmp, path) for tmp, (path, _) in zip(temporaries, outputs)])


def _replace_all(pairs: list[tuple[Path, Path]]) -> None:
    moved: list[tuple[Path, Path | None]] = []  # (output, where its previous version waits)
    try:
        for tmp, path in pairs:
            previous = None
            if path.exists():
                fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
                os.close(fd)
                previous = Path(name)
                try:
                    os.replace(path, previous)
                except BaseException:
                    previous.unlink(missing_ok=True)
                    raise
            moved.append((path, previous))
            os.replace(tmp, path)
    except BaseException:
        for path, previous in reversed(moved):
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                os.replace(previous, path)
        raise
    for _, previous in moved:
        if previous is not None:
            previous.unlink(missing_ok=True)


def renamed(data: Any, temporary: Path, final: Path) -> Any:
    """``data`` (a record) with every mention of ``temporary`` replaced by ``final``: a codec that
    wrote to the temporary sibling records its command as if it had written the final file."""
    if isinstance(data, str):
        return data.replace(str(temporary), str(final))
    if isinstance(data, dict):
        return {key: renamed(value, temporary, final) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [renamed(value, temporary, final) for value in data]
    return data
