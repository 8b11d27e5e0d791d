"""Finished work is not redone for a change that does not affect it: a job's threads are not a
rerun trigger (the anchors give the same bytes at any count, tests/test_anchors.py)."""

from __future__ import annotations

import re

import pytest
import yaml

from dag import run_snakemake, workflow_copy

# The smoke preset's x265 on one sequence up to rd.csv, PSNR only: every rule whose threads the
# workflow sets (prepare, encode, decode, score, aggregate), in seconds.
ONE_ANCHOR = {"presets": {"smoke": {"codecs": ["x265"], "sequences": 1}}}
FINISHED = ["reports/smoke/rd.csv", "--configfile", "one-anchor.yaml", "--config", "preset=smoke", "metrics=[psnr]"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = workflow_copy(tmp_path_factory.mktemp("reruns"))
    (workdir / "one-anchor.yaml").write_text(yaml.safe_dump(ONE_ANCHOR))
    done = run_snakemake(workdir, *FINISHED)
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def planned(workdir, *args: str) -> dict[str, int]:
    """Rule -> jobs that `snakemake -n` would run."""
    proc = run_snakemake(workdir, "-n", *FINISHED, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    stats = text[text.index("Job stats:"):]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", stats, re.M) if rule != "total"}


@pytest.mark.slow
def test_other_threads_plan_nothing(finished_run):
    assert planned(finished_run) == {}
    threads = ["--set-threads", "encode_x265=1", "decode=3", "score=1", "prepare_sequence=2", "--cores", "3"]
    assert planned(finished_run, *threads) == {}


@pytest.mark.slow
def test_a_forced_encode_reruns_its_chain_only(finished_run):
    """The check that the run above can plan work at all: a redone encode reruns what follows it."""
    jobs = planned(finished_run, "--forcerun", "encode_x265")
    assert jobs == {"encode_x265": 3, "decode": 3, "score": 3, "aggregate": 1}
