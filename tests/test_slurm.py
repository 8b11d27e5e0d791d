"""`--profile slurm` against a real one-node Slurm (scripts/slurm-up.sh): the smoke preset runs
through sbatch and gives the same bytes as a local run; GPU requests reach Slurm; a failing job is
retried, reported with its Slurm log, and a rerun resumes where the failed one stopped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO
from dag import SMOKE_ANCHORS, run_snakemake, snakemake_env, workflow_copy
from vcbench.codecs.analyses import declared_analyses
from vcbench.config_check import load_config
from vcbench.io import sha256_file

# A test cluster has no slurmdbd: `sacct` cannot answer, so the plugin must ask squeue (real
# clusters keep the profile's default). Status checks start early to keep the test short.
CI_ARGS = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2"]
# The smoke preset's anchors on one sequence, scored with PSNR only: VMAF, MS-SSIM and training the quick prior cost
# minutes on two shared cores and say nothing about where a job ran (the dry run below checks the
# neural rules' GPU requests). Every other job of the preset runs.
SMOKE = ["--configfile", str(SMOKE_ANCHORS), "--config", "preset=smoke", "metrics=[psnr]"]
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: ([^)]+)\)")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A private one-node Slurm with one (device-less) GPU; stopped by PID afterwards, always."""
    if os.geteuid() != 0:
        pytest.skip("the test cluster runs its daemons and jobs as root")
    state = tmp_path_factory.mktemp("slurm")
    try:
        up = subprocess.run(["bash", str(REPO / "scripts/slurm-up.sh"), str(state)], env={**os.environ, "SLURM_FAKE_GPUS": "1"},
                            capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        yield {"SLURM_CONF": str(state / "slurm.conf"), "state": state}
    finally:
        subprocess.run(["bash", str(REPO / "scripts/slurm-down.sh"), str(state)], timeout=60)


def slurm_env(slurm) -> dict[str, str]:
    return snakemake_env({"SLURM_CONF": slurm["SLURM_CONF"]})


def run_on_slurm(workdir: Path, slurm, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """The users' command, `snakemake --profile slurm`, killed (SIGKILL) if it hangs; `--cores all` caps each job's
    threads at this machine's cores, which are the test cluster's only node (a 4-thread job would never start)."""
    command = ["timeout", "-s", "KILL", str(timeout), sys.executable, "-m", "snakemake", "--cores", "all", "--profile", "slurm",
               *CI_ARGS, *args]
    return subprocess.run(command, cwd=workdir, env=slurm_env(slurm), capture_output=True, text=True, timeout=timeout + 60)


def slurm_query(slurm, *command: str) -> str:
    return subprocess.run(list(command), env=slurm_env(slurm), capture_output=True, text=True, check=True, timeout=60).stdout


def completed_records(slurm) -> dict[str, dict[str, str]]:
    """Slurm's own record of finished jobs (jobcomp/filetxt: `Key=Value ...` per line), by job id."""
    log = slurm["state"] / "log" / "jobcomp.log"
    records = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        records[fields["JobId"]] = fields
    return records


def submissions(output: str) -> dict[str, str]:
    """Slurm job id -> its log file, from Snakemake's "submitted with SLURM jobid" lines."""
    return dict(SUBMITTED.findall(output))


@pytest.mark.slow
def test_smoke_preset_through_sbatch_equals_a_local_run(slurm, tmp_path):
    cluster = workflow_copy(tmp_path / "cluster")
    started = time.monotonic()
    proc = run_on_slurm(cluster, slurm, *SMOKE)
    cluster_seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]

    # Every job but the local target went through sbatch, and Slurm itself recorded each of them.
    submitted = submissions(proc.stdout + proc.stderr)
    assert len(submitted) == 1 + 6 + 6 + 6 + 1  # prepare, encode, decode, score (not grouped), aggregate
    records = completed_records(slurm)
    for job_id in submitted:
        assert records[job_id]["JobState"] == "COMPLETED", records.get(job_id)
        assert records[job_id]["WorkDir"] == str(cluster)
    listed = slurm_query(slurm, "squeue", "--states=all", "--noheader", "--format=%i %T %k")
    aggregate_id = next(job_id for job_id, log in submitted.items() if "rule_aggregate" in log)
    assert f"{aggregate_id} COMPLETED rule_aggregate" in listed, listed
    shown = slurm_query(slurm, "scontrol", "show", "job", aggregate_id)
    assert "JobState=COMPLETED" in shown and f"WorkDir={cluster}" in shown
    assert len([job_id for job_id, log in submitted.items() if "/rule_score/" in log]) == 6

    # The same encodes run locally give the same bytes (the whole local DAG would only add scoring time).
    table = pd.read_csv(cluster / "reports/smoke/rd.csv")
    assert len(table) == 6 and table["psnr_yuv"].notna().all()
    local = workflow_copy(tmp_path / "local")
    started = time.monotonic()
    done = run_snakemake(local, *table["bitstream"], *SMOKE)
    local_seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    cluster_streams = {path: sha256_file(cluster / path) for path in table["bitstream"]}
    assert cluster_streams == dict(zip(table["bitstream"], table["bitstream_sha256"]))
    assert cluster_streams == {path: sha256_file(local / path) for path in table["bitstream"]}
    # Per-job timings from the encode/decode `benchmark:` files.
    assert len(list(cluster.glob("results/smoke/timings/encode/**/*.tsv"))) == 6
    assert len(list(cluster.glob("results/smoke/timings/decode/**/*.tsv"))) == 6
    print(f"smoke preset: {cluster_seconds:.0f} s through Slurm; its 6 encodes locally: {local_seconds:.0f} s")


# Test-only rules beside the real workflow (the product has no test hooks): one fails on its first
# attempt, one fails until a file appears, one asks for a GPU. The main Snakefile is included so
# that the real profile, config and rules are all in force.
PROBES = """
include: "Snakefile"


rule flaky:
    output: "probe/flaky.txt"
    resources: attempt=lambda wildcards, attempt: attempt, mem_mb=500, runtime=5
    shell: "if [ {resources.attempt} -eq 1 ]; then echo 'first attempt fails' >&2; exit 3; fi; echo {resources.attempt} > {output}"


rule broken:
    output: "probe/broken.txt"
    resources: mem_mb=500, runtime=5
    shell: "test -e probe/fixed || {{ echo 'broken: probe/fixed is missing' >&2; exit 4; }}; touch {output}"


rule gpu_probe:
    output: "probe/gpu.txt"
    resources: gpu=1, cpus_per_gpu=1, mem_mb=500, runtime=5
    shell: "env | grep -E '^(SLURM_JOB_ID|SLURM_STEP_GPUS|SLURM_JOB_GPUS|CUDA_VISIBLE_DEVICES)=' | sort > {output}"
"""
TARGETS = ["probe/flaky.txt", "probe/broken.txt", "probe/gpu.txt"]


@pytest.mark.slow
def test_failures_are_retried_reported_and_resumed(slurm, tmp_path):
    workdir = workflow_copy(tmp_path / "probes")
    (workdir / "Probes.smk").write_text(PROBES)
    retries = yaml.safe_load((REPO / "slurm/config.yaml").read_text())["retries"]
    assert retries >= 1

    failed = run_on_slurm(workdir, slurm, "--snakefile", "Probes.smk", *TARGETS, timeout=600)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    submitted = submissions(output)
    records = completed_records(slurm)
    by_rule = {rule: [job_id for job_id, log in submitted.items() if f"/rule_{rule}/" in log] for rule in ("flaky", "broken", "gpu_probe")}

    # flaky: failed once under Slurm, resubmitted, then done (the run's retry counter reached the job).
    assert [records[j]["JobState"] for j in by_rule["flaky"]] == ["FAILED", "COMPLETED"]
    assert (workdir / "probe/flaky.txt").read_text().strip() == "2"
    # broken: every attempt went through sbatch, then the error names the Slurm log, which is kept.
    assert len(by_rule["broken"]) == retries + 1
    assert all(records[j]["JobState"] == "FAILED" for j in by_rule["broken"])
    last_log = Path(submitted[by_rule["broken"][-1]])
    assert re.search(rf"Error in rule broken:.*{re.escape(str(last_log))}", output, re.S)
    assert "broken: probe/fixed is missing" in last_log.read_text()
    assert last_log.is_relative_to(workdir / "logs/slurm")
    # gpu_probe: Slurm allocated the GPU that the rule's `gpu: 1` asked for.
    (gpu_job,) = by_rule["gpu_probe"]
    shown = slurm_query(slurm, "scontrol", "show", "job", gpu_job)
    assert "TresPerJob=gres:gpu:1" in shown and "CpusPerTres=gres:gpu:1" in shown, shown
    step_env = (workdir / "probe/gpu.txt").read_text().split()
    assert {f"SLURM_JOB_ID={gpu_job}", "SLURM_STEP_GPUS=0", "CUDA_VISIBLE_DEVICES=0"} <= set(step_env), step_env

    # A rerun after the failure redoes only what failed.
    kept = {p: p.stat().st_mtime_ns for p in (workdir / "probe/flaky.txt", workdir / "probe/gpu.txt")}
    (workdir / "probe/fixed").touch()
    resumed = run_on_slurm(workdir, slurm, "--snakefile", "Probes.smk", *TARGETS, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rerun_logs = list(submissions(resumed.stdout + resumed.stderr).values())
    assert len(rerun_logs) == 1 and "/rule_broken/" in rerun_logs[0]
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert (workdir / "probe/broken.txt").is_file()


DIVINR_OVERLAY = {
    "codecs": {"divinr": {"codec": "divinr", "ladder": [{"label": "r1"}]}},
    "presets": {"smoke": {"codecs": ["x265", "divinr"]}},
}


@pytest.mark.slow
def test_dry_run_asks_for_gpus_on_neural_rules_only(slurm, tmp_path):
    workdir = workflow_copy(tmp_path / "dry")
    (workdir / "divinr.yaml").write_text(yaml.safe_dump(DIVINR_OVERLAY))
    proc = run_on_slurm(workdir, slurm, "-n", "--configfile", "divinr.yaml", "--config", "preset=smoke", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Using profiles slurm and workflow specific profile profiles/default" in proc.stderr
    blocks = re.findall(r"rule (\w+):\n(.*?)resources: ([^\n]*)", proc.stdout + proc.stderr, re.S)
    gpu_of = {}
    for rule, body, resources in blocks:
        codec = re.search(r"codec=(\w+)", body)
        gpus = re.search(r"\bgpu=(\d+)", resources)
        gpu_of.setdefault((rule, codec.group(1) if codec else None), set()).add(int(gpus.group(1)) if gpus else 0)
        assert "gres=" not in resources
    assert gpu_of[("encode_divinr", "divinr")] == {1}
    assert gpu_of[("decode_kept", "divinr")] == {1}
    assert gpu_of[("analysis_denoising", "divinr")] == {1}
    # The overlay's codec needs the embedded backbone, which is committed: a fresh clone trains nothing.
    assert ("train_prior", None) not in gpu_of
    assert gpu_of[("backbone_check", None)] == {1}  # the backbone's VAE round trip, for the report
    others = {key: value for key, value in gpu_of.items() if key[1] != "divinr" and key[0] not in ("train_prior", "backbone_check")}
    assert {"encode_x265", "decode", "score", "prepare_sequence", "aggregate"} <= {rule for rule, _ in others}
    assert all(value == {0} for value in others.values()), others


def test_conda_envs_pin_exactly_what_pyproject_pins():
    pins = dict(dep.split("==") for dep in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    orchestration = {"snakemake", "snakemake-executor-plugin-slurm", "dvc"}  # run on the submitting node, not in jobs
    envs = {}
    for name in ("torch", "ffmpeg"):
        spec = yaml.safe_load((REPO / f"envs/{name}.yaml").read_text())
        assert "python=3.11" in spec["dependencies"]
        pip = next(item["pip"] for item in spec["dependencies"] if isinstance(item, dict))
        envs[name] = dict(dep.split("==") for dep in pip)
        assert all(pins[package] == version for package, version in envs[name].items()), name
        assert (REPO / f"envs/{name}.post-deploy.sh").is_file()
    assert set(envs["torch"]) == set(pins) - orchestration
    assert "torch" not in envs["ffmpeg"] and "imageio-ffmpeg" in envs["ffmpeg"]


def test_local_profile_throttles_gpus_per_machine_only():
    local = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    cluster = yaml.safe_load((REPO / "slurm/config.yaml").read_text())
    assert local["rerun-incomplete"] is True and local["show-failed-logs"] is True
    assert "executor" not in local and cluster["executor"] == "slurm"
    assert "resources" not in local and "gpu=local" in local["set-resource-scopes"]  # the limit: common.smk
    assert "gres" not in cluster["default-resources"] and "cpus_per_gpu" not in cluster["default-resources"]
    # grouped jobs run one after another in an allocation sized for all of them (the plugin's issue #469)
    assert "group-components" not in cluster and "groups" not in cluster
    assert cluster["slurm-efficiency-report"] is True
    assert cluster["cores"] >= 64  # the cap on one job's threads: never the submitting node's core count


# The paper preset's rules at a small size: one sequence per dataset, two rate points, every codec
# (the same rules as the whole preset, a fraction of its jobs).
PAPER_SMALL = {"presets": {"paper": {"sequences": 1, "rate_points": 2}}}
NEURAL_CODECS = {"divinr", "givic", "diffvc"}


def dry_run_jobs(workdir: Path, env: dict[str, str] | None = None) -> list[dict]:
    """`snakemake -n --profile slurm --config preset=paper` (the profile's own --cores): each job's rule,
    wildcards, threads and resources."""
    (workdir / "small.yaml").write_text(yaml.safe_dump(PAPER_SMALL))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--profile", "slurm", "--configfile", "small.yaml",
                           "--config", "preset=paper"], cwd=workdir, env=snakemake_env(env), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = []
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", proc.stdout + proc.stderr, re.M):
        fields = dict(re.findall(r"^    (\w+): (.*)$", body, re.M))
        resources = dict(item.split("=", 1) for item in fields.get("resources", "").split(", ") if "=" in item)
        wildcards = dict(item.split("=", 1) for item in fields.get("wildcards", "").split(", ") if "=" in item)
        jobs.append({"rule": rule, "threads": int(fields.get("threads", 1)), "resources": resources, "wildcards": wildcards})
    return jobs


def local_rules(config: dict) -> set[str]:
    """Rules that run on the submitting node (`localrule: True`; the dry run prints them as any other): the rule
    files' own, and the analysis stages declared local (one rule per stage: workflow/rules/analysis.smk)."""
    found = set()
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n((?:[ #].*\n|\n)+?)(?=^\S)", smk.read_text() + "\nend", re.M):
            if "    localrule: True" in body:
                found.add(name)
    for codec in {entry["codec"] for entry in config["codecs"].values()}:
        found |= {analysis.rule(stage) for analysis in declared_analyses(codec) for stage in analysis.stages if stage.local}
    return found


@pytest.mark.slow
def test_paper_preset_jobs_ask_for_what_they_use(tmp_path):
    """Without the learned metrics' weights (as a fresh clone): every submitted rule states its memory in the
    profile, only the rules that run a network ask for a GPU, and CPU jobs' threads are what their pools use."""
    jobs = dry_run_jobs(workflow_copy(tmp_path / "dry"))
    cluster = yaml.safe_load((REPO / "slurm/config.yaml").read_text())
    config = load_config(REPO / "config/config.yaml", REPO / "workflow/schemas/config.schema.yaml")
    local = local_rules(config)
    assert {"aggregate", "report", "analysis_context_length"} & local == {"report", "analysis_context_length"}
    neural = {key for key, entry in config["codecs"].items() if entry["codec"] in NEURAL_CODECS}
    planned = {job["wildcards"]["codec"] for job in jobs if job["rule"].startswith("encode_")}
    assert {config["codecs"][key]["codec"] for key in planned & neural} == NEURAL_CODECS  # the three neural codecs are planned
    for job in jobs:
        if job["rule"] in local or job["rule"] == "all":
            continue
        assert "mem_mb" in cluster["set-resources"].get(job["rule"], {}), f"{job['rule']} states no memory in slurm/config.yaml"
        assert "cpus_per_gpu" not in job["resources"] and "cpus_per_task" not in job["resources"]  # the threads decide
        codec = job["wildcards"].get("codec", "")
        # a neural codec's jobs run its network, but for scoring and tables made from scores
        network = (codec in neural and job["rule"] not in ("score", "analysis_propagation")
                   or job["rule"] in ("backbone_check", "train_prior", "train_diffvc", "train_diffvc_backbone"))
        assert int(job["resources"].get("gpu", 0)) == int(network), job
        if job["rule"] in ("score", "decode", "decode_kept") or job["rule"].startswith("encode_"):
            # the threads its pools use: a neural codec's configured `threads` (torch's), else the pools' 4
            pinned = config["codecs"][codec]["options"].get("threads") if codec in neural else None
            assert job["threads"] == (pinned or 4), job
    assert int(next(job for job in jobs if job["rule"] == "decode" and job["wildcards"]["codec"] == "x265")["resources"]["mem_mb"]) < 1000


@pytest.mark.slow
def test_learned_metrics_score_on_a_gpu(tmp_path):
    """With LPIPS' and DISTS' trunk weights present, the score jobs run networks and ask for a GPU."""
    checkpoints = tmp_path / "assets" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    registry = yaml.safe_load((REPO / "src/vcbench/assets/registry.yaml").read_text())["assets"]
    for asset in registry:
        if asset["name"] in ("torchvision-alexnet", "torchvision-vgg16"):
            with (checkpoints / asset["file"]).open("wb") as sparse:  # the plan checks sizes; the jobs hash (none runs here)
                sparse.truncate(asset["size"])
    jobs = dry_run_jobs(workflow_copy(tmp_path / "dry"), {"VCBENCH_ASSETS_DIR": str(tmp_path / "assets")})
    scores = [job for job in jobs if job["rule"] == "score"]
    assert scores and all(job["resources"]["gpu"] == "1" and job["threads"] == 4 for job in scores)
