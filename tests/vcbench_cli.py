"""Run the real `vcbench` command line in this process (cli.main, with its error handling), so
that a test sees the exit code and the exact lines a user sees, without paying a fresh
interpreter (and torch import) per call."""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass

from vcbench.cli import main


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """The one error line (asserts there is exactly one line on stderr)."""
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        return lines[0]


def vcbench(*args: object) -> Result:
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["vcbench", *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
    return Result(code, out.getvalue(), err.getvalue())
