"""MLflow tracking against a real `mlflow server` on 127.0.0.1, the git/data provenance helpers, and
the provenance every encode, decode and score job records (its commit, its source's sha256)."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import vcbench as vcbench_package
from servers import MlflowServer
from test_report import (
    RECORD_OPTIONS,
    SEQUENCES,
    _write_fid_csv,
    bd_table_args,
    build_report,
    build_results_tree,
    job_keys,
    record_args,
    report_args,
    report_file,
    vcbench,
)
from vcbench import layout
from vcbench.analysis_record import AnalysisRecord
from vcbench.errors import VcbenchError
from vcbench.io import sha256_file
from vcbench.job_files import JobFiles
from vcbench.tracking import job
from vcbench.tracking.mlflow_runs import _batches, job_span, rd_fingerprint, record_hashes, resolve_tracking_uri
from vcbench.tracking.provenance import build_provenance, data_version, git_state, numbers_warning
from vcbench_cli import vcbench as vcbench_here


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """Started here, waited for in the test (which builds its results tree meanwhile), stopped afterwards."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    try:
        yield server
    finally:
        server.stop()


def _runs(client: MlflowClient, experiment: str) -> list:
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return client.search_runs([experiment_id], max_results=1000)


def track_runs(preset: str = "smoke", *extra: str) -> tuple[str, ...]:
    """The mlflow_runs rule's command: every job's records and frames.csv by key."""
    frames = [arg for key, fields in job_keys(preset).items() for arg in ("--frames", key, layout.fill(layout.FRAMES, **fields))]
    return ("track", "--stage", "runs", "--preset", preset, "--rd", report_file("RD", preset), "--bd", report_file("BD", preset),
            *record_args(preset), *frames, "--experiment", "vcbench-test", "--anchor", "x265", *extra)


# The MLflow rules' commands, with the files the rules pass.
TRACK_RUNS = (*track_runs(), "--out", report_file("MLFLOW_RUNS"))
ANALYSIS = "analysis/demo/bunny/x265/qp47"  # an analysis record's folder in the report's
TRACK_ARTIFACTS = ("track", "--stage", "artifacts", "--runs", report_file("MLFLOW_RUNS"),
                   *[arg for name in ("RD", "BD", "PROVENANCE", "HTML", "MARKDOWN", "FID") for arg in ("--artifact", report_file(name))],
                   "--artifact-dir", report_file("PLOTS"), "--analysis", f"reports/smoke/{ANALYSIS}/{layout.ANALYSIS_RECORD}",
                   "--out", report_file("MLFLOW"))

BEGAN = datetime(2026, 12, 6, 15, 0, 0, 250000, tzinfo=UTC)


def with_job_times(root: Path, preset: str = "smoke") -> dict[str, tuple[int, int]]:
    """Give every job of the tree the start (and the score job its finish) a real run records: the encode at
    BEGAN + i minutes, the decode 10 s and the score 20 s later, the score lasting 4 s. Returns each point's span (ms)."""
    spans = {}
    for index, (key, fields) in enumerate(job_keys(preset).items()):
        began = BEGAN + timedelta(minutes=index)
        times = {"ENCODE_RECORD": {"started_utc": began},
                 "DECODE_RECORD": {"started_utc": began + timedelta(seconds=10)},
                 "SUMMARY": {"started_utc": began + timedelta(seconds=20), "finished_utc": began + timedelta(seconds=24)}}
        for template, block in times.items():
            path = root / layout.fill(getattr(layout, template), **fields)
            record = json.loads(path.read_text())
            record["provenance"] = {name: moment.isoformat(timespec="milliseconds") for name, moment in block.items()}
            path.write_text(json.dumps(record))
        spans[key] = (int(began.timestamp() * 1000), int((began + timedelta(seconds=24)).timestamp() * 1000))
    return spans


def write_analysis(report_dir: Path) -> None:
    """An analysis record with one figure and one table, as an analysis job leaves it."""
    folder = report_dir / ANALYSIS
    folder.mkdir(parents=True)
    matplotlib.image.imsave(folder / "steps.png", np.zeros((4, 4)))
    (folder / "steps.csv").write_text("step,psnr\n1,30.0\n")
    AnalysisRecord.of("Toy analysis", {"kind": "toy", "codec": "x265", "dataset": "demo", "sequence": "bunny",
                                       "title": "qp47", "note": "a figure and a table", "figures": ["steps.png"],
                                       "tables": [{"caption": "by step", "csv": "steps.csv"}]}).write(folder)


@pytest.mark.slow
def test_runs_are_logged_read_back_and_not_duplicated(mlflow_server: MlflowServer, tmp_path: Path):
    root = tmp_path / "repo"
    build_results_tree(root)
    spans = with_job_times(root)
    report_dir = build_report(root)  # bd.csv, plots, provenance: no server needed yet
    _write_fid_csv(report_dir, lambda codec, index: 40.0 - index)
    write_analysis(report_dir)
    mlflow_server = mlflow_server.wait_ready()
    env = {"MLFLOW_TRACKING_URI": mlflow_server}
    # The remaining rules in DAG order: runs, the report with their links, then the artifacts.
    vcbench(*TRACK_RUNS, cwd=root, env=env)
    vcbench(*report_args("smoke", "--method", "pchip", "--runs", report_file("MLFLOW_RUNS")), cwd=root)
    vcbench(*TRACK_ARTIFACTS, cwd=root, env=env)

    client = MlflowClient(tracking_uri=mlflow_server)
    runs = _runs(client, "vcbench-test")
    parents = [r for r in runs if r.data.tags.get("vcbench.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("vcbench.role") == "child"]
    assert len(parents) == 1 and len(children) == 2 * 3 * len(SEQUENCES) and len(runs) == 1 + len(children)
    parent = parents[0]
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["bd_rate_pct/demo/svtav1_vs_x265/psnr_yuv"] < 0
    # what the parent stands for, as params: the anchor, the BD settings, frames, datasets, codecs, ladders, config hash
    params = parent.data.params
    assert params["anchor"] == "x265" and params["bd_method"] == "pchip" and params["codecs"] == "svtav1, x265"
    assert params["frames"] == "8" and params["datasets"] == f"demo: {', '.join(sorted(SEQUENCES))}"
    assert params["ladder.x265"].count("qp") == 3 and params["config_hash"] == "c0ffee1234567890"
    # per-sequence BD values too
    assert any(name.startswith(f"bd_rate_pct/demo/{sorted(SEQUENCES)[0]}/svtav1_vs_x265/") for name in parent.data.metrics)

    child = next(c for c in children if c.data.tags["vcbench.key"] == "demo/bunny/x265/qp47")
    assert child.data.params["codec"] == "x265" and child.data.params["rate.qp"] == "47"
    assert child.data.params["sequence"] == "bunny" and child.data.params["frames"] == "8"
    assert child.data.params["width"] == "128" and child.data.params["height"] == "96"
    assert child.data.params["option.gop"] == "32" and "-qp 47" in child.data.tags["encode_command"]
    for metric in ("bpp", "psnr_yuv", "ms_ssim", "vmaf", "lpips", "dists", "encode_seconds", "decode_seconds"):
        assert metric in child.data.metrics, metric
    rd_row = json.loads((report_dir / "provenance.json").read_text())["rd_points"]
    point = next(p for p in rd_row if p["id"] == "demo/bunny/x265/qp47")
    assert child.data.metrics["bpp"] == pytest.approx(point["values"]["bpp"])
    tags = child.data.tags
    assert tags["bitstream_sha256"] == point["bitstream_sha256"] and tags["config_hash"] == "c0ffee1234567890"
    rd = pd.read_csv(report_dir / "rd.csv").set_index(["sequence", "codec", "rate"])
    assert tags["source_sha256"] == rd.loc[("bunny", "x265", "qp47"), "source_sha256"]
    # the jobs' own times (encode start to score finish), not when tracking ran
    assert (child.info.start_time, child.info.end_time) == spans["demo/bunny/x265/qp47"]
    # frames.csv as steps: one value per frame, the frame's index its step
    frames = pd.read_csv(report_dir.parent.parent / layout.fill(layout.FRAMES, **job_keys()["demo/bunny/x265/qp47"]))
    history = sorted(client.get_metric_history(child.info.run_id, "frame/psnr_yuv"), key=lambda m: m.step)
    assert [m.step for m in history] == list(range(8))
    assert [m.value for m in history] == pytest.approx(frames["psnr_yuv"].tolist())
    assert tags["version.ffmpeg"] == "7.1-static" and tags["vcbench.data_version"] == "untracked"
    assert tags["vcbench.git_dirty"] == "none" and tags["vcbench.git_commit"].startswith("none: ")  # the tmp tree: no git checkout

    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"rd.csv", "bd.csv", "fid.csv", "provenance.json", "index.html", "report.md", "plots", "analysis"} <= artifacts
    assert any(a.path.endswith(".svg") for a in client.list_artifacts(parent.info.run_id, "plots"))
    analysis = {a.path for a in client.list_artifacts(parent.info.run_id, ANALYSIS)}
    assert analysis == {f"{ANALYSIS}/{name}" for name in (layout.ANALYSIS_RECORD, "steps.png", "steps.csv")}

    html = (report_dir / "index.html").read_text()
    assert f"{mlflow_server}/#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}" in html
    assert child.info.run_id in html and child.info.run_id in (report_dir / "report.md").read_text()

    # Aggregating again: same inputs, same runs.
    before = json.loads((report_dir / "mlflow.json").read_text())
    vcbench(*TRACK_RUNS, cwd=root, env=env)
    vcbench(*TRACK_ARTIFACTS, cwd=root, env=env)
    after = json.loads((report_dir / "mlflow.json").read_text())
    assert len(_runs(client, "vcbench-test")) == len(runs)
    assert after["parent_run_id"] == before["parent_run_id"] and after["children"] == before["children"]
    assert len(client.get_metric_history(child.info.run_id, "frame/psnr_yuv")) == 8

    # Another BD method on the same RD points is another report: a new parent (a run's params never change) whose
    # params name the method, with its own children; tracking it again adds nothing.
    vcbench(*bd_table_args("smoke", "--method", "akima", "--metrics", "psnr_yuv"), cwd=root)
    vcbench(*TRACK_RUNS, cwd=root, env=env)
    vcbench(*TRACK_RUNS, cwd=root, env=env)
    assert len(_runs(client, "vcbench-test")) == 2 * len(runs)
    akima_parent = json.loads((report_dir / "mlflow_runs.json").read_text())["parent_run_id"]
    assert akima_parent != parent.info.run_id and client.get_run(akima_parent).data.params["bd_method"] == "akima"
    bd = pd.read_csv(report_dir / "bd.csv")
    akima = bd[(bd["sequence"] == "mean") & (bd["metric"] == "psnr_yuv") & (bd["interval"] == "overlap")].iloc[0]
    latest = client.get_run(akima_parent).data.metrics["bd_rate_pct/demo/svtav1_vs_x265/psnr_yuv"]
    assert latest == pytest.approx(akima["bd_rate_pct"], abs=1e-9)


@pytest.mark.slow
def test_runs_of_two_presets_compare_through_search_runs(tmp_path: Path, monkeypatch):
    """The question MLflow is for: how did the same codec do in two runs? One store, two presets (the second codes one
    sequence less and leaves out SVT-AV1's lowest rate), compared with one query each."""
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "repo"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for preset in ("smoke", "demo"):
        build_results_tree(root, preset)
        if preset == "demo":
            rd = root / report_file("RD", preset)
            table = pd.read_csv(rd, dtype={"rate": str})
            table[(table["sequence"] == "bunny") & ~((table["codec"] == "svtav1") & (table["rate"] == "qp63"))].to_csv(rd, index=False)
        monkeypatch.chdir(root)  # the rules' relative paths; in this process: no interpreter to start per command
        for args in (bd_table_args(preset, "--method", "pchip", "--metrics", "psnr_yuv"),
                     (*track_runs(preset, "--tracking-uri", uri), "--out", str(tmp_path / f"{preset}.json"))):
            result = vcbench_here(*args)
            assert result.code == 0, result.stderr
    record = json.loads((tmp_path / "smoke.json").read_text())
    assert record["parent_link"] is None and set(record["links"].values()) == {None}  # a local store has no address
    mlflow.set_tracking_uri(uri)
    parents = mlflow.search_runs(experiment_names=["vcbench-test"], filter_string="tags.`vcbench.role` = 'parent'",
                                 order_by=["params.preset"])
    assert parents["params.preset"].tolist() == ["demo", "smoke"]
    assert (parents["params.anchor"] == "x265").all() and (parents["params.bd_method"] == "pchip").all()
    assert parents["params.datasets"].tolist() == ["demo: bunny", "demo: bikes, bunny"]
    assert parents["params.ladder.svtav1"].str.count("qp").tolist() == [2, 3]
    assert parents["params.rd_points"].astype(int).tolist() == [5, 12]
    assert parents["metrics.bd_rate_pct/demo/bunny/svtav1_vs_x265/psnr_yuv"].notna().all()  # the sequence's BD in both
    # one RD point in both presets: the same bitstream, so the same numbers and hashes, side by side
    point = mlflow.search_runs(experiment_names=["vcbench-test"],
                               filter_string="params.codec = 'svtav1' and params.sequence = 'bunny' and params.rate = 'qp58'")
    assert sorted(point["tags.vcbench.preset"]) == ["demo", "smoke"]
    assert point["metrics.psnr_yuv"].nunique() == 1 and point["tags.bitstream_sha256"].nunique() == 1
    assert point["metrics.frame/psnr_yuv"].notna().all()  # its per-frame values (the last frame's, as search shows a metric)
    children = mlflow.search_runs(experiment_names=["vcbench-test"], filter_string="params.codec = 'x265'")
    assert children.groupby("tags.vcbench.preset").size().to_dict() == {"demo": 3, "smoke": 3 * len(SEQUENCES)}


def test_a_child_run_spans_its_jobs_as_their_records_state():
    began = "2026-12-06T15:00:00.250+00:00"
    encode = {"provenance": {"started_utc": began}, "encode_seconds": 2.5}
    decode = {"provenance": {"started_utc": "2026-12-06T15:00:05.000+00:00"}, "decode_seconds": 0.5}
    summary = {"provenance": {"started_utc": "2026-12-06T15:00:06.000+00:00", "finished_utc": "2026-12-06T15:00:09.000+00:00"}}
    assert job_span(encode, decode, summary) == (1796569200250, 1796569209000)  # encode start to score finish
    assert job_span(encode, {}, {}) == (1796569200250, 1796569202750)  # records without the later jobs' times
    assert job_span({"provenance": {}}, decode, summary) == (None, None)  # a record from before jobs recorded their start


def test_every_hash_the_records_hold_is_kept():
    encode = {"bitstream_sha256": "b" * 64, "backbone_hash": "c" * 16, "model_hash": "", "provenance": {"source_sha256": "a" * 64}}
    decode = {"bitstream_sha256": "b" * 64, "backbone_hash": "c" * 16, "reconstruction_sha256": "d" * 64}
    assert record_hashes(encode, decode) == {"bitstream_sha256": "b" * 64, "backbone_hash": "c" * 16, "source_sha256": "a" * 64,
                                             "reconstruction_sha256": "d" * 64}


def test_batches_keep_to_mlflows_limits():
    from mlflow.utils.validation import MAX_ENTITIES_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH

    metrics, params, tags = list(range(2500)), list(range(130)), list(range(20))
    pieces = list(_batches(metrics, params, tags))
    assert all(len(p) <= MAX_PARAMS_TAGS_PER_BATCH and len(t) <= MAX_PARAMS_TAGS_PER_BATCH
               and len(m) + len(p) + len(t) <= MAX_ENTITIES_PER_BATCH for m, p, t in pieces)
    assert [x for m, _, _ in pieces for x in m] == metrics and [x for _, p, _ in pieces for x in p] == params
    assert [x for _, _, t in pieces for x in t] == tags and len(pieces) == 3


def test_default_tracking_uri_is_sqlite_at_the_repo_root(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(tmp_path, None) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert resolve_tracking_uri(tmp_path, "http://example:5000") == "http://example:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    assert resolve_tracking_uri(tmp_path, "http://example:5000") == "http://127.0.0.1:1"


def git_repo(path: Path) -> callable:
    """A fresh git repository at ``path``; returns its `git` runner."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, text=True).stdout.strip()

    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    return git


def test_git_state_sees_commits_and_dirty_trees(tmp_path: Path):
    outside = git_state(tmp_path)  # not a repository: no commit, and never claims to be clean
    assert outside.commit is None and outside.dirty is None and "not a git checkout" in outside.note
    git = git_repo(tmp_path)
    unborn = git_state(tmp_path)
    assert unborn.commit is None and unborn.dirty and "without commits" in unborn.note
    (tmp_path / "a.txt").write_text("one\n")
    git("add", "a.txt")
    git("commit", "-q", "-m", "one")
    clean = git_state(tmp_path)
    assert clean.dirty is False and clean.commit == git("rev-parse", "HEAD") and clean.note == ""
    (tmp_path / "untracked.txt").write_text("results are not code\n")
    assert git_state(tmp_path).dirty is False
    (tmp_path / "a.txt").write_text("two\n")
    dirty = git_state(tmp_path)
    assert dirty.dirty and dirty.commit == clean.commit


@pytest.fixture
def vcbench_at(monkeypatch):
    """Pretend the running vcbench was imported from another folder (code_state is cached per process)."""
    def place(package: Path) -> None:
        monkeypatch.setattr(vcbench_package, "__file__", str(package / "__init__.py"))
        job.code_state.cache_clear()

    yield place
    job.code_state.cache_clear()


def test_job_provenance_names_the_checkout_the_code_runs_from(vcbench_at, tmp_path: Path):
    repo = tmp_path / "checkout"
    git = git_repo(repo)
    package = repo / "src" / "vcbench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    git("add", ".")
    git("commit", "-q", "-m", "code")
    vcbench_at(package)
    block = job.job_provenance(None)
    assert block["commit"] == git("rev-parse", "HEAD") and block["dirty"] is False and "commit_note" not in block
    assert set(block["versions"]) == {"vcbench", "python"} and "source_sha256" not in block
    (package / "__init__.py").write_text("# edited\n")
    assert job.job_provenance(None)["dirty"] is False  # cached: one set of git calls per process
    job.code_state.cache_clear()
    assert job.job_provenance(None)["dirty"] is True


def test_an_installed_package_records_no_commit_and_says_why(vcbench_at, tmp_path: Path):
    # installed into an ignored .venv inside someone's repository: that repository's commit is not its code's
    repo = tmp_path / "project"
    git = git_repo(repo)
    (repo / ".gitignore").write_text(".venv/\n")
    git("add", ".gitignore")
    git("commit", "-q", "-m", "project")
    package = repo / ".venv" / "lib" / "site-packages" / "vcbench"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    vcbench_at(package)
    block = job.job_provenance(None)
    assert block["commit"] is None and block["dirty"] is None
    assert "no git checkout tracks" in block["commit_note"] and str(package) in block["commit_note"]
    vcbench_at(tmp_path / "elsewhere" / "vcbench")  # no repository at all
    assert job.job_provenance(None)["commit"] is None


def test_source_sha256_is_the_records_and_hashed_only_without_one(make_y4m):
    source = make_y4m(64, 48, 2, name="seq.y4m")
    assert job.source_sha256(source) == (sha256_file(source), {"source_sha256_from": "hashed"})
    record = source.with_suffix(".json")
    record.write_text(json.dumps({"sha256": "ab" * 32, "frames": 2}))
    assert job.source_sha256(source) == ("ab" * 32, {"source_sha256_from": "record", "source_record": str(record)})
    block = job.job_provenance(source)
    assert block["source_sha256"] == "ab" * 32 and block["source_sha256_from"] == "record"
    record.write_text(json.dumps({"frames": 2}))
    with pytest.raises(VcbenchError, match=r"seq\.json: no sha256 of seq\.y4m"):
        job.source_sha256(source)


def test_score_refuses_a_reconstruction_of_another_source_version(make_y4m, tmp_path: Path):
    """Real x265 encode and decode; then the dataset record names a new version of the source."""
    source = make_y4m(64, 48, 3, name="seq.y4m")
    record = source.with_suffix(".json")
    record.write_text(json.dumps({"sha256": sha256_file(source)}))
    bitstream, rec = tmp_path / "qp40.hevc", tmp_path / "qp40.rec.y4m"
    assert vcbench_here("encode", source, bitstream, "--codec", "x265", "-p", "qp=40").code == 0
    assert vcbench_here("decode", bitstream, rec, "--like", source, "--record", tmp_path / "qp40.decode.json").code == 0
    encode_record = json.loads((tmp_path / "qp40.encode.json").read_text())
    decode_record = json.loads((tmp_path / "qp40.decode.json").read_text())
    assert "source_sha256" not in encode_record  # one place: the provenance block
    for block in (encode_record["provenance"], decode_record["provenance"]):
        assert block["source_sha256"] == sha256_file(source) and block["source_record"] == str(record)
        assert block["commit"] == job.code_state().commit and block["versions"]["vcbench"]
    outputs = {"--frames-csv": tmp_path / "frames.csv", "--summary": tmp_path / "summary.json", "--preview": tmp_path / "p.png"}
    args = ["score", source, rec, "--metrics", "psnr", "--encode-record", tmp_path / "qp40.encode.json",
            "--decode-record", tmp_path / "qp40.decode.json", *[a for pair in outputs.items() for a in pair], "--quiet"]

    record.write_text(json.dumps({"sha256": "cd" * 32}))  # a new data version's record
    refused = vcbench_here(*args)
    assert refused.code == 2
    assert refused.error.startswith(f"vcbench: error: {tmp_path / 'qp40.encode.json'}: coded from source sha256 ")
    assert "cdcdcdcd" in refused.error and "encode it again" in refused.error
    assert not any(path.exists() for path in outputs.values())  # nothing written

    record.write_text(json.dumps({"sha256": sha256_file(source)}))
    assert vcbench_here(*args).code == 0
    summary = json.loads(outputs["--summary"].read_text())
    assert summary["source_sha256"] == sha256_file(source) and summary["provenance"]["source_sha256_from"] == "record"


def _with_provenance(root: Path, commit_of) -> None:
    """Give every RD point of the synthetic tree the records a real run writes, each naming ``commit_of(job, row)``."""
    rd = pd.read_csv(root / "reports" / "smoke" / "rd.csv")
    for _, row in rd.iterrows():
        stem = root / Path(row["bitstream"]).with_suffix("")
        for kind, job_name in (("encode", "encode"), ("decode", "decode"), ("summary", "score")):
            path = stem.with_name(f"{stem.name}.{kind}.json")
            data = json.loads(path.read_text()) if path.is_file() else {}
            data["provenance"] = {"commit": commit_of(job_name, row), "dirty": False}
            path.write_text(json.dumps(data))


def declared_records(root: Path) -> dict[str, JobFiles]:
    """Every job's records of the synthetic tree, as the provenance rule passes them."""
    options = {"encode": "--encode-record", "decode": "--decode-record", "score": "--summary"}
    return {name: JobFiles(option, name, {key: root / layout.fill(RECORD_OPTIONS[option], **fields) for key, fields in job_keys().items()})
            for name, option in options.items()}


def test_provenance_names_the_commit_of_every_number_and_flags_several(tmp_path: Path):
    root = tmp_path / "repo"
    build_results_tree(root)
    old, new = "a" * 40, "b" * 40
    _with_provenance(root, lambda job_name, row: new if row["sequence"] == "bikes" and job_name == "score" else old)
    rd = root / "reports" / "smoke" / "rd.csv"
    record = build_provenance(root, "smoke", rd, None, declared_records(root))
    points = {p["id"]: p for p in record["rd_points"]}
    assert points["demo/bunny/x265/qp47"]["commit"] == old and points["demo/bunny/x265/qp47"]["dirty"] is False
    bikes = points["demo/bikes/x265/qp47"]
    assert bikes["commit"] is None and bikes["jobs"]["score"]["commit"] == new and bikes["jobs"]["encode"]["commit"] == old
    assert record["commits"] == {old: 12, new: 6} and record["mixed_commits"]
    assert record["warning"].startswith("WARNING: the RD points come from 2 commits (aaaaaaaaaaaa: 12 points, bbbbbbbbbbbb: 6 points)")

    _with_provenance(root, lambda job_name, row: old)
    same = build_provenance(root, "smoke", rd, None, declared_records(root))
    assert same["commits"] == {old: 12} and not same["mixed_commits"]
    assert "commits (" not in same["warning"]  # what is left is the report's own tree (this checkout's state)


def test_provenance_reads_only_the_records_it_is_given_and_names_a_missing_one(tmp_path: Path):
    root = tmp_path / "repo"
    build_results_tree(root)
    rd = root / "reports" / "smoke" / "rd.csv"
    records = declared_records(root)
    left_out = dict(records["decode"].files)
    del left_out["demo/bikes/svtav1/qp58"]
    with pytest.raises(VcbenchError, match=r"^no --decode-record file given for demo/bikes/svtav1/qp58 \(a point of rd.csv\)"):
        build_provenance(root, "smoke", rd, None, {**records, "decode": JobFiles("--decode-record", "decode", left_out)})
    gone = records["score"].files["demo/bunny/x265/qp43"]
    gone.unlink()
    with pytest.raises(VcbenchError, match=rf"^{gone}: no such file \(--summary demo/bunny/x265/qp43\); build it first \(rule score"):
        build_provenance(root, "smoke", rd, None, records)


def test_a_clean_single_commit_report_has_no_warning_and_a_dirty_one_does():
    clean = job.GitState("a" * 40, False)
    assert numbers_warning(Counter({"a" * 40: 12}), 0, 0, clean) == ""
    assert "3 RD point(s) were made from a dirty working tree" in numbers_warning(Counter({"a" * 40: 12}), 3, 0, clean)
    assert "2 RD point(s) have jobs that recorded no commit" in numbers_warning(Counter(), 0, 2, clean)
    built_dirty = numbers_warning(Counter({"a" * 40: 12}), 0, 0, job.GitState("a" * 40, True))
    assert "the BD values and the report were built from a dirty working tree" in built_dirty


def test_data_version_reads_data_dvc(tmp_path: Path):
    assert data_version(tmp_path) == "untracked"
    (tmp_path / "data.dvc").write_text("outs:\n- md5: 3f2a1b.dir\n  size: 10\n  nfiles: 2\n  path: data\n")
    assert data_version(tmp_path) == "3f2a1b.dir"


def test_invocation_fingerprint_ignores_row_order_but_not_values(tmp_path: Path):
    rows = pd.DataFrame({"dataset": ["d", "d"], "sequence": ["a", "b"], "codec": ["x265", "x265"], "rate": ["qp51", "qp51"],
                         "bpp": [0.01, 0.02], "not_computed": ["", "lpips: no weights"]})
    rows.to_csv(tmp_path / "one.csv", index=False)
    rows.iloc[::-1].to_csv(tmp_path / "two.csv", index=False)
    rows.assign(bpp=[0.01, 0.021]).to_csv(tmp_path / "three.csv", index=False)
    assert rd_fingerprint(tmp_path / "one.csv") == rd_fingerprint(tmp_path / "two.csv")
    assert rd_fingerprint(tmp_path / "one.csv") != rd_fingerprint(tmp_path / "three.csv")
