"""The paper preset: its three neural codecs on the pretrained backbone asset, planned offline; the backbone's job
failing in one line without network; sequences prepared with the frames the presets code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO
from dag import run_snakemake, workflow_copy
from vcbench.assets.backbones import load_backbones
from vcbench.config_check import load_config
from vcbench.workflow import Plan


def test_the_paper_preset_runs_the_three_neural_codecs_on_the_declared_backbone() -> None:
    config = load_config(REPO / "config" / "config.yaml", REPO / "workflow" / "schemas" / "config.schema.yaml")
    plan = Plan(config, "paper")
    codecs = {plan.codec_entry(codec)["codec"]: codec for codec in config["presets"]["paper"]["codecs"]}
    assert {"x265", "vvenc", "svtav1", "divinr", "givic", "diffvc"} <= set(codecs)
    assert plan.backbones == {"sd21-base": "models/sd21-base"} and "sd21-base" in load_backbones()
    for codec in ("divinr", "diffvc"):
        assert "models/sd21-base/asset.json" in plan.codec_requires(codecs[codec])  # waits for the verified backbone
    assert plan.codec_option(codecs["diffvc"], "model") == "models/diffvc-sd21-base"


@pytest.mark.slow
def test_offline_the_paper_preset_plans_its_backbone_and_its_job_fails_in_one_line(tmp_path: Path) -> None:
    work = workflow_copy(tmp_path / "work")
    targets = ["models/diffvc-sd21-base/model_index.json", "data/uvg/Beauty.y4m", "data/demo/bikes.y4m"]
    planned = run_snakemake(work, *targets, "-n", "-p", "--config", "preset=paper")
    assert planned.returncode == 0, planned.stderr[-2000:]
    printed = planned.stdout + planned.stderr
    assert re.search(r"^fetch_backbone\s+1$", printed, re.M) and re.search(r"^train_diffvc_backbone\s+1$", printed, re.M)
    assert "vcbench assets fetch-backbone sd21-base --out models/sd21-base" in printed
    # prepared with the most frames a preset codes: 96 of UVG's 600 (paper); 32 of the demo clips (demo; smoke codes 8)
    assert "--sequence Beauty --out data/uvg/Beauty.y4m --frames 96" in printed
    assert "--sequence bikes --out data/demo/bikes.y4m --frames 32" in printed

    # without network (huggingface_hub's offline switch, so nothing waits on retries) the backbone's job fails
    # and its log is one line naming the asset, where its files go and the command that gets them
    ran = run_snakemake(work, "models/sd21-base/asset.json", "--config", "preset=paper", env={"HF_HUB_OFFLINE": "1"})
    assert ran.returncode != 0
    log = (work / "logs" / "models" / "sd21-base" / "fetch_backbone.log").read_text().strip().splitlines()
    assert len(log) == 1 and log[0].startswith("vcbench: error: backbone sd21-base: cannot download"), log
    assert "vcbench assets fetch-backbone sd21-base --out models/sd21-base" in log[0]
    assert not (work / "models" / "sd21-base" / "asset.json").exists()
