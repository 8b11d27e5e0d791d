"""The plan behind the Snakefile and the config schema."""

import copy
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from vcbench.errors import ConfigError
from vcbench.workflow import Plan, config_hash, local_gpu_slots, spread


@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_smoke_preset_is_tiny(config):
    plan = Plan(config, "smoke")
    assert plan.frames == 8
    assert {j.sequence for j in plan.jobs} == {"bigbuckbunny", "bikes"}
    assert {j.codec for j in plan.jobs} == {"x265", "svtav1", "divinr_quick"}
    assert [p["label"] for p in plan.ladder("divinr_quick")] == ["d1", "d4"]  # its whole ladder: 2 points
    for codec in ("x265", "svtav1"):
        labels = [p["label"] for p in plan.ladder(codec)]
        full = [p["label"] for p in config["codecs"][codec]["ladder"]]
        assert len(labels) == 3 and labels[0] == full[0] and labels[-1] == full[-1]


def test_demo_preset_fans_out_per_sequence_codec_rate(config):
    plan = Plan(config, "demo")
    expected = sum(len(config["codecs"][c]["ladder"]) for c in plan.settings["codecs"]) * 2
    assert len(plan.jobs) == expected
    assert len({j.bitstream for j in plan.jobs}) == expected


def test_denoising_analysis_runs_at_each_divinr_codecs_lowest_rate(config):
    jobs = Plan(config, "demo").denoising_analysis_jobs
    assert {(j.sequence, j.codec, j.rate) for j in jobs} == {("bigbuckbunny", "divinr", "d1"), ("bikes", "divinr", "d1")}
    assert jobs[0].analysis_dir == f"reports/demo/analysis/demo/{jobs[0].sequence}/divinr/d1"
    assert Plan(config, "paper").denoising_analysis_jobs == []  # no DiV-INR in the paper preset's codecs
    config["analysis"]["denoising_steps"] = []
    assert Plan(config, "demo").denoising_analysis_jobs == []


@pytest.mark.parametrize("visible, slots", [("0,1", 2), ("3", 1), ("", 6), ("-1", 6)])
def test_neural_jobs_run_one_per_gpu_or_on_every_core_without_one(monkeypatch, visible, slots):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert local_gpu_slots(cores=6) == slots


def test_spread_keeps_ends():
    assert spread(list(range(7)), 3) == [0, 3, 6]
    assert spread([1, 2], 5) == [1, 2]


def test_unknown_preset_and_codec_are_named(config):
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        Plan(config, "nope")
    bad = copy.deepcopy(config)
    bad["presets"]["smoke"]["codecs"].append("h267")
    with pytest.raises(ConfigError, match="h267"):
        Plan(bad, "smoke")


def test_config_hash_changes_with_config(config):
    other = copy.deepcopy(config)
    other["presets"]["smoke"]["frames"] = 9
    assert config_hash(config) != config_hash(other)


def run_dry(args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize("override, named", [("presets={'smoke':{'datasets':['demo'],'frames':8,'codecs':['x265'],'colour':1}}", "colour"),
                                             ("metrics=['psnr','lpipz']", "lpipz")])
def test_schema_rejects_wrong_keys_and_values(override, named):
    proc = run_dry(["--config", override])
    assert proc.returncode != 0
    assert named in proc.stdout + proc.stderr
