"""Which metrics the workflow plans: only those whose weights are present; the others reach the
report as not computed, with why and the fix, and no job is planned for them."""

from __future__ import annotations

import hashlib
import shlex

import pytest
import yaml

from conftest import shipped_config
from dag import run_snakemake, workflow_copy
from vcbench.assets import AssetError, is_present, load_registry, missing_reason, require
from vcbench.assets.registry import DEFAULT_REGISTRY
from vcbench.metrics.registry import metric_spec
from vcbench.workflow import Plan, not_computed_args

# The large weights, replaced in a test registry by small files of their own sha256 and size.
LARGE = ("torchvision-alexnet", "torchvision-vgg16", "fid-inception-2015-12-05")
ENV_VARS = ("VCBENCH_ASSETS_DIR", "TORCH_HOME", "VCBENCH_ASSET_REGISTRY", "XDG_CACHE_HOME")


@pytest.fixture
def config():
    return shipped_config()


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No assets folder from the environment: the default one is an empty folder."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def verified_assets(tmp_path, clean_env, monkeypatch):
    """A TORCH_HOME-style folder holding every asset the metrics need, verified by a test registry
    (the small packaged ones as vcbench registers them). Returns (folder, registry file)."""
    home = tmp_path / "assets"
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    entries = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    for entry in entries["assets"]:
        if entry["name"] in LARGE:
            data = f"stand-in for {entry['name']}".encode()
            (checkpoints / entry["file"]).write_bytes(data)
            entry.update(sha256=hashlib.sha256(data).hexdigest(), sha256_prefix=None, size=len(data))
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump(entries))
    monkeypatch.setenv("VCBENCH_ASSET_REGISTRY", str(registry))
    return home, registry


def test_without_weights_only_the_metrics_without_weights_are_planned(config, clean_env, tmp_path):
    cache = tmp_path / "empty"
    config["assets"] = {"cache_dir": str(cache)}
    plan = Plan(config, "demo")
    weight_free = [m for m in plan.metrics if not metric_spec(m).uses_weights]
    assert plan.available_metrics == plan.frame_metrics == weight_free and "psnr" in weight_free and "lpips" not in weight_free
    registry = load_registry()
    assert plan.unavailable_metrics == {
        "lpips": missing_reason(registry["torchvision-alexnet"], cache),  # its first missing asset, as the metric says
        "dists": missing_reason(registry["torchvision-vgg16"], cache),
        "fid": missing_reason(registry["fid-inception-2015-12-05"], cache),
    }
    assert "run `vcbench assets fetch`" in plan.unavailable_metrics["fid"] and str(cache) in plan.unavailable_metrics["fid"]
    assert shlex.split(not_computed_args(plan)) == [
        "--not-computed", f"lpips: {plan.unavailable_metrics['lpips']}",
        "--not-computed", f"dists: {plan.unavailable_metrics['dists']}",
        "--not-computed", f"fid, kid: {plan.unavailable_metrics['fid']}",  # KID is computed with FID
    ]


def test_with_verified_weights_every_metric_is_planned(config, verified_assets):
    home, _ = verified_assets
    config["assets"] = {"cache_dir": str(home)}
    plan = Plan(config, "demo")
    assert plan.unavailable_metrics == {} and not_computed_args(plan) == ""
    assert plan.available_metrics == plan.metrics == config["presets"]["demo"]["metrics"] and "fid" not in plan.frame_metrics
    assert Plan(config, "paper").metrics == config["metrics"]  # a preset without its own list scores the config's


def test_the_assets_folder_comes_from_the_environment_when_the_config_names_none(config, verified_assets, monkeypatch):
    home, _ = verified_assets
    assert set(Plan(config, "smoke").unavailable_metrics) == {"lpips", "dists", "fid"}  # the default folder is empty
    monkeypatch.setenv("VCBENCH_ASSETS_DIR", str(home))
    assert Plan(config, "smoke").unavailable_metrics == {}


def test_each_metric_needs_the_assets_of_its_options(config, verified_assets):
    home, _ = verified_assets
    config["assets"] = {"cache_dir": str(home)}
    config["metric_options"] = {"lpips": {"net": "vgg"}}
    (home / "hub" / "checkpoints" / "vgg16-397923af.pth").unlink()
    reason = missing_reason(load_registry()["torchvision-vgg16"], home)
    assert Plan(config, "demo").unavailable_metrics == {"lpips": reason, "dists": reason}  # LPIPS-VGG and DISTS share the trunk
    config["metric_options"] = {}
    assert Plan(config, "demo").unavailable_metrics == {"dists": reason}  # LPIPS-Alex does without it


def test_presence_is_told_by_size_and_the_job_verifies_the_hash(verified_assets):
    home, _ = verified_assets
    asset = load_registry()["fid-inception-2015-12-05"]
    path = home / "hub" / "checkpoints" / asset.file
    path.write_bytes(b"x" * asset.size)  # the registered size, other content: planned without hashing ...
    assert is_present(asset, home)
    with pytest.raises(AssetError, match="wrong sha256"):  # ... and refused by the job that would load it
        require(asset.name, cache_dir=home)
    path.write_bytes(b"something else")  # another size: hashed, and absent
    assert not is_present(asset, home)
    assert "(the file there has a wrong sha256)" in missing_reason(asset, home)


def planned(workdir, env) -> tuple[dict[str, int], list[str]]:
    """Jobs per rule that `snakemake -n` plans for the smoke preset, and the shell commands it prints."""
    proc = run_snakemake(workdir, "-n", "-p", "--config", "preset=smoke", env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (proc.stdout + proc.stderr).splitlines()
    counts = {}
    for line in lines[lines.index("Job stats:") + 3:]:
        name, _, count = line.partition(" ")
        if name == "total" or not count.strip():
            break
        counts[name] = int(count)
    return counts, [line.removeprefix("Shell command: ") for line in lines if line.startswith("Shell command: vcbench ")]


def commands_of(commands: list[str], name: str) -> list[str]:
    return [c for c in commands if c.startswith(f"vcbench {name} ")]


def test_the_dag_plans_no_job_for_a_metric_without_weights(tmp_path, verified_assets, config):
    home, registry = verified_assets
    smoke = Plan(config, "smoke").metrics
    weight_free = ",".join(m for m in smoke if not metric_spec(m).uses_weights)
    scored = ",".join(m for m in smoke if metric_spec(m).scope != "pooled")
    workdir = workflow_copy(tmp_path / "wf")
    counts, commands = planned(workdir, {"XDG_CACHE_HOME": str(tmp_path / "xdg-cache"), "VCBENCH_ASSET_REGISTRY": ""})
    assert not {"fid", "fid_features", "fid_source_features"} & set(counts) and counts["score"] == 24
    assert all(f" --metrics {weight_free} " in c for c in commands_of(commands, "score") + commands_of(commands, "analysis denoising"))
    (report,) = commands_of(commands, "report")
    assert "--fid" not in report and report.count("--not-computed") == 3 and "'fid, kid: missing fid-inception-2015-12-05;" in report
    assert "--fid" not in commands_of(commands, "bd-table")[0]

    counts, commands = planned(workdir, {"VCBENCH_ASSETS_DIR": str(home), "VCBENCH_ASSET_REGISTRY": str(registry)})
    assert {rule: counts.get(rule) for rule in ("fid_source_features", "fid_features", "fid", "score")} == {
        "fid_source_features": 2, "fid_features": 24, "fid": 1, "score": 24}
    assert all(f" --metrics {scored} " in c for c in commands_of(commands, "score"))
    (report,) = commands_of(commands, "report")
    assert "--fid reports/smoke/fid.csv" in report and "--not-computed" not in report
