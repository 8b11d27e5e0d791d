"""The files a command reads and writes: an output that would overwrite an input (or another
output), or a record of another kind or of another bitstream, is refused before anything runs,
and the outputs of one command appear together, complete, or not at all (the records it reads
are checked by `vcbench.io.read_record`). A path of the wrong kind (a folder given for a file) is
a one-line refusal, not click's usage text (FilePath, FolderPath)."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from vcbench.errors import ConfigError
from vcbench.io import open_temporary_sibling, sha256_file
from vcbench.results import record_kind

_LARGEST_RECORD = 16 << 20  # bytes: a record is a few kB; a larger file (a video, a bitstream) is none


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


def refuse_nested_folders(inputs: Mapping[str, Path | None], outputs: Mapping[str, Path | None]) -> None:
    """A ConfigError if an output folder is an input, lies inside one or holds one (links resolved):
    writing it would change what was read (a frozen backbone's content hash, the training material)."""
    for name, path in outputs.items():
        for other_name, other in inputs.items():
            if path is None or other is None:
                continue
            written, read = path.resolve(), other.resolve()
            if written == read:
                relation = "is"
            elif written.is_relative_to(read):
                relation = "lies inside"
            elif read.is_relative_to(written):
                relation = "holds"
            else:
                continue
            raise ConfigError(f"{name} {path} {relation} {other_name} {other}; writing it would change what is read, "
                              "give another folder")


def refuse_overwriting(inputs: Mapping[str, Path | None], outputs: Mapping[str, Path | None]) -> None:
    """Both checks of a command whose outputs are no records: no output is an input (or another
    output), and none would replace a job's record."""
    refuse_overlaps(inputs, outputs)
    refuse_replacing_records(outputs)


def refuse_replacing_record(path: Path, option: str, kind: str, bitstream: Path | None) -> None:
    """A ConfigError if ``path`` holds something a ``kind`` record of ``bitstream`` must not replace:
    a file that is no record (or not JSON), a record of another kind (an encode record under a
    decode's --record), or the record of another bitstream that is still there (its only record;
    ``bitstream`` None: a record of no bitstream, e.g. a score summary without --encode-record)."""
    if not path.exists():
        return
    existing = existing_record(path)
    found = record_kind(existing)
    if found is None:
        raise ConfigError(f"{option} {path}: exists and is not a vcbench record; writing the {kind} record there would destroy it, "
                          "give another path")
    if found != kind:
        raise ConfigError(f"{option} {path}: is {_a(found)} {found} record; writing the {kind} record "
                          "there would destroy it, give another path")
    other = live_bitstream(path, existing)
    if other is not None and (bitstream is None or not same_file(other, bitstream)):
        of = f"the record of {bitstream}" if bitstream is not None else f"{_a(kind)} {kind} record of no bitstream"
        hint = f" (e.g. {option} {bitstream}.{kind}.json)" if bitstream is not None else ""
        raise ConfigError(f"{option} {path}: is the {kind} record of {other}, which is still there; writing {of} there "
                          f"would lose it, give another path{hint}")


def refuse_replacing_records(outputs: Mapping[str, Path | None]) -> None:
    """A ConfigError if an output that is no job record would replace one (an encode, decode,
    summary, sequence or context-point record: each is the only record of its job)."""
    for name, path in outputs.items():
        if path is not None and path.exists() and (found := record_kind(existing_record(path))) is not None:
            raise ConfigError(f"{name} {path}: is {_a(found)} {found} record; writing there would destroy it, give another path")


def existing_record(path: Path) -> Any:
    """The JSON an existing output holds, or None where it is no JSON record (not a small regular
    file, not JSON): a FIFO is never opened for reading, a large file never read whole."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > _LARGEST_RECORD:
            return None
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def outputs_in(folder: Path, names: Sequence[str], option: str = "--out-dir") -> dict[str, Path]:
    """The files a command writes into ``folder``, named as refuse_overlaps names them."""
    return {f"{option}'s {name}": folder / name for name in names}


def live_bitstream(record_file: Path, record: dict) -> Path | None:
    """The bitstream ``record`` describes, where it still exists with the recorded sha256 (named as
    recorded, or beside the record, since a relative name depends on where the command ran)."""
    named = record.get("bitstream")
    if not isinstance(named, str) or not named:
        return None
    for candidate in dict.fromkeys((Path(named), record_file.parent / Path(named).name)):
        if candidate.is_file() and sha256_file(candidate) == record.get("bitstream_sha256"):
            return candidate
    return None


class FilePath(click.Path):
    """click's Path for one file, whose refusals are one line (`vcbench: error: ...`) rather than
    click's usage text: a directory, and with ``exists`` a path that is not there. (What is
    neither, a FIFO or a device, is refused by `vcbench.io.open_regular_file` when read.)"""

    want = "file"

    def __init__(self, exists: bool = False):
        super().__init__(path_type=Path)
        self.must_exist = exists

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        path = super().convert(value, param, ctx)
        name = (param.opts[0] if isinstance(param, click.Option) else param.human_readable_name) if param is not None else self.want
        wrong = self.wrong_kind(path)
        if wrong is not None:
            raise ConfigError(f"{name} {path}: is {wrong}; give a {self.want}")
        if self.must_exist and not path.exists():
            raise ConfigError(f"{name} {path}: no such {self.want}; check the path")
        return path

    @staticmethod
    def wrong_kind(path: Path) -> str | None:
        return "a directory" if path.is_dir() else None


class FolderPath(FilePath):
    """click's Path for a folder, with one-line refusals: a file, and with ``exists`` a missing folder."""

    want = "folder"

    @staticmethod
    def wrong_kind(path: Path) -> str | None:
        return "a file" if path.exists() and not path.is_dir() else None


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
