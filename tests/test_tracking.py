"""MLflow tracking against a real `mlflow server` on 127.0.0.1, and the git/data provenance helpers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from servers import MlflowServer
from test_report import SEQUENCES, build_report, build_results_tree, vcbench
from vcbench.tracking.mlflow_runs import rd_fingerprint, resolve_tracking_uri
from vcbench.tracking.provenance import data_version, git_state


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


@pytest.mark.slow
def test_runs_are_logged_read_back_and_not_duplicated(mlflow_server: MlflowServer, tmp_path: Path):
    root = tmp_path / "repo"
    build_results_tree(root)
    report_dir = build_report(root)  # bd.csv, plots, provenance: no server needed yet
    mlflow_server = mlflow_server.wait_ready()
    env = {"MLFLOW_TRACKING_URI": mlflow_server}
    # The remaining rules in DAG order: runs, the report with their links, then the artifacts.
    vcbench("track", "--preset", "smoke", "--stage", "runs", "--experiment", "vcbench-test", cwd=root, env=env)
    vcbench("report", "--preset", "smoke", "--anchor", "x265", "--method", "pchip", cwd=root)
    vcbench("track", "--preset", "smoke", "--stage", "artifacts", cwd=root, env=env)

    client = MlflowClient(tracking_uri=mlflow_server)
    runs = _runs(client, "vcbench-test")
    parents = [r for r in runs if r.data.tags.get("vcbench.role") == "parent"]
    children = [r for r in runs if r.data.tags.get("vcbench.role") == "child"]
    assert len(parents) == 1 and len(children) == 2 * 3 * len(SEQUENCES) and len(runs) == 1 + len(children)
    parent = parents[0]
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["bd_rate_pct/demo/svtav1_vs_x265/psnr_yuv"] < 0

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
    assert tags["version.ffmpeg"] == "7.1-static" and tags["vcbench.data_version"] == "untracked"
    assert tags["vcbench.git_dirty"] == "true" and "vcbench.git_commit" in tags

    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"rd.csv", "bd.csv", "provenance.json", "index.html", "report.md", "plots"} <= artifacts
    assert any(a.path.endswith(".svg") for a in client.list_artifacts(parent.info.run_id, "plots"))

    html = (report_dir / "index.html").read_text()
    assert f"{mlflow_server}/#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}" in html
    assert child.info.run_id in html and child.info.run_id in (report_dir / "report.md").read_text()

    # Aggregating again: same inputs, same runs.
    before = json.loads((report_dir / "mlflow.json").read_text())
    vcbench("track", "--preset", "smoke", "--stage", "runs", "--experiment", "vcbench-test", cwd=root, env=env)
    vcbench("track", "--preset", "smoke", "--stage", "artifacts", cwd=root, env=env)
    after = json.loads((report_dir / "mlflow.json").read_text())
    assert len(_runs(client, "vcbench-test")) == len(runs)
    assert after["parent_run_id"] == before["parent_run_id"] and after["children"] == before["children"]

    # Another BD method on the same RD points updates the parent's BD metrics, still without new runs.
    vcbench("bd-table", "--preset", "smoke", "--anchor", "x265", "--method", "akima", "--metrics", "psnr_yuv", cwd=root)
    vcbench("track", "--preset", "smoke", "--stage", "runs", "--experiment", "vcbench-test", cwd=root, env=env)
    assert len(_runs(client, "vcbench-test")) == len(runs)
    bd = pd.read_csv(report_dir / "bd.csv")
    akima = bd[(bd["sequence"] == "mean") & (bd["metric"] == "psnr_yuv")].iloc[0]
    assert akima["method"] == "akima"
    latest = client.get_run(parent.info.run_id).data.metrics["bd_rate_pct/demo/svtav1_vs_x265/psnr_yuv"]
    assert latest == pytest.approx(akima["bd_rate_pct"], abs=1e-9)


def test_default_tracking_uri_is_sqlite_at_the_repo_root(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(tmp_path, None) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert resolve_tracking_uri(tmp_path, "http://example:5000") == "http://example:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    assert resolve_tracking_uri(tmp_path, "http://example:5000") == "http://127.0.0.1:1"


def test_git_state_sees_commits_and_dirty_trees(tmp_path: Path):
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    assert git_state(tmp_path).dirty  # not a repository: never claims to be clean
    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    (tmp_path / "a.txt").write_text("one\n")
    git("add", "a.txt")
    git("commit", "-q", "-m", "one")
    clean = git_state(tmp_path)
    assert not clean.dirty and len(clean.commit) == 40 and clean.warning == ""
    (tmp_path / "a.txt").write_text("two\n")
    dirty = git_state(tmp_path)
    assert dirty.dirty and dirty.commit == clean.commit and "dirty working tree" in dirty.warning


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
