"""`vcbench verify` on a tiny but real results set: x265 and SVT-AV1 at two points each on one clip,
encoded, decoded, scored, aggregated and BD-tabled with the real commands, in the DAG's layout."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import write_sequence
from test_data_loss import refused
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
        # every BD value defined, however little the two short ladders overlap: verify must re-derive numbers, not n/a
        ok("bd-table", "--rd", "reports/t/rd.csv", "--out", "reports/t/bd.csv", "--anchor", "x265", "--metrics", BD_METRICS,
           "--min-overlap", "0")
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


# -- issue 25: what verify reads it never writes; every column against its source of truth ---------


def test_verify_refuses_an_out_that_it_reads(copy):
    os.link("reports/t/rd.csv", "reports/t/hard.csv")
    Path("reports/t/link.csv").symlink_to("rd.csv")
    stem = "results/t/t/clip/x265/qp30"
    for out, message in (("reports/t/rd.csv", "is the same file as the report's rd.csv"),
                         ("reports/t/hard.csv", "is the same file as the report's rd.csv"),
                         ("reports/t/link.csv", "is the same file as the report's rd.csv"),
                         ("reports/t/bd.csv", "is the same file as the report's bd.csv"),
                         (f"{stem}.hevc", "is the same file as the bitstream of rd.csv line"),
                         (f"{stem}.encode.json", f"is the same file as {stem}.hevc's encode record"),
                         (f"{stem}.frames.csv", f"is the same file as {stem}.hevc's frames.csv"),
                         (SOURCE, "is the same file as results/t/t/clip/")):
        assert refused(copy, "verify", "reports/t", "--out", out, message=f"--out {out} {message}").endswith(
            "; writing it would destroy that file, give another path")
    Path("reports/t/index.html").write_text("<html>a report</html>")
    refused(copy, "verify", "reports/t", "--out", "reports/t/index.html", message="exists and is not a verify.json")


def test_a_renamed_codec_is_named(copy):
    for name in ("rd.csv", "bd.csv"):
        table = pd.read_csv(f"reports/t/{name}")
        table["codec"] = table["codec"].replace("svtav1", "vvenc")
        table.to_csv(f"reports/t/{name}", index=False)
    code, report, _ = verify()
    assert code == 1
    failed = {(check["row"], check["what"]) for check in failures(report)}
    for label in ("qp40", "qp55"):
        assert {(f"t/clip/vvenc/{label}", "codec (rd.csv vs the bitstream's path)"),
                (f"t/clip/vvenc/{label}", f"codec (rd.csv vs {label}.summary.json)")} <= failed
    assert {row for row, _ in failed} == {"t/clip/vvenc/qp40", "t/clip/vvenc/qp55"}


def test_an_encode_record_of_another_codec_or_with_undeclared_options_is_named(copy):
    path = Path("results/t/t/clip/x265/qp30.encode.json")
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "codec": "vvenc"}))
    whats = {check["what"] for check in failures(verify()[1])}
    assert "bitstream extension vs the encode record's codec (vvenc)" in whats
    path.write_text(json.dumps({**record, "options": {**record["options"], "gopp": 16}}))
    named = [check for check in failures(verify()[1]) if check["what"] == "codec and options (encode record)"]
    assert len(named) == 1 and "unknown option 'gopp'" in named[0]["note"]


def test_config_hash_is_checked_against_the_given_hash_or_listed_as_not_rederived(copy):
    code, report, _ = verify()
    assert code == 0 and any(line.startswith("config_hash: no --config-hash given") for line in report["not_rederived"])
    assert [c["passed"] for c in report["results"] if c["what"] == "config_hash: one value in every row"] == [True]
    code, report, _ = verify("--config-hash", "test")
    assert code == 0 and not any(line.startswith("config_hash") for line in report["not_rederived"])
    rd = pd.read_csv("reports/t/rd.csv")
    rd["config_hash"] = "0" * 16
    rd.to_csv("reports/t/rd.csv", index=False)
    code, report, _ = verify("--config-hash", "test")
    assert code == 1 and [c["what"] for c in failures(report)] == ["config_hash (rd.csv vs --config-hash)"]
    rd.loc[0, "config_hash"] = "test"
    rd.to_csv("reports/t/rd.csv", index=False)
    code, report, _ = verify()
    assert code == 1 and [c["what"] for c in failures(report)] == ["config_hash: one value in every row"]


@pytest.mark.parametrize(("content", "message"), [
    ("", "cannot read as rd.csv"),
    ("header", "has no rows"),
    ('{"dataset": "t", "rows": []}\n', "is not an rd.csv: no column(s) dataset, sequence"),
    ("dataset,sequence,codec\nt,clip,x265\n", "is not an rd.csv: no column(s) rate, frames"),
    ("bpp", "column bpp holds a value that is not a number"),
])
def test_a_malformed_rd_csv_is_one_line(copy, content, message):
    rd = Path("reports/t/rd.csv")
    if content == "header":
        content = rd.read_text().splitlines()[0] + "\n"
    elif content == "bpp":
        table = pd.read_csv(rd)
        table["bpp"] = table["bpp"].astype(object)
        table.loc[0, "bpp"] = "small"
        content = table.to_csv(index=False)
    rd.write_text(content)
    refused(copy, "verify", "reports/t", message=f"{copy / 'reports/t/rd.csv'}: {message}")


def test_a_malformed_bd_csv_is_one_line(copy):
    Path("reports/t/bd.csv").write_text('{"bd": 1}\n')
    refused(copy, "verify", "reports/t", message="bd.csv: is not a bd.csv: no column(s)")


def test_malformed_records_and_frames_csv_are_named_not_tracebacks(copy):
    stem = "results/t/t/clip/x265/qp30"
    Path(f"{stem}.encode.json").write_text("[]")
    Path(f"{stem}.frames.csv").write_text("")
    Path("results/t/t/clip/x265/qp42.summary.json").write_text("not json")
    Path("results/t/t/clip/x265/qp42.frames.csv").write_text("")
    code, report, _ = verify()
    assert code == 1
    failed = {(check["row"], check["what"]) for check in failures(report)}
    assert ("t/clip/x265/qp30", f"record {stem}.encode.json") in failed
    assert {("t/clip/x265/qp42", "file results/t/t/clip/x265/qp42.summary.json"),
            ("t/clip/x265/qp42", "file results/t/t/clip/x265/qp42.frames.csv")} <= failed
