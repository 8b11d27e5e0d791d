"""A codec added from a folder alone (tests/toy_codec/, on VCBENCH_CODECS): its class, its facts and one
analysis, planned by the real workflow with no edit to vcbench (docs/architecture.md, "Adding a codec")."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, write_sequence
from dag import snakemake_command, snakemake_env, workflow_copy
from vcbench.video import VideoFormat, Y4MReader

TOY = REPO / "tests" / "toy_codec"


def _env() -> dict[str, str]:
    return snakemake_env({"VCBENCH_CODECS": str(TOY)})


def test_the_toy_codec_codes_and_its_analysis_runs(tmp_path):
    """Encode, decode and the declared analysis through the CLI, as its rules call them."""
    source = write_sequence(tmp_path / "clip.y4m", VideoFormat(32, 16), 3)
    vcbench = [sys.executable, "-c", "from vcbench.cli import main; main()"]
    bitstream = tmp_path / "s2.toy"
    subprocess.run([*vcbench, "encode", source, bitstream, "--codec", "toycodec", "-p", "shift=2", "--rate-label", "s2",
                    "--record", tmp_path / "s2.encode.json"], env=_env(), check=True, capture_output=True, timeout=120)
    decoded = tmp_path / "s2.y4m"
    subprocess.run([*vcbench, "decode", bitstream, decoded, "--codec", "toycodec"], env=_env(), check=True, capture_output=True,
                   timeout=120)
    with Y4MReader(source) as original, Y4MReader(decoded) as back:
        for a, b in zip(original, back, strict=True):
            assert np.array_equal(a.y >> 2 << 2, b.y)
    out = tmp_path / "analysis"
    run = subprocess.run([*vcbench, "analysis", "toy_sizes", "--codec", "toy", "--dataset", "d", "--sequence", "clip", "--rate", "s2",
                          "--source", source, "--input", "bitstream", "s2", bitstream, "--out-dir", out, "-s", "max_level=2"],
                         env=_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (out / "sizes.csv").read_text().splitlines()[0] == "level,bytes" and len((out / "sizes.csv").read_text().splitlines()) == 4
    assert '"kind": "toy_sizes"' in (out / "analysis.json").read_text()


@pytest.mark.slow
def test_snakemake_plans_the_toy_codec_and_its_analysis(tmp_path):
    workdir = workflow_copy(tmp_path / "wd")
    dry = subprocess.run(snakemake_command("-n", "--configfile", str(TOY / "config.yaml")), cwd=workdir, env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", dry.stdout[dry.stdout.index("Job stats:"):], re.M))
    # one sequence, two rate points: its encodes, decodes and scores beside x265's, and its analysis at the lowest point
    assert counts["encode_toy"] == "2" and counts["analysis_toy_sizes"] == "1", dry.stdout[-3000:]
    assert counts["encode_x265"] == "2" and counts["score"] == "4"  # x265 at the preset's 2 points, the toy at its 2
    assert "reports/toy/analysis/demo/bigbuckbunny/toy/s4/toy_sizes/analysis.json" in dry.stdout
    # without the folder on VCBENCH_CODECS the codec is unknown: one line naming it
    plain = {key: value for key, value in _env().items() if key != "VCBENCH_CODECS"}
    refused = subprocess.run(snakemake_command("-n", "--configfile", str(TOY / "config.yaml")), cwd=workdir, env=plain,
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0 and "'toycodec' is not a registered codec" in refused.stdout + refused.stderr
    assert os.environ.get("VCBENCH_CODECS") is None  # the test's own process is untouched
