"""A DAG run's progress in one line: jobs done of total, elapsed, an estimate of what is left, what runs.

Snakemake's own console prints about ten lines per job and counts jobs, not time: a few neural
encodes dominate a run, so "27 % of steps" can be 79 % of the time. `RunProgress` estimates the
time left from what finished jobs of each rule took (a rule with none finished yet counts as the
mean of all finished jobs) and from the parallelism the run has achieved so far. The logger plugin
`snakemake_logger_plugin_vcbench` feeds it Snakemake's log events and draws its line; the full job
records stay in Snakemake's log file (.snakemake/log/).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

# A record the logger plugin holds back and prints after Snakemake's own last line ("Complete log(s): ...").
LAST_LINE_FLAG = "vcbench_last_line"


def format_seconds(seconds: float) -> str:
    """'42s', '3m05s', '1h02m': short enough for a status line."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class _Running:
    rule: str
    label: str
    started: float


@dataclass
class RunProgress:
    """What a run has done and is doing; times are `time.monotonic()` seconds."""

    started: float = field(default_factory=time.monotonic)
    total: int = 0
    done: int = 0
    planned: Counter = field(default_factory=Counter)  # rule -> jobs of the run (Snakemake's job stats)
    running: dict[int, _Running] = field(default_factory=dict)
    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def plan(self, stats: dict[str, int]) -> None:
        self.planned = Counter({rule: count for rule, count in stats.items() if rule != "total"})
        self.total = max(self.total, stats.get("total", 0))

    def job_started(self, job_id: int, rule: str, wildcards: dict | None, now: float) -> None:
        label = "/".join(str(value) for key, value in (wildcards or {}).items() if key != "preset")
        self.running[job_id] = _Running(rule, f"{rule}({label})" if label else rule, now)

    def job_finished(self, job_id: int, now: float) -> None:
        job = self.running.pop(job_id, None)
        if job is not None:
            self.durations[job.rule].append(now - job.started)

    def job_failed(self, job_id: int) -> None:
        self.running.pop(job_id, None)

    def counted(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def seconds_left(self, now: float) -> float | None:
        """Estimated wall time left, or None before any job has finished."""
        finished = [seconds for values in self.durations.values() for seconds in values]
        if not finished:
            return None
        overall = sum(finished) / len(finished)

        def expected(rule: str) -> float:
            values = self.durations.get(rule)
            return sum(values) / len(values) if values else overall

        running_rules = Counter(job.rule for job in self.running.values())
        work_left = sum(max(count - len(self.durations.get(rule, ())) - running_rules[rule], 0) * expected(rule)
                        for rule, count in self.planned.items())
        work_left += sum(max(expected(job.rule) - (now - job.started), 0.0) for job in self.running.values())
        # job-seconds done per wall second so far: the parallelism this run achieves
        work_done = sum(finished) + sum(now - job.started for job in self.running.values())
        elapsed = now - self.started
        if elapsed <= 0 or work_done <= 0:
            return None
        return work_left / (work_done / elapsed)

    def line(self, now: float, width: int = 120) -> str:
        percent = 100 * self.done / self.total if self.total else 0.0
        left = self.seconds_left(now)
        if self.total and self.done >= self.total:
            estimate = "finished"
        else:
            estimate = f"about {format_seconds(left)} left" if left is not None else "time left: after the first job"
        parts = [f"{self.done}/{self.total} jobs ({percent:.0f}%)", f"{format_seconds(now - self.started)} elapsed", estimate]
        if self.running:
            by_start = sorted(self.running.values(), key=lambda job: job.started)
            parts.append("running: " + ", ".join(job.label for job in by_start))
        text = " | ".join(parts)
        return text if len(text) <= width else text[: max(width - 3, 0)] + "..."


def announce_report(html: str) -> None:
    """The run's last line: where the report is (called by the Snakefile's `onsuccess`)."""
    if Path(html).is_file():
        logging.getLogger("snakemake.logging").info(f"vcbench: the report is {html}", extra={LAST_LINE_FLAG: True})
