"""Snakemake logger plugin `vcbench` (profiles/default sets `logger: [vcbench]`): a run you can watch.

Per-job records (job info, shell commands, finished jobs, Snakemake's "N of M steps" lines) become
one status line (`vcbench.run_progress`): redrawn in place on a terminal, printed once per
finished job otherwise. Everything else (the job stats, warnings, errors with the failed job's
log) is printed exactly as Snakemake's own console prints it; a dry run is left untouched. The
full records still go to Snakemake's log file (.snakemake/log/), which this plugin does not touch.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time

from snakemake.logging import ColorizingTextHandler
from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

from vcbench.run_progress import LAST_LINE_FLAG, RunProgress

# Records the status line replaces (their full text stays in the log file).
_FOLDED = {LogEvent.JOB_INFO, LogEvent.JOB_STARTED, LogEvent.JOB_FINISHED, LogEvent.PROGRESS,
           LogEvent.SHELLCMD, LogEvent.RESOURCES_INFO, LogEvent.GROUP_INFO}
# Snakemake's per-job chatter (job selection rounds, temporary files removed), by how its messages begin.
_CHATTER = ("Select jobs to execute...", "Removing temporary output ")
_CLEAR = "\r\033[K"


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        self.stream = sys.stdout if self.common_settings.stdout else sys.stderr
        self.plain = ColorizingTextHandler(nocolor=self.common_settings.nocolor, stream=self.stream)
        self.terminal = self.stream.isatty()
        self.progress = RunProgress()
        self.lock = threading.RLock()
        self.shown = False  # a status line is on the terminal's last row
        self.last_lines: list[str] = []
        self.closed = False
        self.ticker: threading.Thread | None = None
        self.stop = threading.Event()

    def emit(self, record) -> None:
        event = getattr(record, "event", None)
        if event is None and str(record.msg).startswith(_CHATTER) and not self.common_settings.dryrun:
            return
        if self.common_settings.dryrun or (event not in _FOLDED and not getattr(record, LAST_LINE_FLAG, False)):
            with self.lock:
                self._clear()
                self.plain.setFormatter(self.formatter)
                self.plain.emit(record)
                if event == LogEvent.RUN_INFO:
                    self.progress.plan(getattr(record, "stats", {}) or {})
                elif event == LogEvent.JOB_ERROR:
                    self.progress.job_failed(getattr(record, "jobid", -1))
                self._draw()
            return
        with self.lock:
            now = time.monotonic()
            if getattr(record, LAST_LINE_FLAG, False):
                self.last_lines.append(record.getMessage())
            elif event == LogEvent.JOB_INFO:
                self.progress.job_started(record.jobid, record.rule_name, getattr(record, "wildcards", None), now)
                self._start_ticker()
            elif event == LogEvent.JOB_FINISHED:
                self.progress.job_finished(record.job_id, now)
            elif event == LogEvent.PROGRESS:
                self.progress.counted(record.done, record.total)
                if not self.terminal:
                    self._write(self.progress.line(now, width=1000) + "\n")
            self._draw()

    def _width(self) -> int:
        return shutil.get_terminal_size((120, 24)).columns - 1

    def _clear(self) -> None:
        if self.shown:
            self._write(_CLEAR)
            self.shown = False

    def _draw(self) -> None:
        if self.terminal and self.progress.total and not self.closed:
            self._write(_CLEAR + self.progress.line(time.monotonic(), self._width()))
            self.shown = True

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _start_ticker(self) -> None:
        """On a terminal, redraw every second so that elapsed time moves between events."""
        if self.terminal and self.ticker is None:
            def tick() -> None:
                while not self.stop.wait(1.0):
                    with self.lock:
                        self._draw()

            self.ticker = threading.Thread(target=tick, name="vcbench-progress", daemon=True)
            self.ticker.start()

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                self.stop.set()
                if self.shown:
                    self._write(_CLEAR + self.progress.line(time.monotonic(), self._width()) + "\n")
                    self.shown = False
                for line in self.last_lines:
                    self._write(line + "\n")
        super().close()

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False  # Snakemake's default filter: --quiet and the rest behave as without the plugin

    @property
    def has_formatter(self) -> bool:
        return False

    @property
    def needs_rulegraph(self) -> bool:
        return False
