"""`vcbench study create` on a tiny but real report (anchors encoded, decoded, scored and aggregated with
the real commands, in the DAG's layout), then a whole session in headless Chromium against
`vcbench study serve`, a kill -9 of the server, and `vcbench study scale` on what survived."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import write_sequence
from servers import _free_port
from study_helpers import StudyServer
from vcbench.cli import cli
from vcbench.io import sha256_file
from vcbench.study.clips import same_frames
from vcbench.study.folder import Study
from vcbench.study.store import Store
from vcbench.video import VideoFormat

pytestmark = pytest.mark.slow

SOURCE = "data/t/clip.y4m"
FRAMES = 6
POINTS = [("x265", "hevc", "qp32", 32), ("x265", "hevc", "qp46", 46), ("svtav1", "obu", "qp45", 45), ("svtav1", "obu", "qp60", 60)]
BROWSER_PAIRS = 10


def ok(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A repository-like folder with data/, results/ and reports/t/ (rd.csv, provenance.json) as the DAG leaves them."""
    root = tmp_path_factory.mktemp("report")
    with contextlib.chdir(root):
        Path(SOURCE).parent.mkdir(parents=True)
        write_sequence(Path(SOURCE), VideoFormat(192, 176), FRAMES)
        summaries = []
        for codec, ext, label, qp in POINTS:
            stem = f"results/t/t/clip/{codec}/{label}"
            ok("encode", SOURCE, f"{stem}.{ext}", "--codec", codec, "--rate-label", label, "-p", f"qp={qp}", "--frames", str(FRAMES))
            # as the DAG does an anchor's: the decode is timed and checked, and scoring decodes the bitstream again
            ok("decode", f"{stem}.{ext}", "--codec", codec, "--like", SOURCE, "--record", f"{stem}.decode.json")
            ok("score", SOURCE, f"{stem}.{ext}", "--metrics", "psnr,ms_ssim", "--frames", str(FRAMES), "--encode-record",
               f"{stem}.encode.json", "--decode-record", f"{stem}.decode.json", "--dataset", "t", "--sequence", "clip", "--codec", codec,
               "--frames-csv", f"{stem}.frames.csv", "--summary", f"{stem}.summary.json", "--quiet")
            summaries.append(f"{stem}.summary.json")
        ok("aggregate", *summaries, "--out", "reports/t/rd.csv", "--config-hash", "test")
        Path("reports/t/provenance.json").write_text(json.dumps({  # the keys a study keeps, as `vcbench provenance` writes them
            "commits": {"0123abcd" * 5: 4}, "mixed_commits": False, "dirty": False, "warning": "", "preset": "t",
            "report_code": {"commit": "0123abcd" * 5, "dirty": False}, "rd_csv_sha256": sha256_file("reports/t/rd.csv")}))
    return root


def every_point(root: Path) -> list[str]:
    """--bpp targets that pick both rate points of every codec."""
    rd = pd.read_csv(root / "reports/t/rd.csv")
    return ["--bpp", str(rd["bpp"].min()), "--bpp", str(rd["bpp"].max())]


@pytest.fixture(scope="module")
def study(report, tmp_path_factory) -> Path:
    with contextlib.chdir(report):
        out = ok("study", "create", "reports/t", "--out", "studies/s", *every_point(report), "--training", "2", "--trials",
                 str(BROWSER_PAIRS - 3), "--repeats", "1")
    print(out.splitlines()[-1])
    return report / "studies/s"


def test_create_decodes_every_condition_anew_into_lossless_clips_with_provenance(study, report):
    config = json.loads((study / "study.json").read_text())
    rd = pd.read_csv(report / "reports/t/rd.csv")
    ids = sorted(c["id"] for c in config["conditions"])
    assert ids == sorted(["t/clip/reference", *(f"t/clip/{codec}/{label}" for codec, _, label, _ in POINTS)])
    for condition in config["conditions"]:
        clip = study / condition["clip"]
        assert clip.suffix == ".webm" and sha256_file(clip) == condition["clip_sha256"] and condition["clip_identical_to_decode"]
        assert condition["frames"] == FRAMES and condition["clip_kbps"] > 0
        if condition["codec"] != "reference":
            row = rd[(rd["codec"] == condition["codec"]) & (rd["rate"] == condition["rate"])].iloc[0]
            assert condition["bitstream_sha256"] == row["bitstream_sha256"] == sha256_file(report / row["bitstream"])
            assert condition["metrics"]["psnr_yuv"] == pytest.approx(row["psnr_yuv"]) and condition["bpp"] == pytest.approx(row["bpp"])
    reference = next(c for c in config["conditions"] if c["codec"] == "reference")
    assert same_frames(report / SOURCE, _decoded_back(study / reference["clip"], study), FRAMES)
    assert config["report"]["report_code"]["commit"] == "0123abcd" * 5
    assert config["report"]["rd_csv_sha256"] == sha256_file(report / "reports/t/rd.csv")
    assert config["clip_format"]["codec"].startswith("VP9") and "psnr_yuv" in config["metric_columns"]
    assert config["training_pairs"] == [["t/clip/reference", "t/clip/svtav1/qp60"]] or config["training_pairs"][0][0] == "t/clip/reference"


def _decoded_back(clip: Path, scratch: Path) -> Path:
    from vcbench.tools.ffmpeg import run_ffmpeg

    out = scratch.parent / "back.y4m"
    run_ffmpeg(["-i", str(clip), "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(out)], "test")
    return out


def test_a_tampered_bitstream_stops_create_before_anything_is_written(report, tmp_path):
    root = shutil.copytree(report, tmp_path / "copy", ignore=shutil.ignore_patterns("studies"))
    bitstream = root / "results/t/t/clip/x265/qp32.hevc"
    data = bytearray(bitstream.read_bytes())
    data[len(data) // 2] ^= 1
    bitstream.write_bytes(bytes(data))
    with contextlib.chdir(root):
        result = CliRunner().invoke(cli, ["study", "create", "reports/t", "--out", "studies/bad", *every_point(root)])
    assert result.exit_code != 0 and not (root / "studies").exists()
    assert "qp32.hevc: its sha256 is not the one rd.csv records" in str(result.exception)


def test_an_existing_study_is_never_overwritten(study, report):
    with contextlib.chdir(report):
        result = CliRunner().invoke(cli, ["study", "create", "reports/t", "--out", "studies/s"])
    assert result.exit_code != 0 and "never overwritten" in str(result.exception)


def _chromium(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}", "--window-size=1300,900"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


@pytest.mark.timeout(300)
def test_a_chromium_session_answers_every_pair_and_survives_a_kill_9(study, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    server = StudyServer(study, _free_port(), tmp_path / "server.log")
    browser = _chromium(tmp_path / "profile")
    try:
        wait = WebDriverWait(browser, 30)
        browser.get(server.url)
        browser.find_element(By.ID, "code").send_keys("tester-1")
        browser.find_element(By.ID, "start").click()
        wait.until(lambda b: b.find_element(By.ID, "begin").is_displayed())
        browser.find_element(By.ID, "begin").click()
        keys = [Keys.ARROW_LEFT, Keys.ARROW_RIGHT, Keys.ARROW_DOWN]
        for pair in range(BROWSER_PAIRS):
            wait.until(lambda b, index=str(pair): b.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == index)
            assert browser.find_element(By.ID, "count").text == str(pair + 1)
            # both clips decoded by Chromium at full size, and playing
            playing = wait.until(lambda b: b.execute_script(
                "const v = ['left', 'right'].map((id) => document.getElementById(id));"
                "return v.every((x) => x.readyState >= 2 && !x.error && x.videoWidth === 192 && x.videoHeight === 176) "
                "&& !v[0].paused && v.map((x) => x.src);"))
            assert all(src.endswith(".webm") for src in playing)
            if pair == 2:
                browser.find_element(By.TAG_NAME, "body").send_keys("r")  # the reference shown above the pair
                wait.until(lambda b: b.execute_script("return document.getElementById('reference').readyState >= 2"))
                time.sleep(0.5)
                browser.save_screenshot(str(tmp_path / "study-page.png"))
                # synchronised: the two clips show the same moment (distance on the loop, in seconds)
                lag = browser.execute_script("const [l, r] = ['left', 'right'].map((id) => document.getElementById(id));"
                                             "const d = Math.abs(l.currentTime - r.currentTime); return Math.min(d, l.duration - d);")
                assert lag < 0.1
            if pair == 5:
                browser.find_element(By.ID, "choose-same").click()
            else:  # left, right, and at pair 7 "same", by keyboard
                browser.find_element(By.TAG_NAME, "body").send_keys(keys[2] if pair == 7 else keys[pair % 2])
        wait.until(lambda b: b.find_element(By.ID, "done").is_displayed())
        assert browser.find_element(By.ID, "progress-bar").get_attribute("style").endswith("width: 100%;")
    finally:
        browser.quit()
        server.kill()
    assert (tmp_path / "study-page.png").stat().st_size > 10_000
    trials = Store(Study(study).default_database_url()).trials("tester-1")
    assert len(trials) == BROWSER_PAIRS and all(t.choice for t in trials)
    assert [t.kind for t in trials].count("training") == 2 and [t.choice for t in trials].count("same") == 2
    with contextlib.chdir(study.parent.parent):
        out = ok("study", "scale", "studies/s", "--bootstrap", "50")
    table = pd.read_csv(study / "scale" / "jod.csv")
    placed = table[table["jod"].notna()]  # the conditions the answers link to the reference
    assert len(table) == 5 and table.loc[table["codec"] == "reference", "jod"].tolist() == [0.0], out
    assert len(placed) >= 2 and placed[["jod_low", "jod_high"]].notna().all().all(), out
