"""A run you can watch: the progress line, its time estimate, the logger plugin in a real Snakemake run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from vcbench.run_progress import RunProgress, format_seconds


def test_seconds_are_short():
    assert [format_seconds(s) for s in (4.4, 185, 3720)] == ["4s", "3m05s", "1h02m"]


def test_the_estimate_weights_jobs_by_their_rules_time_and_the_runs_parallelism():
    progress = RunProgress(started=0.0)
    progress.plan({"encode_anchor": 4, "encode_neural": 2, "total": 6})
    progress.counted(0, 6)
    assert progress.seconds_left(0.0) is None and "after the first job" in progress.line(0.0)
    # two anchor encodes of 10 s side by side, then one neural encode of 100 s beside an anchor encode
    progress.job_started(1, "encode_anchor", {"codec": "x265", "rate": "qp37"}, 0.0)
    progress.job_started(2, "encode_anchor", {}, 0.0)
    progress.job_finished(1, 10.0)
    progress.job_finished(2, 10.0)
    progress.job_started(3, "encode_neural", {}, 10.0)
    progress.job_started(4, "encode_anchor", {}, 10.0)
    progress.job_finished(4, 20.0)
    progress.job_finished(3, 110.0)
    progress.counted(4, 6)
    # left: 1 anchor (10 s) + 1 neural (100 s) = 110 job-seconds at 130 / 110 job-seconds per second
    assert progress.seconds_left(110.0) == pytest.approx(110 / (130 / 110))
    # a rule not finished yet counts as the mean of every finished job (130 s / 4 jobs)
    progress.plan({"encode_anchor": 4, "encode_neural": 2, "score": 2, "total": 8})
    assert progress.seconds_left(110.0) == pytest.approx((110 + 2 * 130 / 4) / (130 / 110))


def test_the_line_names_what_runs_and_fits_its_width():
    progress = RunProgress(started=0.0)
    progress.plan({"encode": 3, "total": 3})
    progress.counted(1, 3)
    progress.job_started(7, "encode", {"preset": "smoke", "dataset": "demo", "codec": "x265", "rate": "qp37"}, 0.0)
    line = progress.line(65.0)
    assert line.startswith("1/3 jobs (33%) | 1m05s elapsed") and "running: encode(demo/x265/qp37)" in line
    assert len(progress.line(65.0, width=30)) == 30
    progress.counted(3, 3)
    assert "finished" in progress.line(70.0)


def _tqdm_calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "tqdm":
            yield node


def test_every_progress_bar_draws_only_on_a_terminal():
    """tqdm's `disable=None` draws on a terminal only: a job's log file gets no carriage-return frames."""
    offenders = []
    for path in sorted((REPO / "src").rglob("*.py")):
        for call in _tqdm_calls(path):
            disable = next((k.value for k in call.keywords if k.arg == "disable"), None)
            on_terminal = disable if not isinstance(disable, ast.IfExp) else disable.body
            if not (isinstance(on_terminal, ast.Constant) and on_terminal.value is None):
                offenders.append(f"{path.relative_to(REPO)}:{call.lineno}")
    assert not offenders, offenders


def test_the_default_profile_uses_the_vcbench_logger():
    profile = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    assert profile["logger"] == ["vcbench"]


SNAKEFILE = """
from vcbench.run_progress import announce_report
rule all:
    input: expand("out/{i}.txt", i=range(4))
rule work:
    input: "tmp/{i}.txt"
    output: "out/{i}.txt"
    shell: "cp {input} {output}"
rule make:
    output: temp("tmp/{i}.txt")
    shell: "echo {wildcards.i} > {output}"
onsuccess:
    announce_report("report.html")
"""


@pytest.mark.slow
def test_a_run_prints_one_line_per_job_and_ends_on_the_report(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "report.html").write_text("<html></html>")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--logger", "vcbench"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == "vcbench: the report is report.html"
    progress = [line for line in lines if " jobs (" in line]
    assert len(progress) == 9 and progress[-1].startswith("9/9 jobs (100%)") and "finished" in progress[-1]
    assert "\r" not in proc.stderr and "rule work:" not in proc.stderr and "Finished jobid" not in proc.stderr
    assert "Removing temporary output" not in proc.stderr and "Select jobs" not in proc.stderr
    # the full records stay in Snakemake's log file
    (log,) = (tmp_path / ".snakemake/log").glob("*.snakemake.log")
    assert log.read_text().count("rule work:") == 4 and log.read_text().count("Removing temporary output") == 4
