"""The codecs' analyses as they declare them (vcbench.codecs.analyses): torch-free declarations, their settings
checked where the config sets them, one command for all of them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import SCHEMA, shipped_config
from vcbench.codecs.analyses import analysis_named, declared_analyses
from vcbench.codecs.registry import available_codecs
from vcbench.config_check import check_config
from vcbench.errors import ConfigError
from vcbench_cli import vcbench


def test_the_declarations_import_no_torch() -> None:
    code = ("import sys; from vcbench.codecs.analyses import declared_analyses; from vcbench.codecs.registry import available_codecs; "
            "names = [a.name for c in available_codecs() for a in declared_analyses(c)]; print(','.join(names)); "
            "assert 'torch' not in sys.modules")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert set(run.stdout.strip().split(",")) == {"denoising", "tdir", "qpp", "propagation", "sampling_steps", "context_length"}


def test_every_declared_stage_names_a_function_of_its_codec() -> None:
    for codec in available_codecs():
        for analysis in declared_analyses(codec):
            assert analysis_named(analysis.name) == (codec, analysis)
            assert analysis.last.writes[-1] == "analysis.json"
            for stage in analysis.stages:
                module = stage.run.split(":")[0]
                assert module.startswith(f"vcbench.codecs.{codec}.") and module != f"vcbench.codecs.{codec}.analyses"


@pytest.mark.parametrize("analyses, says", [
    ({"tdir2": {}}, "config codecs.diffvc.analyses.tdir2: diffvc declares no analysis 'tdir2'; its analyses: tdir, qpp, propagation"),
    ({"qpp": {"grid": [0, 70]}}, "config codecs.diffvc.analyses.qpp.grid: grid=70 is out of range"),
    ({"qpp": {"grid": [7, 7]}}, "repeats an item"),
    ({"tdir": {"steps": [1]}}, "config codecs.diffvc.analyses.tdir: unknown option 'steps'; known: none"),
])
def test_an_analysis_setting_is_checked_where_the_config_sets_it(analyses, says) -> None:
    config = shipped_config()
    config["codecs"]["diffvc"]["analyses"] = analyses
    with pytest.raises(ConfigError, match="^" if says.startswith("config") else "") as raised:
        check_config(config, SCHEMA)
    assert says in str(raised.value)


def test_an_unknown_analysis_or_stage_is_one_line(tmp_path) -> None:
    clip = tmp_path / "clip.y4m"
    clip.write_bytes(b"YUV4MPEG2 W16 H16 F25:1 Ip A1:1 C420jpeg\n")
    common = ("--codec", "c", "--dataset", "d", "--sequence", "s", "--source", clip, "--out-dir", tmp_path / "o")
    unknown = vcbench("analysis", "nope", *common)
    assert unknown.code == 2 and unknown.error.startswith("vcbench: error: unknown analysis 'nope'; declared: context_length, denoising")
    stage = vcbench("analysis", "context_length", "--stage", "nope", *common)
    assert stage.code == 2 and "no stage 'nope'; its stages: reference, point, context_length" in stage.error
    assert not (tmp_path / "o").exists()
