"""Finished work is not redone for a change that does not affect it: a job's threads are not a
rerun trigger (the anchors give the same bytes at any count, tests/test_anchors.py), nor is a codec
option that changes no output, nor a required file's new mtime without new content."""

from __future__ import annotations

import os
import re
import shutil

import pytest
import yaml

from dag import run_snakemake, workflow_copy

# The smoke preset's x265 on one sequence up to rd.csv, PSNR only: every rule whose threads the
# workflow sets (prepare, encode, decode, score, aggregate), in seconds. The anchor stands in for a
# neural codec's `requires` (the committed backbone's index, which x265 never reads): what is tested is
# how the workflow treats a required file, with dry runs only.
REQUIRED = "models/embedded/model_index.json"
ONE_ANCHOR = {"presets": {"smoke": {"codecs": ["x265"], "sequences": 1}}, "codecs": {"x265": {"requires": [REQUIRED]}}}
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


def with_x265_options(workdir, **options) -> list[str]:
    """Arguments that plan the finished run with x265's `options` changed (a config file over the run's)."""
    (workdir / "x265-options.yaml").write_text(yaml.safe_dump({"codecs": {"x265": {"options": options}}}))
    return ["--configfile", "one-anchor.yaml", "x265-options.yaml"]


@pytest.mark.slow
def test_an_option_that_changes_no_output_plans_nothing(finished_run):
    """x265's `threads` (Option.changes_output False: the same bytes at any count) reaches the encoder, not the
    params; an option that shapes the bitstream reruns the encodes and what follows them."""
    assert planned(finished_run, *with_x265_options(finished_run, threads=2)) == {}
    assert planned(finished_run, *with_x265_options(finished_run, gop=16)) == {"encode_x265": 3, "decode": 3, "score": 3,
                                                                                 "aggregate": 1}


@pytest.mark.slow
def test_a_required_file_reruns_its_encodes_for_new_content_not_for_a_new_mtime(finished_run):
    required = finished_run / REQUIRED
    original, stat = required.read_bytes(), required.stat()
    try:
        os.utime(required, ns=(stat.st_atime_ns, stat.st_mtime_ns + 3600 * 10**9))  # a fresh clone, a branch switch
        assert planned(finished_run) == {}
        required.write_bytes(original + b"\n")
        assert planned(finished_run) == {"encode_x265": 3, "decode": 3, "score": 3, "aggregate": 1}
    finally:
        required.write_bytes(original)  # the same bytes again: the tests after this one see the finished run


# The run above with the smoke preset's cheapest neural codec beside the anchor (GIViC, 2 rate points, no model):
# its decode is kept losslessly (decode_kept), the anchor's bitstream is decoded again by its score jobs.
WITH_NEURAL = {**ONE_ANCHOR, "presets": {"smoke": {"codecs": ["x265", "givic_quick"], "sequences": 1}}}


@pytest.fixture(scope="module")
def finished_neural_run(finished_run, tmp_path_factory):
    """A copy of the finished run (the tests above plan on the original), finished again with GIViC added."""
    workdir = tmp_path_factory.mktemp("reruns-neural") / "run"
    shutil.copytree(finished_run, workdir, symlinks=True)
    (workdir / "one-anchor.yaml").write_text(yaml.safe_dump(WITH_NEURAL))
    done = run_snakemake(workdir, *FINISHED)
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


@pytest.mark.slow
def test_a_metric_change_reruns_scoring_only(finished_neural_run):
    """Changing the metric options, or the metrics, plans the score jobs and what reads them: no decode, no encode."""
    assert planned(finished_neural_run) == {}
    assert sorted(path.parent.name for path in finished_neural_run.glob("results/**/*.rec.mkv")) == ["givic_quick"] * 2
    scoring = {"score": 3 + 2, "aggregate": 1}
    assert planned(finished_neural_run, "metric_options={psnr: {peak: ffmpeg}}") == scoring
    assert planned(finished_neural_run, "metrics=[psnr,ms_ssim]") == scoring
