"""The smoke preset through real Snakemake: end to end, resumable, and failing cleanly."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from dag import SMOKE_ANCHORS, run_snakemake, snakemake_command, snakemake_env, workflow_copy
from servers import MlflowServer
from vcbench.tracking.job import code_state
from vcbench.verify import select_rows

pytestmark = pytest.mark.slow

NEURAL = ("divinr_quick", "givic_quick", "diffvc_quick")
RD_COLUMNS = ["dataset", "sequence", "codec", "rate", "frames", "width", "height", "bytes", "bpp", "psnr_y", "psnr_yuv",
              "ms_ssim", "vmaf", "vmaf_neg", "encode_seconds", "decode_seconds", "bitstream", "bitstream_sha256"]


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    try:
        yield server.wait_ready()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, mlflow_uri):
    """The smoke preset, end to end, tracked on a real MLflow server."""
    workdir = workflow_copy(tmp_path_factory.mktemp("smoke"))
    started = time.monotonic()
    proc = run_snakemake(workdir, "--config", "preset=smoke", env={"MLFLOW_TRACKING_URI": mlflow_uri})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir, time.monotonic() - started


def smoke_runs(uri: str) -> list:
    client = MlflowClient(uri)
    return client.search_runs([client.get_experiment_by_name("vcbench").experiment_id], max_results=1000)


def test_smoke_writes_a_complete_rd_table(smoke_run):
    workdir, seconds = smoke_run
    table = pd.read_csv(workdir / "reports/smoke/rd.csv")
    assert set(RD_COLUMNS) <= set(table.columns)
    # sequences x rate points of x265, SVT-AV1 and the quick DiV-INR, GIViC and DiffVC
    assert len(table) == 2 * (3 + 3 + 2 + 2 + 2)
    assert set(table["codec"]) == {"x265", "svtav1"} | set(NEURAL)
    assert (table.loc[table["codec"].isin(["givic_quick", "diffvc_quick"]), "bpp"] < 0.05).all()  # their points: below 0.05 bpp
    assert set(table["frames"]) == {8}
    assert table[["psnr_y", "psnr_yuv", "ms_ssim", "vmaf", "vmaf_neg"]].notna().all().all()
    # the weight-free perceptual metrics, which the smoke preset scores, have a value on every row
    perceptual = ["cvvdp", "ssimulacra2", "butteraugli_max", "butteraugli_3norm", "flip", "psnr_hvs", "ciede2000", "cambi"]
    assert table[perceptual].notna().all().all(), table[perceptual]
    for row in table.itertuples():
        size = (workdir / row.bitstream).stat().st_size
        assert row.bytes == size
        assert row.bpp == pytest.approx(8 * size / (row.frames * row.width * row.height), rel=1e-12)
    print(f"smoke preset: {seconds:.0f} s")


def test_smoke_writes_the_report_and_tracks_it_once(smoke_run, mlflow_uri):
    workdir, _ = smoke_run
    report = workdir / "reports/smoke"
    for name in ("bd.csv", "index.html", "report.md", "provenance.json", "mlflow.json"):
        assert (report / name).stat().st_size > 0, name
    bd = pd.read_csv(report / "bd.csv")
    assert set(bd["codec"]) == {"svtav1"} | set(NEURAL) and set(bd["anchor"]) == {"x265"}
    runs = smoke_runs(mlflow_uri)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and len(runs) == 1 + 24
    assert {r.data.params["codec"] for r in runs if r not in parents} == {"x265", "svtav1"} | set(NEURAL)
    again = run_snakemake(workdir, "--config", "preset=smoke", "--forcerun", "aggregate", env={"MLFLOW_TRACKING_URI": mlflow_uri})
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(smoke_runs(mlflow_uri)) == len(runs)


def test_smoke_runs_the_denoising_analysis_into_the_report(smoke_run):
    workdir, _ = smoke_run
    report = workdir / "reports/smoke"
    folders = sorted(p.parent for p in report.glob("analysis/demo/*/divinr_quick/d1/analysis.json"))
    assert [f.parts[-3] for f in folders] == ["bigbuckbunny", "bikes"]  # each sequence's lowest rate point
    for folder in folders:
        per_step, per_count = pd.read_csv(folder / "per_step.csv"), pd.read_csv(folder / "per_step_count.csv")
        assert list(per_step["step"]) == [1, 2] and list(per_count["steps"]) == [1, 2]
        assert per_step[["psnr_yuv", "ms_ssim", "vmaf"]].notna().all().all()
    html = (report / "index.html").read_text()
    markdown = (report / "report.md").read_text()
    assert "DiV-INR denoising analysis" in html and markdown.count("/divinr_quick/d1/denoising.png)") == 2
    assert "analysis/demo/bikes/divinr_quick/d1/denoising.png" in markdown
    # every analysis record the DAG planned reaches the report, each figure embedded once
    records = sorted(report.glob("analysis/**/analysis.json"))
    figures = sum(len(json.loads(path.read_text())["figures"]) for path in records)
    assert len(records) == 2 + 6 + 2 and html.count('<figure class="analysis">') == figures  # DiV-INR, DiffVC, GIViC
    assert "Backbone ceilings" in html and "PSNR-RGB (dB)" in markdown


def test_smoke_keeps_no_reconstructions_or_partials(smoke_run):
    workdir, _ = smoke_run
    assert not list(workdir.glob("results/**/*.rec.y4m"))
    # only the neural codecs' decodes are kept (losslessly), one per rate point; the anchors' are decoded where read
    kept = sorted(workdir.glob("results/**/*.rec.mkv"))
    assert len(kept) == 12 and {path.parent.name for path in kept} == {"divinr_quick", "givic_quick", "diffvc_quick"}
    assert not list(workdir.glob("**/*.partial*"))


def test_bpp_in_rd_csv_is_exact(smoke_run):
    workdir, _ = smoke_run
    table = pd.read_csv(workdir / "reports/smoke/rd.csv")
    exact = 8 * table["bytes"] / (table["frames"] * table["width"] * table["height"])
    assert ((table["bpp"] - exact).abs() / exact < 1e-12).all()


def test_verify_rederives_every_number_of_the_smoke_report(smoke_run, tmp_path):
    workdir, _ = smoke_run
    started = time.monotonic()
    proc = run_snakemake(workdir, "verify", "--config", "preset=smoke")  # `vcbench verify reports/smoke`
    log = workdir / "logs/smoke/verify.log"
    assert proc.returncode == 0, log.read_text()[-3000:] if log.is_file() else proc.stderr[-3000:]
    record = json.loads((workdir / "reports/smoke/verify.json").read_text())
    assert record["failed"] == 0 and record["rows_verified"] == list(range(24)) and record["checks"] > 24 * 30
    assert {row["tolerance"] for row in record["rows"]} == {"exact"}  # decoded on the device the decode records name
    print(f"snakemake verify (smoke): {time.monotonic() - started:.0f} s, vcbench verify itself {record['seconds']:.0f} s")
    # A copy of the run (another folder) whose rd.csv has one number changed fails, naming it.
    copy = shutil.copytree(workdir, tmp_path / "copy", ignore=shutil.ignore_patterns(".snakemake", "logs", "mlflow*"))
    rd = pd.read_csv(copy / "reports/smoke/rd.csv")
    row = select_rows(len(rd), 1, 0)[0]
    rd.loc[row, "psnr_yuv"] += 0.01
    rd.to_csv(copy / "reports/smoke/rd.csv", index=False)
    changed = subprocess.run([sys.executable, "-m", "vcbench.cli", "verify", "reports/smoke", "--sample", "1", "--failed-only"],
                             cwd=copy, env=snakemake_env(), capture_output=True, text=True, timeout=600)
    assert changed.returncode == 1, changed.stdout[-3000:] + changed.stderr[-3000:]
    label = "/".join(str(rd.loc[row, key]) for key in ("dataset", "sequence", "codec", "rate"))
    failed = [line for line in changed.stdout.splitlines() if line.startswith(label) and " FAIL " in line]
    assert any("psnr_yuv (rd.csv vs re-scored)" in line for line in failed), changed.stdout[-3000:]


def test_every_number_names_the_commit_its_jobs_ran(smoke_run):
    workdir, _ = smoke_run
    provenance = json.loads((workdir / "reports/smoke/provenance.json").read_text())
    commit = code_state().commit  # the tests and the jobs run the same checkout
    assert provenance["commits"] == ({commit: 24} if commit else {}) and not provenance["mixed_commits"]
    for point in provenance["rd_points"]:
        assert point["commit"] == commit and {j["commit"] for j in point["jobs"].values()} == {commit}, point["id"]
    encode = json.loads(next(workdir.glob("results/smoke/demo/bikes/x265/*.encode.json")).read_text())
    block = encode["provenance"]
    assert block["source_sha256_from"] == "record" and block["source_record"] == "data/demo/bikes.json"
    assert block["source_sha256"] == json.loads((workdir / "data/demo/bikes.json").read_text())["sha256"]
    assert set(block["versions"]) == {"vcbench", "python"} and "provenance" not in pd.read_csv(workdir / "reports/smoke/rd.csv")


def planned_jobs(workdir: Path) -> tuple[dict[str, int], str]:
    """The jobs `snakemake -n` plans (rule -> count, from its job stats) and its whole output."""
    proc = run_snakemake(workdir, "-n", "--config", "preset=smoke")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (proc.stdout + proc.stderr).splitlines()
    if "Job stats:" not in lines:
        return {}, "\n".join(lines)
    counts = {}
    for line in lines[lines.index("Job stats:") + 3:]:
        name, _, count = line.partition(" ")
        if not count.strip() or name == "total":
            break
        counts[name] = int(count)
    return counts, "\n".join(lines)


def test_a_new_source_version_reruns_its_encodes_and_what_follows_only(smoke_run):
    workdir, _ = smoke_run
    counts, output = planned_jobs(workdir)
    assert counts == {} and "Nothing to be done" in output  # a finished run plans nothing
    record = workdir / "data/demo/bikes.json"
    original = record.read_text()
    try:
        record.write_text(json.dumps({**json.loads(original), "sha256": "0" * 64}))  # as a new data version would
        counts, output = planned_jobs(workdir)
    finally:
        record.write_text(original)  # a dry run changed nothing else
    # no FID jobs: the DAG tests run without the Inception weights (tests/dag.py)
    per_sequence = {"encode_x265": 3, "encode_svtav1": 3, "encode_divinr_quick": 2, "encode_givic_quick": 2, "encode_diffvc_quick": 2,
                    "decode": 6, "decode_kept": 6, "score": 12, "analysis_denoising": 1, "analysis_tdir": 1, "analysis_qpp": 1,
                    "analysis_propagation": 1, "backbone_check": 2}  # GIViC's analyses run on the first sequence only
    after = {"aggregate": 1, "bd_table": 1, "plots": 1, "provenance": 1, "mlflow_runs": 1, "report": 1, "mlflow": 1, "all": 1}
    assert counts == {**per_sequence, **after}, output[-3000:]
    assert "sequence=bigbuckbunny" not in output and "Params have changed since last execution" in output
    assert planned_jobs(workdir)[0] == {}


def test_truncated_sequence_fails_in_one_line_and_keeps_finished_work(smoke_run):
    workdir, _ = smoke_run
    kept = {p: p.stat().st_mtime_ns for p in workdir.glob("results/smoke/demo/bigbuckbunny/**/*.summary.json")}
    # Sequences are ancient() inputs and finished targets are not rebuilt for missing
    # intermediates: remove the bikes results and rd.csv to make those jobs run again.
    shutil.rmtree(workdir / "results/smoke/demo/bikes")
    (workdir / "reports/smoke/rd.csv").unlink()
    damaged = workdir / "data/demo/bikes.y4m"
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 3])
    proc = run_snakemake(workdir, "--config", "preset=smoke", "--keep-going")
    assert proc.returncode != 0
    failed = [p.read_text() for p in workdir.glob("logs/smoke/encode/demo/bikes/**/*.log")]
    assert failed
    for log in failed:  # the whole log is the one-line error, naming the file, the frame and the fix
        assert log.count("\n") == 1 and log.startswith("vcbench: error: data/demo/bikes.y4m: frame") and "truncated" in log
    assert kept and {p: p.stat().st_mtime_ns for p in kept} == kept


def incomplete_outputs(workdir: Path) -> set[Path]:
    """Outputs Snakemake has marked as incomplete (its markers are base64-encoded paths)."""
    markers = workdir / ".snakemake" / "incomplete"
    paths = set()
    for marker in markers.rglob("*"):
        if marker.is_file():
            encoded = "".join(part.lstrip("@") for part in marker.relative_to(markers).parts)
            try:
                paths.add((workdir / base64.urlsafe_b64decode(encoded).decode()).resolve())
            except ValueError:
                continue  # Snakemake's own bookkeeping files
    return paths


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_killed_run_resumes_without_redoing_finished_jobs(tmp_path, sig):
    workdir = workflow_copy(tmp_path / "killed")
    # PSNR only: the mechanics of an interrupted run do not depend on which metrics a score job runs
    anchors = ["--configfile", str(SMOKE_ANCHORS), "--config", "preset=smoke", "metrics=[psnr]"]
    proc = subprocess.Popen(snakemake_command(*anchors), cwd=workdir, env=snakemake_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def finished_summaries() -> dict[Path, int]:
        # Finished = written and no longer marked incomplete by Snakemake (a job killed between
        # writing its output and being recorded as done is rightly redone).
        pending = incomplete_outputs(workdir)
        return {p: p.stat().st_mtime_ns for p in workdir.glob("results/smoke/**/*.summary.json") if p.resolve() not in pending}

    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and len(finished_summaries()) < 2:
        time.sleep(0.5)
    os.killpg(proc.pid, sig)
    proc.wait(timeout=120)
    finished = finished_summaries()
    assert finished, "nothing finished before the kill"
    if sig == signal.SIGKILL:
        # A hard kill leaves Snakemake's lock behind; --unlock is the documented first step.
        assert run_snakemake(workdir, "--unlock").returncode == 0
    done = run_snakemake(workdir, *anchors)
    assert done.returncode == 0, done.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in finished} == finished
    assert not list(workdir.glob("**/*.partial*"))
    assert len(pd.read_csv(workdir / "reports/smoke/rd.csv")) == 6


@pytest.mark.parametrize("codec", ["givic_quick", "diffvc_quick"])
def test_a_smoke_bitstream_with_a_flipped_byte_is_refused(smoke_run, codec):
    workdir, _ = smoke_run
    # bigbuckbunny: another test removes the bikes results and makes them again
    bitstream = sorted(workdir.glob(f"results/smoke/demo/bigbuckbunny/{codec}/*.{codec.split('_')[0]}"))[0]
    data = bytearray(bitstream.read_bytes())
    data[len(data) // 3] ^= 0x10
    damaged = workdir / f"damaged.{codec.split('_')[0]}"
    damaged.write_bytes(bytes(data))
    result = subprocess.run([sys.executable, "-m", "vcbench.cli", "decode", str(damaged), str(workdir / "never.y4m")],
                            cwd=workdir, capture_output=True, text=True)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and str(damaged) in result.stderr
    assert not (workdir / "never.y4m").exists()
