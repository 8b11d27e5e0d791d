"""Issue 25's data-loss and wrong-number cases outside `verify`: every command that writes refuses, in
one line (exit 2) and before touching anything, an output that is one of its inputs (hard links and
symlinks included) or another command's record; `bd` takes bpp unless told otherwise; rate labels
never read as numbers; a YAML key given twice is an error naming both lines. Real x265/SVT-AV1
encodes of a small clip through the real command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import test_robustness_cli as robustness
from conftest import REPO, SCHEMA
from vcbench.config_check import check_config, load_config
from vcbench.errors import ConfigError
from vcbench.io import load_yaml
from vcbench.video import Y4MReader
from vcbench_cli import vcbench

# its fixtures (a 64x64 clip of FRAMES frames; its x265 bitstream, with the encode record beside it) and helpers
clip, coded, FRAMES, record_of = robustness.clip, robustness.coded, robustness.FRAMES, robustness.record_of


def state(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and modification time (links are followed)."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(folder: Path, *args: object, message: str) -> str:
    """vcbench ``args`` must exit 2 with one line `vcbench: error: ...` holding ``message``, and leave
    every file under ``folder`` as it was, bytes and mtime."""
    before = state(folder)
    result = vcbench(*args)
    assert result.code == 2, result.stderr
    assert result.error.startswith("vcbench: error: ") and message in result.error, result.error
    assert state(folder) == before
    return result.error


# -- records: the bitstream's, of their own kind ----------------------------------------------------


def test_a_second_bitstream_of_the_same_stem_does_not_replace_the_first_ones_record(clip: Path, coded: Path) -> None:
    other = clip.with_name("b.obu")
    error = refused(clip.parent, "encode", clip, other, "--codec", "svtav1", "-p", "qp=50",
                    message=f"--record {record_of(coded)}: is the encode record of {coded}, which is still there")
    assert f"--record {other}.encode.json" in error  # the way out is named
    result = vcbench("encode", clip, other, "--codec", "svtav1", "-p", "qp=50", "--record", f"{other}.encode.json")
    assert result.code == 0, result.stderr
    assert json.loads(record_of(coded).read_text())["codec"] == "x265"
    assert json.loads(Path(f"{other}.encode.json").read_text())["codec"] == "svtav1"
    # encoding the same bitstream again replaces its own record
    assert vcbench("encode", clip, coded, "--codec", "x265", "-p", "qp=40").code == 0
    assert json.loads(record_of(coded).read_text())["params"]["qp"] == 40


def test_a_record_whose_bitstream_is_gone_may_be_replaced(clip: Path, coded: Path) -> None:
    coded.unlink()
    other = clip.with_name("b.obu")
    assert vcbench("encode", clip, other, "--codec", "svtav1", "-p", "qp=50").code == 0
    assert json.loads(record_of(coded).read_text())["codec"] == "svtav1"


def test_a_record_never_replaces_one_of_another_kind_or_a_file_that_is_no_record(clip: Path, coded: Path) -> None:
    rec = clip.with_name("r.y4m")
    refused(clip.parent, "decode", coded, rec, "--record", record_of(coded), message=f"--record {record_of(coded)}: is an encode record; "
            "writing the decode record there would destroy it")
    notes = clip.with_name("notes.json")
    notes.write_text('{"mine": true}')
    refused(clip.parent, "decode", coded, rec, "--record", notes, message="exists and is not a vcbench record")
    refused(clip.parent, "encode", clip, coded, "--codec", "x265", "-p", "qp=40", "--record", notes, message="is not a vcbench record")
    decoded = clip.with_name("b.decode.json")
    assert vcbench("decode", coded, rec, "--record", decoded).code == 0
    refused(clip.parent, "encode", clip, coded, "--codec", "x265", "-p", "qp=40", "--record", decoded,
            message="is a decode record; writing the encode record there would destroy it")
    assert vcbench("decode", coded, rec, "--record", decoded).code == 0  # its own decode record: replaced


def test_a_bitstream_is_named_for_its_codec(clip: Path) -> None:
    refused(clip.parent, "encode", clip, clip.with_name("out.obu"), "--codec", "x265", "-p", "qp=37",
            message=f"BITSTREAM {clip.with_name('out.obu')}: x265 writes .hevc streams; name it {clip.with_name('out.hevc')}")
    refused(clip.parent, "encode", clip, clip.with_name("out"), "--codec", "svtav1", "-p", "qp=50", message="svtav1 writes .obu streams")


# -- a damaged stream does not replace a good reconstruction ----------------------------------------


@pytest.fixture
def truncated(clip: Path, coded: Path) -> tuple[Path, Path]:
    """The bitstream cut in half in place, and the good reconstruction of it made before."""
    good = clip.with_name("good.y4m")
    assert vcbench("decode", coded, good).code == 0
    data = coded.read_bytes()
    coded.write_bytes(data[: len(data) // 2])
    return coded, good


def test_a_truncated_stream_beside_its_record_is_refused(clip: Path, truncated: tuple[Path, Path]) -> None:
    bitstream, good = truncated
    refused(clip.parent, "decode", bitstream, good,
            message=f"{bitstream}: differs from the bitstream its encode record {record_of(bitstream)} describes (sha256)")


def test_a_truncated_stream_without_a_record_does_not_replace_a_longer_reconstruction(clip: Path, truncated: tuple[Path, Path]) -> None:
    bitstream, good = truncated
    record_of(bitstream).unlink()
    refused(clip.parent, "decode", bitstream, good, message=f"fewer than the {FRAMES} of {good} it would replace")
    with Y4MReader(good) as reader:
        assert reader.count_frames() == FRAMES
    assert vcbench("decode", bitstream, clip.with_name("elsewhere.y4m")).code == 0  # a new file: nothing is lost


# -- no writing command writes over what it reads ---------------------------------------------------


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """A report folder's inputs as files (each command refuses before reading them)."""
    folder = tmp_path / "reports" / "p"
    (folder / "plots").mkdir(parents=True)
    for name in ("rd.csv", "bd.csv", "provenance.json", "mlflow_runs.json", "plots/manifest.json", "a.summary.json"):
        (folder / name).write_text(f"{name}: a result\n")
    return folder


def test_report_commands_refuse_an_output_that_is_an_input(report: Path) -> None:
    rd, bd = report / "rd.csv", report / "bd.csv"
    os.link(rd, report / "rd_hard.csv")
    (report / "rd_link.csv").symlink_to("rd.csv")
    for out in (rd, report / "rd_hard.csv", report / "rd_link.csv"):
        refused(report, "bd-table", "--rd", rd, "--out", out, "--anchor", "x265", "--metrics", "psnr_yuv",
                message=f"--out {out} is the same file as --rd {rd}")
    refused(report, "aggregate", report / "a.summary.json", "--out", report / "a.summary.json",
            message="is the same file as SUMMARIES #1")
    refused(report, "provenance", "--preset", "p", "--rd", rd, "--bd", bd, "--out", bd, message=f"--out {bd} is the same file as --bd")
    refused(report, "provenance", "--preset", "p", "--rd", rd, "--bd", bd, "--summary", "d/s/c/r", report / "a.summary.json",
            "--out", report / "a.summary.json", message="is the same file as --summary d/s/c/r")
    refused(report, "report", "--preset", "p", "--rd", rd, "--bd", bd, "--plots", report / "plots", "--provenance",
            report / "provenance.json", "--html", report / "plots" / "manifest.json", "--md", report / "report.md", "--anchor", "x265",
            message="--html")
    refused(report, "report", "--preset", "p", "--rd", rd, "--bd", bd, "--plots", report / "plots", "--provenance",
            report / "provenance.json", "--html", report / "index.html", "--md", report / "rd_link.csv", "--anchor", "x265",
            message=f"--md {report / 'rd_link.csv'} is the same file as --rd")
    refused(report, "track", "--stage", "runs", "--out", rd, "--preset", "p", "--rd", rd, "--bd", bd, message="is the same file as --rd")
    refused(report, "track", "--stage", "artifacts", "--out", report / "mlflow_runs.json", "--runs", report / "mlflow_runs.json",
            message="is the same file as --runs")
    refused(report, "plots", "--rd", rd, "--out", report / "plots", "--metrics", "psnr_yuv", "--frames", "d/s/c/r",
            report / "plots" / "manifest.json", message="is the same file as --frames d/s/c/r")
    features = report / "a.inception.npz"
    features.write_bytes(b"features")
    refused(report, "fid", features, features, message=f"OUTPUT {features} is the same file as FEATURES #1")
    refused(report, "fid-features", rd, rd, "--dataset", "d", "--sequence", "s", message=f"OUTPUT {rd} is the same file as VIDEO")


def test_backbone_check_refuses_an_out_that_is_a_sequence(clip: Path) -> None:
    refused(clip.parent, "backbone", "check", "--backbone", "hf://nobody/none", "--out", clip, clip,
            message=f"--out {clip} is the same file as SEQUENCES #1")


def test_aggregate_refuses_a_summary_that_is_no_rd_row(tmp_path: Path) -> None:
    cases = [("not json", "cannot read this record"), ("{}", "is not a score summary"), ("[1, 2]", "is not a JSON object"),
             ('{"frames": 4, "not_computed": {}, "psnr_y": 30.0}', "is a score summary without an rd row")]
    for index, (text, message) in enumerate(cases):
        summary = tmp_path / f"s{index}.json"
        summary.write_text(text)
        refused(tmp_path, "aggregate", summary, "--out", tmp_path / "rd.csv", message=message)
    assert not (tmp_path / "rd.csv").exists()


# -- bd: the rate is bpp unless told otherwise ------------------------------------------------------


def write_curves(path: Path, labels: list[str]) -> None:
    lines = ["dataset,sequence,codec,rate,bpp,psnr_yuv"]
    for codec, bpps, psnrs in (("a", (0.01, 0.02, 0.04, 0.08), (30.0, 32.5, 35.0, 37.0)),
                               ("t", (0.012, 0.022, 0.041, 0.07), (30.6, 33.0, 35.3, 36.8))):
        lines += [f"d,s,{codec},{label},{bpp},{psnr}" for label, bpp, psnr in zip(labels, bpps, psnrs)]
    path.write_text("\n".join(lines) + "\n")


def bd_json(csv: Path, *extra: str) -> dict:
    result = vcbench("bd", "--anchor", csv, "--test", csv, "--anchor-codec", "a", "--test-codec", "t", "--metric", "psnr_yuv", *extra)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def test_bd_takes_bpp_whatever_the_labels_look_like(tmp_path: Path) -> None:
    named, numeric = tmp_path / "named.csv", tmp_path / "numeric.csv"
    write_curves(named, ["q1", "q2", "q3", "q4"])
    write_curves(numeric, ["1", "2", "3", "4"])
    expected = bd_json(named)
    assert expected["rate_column"] == "bpp"
    assert bd_json(numeric)["bd_quality"] == expected["bd_quality"]
    assert bd_json(numeric)["bd_rate_pct"] == expected["bd_rate_pct"]
    assert bd_json(numeric, "--rate-column", "rate")["bd_quality"] != expected["bd_quality"]  # asked for: the labels
    result = vcbench("bd", "--anchor", named, "--test", named, "--anchor-codec", "a", "--test-codec", "t", "--metric", "psnr_yuv",
                     "--rate-column", "rate")
    assert result.code == 2 and "the rate column 'rate' holds values that are not numbers" in result.error


# -- rate labels are text ---------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["1", "37", "1e5", "-2", "nan", "inf", "NA", "True", "none"])
def test_a_rate_label_that_reads_as_a_number_is_refused(clip: Path, label: str) -> None:
    refused(clip.parent, "encode", clip, clip.with_name("n.hevc"), "--codec", "x265", "-p", "qp=37", "--rate-label", label,
            message=f"--rate-label: rate label {label!r} reads as a number or a missing value")


def test_the_config_refuses_a_numeric_rate_label(tmp_path: Path) -> None:
    config = (REPO / "config" / "config.yaml").read_text()
    assert "{label: qp51, qp: 51}" in config
    path = tmp_path / "config.yaml"
    path.write_text(config.replace("{label: qp51, qp: 51}", '{label: "51", qp: 51}', 1))
    with pytest.raises(ConfigError, match=r"config codecs\.\w+\.ladder\[0\]\.label: rate label '51' reads as a number"):
        load_config(path, SCHEMA)


# -- YAML: a key given twice is an error naming both lines -----------------------------------------


def test_a_config_key_given_twice_names_both_lines(tmp_path: Path) -> None:
    config = (REPO / "config" / "config.yaml").read_text()
    line = config[: config.index("{label: qp51, qp: 51}")].count("\n") + 1
    path = tmp_path / "config.yaml"
    path.write_text(config.replace("{label: qp51, qp: 51}", "{label: qp51, qp: 51, qp: 10}", 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path, SCHEMA)
    assert str(caught.value).startswith(f"{path}: key 'qp' is given twice (line {line}, columns ")
    # the Snakefile's check: Snakemake has read the file (the last qp won); check_config reads it again strictly
    with pytest.raises(ConfigError, match="key 'qp' is given twice"):
        check_config(load_config(REPO / "config" / "config.yaml", SCHEMA), SCHEMA, [path])


def test_every_yaml_reader_refuses_a_key_given_twice(tmp_path: Path, monkeypatch) -> None:
    from vcbench.assets import load_registry
    from vcbench.data import registry as datasets

    path = tmp_path / "x.yaml"
    path.write_text("name: a\nsource: b\nname: c\n")
    with pytest.raises(ConfigError, match=r"x\.yaml: key 'name' is given twice \(lines 1 and 3\)"):
        load_yaml(path)
    assets = tmp_path / "assets.yaml"
    assets.write_text("assets:\n  - name: w\n    url: u\n    url: v\n")
    with pytest.raises(ConfigError, match=r"key 'url' is given twice \(lines 3 and 4\)"):
        load_registry(assets)
    folder = tmp_path / "datasets"
    folder.mkdir()
    (folder / "twice.yaml").write_text("name: twice\nsource: {}\nsequences: {a: {}}\nsequences: {b: {}}\n")
    monkeypatch.setenv("VCBENCH_DATASETS", str(folder))
    datasets.load_dataset.cache_clear()
    with pytest.raises(ConfigError, match=r"twice\.yaml: key 'sequences' is given twice \(lines 3 and 4\)"):
        datasets.load_dataset("twice")
    datasets.load_dataset.cache_clear()


def test_a_yaml_merge_key_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("base: &b {qp: 1, gop: 8}\npoint:\n  <<: *b\n  qp: 2\n")
    assert load_yaml(path)["point"] == {"qp": 2, "gop": 8}
    path.write_text("a: [1\n")
    with pytest.raises(ConfigError, match=r"m\.yaml: not valid YAML \(.* at line 2, column 1\)"):
        load_yaml(path)


# -- score's --summary replaces only a summary of the same bitstream ---------------------------------


@pytest.fixture
def scored(clip: Path, coded: Path) -> Path:
    """``coded`` decoded (with its decode record) and scored into its summary, as the DAG does."""
    rec, decoded = clip.with_name("r.y4m"), clip.with_name("b.decode.json")
    assert vcbench("decode", coded, rec, "--record", decoded).code == 0
    summary = clip.with_name("b.summary.json")
    result = vcbench("score", clip, rec, "--metrics", "psnr", "--quiet", "--encode-record", record_of(coded), "--decode-record", decoded,
                     "--summary", summary)
    assert result.code == 0, result.stderr
    return summary


def test_a_summary_never_replaces_another_jobs_record(clip: Path, coded: Path, scored: Path) -> None:
    rec = clip.with_name("r.y4m")
    plain = ("score", clip, rec, "--metrics", "psnr", "--quiet")
    for other, kind in ((record_of(coded), "an encode"), (clip.with_name("b.decode.json"), "a decode")):
        refused(clip.parent, *plain, "--summary", other,
                message=f"--summary {other}: is {kind} record; writing the summary record there would destroy it")
    refused(clip.parent, *plain, "--summary", scored, message=f"--summary {scored}: is the summary record of {coded}, which is still "
            "there; writing a summary record of no bitstream there would lose it")
    av1 = clip.with_name("c.obu")
    assert vcbench("encode", clip, av1, "--codec", "svtav1", "-p", "qp=50").code == 0
    refused(clip.parent, *plain, "--encode-record", record_of(av1), "--summary", scored,
            message=f"--summary {scored}: is the summary record of {coded}, which is still there; writing the record of {av1} "
                    f"there would lose it, give another path (e.g. --summary {av1}.summary.json)")
    refused(clip.parent, *plain, "--frames-csv", record_of(coded), message=f"--frames-csv {record_of(coded)}: is an encode record")
    # its own summary is scored again in place
    again = vcbench(*plain, "--encode-record", record_of(coded), "--summary", scored)
    assert again.code == 0, again.stderr


# -- the other writing commands: no output is an input or a job's record -----------------------------


def test_data_prepare_refuses_an_out_whose_record_would_replace_another(tmp_path: Path) -> None:
    (tmp_path / "a.encode.json").write_text(json.dumps({"params": {}, "encode_seconds": 1.0, "bitstream_sha256": "0"}))
    (tmp_path / "notes.json").write_text('{"mine": true}')
    args = ("data", "prepare", "--dataset", "demo", "--sequence", "bikes")
    refused(tmp_path, *args, "--out", tmp_path / "a.json", message=f"--out {tmp_path / 'a.json'}: data prepare writes a Y4M; name it "
            f"{tmp_path / 'a.y4m'}")
    refused(tmp_path, *args, "--out", tmp_path / "a.encode.y4m", message=f"--out's record {tmp_path / 'a.encode.json'}: is an encode "
            "record; writing the sequence record there would destroy it")
    refused(tmp_path, *args, "--out", tmp_path / "notes.y4m", message="exists and is not a vcbench record")


def test_the_analyses_refuse_an_output_that_is_an_input_or_a_record(clip: Path, coded: Path) -> None:
    folder = clip.parent
    out = folder / "analysis"
    out.mkdir()
    os.link(record_of(coded), out / "analysis.json")  # an analysis record written there would replace the encode record
    (out / "propagation.csv").write_text("frame,psnr_yuv\n0,30.0\n")
    (out / "qpp.csv").symlink_to(clip)
    job = ("--codec", "c", "--dataset", "d", "--sequence", "s", "--source", clip)
    for name in ("denoising", "sampling_steps", "tdir"):
        refused(folder, "analysis", name, *job, "--rate", "r", "--input", "bitstream", "r", coded, "--out-dir", out,
                message=f"--out-dir's analysis.json {out / 'analysis.json'}: is an encode record")
    refused(folder, "analysis", "propagation", *job, "--input", "frames", "r1", out / "propagation.csv", "--out-dir", out,
            message=f"--out-dir's propagation.csv {out / 'propagation.csv'} is the same file as --input frames r1")
    refused(folder, "analysis", "qpp", *job, "--input", "encode_record", "r1", record_of(coded), "--out-dir", out,
            message=f"--out-dir's qpp.csv {out / 'qpp.csv'} is the same file as --source {clip}")
    refused(folder, "analysis", "context_length", *job, "--input", "reference", "r1", record_of(coded), "--out-dir", folder / "context",
            message=f"{record_of(coded)}: not a context-point record")
    points = folder / "points"
    points.mkdir()
    os.link(record_of(coded), points / "L1_q1.json")  # a point's record written there would replace the encode record
    refused(folder, "analysis", "context_length", *job, "--stage", "point", "--item", 1, "--rate", "q1", "--frames", 2, "--out-dir", points,
            message=f"--out-dir's L1_q1.json {points / 'L1_q1.json'}: is an encode record")


def test_fid_the_backbone_check_and_the_report_never_write_over_a_record(clip: Path, coded: Path) -> None:
    features, rd = clip.with_name("a.inception.npz"), clip.with_name("rd.csv")
    features.write_bytes(b"features")
    rd.write_text("dataset,sequence,codec,rate,bpp,psnr_yuv\n")
    refused(clip.parent, "bd-table", "--rd", rd, "--out", record_of(coded), "--anchor", "x265", "--metrics", "psnr_yuv",
            message=f"--out {record_of(coded)}: is an encode record")
    refused(clip.parent, "fid", record_of(coded), features, message=f"OUTPUT {record_of(coded)}: is an encode record")
    refused(clip.parent, "backbone", "check", "--backbone", "hf://nobody/none", "--out", record_of(coded), clip,
            message=f"--out {record_of(coded)}: is an encode record")


def test_training_never_writes_into_its_backbone_and_a_study_never_replaces_its_own_files(tmp_path: Path) -> None:
    backbone = tmp_path / "models" / "embedded"
    backbone.mkdir(parents=True)
    (backbone / "model_index.json").write_text("{}")
    for out, relation in ((backbone, "is"), (backbone / "diffvc", "lies inside"), (tmp_path / "models", "holds")):
        refused(tmp_path, "train-diffvc", "--backbone", backbone, "--out", out,
                message=f"--out {out} {relation} --backbone {backbone}; writing it would change what is read")
    refused(tmp_path, "train-prior", "--out", backbone / "model_index.json",
            message=f"--out {backbone / 'model_index.json'}: is a file; give a folder")
    study = tmp_path / "study"
    (study / "scale").mkdir(parents=True)
    (study / "study.json").write_text("{}")
    (study / "scale" / "jod.csv").write_text("condition,jod\n")
    refused(tmp_path, "study", "export", study, "--out", study,
            message=f"--out's study.json {study / 'study.json'} is the same file as the study's study.json")
    refused(tmp_path, "study", "scale", study, "--answers", study / "scale" / "jod.csv",
            message=f"--out's jod.csv {study / 'scale' / 'jod.csv'} is the same file as --answers")


@pytest.mark.parametrize("args, says", [
    (("encode", "{clip}", "{dir}", "--codec", "x265", "-p", "qp=37"), "BITSTREAM {dir}: is a directory; give a file"),
    (("decode", "{dir}", "{folder}/r.y4m"), "BITSTREAM {dir}: is a directory; give a file"),
    (("score", "{clip}", "{clip}", "--summary", "{dir}"), "--summary {dir}: is a directory; give a file"),
    (("aggregate", "{dir}", "--out", "{folder}/rd.csv"), "SUMMARIES {dir}: is a directory; give a file"),
    (("analysis", "denoising", "--codec", "c", "--dataset", "d", "--sequence", "s", "--rate", "r", "--source", "{clip}", "--input",
      "bitstream", "r", "{dir}", "--out-dir", "{folder}/o"), "--input {dir}: is a directory"),
    (("analysis", "sampling_steps", "--codec", "c", "--dataset", "d", "--sequence", "s", "--source", "{dir}", "--out-dir", "{folder}/o"),
     "--source {dir}: is a directory; give a file"),
    (("analysis", "tdir", "--codec", "c", "--dataset", "d", "--sequence", "s", "--source", "{clip}", "--out-dir", "{clip}"),
     "--out-dir {clip}: is a file; give a folder"),
    (("study", "scale", "{folder}", "--answers", "{dir}"), "--answers {dir}: is a directory; give a file"),
    (("data", "prepare", "--dataset", "demo", "--sequence", "bikes", "--out", "{dir}"), "--out {dir}: is a directory; give a file"),
    (("decode", "{folder}/none.hevc", "{folder}/r.y4m"), "BITSTREAM {folder}/none.hevc: no such file; check the path"),
])
def test_a_path_of_the_wrong_kind_is_one_line(clip: Path, args: tuple[str, ...], says: str) -> None:
    """Not click's usage text (three lines and a hint): the one line every other refusal is."""
    folder = clip.parent
    (folder / "dir.hevc").mkdir()
    names = {"clip": clip, "dir": folder / "dir.hevc", "folder": folder}
    refused(folder, *(arg.format(**names) for arg in args), message=says.format(**names))
