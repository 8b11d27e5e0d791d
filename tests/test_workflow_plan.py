"""The plan behind the Snakefile, and the check of the whole configuration when the workflow starts."""

import copy
import hashlib
import json
import os
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


def test_the_codecs_declared_analyses_are_planned_from_their_declarations(config):
    records = Plan(config, "demo").analysis_records
    denoising = sorted(r for r in records if "/divinr/" in r)
    assert denoising == [f"reports/demo/analysis/demo/{sequence}/divinr/d1/analysis.json" for sequence in ("bigbuckbunny", "bikes")]
    assert len(records) == 2 * (1 + 3) + 2  # DiV-INR, DiffVC per sequence; GIViC's two on the first sequence only
    paper = Plan(config, "paper")
    divinr = {key for key, entry in config["codecs"].items() if entry["codec"] == "divinr"}
    assert len([r for r in paper.analysis_records if r.split("/")[5] in divinr]) == 42  # one per sequence of the paper preset's DiV-INR
    config["presets"]["paper"]["codecs"] = ["x265", "vvenc"]
    assert Plan(config, "paper").analysis_records == []  # no codec that declares an analysis
    config["codecs"]["divinr"]["analyses"] = {"denoising": {"steps": []}}  # its switch: [] turns it off
    config["codecs"]["givic"]["analyses"] = {"context_length": {"contexts": [1], "rates": 3}}
    demo = Plan(config, "demo")
    assert not [r for r in demo.analysis_records if "/divinr/" in r]
    context = next(a for a in demo.codec_analyses("givic") if a.name == "context_length")
    inputs = demo.analysis_inputs(context, context.last, "demo", "bigbuckbunny", "givic", None)
    labels = [p["label"] for p in demo.ladder("givic")][:3]
    assert [(kind, label) for kind, label, _ in inputs] == [("reference", rate) for rate in labels] + [("point", f"1/{r}") for r in labels]
    assert inputs[-1][2] == f"results/demo/demo/bigbuckbunny/givic/context/L1_{labels[-1]}.json"


@pytest.mark.parametrize("visible, slots", [("0,1", 2), ("3", 1), ("", 6), ("-1", 6)])
def test_neural_jobs_run_one_per_gpu_or_on_every_core_without_one(monkeypatch, visible, slots):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert local_gpu_slots(cores=6) == slots


def test_the_paper_preset_codes_with_every_codec(config):
    plan = Plan(config, "paper")
    registered = {plan.codec_entry(codec)["codec"]: codec for codec in plan.settings["codecs"]}  # entry key by codec
    assert {"x265", "vvenc", "svtav1", "divinr", "givic", "diffvc"} <= set(registered)
    assert {codec for codec in plan.settings["codecs"] if plan.uses_gpu(codec)} == {registered[c] for c in ("divinr", "givic", "diffvc")}


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
    assert len(plan.analysis_records) == 2 * (1 + 3) + 2  # the codecs' analyses are on by their declared defaults
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


def test_a_rate_point_is_checked_once_at_the_config_and_its_job_carries_it(config):
    """The config check turns each ladder entry into the knobs the codec reads (typed, defaults filled in); the
    plan's job carries them, and the encode rule passes them on without looking them up again."""
    config["codecs"]["givic_quick"]["ladder"][0] = {"label": "w8", "width": "8", "rate_weight": 1}
    check_config(config, SCHEMA)
    assert config["codecs"]["givic_quick"]["ladder"][0] == {"label": "w8", "width": 8, "rate_weight": 1.0, "quant_step": 0.1}
    plan = Plan(config, "smoke")
    job = plan.job("demo", "bikes", "givic_quick", "w8")
    assert job.knobs == {"width": 8, "rate_weight": 1.0, "quant_step": 0.1} and job.rate == "w8"
    assert plan.job("demo", "bikes", "x265", "qp51").knobs == {"qp": 51}
    with pytest.raises(ConfigError, match=r"^demo/bikes/x265/qp45 is not a job of preset 'smoke'"):
        plan.job("demo", "bikes", "x265", "qp45")  # on x265's ladder, but not one of the 3 points smoke spreads over it


def test_options_that_change_no_output_stay_out_of_the_params_and_the_config_hash(config):
    """The anchors' encoder threads (bit-exact at any count) reach the command outside the params; a neural codec's
    threads (its CPU kernels' sums follow the count) are params and part of the config hash."""
    before = config_hash(config)
    config["codecs"]["x265"]["options"]["threads"] = 3
    check_config(config, SCHEMA)
    plan = Plan(config, "smoke")
    assert plan.codec_option_args("x265") == "-o gop=32 -o structure=random_access -o preset=veryslow"
    assert plan.codec_option_args("x265", changes_output=False) == "-o threads=3"
    assert config_hash(config) == before
    config["codecs"]["divinr_quick"]["options"]["threads"] = 2
    assert "-o threads=2" in plan.codec_option_args("divinr_quick") and plan.codec_option_args("divinr_quick", changes_output=False) == ""
    assert config_hash(config) != before


def test_required_files_are_versioned_by_their_content(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config["codecs"]["x265"]["requires"] = ["model/model_index.json"]
    plan = Plan(config, "smoke")
    assert plan.requires_versions("x265") == {"model/model_index.json": "absent"}  # not trained yet: evaluated again before the job
    (tmp_path / "model").mkdir()
    index = tmp_path / "model" / "model_index.json"
    index.write_text("{}")
    first = plan.requires_versions("x265")["model/model_index.json"]
    assert first == hashlib.sha256(b"{}").hexdigest()
    os.utime(index, ns=(index.stat().st_atime_ns, index.stat().st_mtime_ns + 10**9))  # a checkout: new mtime, same bytes
    assert plan.requires_versions("x265")["model/model_index.json"] == first
    index.write_text("{ }")
    assert plan.requires_versions("x265")["model/model_index.json"] == hashlib.sha256(b"{ }").hexdigest()


def test_the_codec_reads_a_rate_point_checked_at_its_edge_as_it_is():
    """`vcbench encode` checks the knobs against the codec's knob set once; the codec then reads them as they are,
    and checks any other rate point (made by hand, or checked against another codec's set) itself."""
    from vcbench.codecs import create_codec
    from vcbench.codecs.base import RatePoint
    x265, svtav1 = create_codec("x265"), create_codec("svtav1")
    assert x265.knobs(RatePoint("a", {"qp": "37"})) == {"qp": 37}  # checked here
    assert x265.knobs(RatePoint("a", {"qp": "37"}, checked_by=x265.knob_set)) == {"qp": "37"}  # as the edge left it
    with pytest.raises(ConfigError, match=r"^x265 rate point b: qp=60 is out of range"):
        x265.knobs(RatePoint("b", {"qp": 60}, checked_by=svtav1.knob_set))
