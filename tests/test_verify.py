"""`vcbench verify` on a tiny but real results set: x265 and SVT-AV1 at two points each on one clip,
encoded, decoded, scored, aggregated and BD-tabled with the real commands, in the DAG's layout."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import write_sequence
from vcbench.cli import cli
from vcbench.errors import VcbenchError
from vcbench.io import sha256_file
from vcbench.verify import Tolerance, agree, select_rows
from vcbench.verify.compare import EXACT, metric_tolerance
from vcbench.video import VideoFormat

SOURCE = "data/t/clip.y4m"
FRAMES = 4
POINTS = [("x265", "hevc", "qp30", 30), ("x265", "hevc", "qp42", 42), ("svtav1", "obu", "qp40", 40), ("svtav1", "obu", "qp55", 55)]
BD_METRICS = "psnr_yuv,psnr_y,ms_ssim,vmaf,vmaf_neg"


def vcbench(*args: str):
    return CliRunner().invoke(cli, list(args))


def ok(*args: str) -> None:
    result = vcbench(*args)
    assert result.exit_code == 0, (args, result.output, result.exception)


@pytest.fixture(scope="module")
def results_set(tmp_path_factory) -> Path:
    """A repository-like folder with data/, results/ and reports/t/ (rd.csv, bd.csv) as the DAG leaves them."""
    root = tmp_path_factory.mktemp("results_set")
    with contextlib.chdir(root):
        Path(SOURCE).parent.mkdir(parents=True)
        source = write_sequence(Path(SOURCE), VideoFormat(192, 176), FRAMES)
        Path("data/t/clip.json").write_text(json.dumps({"dataset": "t", "sequence": "clip", "sha256": sha256_file(source)}))
        summaries = []
        for codec, ext, label, qp in POINTS:
            stem = f"results/t/t/clip/{codec}/{label}"
            ok("encode", SOURCE, f"{stem}.{ext}", "--codec", codec, "--rate-label", label, "-p", f"qp={qp}", "--frames", str(FRAMES),
               "--record", f"{stem}.encode.json")
            ok("decode", f"{stem}.{ext}", f"{stem}.rec.y4m", "--codec", codec, "--like", SOURCE, "--record", f"{stem}.decode.json")
            ok("score", SOURCE, f"{stem}.rec.y4m", "--metrics", "psnr,ms_ssim,vmaf", "--frames", str(FRAMES), "--encode-record",
               f"{stem}.encode.json", "--decode-record", f"{stem}.decode.json", "--dataset", "t", "--sequence", "clip", "--codec", codec,
               "--frames-csv", f"{stem}.frames.csv", "--summary", f"{stem}.summary.json", "--quiet")
            Path(f"{stem}.rec.y4m").unlink()  # temporary in the DAG too
            summaries.append(f"{stem}.summary.json")
        ok("aggregate", *summaries, "--out", "reports/t/rd.csv", "--config-hash", "test")
        ok("bd-table", "--rd", "reports/t/rd.csv", "--out", "reports/t/bd.csv", "--anchor", "x265", "--metrics", BD_METRICS)
    return root


@pytest.fixture
def copy(results_set, tmp_path, monkeypatch) -> Path:
    """A copy of the results set in another folder (no path of the first may matter), as the working folder."""
    root = shutil.copytree(results_set, tmp_path / "elsewhere")
    monkeypatch.chdir(root)
    return root


def verify(*args: str) -> tuple[int, dict, str]:
    result = vcbench("verify", "reports/t", *args)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    report = json.loads(Path("reports/t/verify.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))
    return result.exit_code, report, result.stdout


def failures(report: dict) -> list[dict]:
    return [check for check in report["results"] if not check["passed"]]


def test_numbers_agree_within_1e9_relative_above_1_and_absolute_below():
    assert agree(30.0, 30.0 + 2e-8) is True and agree(30.0, 30.0 + 4e-8) is False
    assert agree(0.5, 0.5 + 9e-10) is True and agree(0.5, 0.5 + 2e-9) is False
    assert agree(float("nan"), None) is True and agree(float("nan"), 1.0) is False
    assert agree(1234, 1234) is True and agree(1234, 1235) is False and agree("abc", "abd") is False
    assert agree(31.0, 31.04, Tolerance(0.05, 0.0)) is True


def test_neural_codecs_get_the_cross_device_tolerance_only_across_devices():
    assert metric_tolerance("psnr_yuv", same_device=True) == EXACT
    assert metric_tolerance("psnr_yuv", same_device=False) == Tolerance(0.05, 0.0)
    assert metric_tolerance("vmaf_neg", same_device=False) == Tolerance(0.5, 0.0)
    assert metric_tolerance("ms_ssim", same_device=False) == Tolerance(1e-3, 0.0)


def test_verify_passes_on_a_fresh_results_set(copy):
    code, report, output = verify()
    assert code == 0, output
    assert report["failed"] == 0 and report["checks"] == len(report["results"]) > 4 * 20
    assert sorted(row["row"] for row in report["rows"]) == sorted(f"t/clip/{codec}/{label}" for codec, _, label, _ in POINTS)
    whats = {check["what"] for check in report["results"]}
    assert {"bitstream sha256 (rd.csv)", "source sha256 (encode record)", "psnr_yuv (rd.csv vs re-scored)", "vmaf (rd.csv vs re-scored)",
            "bd_rate_pct", "bd_quality"} <= whats
    assert output.splitlines()[0].split() == ["row", "check", "result", "reported", "derived", "note"]
    assert output.rstrip().splitlines()[-1].startswith(f"vcbench verify: {report['checks']} checks, 0 failed (4 of 4 rows of rd.csv;")
    assert not list(copy.glob("results/**/*.rec.y4m"))


def test_a_tampered_bitstream_is_named(copy):
    bitstream = copy / "results/t/t/clip/x265/qp30.hevc"
    data = bytearray(bitstream.read_bytes())
    data[len(data) // 2] ^= 0x01
    bitstream.write_bytes(bytes(data))
    code, report, _ = verify()
    assert code == 1
    assert {check["row"] for check in failures(report)} == {"t/clip/x265/qp30"}
    named = {check["what"] for check in failures(report)}
    assert {"bitstream sha256 (rd.csv)", "bitstream sha256 (qp30.encode.json)", "bitstream sha256 (qp30.decode.json)"} <= named


def test_a_changed_number_in_rd_csv_is_named(copy):
    rd = pd.read_csv("reports/t/rd.csv")
    row = rd.index[(rd["codec"] == "svtav1") & (rd["rate"] == "qp55")][0]
    rd.loc[row, "psnr_yuv"] += 0.01
    rd.to_csv("reports/t/rd.csv", index=False)
    code, report, _ = verify()
    assert code == 1
    rows = [check for check in failures(report) if not check["row"].startswith("bd.csv")]
    assert [(c["row"], c["what"]) for c in rows] == [("t/clip/svtav1/qp55", "psnr_yuv (rd.csv vs re-scored)")]
    assert rows[0]["reported"] == pytest.approx(rows[0]["derived"] + 0.01, abs=1e-9)
    # bd.csv, recomputed from the changed rd.csv, no longer matches either: only its psnr_yuv values
    assert {c["row"] for c in failures(report) if c["row"].startswith("bd.csv")} <= {"bd.csv t/clip svtav1 vs x265 psnr_yuv",
                                                                                       "bd.csv t/mean svtav1 vs x265 psnr_yuv"}


def test_a_changed_source_is_named(copy):
    source = copy / SOURCE
    data = bytearray(source.read_bytes())
    data[-100] ^= 0x10  # a sample of the last frame, not the header
    source.write_bytes(bytes(data))
    code, report, _ = verify()
    assert code == 1
    for row in report["rows"]:
        named = {c["what"] for c in failures(report) if c["row"] == row["row"]}
        assert {"source sha256 (rd.csv)", "source sha256 (encode record)", "source sha256 (data/t/clip.json)"} <= named


def test_a_changed_bd_value_is_named(copy):
    bd = pd.read_csv("reports/t/bd.csv")
    row = bd.index[bd["bd_rate_pct"].notna()][0]
    bd.loc[row, "bd_rate_pct"] += 1.0
    bd.to_csv("reports/t/bd.csv", index=False)
    code, report, _ = verify()
    assert code == 1
    expected = f"bd.csv t/{bd.loc[row, 'sequence']} {bd.loc[row, 'codec']} vs x265 {bd.loc[row, 'metric']}"
    assert [(c["row"], c["what"]) for c in failures(report)] == [(expected, "bd_rate_pct")]


def test_sample_verifies_the_stated_seeded_rows(copy):
    code, report, output = verify("--sample", "2", "--seed", "3")
    assert code == 0, output
    assert report["rows_verified"] == select_rows(4, 2, 3) and len(report["rows_verified"]) == 2
    assert (report["sample"], report["seed"]) == (2, 3) and "2 of 4 rows of rd.csv, --sample 2 --seed 3" in output


def test_a_report_without_rd_csv_is_a_one_line_error(copy):
    Path("reports/t/rd.csv").unlink()
    result = vcbench("verify", "reports/t")
    assert isinstance(result.exception, VcbenchError) and "reports/t/rd.csv: no such file" in str(result.exception)
