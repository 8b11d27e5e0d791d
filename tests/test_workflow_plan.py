"""The plan behind the Snakefile, and the check of the whole configuration when the workflow starts."""

import copy
import json
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, SCHEMA, shipped_config
from dag import workflow_copy
from vcbench.config_check import check_config
from vcbench.errors import ConfigError
from vcbench.workflow import Plan, config_hash, local_gpu_slots, source_version, spread


@pytest.fixture
def config():
    return shipped_config()


def test_smoke_preset_is_tiny(config):
    plan = Plan(config, "smoke")
    assert plan.frames == 8
    assert {j.sequence for j in plan.jobs} == {"bigbuckbunny", "bikes"}
    assert {j.codec for j in plan.jobs} == {"x265", "svtav1", "divinr_quick", "givic_quick", "diffvc_quick"}
    for codec in ("divinr_quick", "givic_quick", "diffvc_quick"):  # the neural codecs' whole (2-point) ladders
        assert len(plan.ladder(codec)) == 2 == len(config["codecs"][codec]["ladder"]), codec
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
    assert len(Plan(config, "paper").denoising_analysis_jobs) == 42  # one per sequence of the paper preset's DiV-INR
    config["presets"]["paper"]["codecs"] = ["x265", "vvenc"]
    assert Plan(config, "paper").denoising_analysis_jobs == []  # no DiV-INR codec
    config["analysis"]["denoising_steps"] = []
    assert Plan(config, "demo").denoising_analysis_jobs == []


@pytest.mark.parametrize("visible, slots", [("0,1", 2), ("3", 1), ("", 6), ("-1", 6)])
def test_neural_jobs_run_one_per_gpu_or_on_every_core_without_one(monkeypatch, visible, slots):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert local_gpu_slots(cores=6) == slots


def test_the_paper_preset_codes_with_every_codec(config):
    plan = Plan(config, "paper")
    assert {"x265", "vvenc", "svtav1", "divinr", "givic", "diffvc"} <= set(plan.settings["codecs"])
    assert {codec for codec in plan.settings["codecs"] if plan.uses_gpu(codec)} == {"divinr", "givic", "diffvc"}


def test_scoring_asks_for_a_gpu_only_when_a_metric_runs_a_network(config):
    plan = Plan(config, "paper")
    plan.__dict__["unavailable_metrics"] = {"lpips": "missing", "dists": "missing", "fid": "missing"}  # as without weights
    assert not plan.score_uses_gpu
    plan = Plan(config, "paper")
    plan.__dict__["unavailable_metrics"] = {"fid": "missing"}  # LPIPS' and DISTS' weights present
    assert plan.score_uses_gpu


def test_spread_keeps_ends():
    assert spread(list(range(7)), 3) == [0, 3, 6]
    assert spread([1, 2], 5) == [1, 2]


def test_unknown_preset_and_codec_are_named(config):
    with pytest.raises(ConfigError, match="^config preset: unknown preset 'nope'; one of demo, smoke, paper"):
        Plan(config, "nope")
    bad = copy.deepcopy(config)
    bad["presets"]["smoke"]["codecs"].append("h267")
    with pytest.raises(ConfigError, match=r"^config presets\.smoke\.codecs\[5\]: 'h267' has no entry under `codecs:`"):
        Plan(bad, "smoke")
    bad = edited(config, ("codecs", "x265", "ladder", 1, "label"), "qp51")
    with pytest.raises(ConfigError, match=r"^config codecs\.x265\.ladder: duplicate labels"):
        Plan(bad, "smoke")


def test_config_hash_changes_with_config(config):
    other = copy.deepcopy(config)
    other["presets"]["smoke"]["frames"] = 9
    assert config_hash(config) != config_hash(other)


def run_dry(args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize("override, line", [
    ("presets={'smoke':{'datasets':['demo'],'frames':8,'codecs':['x265'],'colour':1}}",
     "vcbench: error: config presets.smoke.colour: unknown key (value "),
    ("metrics=['psnr','lpipz']", 'vcbench: error: config metrics[1]: "lpipz" is not allowed; one of psnr, ms_ssim,'),
])
def test_schema_errors_are_one_line_naming_the_key(override, line):
    proc = run_dry(["--config", override])
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith(line)
    assert len((proc.stdout + proc.stderr).strip().splitlines()) <= 3  # Snakemake's two notices, then the error: no schema dump


def edited(config, path, value):
    """A copy of ``config`` with the key at ``path`` (a tuple of keys and list indexes) set to ``value``."""
    changed = copy.deepcopy(config)
    *parents, last = path
    target = changed
    for key in parents:
        target = target[key]
    target[last] = value
    return changed


# The edits users made that `snakemake -n` accepted and the jobs later failed on or ignored.
@pytest.mark.parametrize("path, value, line", [
    (("codecs", "x265", "options", "gopp"), 32, "config codecs.x265.options: unknown option 'gopp'; known: "),
    (("codecs", "x265", "ladder", 2, "qp"), "high", "config codecs.x265.ladder[2].qp: qp='high' is not an integer; "),
    (("codecs", "x265", "ladder", 2, "qp"), 99, "config codecs.x265.ladder[2].qp: qp=99 is out of range; qp is an integer in [0, 51]"),
    (("codecs", "x265", "options", "structure"), "bogus", "config codecs.x265.options.structure: structure='bogus' is not allowed; "),
    (("report", "anchor"), "x264",
     "config report.anchor: 'x264' is not a codec of preset 'demo' (its codecs: x265, vvenc, svtav1, divinr, givic, diffvc)"),
    (("report", "also_against"), ["vvnec"], "config report.also_against[0]: 'vvnec' is not a configured codec"),
    (("codecs", "divinr", "ladder", 0, "inr_widht"), 8, "config codecs.divinr.ladder[0]: unknown option 'inr_widht'"),
    (("codecs", "x265", "codec"), "x266",
     "config codecs.x265.codec: 'x266' is not a registered codec; one of diffvc, divinr, givic, svtav1, vvenc, x265"),
    (("metric_options",), {"lpips": {"net": "resnet"}},
     "config metric_options.lpips.net: net='resnet' is not allowed; net is one of alex, vgg"),
    (("metric_options",), {"lpips": {"cache_dir": "/w"}}, "config metric_options.lpips.cache_dir: the weights' folder of every learned"),
    (("metric_options",), {"psnr": {"colour": 1}}, "config metric_options.psnr: unknown option 'colour'"),
    (("metric_options",), {"psnr": {"peak": "hm"}},
     "config metric_options.psnr.peak: peak='hm' is not allowed; peak is one of jvet, ffmpeg"),
    (("presets", "demo", "frames"), "eight", 'config presets.demo.frames: "eight" is not an integer'),
    (("presets", "demo", "datasets"), ["uvgg"], "unknown dataset 'uvgg'"),
])
def test_config_check_names_the_key_the_value_and_what_is_allowed(config, path, value, line):
    with pytest.raises(ConfigError) as caught:
        check_config(edited(config, path, value), SCHEMA)
    message = str(caught.value)
    assert line in message and "\n" not in message and len(message) < 300


def test_a_metric_option_of_an_unscored_metric_is_an_error_not_ignored(config):
    config["metrics"] = ["psnr", "vmaf"]
    for preset in config["presets"].values():
        preset.pop("metrics", None)  # no preset scores a list of its own
    with pytest.raises(ConfigError, match=r"^config metric_options\.lpips: lpips is not among the scored metrics \(psnr, vmaf\)"):
        check_config(edited(config, ("metric_options",), {"lpips": {"net": "vgg"}}), SCHEMA)


@pytest.mark.parametrize("preset", ["demo", "smoke", "paper"])
def test_the_shipped_config_passes_for_every_preset(config, preset):
    check_config({**config, "preset": preset}, SCHEMA)


def test_metric_options_and_the_assets_folder_reach_the_jobs_as_arguments(config):
    config["metrics"] = ["psnr", "ms_ssim", "vmaf"]
    config["metric_options"] = {"psnr": {"peak": "jvet"}}
    config["assets"] = {"cache_dir": "/w eights"}
    check_config(config, SCHEMA)
    assert Plan(config).metric_option_args(Plan(config).frame_metrics) == "-m psnr.peak=jvet"
    assert Plan(config).assets_cache_arg == "--cache-dir '/w eights'"  # score and FID jobs alike
    config["assets"]["cache_dir"] = None
    assert Plan(config).assets_cache_arg == ""


def test_the_schema_holds_every_default_and_the_check_fills_them_in(config):
    bare = {key: copy.deepcopy(config[key]) for key in ("preset", "presets", "metrics", "codecs")}
    for entry in bare["codecs"].values():
        entry.pop("requires", None)
    del bare["codecs"]["x265"]["options"]
    check_config(bare, SCHEMA)
    plan = Plan(bare, "demo")
    assert plan.report == {"anchor": "x265", "also_against": [], "bd_method": "pchip",
                           "bd_metrics": None,  # the headline columns the scored metrics declare
                           "bd_interval_bpp": [0.005, 0.05], "bd_min_overlap": 0.5, "preview_rate_bpp": 0.02}
    assert plan.bd_span_args == "--interval 0.005 0.05 --min-overlap 0.5"
    assert plan.tracking_args == "--experiment vcbench"
    assert plan.denoising_steps == [] and plan.givic_analyses == [] and plan.diffvc_analyses  # the DiffVC analyses have no switch
    assert plan.codec_requires("x265") == [] and plan.codec_option_args("x265") == ""
    assert plan.sequences("demo") == ["bigbuckbunny", "bikes"] and len(plan.ladder("x265")) == len(bare["codecs"]["x265"]["ladder"])
    assert bare["models"] == {} and bare["assets"] == {"cache_dir": None} and bare["metric_options"] == {}
    assert plan.backbones == {"embedded": "models/embedded"}  # DiV-INR's and DiffVC's: one backbone check


def test_source_version_is_the_recorded_sha256(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert source_version("demo", "bikes") == "no record"  # not prepared yet: Snakemake evaluates it again before the job runs
    (tmp_path / "data" / "demo").mkdir(parents=True)
    (tmp_path / "data" / "demo" / "bikes.json").write_text(json.dumps({"sha256": "ef" * 32}))
    assert source_version("demo", "bikes") == "ef" * 32


def test_snakemake_dry_run_stops_on_a_bad_knob_in_one_line(tmp_path):
    workdir = workflow_copy(tmp_path / "wf")
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    config["codecs"]["x265"]["ladder"][2]["qp"] = "high"
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = run_dry([], cwd=workdir)
    assert proc.returncode != 0 and len((proc.stdout + proc.stderr).strip().splitlines()) <= 2
    assert proc.stderr.strip().splitlines()[-1] == ("vcbench: error: config codecs.x265.ladder[2].qp: qp='high' is not an integer; "
                                                    "qp is an integer in [0, 51]")
