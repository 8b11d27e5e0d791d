"""Report stage on a synthetic but realistic results tree: bd.csv, plots, provenance, index.html, report.md.

The tree has what the pipeline writes (rd.csv, bitstreams, encode and decode records, score summaries, per-frame CSVs,
preview PNGs, a small Y4M source) with RD curves shaped like real low-rate codecs. The HTML
is rendered in a real headless chromium, which must load every embedded image.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from vcbench import layout
from vcbench.errors import VcbenchError
from vcbench.video import VideoFormat, Y4MReader, Y4MWriter, rgb_to_yuv, yuv_to_rgb

PRESET = "smoke"
FRAMES = 8
FMT = VideoFormat(width=128, height=96)
# codec -> (extension, [(rate label, bpp)], PSNR offset in dB at equal rate): svtav1 ~0.8 dB better than x265.
CODECS = {
    "x265": ("hevc", [("qp51", 0.011), ("qp47", 0.021), ("qp43", 0.043)], 0.0),
    "svtav1": ("obu", [("qp63", 0.009), ("qp58", 0.019), ("qp53", 0.040)], 0.8),
}
SEQUENCES = {"bunny": 30.0, "bikes": 27.5}  # PSNR at 0.02 bpp for x265
# The jobs' clock: job n starts RUN_START + 10 n s and its score ends 6 s later (the run: first start to last end).
RUN_START = "2026-01-02T03:00:00.000+00:00"
# `vcbench decoder-cost` counts of svtav1's points on the first sequence, as if it were a neural codec (the report
# shows whatever it is given): MACs per pixel per rate index
COUNTED = {"codec": "svtav1", "sequence": "bunny", "macs_per_pixel": [1500.0, 3000.0, 6000.0]}
CHROMIUM = Path("/usr/bin/chromium")


def vcbench(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real command line, as the Snakemake rules do."""
    result = subprocess.run([sys.executable, "-m", "vcbench.cli", *args], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=600)
    assert result.returncode == 0, f"vcbench {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _source_frames(seed: int) -> list[np.ndarray]:
    """Moving textured RGB content (gradients + stripes + noise), so crops have something to show."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:FMT.height, 0:FMT.width].astype(np.float32)
    frames = []
    for t in range(FRAMES):
        base = 0.5 + 0.3 * np.sin((xx + 3 * t) / 7.0) * np.cos(yy / 11.0)
        rgb = np.stack([base, 0.6 * base + 0.2 * (xx / FMT.width), 1.0 - base], axis=-1)
        rgb[40:70, 20 + t:60 + t] = rng.uniform(0, 1, (30, 40, 3))  # a textured block, the busiest window
        frames.append(np.clip(rgb, 0, 1).astype(np.float32))
    return frames


def build_results_tree(root: Path, preset: str = PRESET) -> Path:
    """Write data/, results/<preset>/ and reports/<preset>/rd.csv as the pipeline would; return rd.csv."""
    import datetime as dt

    rng = np.random.default_rng(7)
    rows = []
    start = dt.datetime.fromisoformat(RUN_START)
    for s_index, (sequence, psnr_at_002) in enumerate(SEQUENCES.items()):
        source = root / "data" / "demo" / f"{sequence}.y4m"
        source.parent.mkdir(parents=True, exist_ok=True)
        with Y4MWriter(source, FMT) as writer:
            for rgb in _source_frames(s_index):
                writer.write(rgb_to_yuv(rgb, FMT))
        source_sha = hashlib.sha256(source.read_bytes()).hexdigest()
        with Y4MReader(source) as reader:
            middle = yuv_to_rgb(list(reader.frames())[FRAMES // 2], FMT)
        for codec, (ext, ladder, offset) in CODECS.items():
            for rate, bpp_target in ladder:
                n_bytes = int(round(bpp_target * FRAMES * FMT.width * FMT.height / 8))
                bpp = 8 * n_bytes / (FRAMES * FMT.width * FMT.height)
                psnr_yuv = psnr_at_002 + offset + 6.0 * math.log2(bpp / 0.02)
                quality = 1 / (1 + math.exp(-(psnr_yuv - 28) / 3))  # 0..1, rises with PSNR
                folder = root / "results" / preset / "demo" / sequence / codec
                folder.mkdir(parents=True, exist_ok=True)
                bitstream = folder / f"{rate}.{ext}"
                bitstream.write_bytes(rng.integers(0, 256, n_bytes, dtype=np.uint8).tobytes())
                sha = hashlib.sha256(bitstream.read_bytes()).hexdigest()
                encode = {"codec": codec, "rate": rate, "params": {"qp": int(rate[2:])},
                          "options": {"gop": 32, "preset": "medium"},
                          "command": f"ffmpeg -i {source.relative_to(root)} -qp {rate[2:]} -f {ext} {bitstream.relative_to(root)}",
                          "versions": {"ffmpeg": "7.1-static", codec: "4.1"}, "encode_seconds": 0.5 + rng.random(),
                          "bytes": n_bytes, "bitstream_sha256": sha, "source": str(source.relative_to(root)),
                          "source_sha256": source_sha, "frames": FRAMES,
                          "provenance": {"started_utc": (start + dt.timedelta(seconds=10 * len(rows))).isoformat()}}
                (folder / f"{rate}.encode.json").write_text(json.dumps(encode))
                # the encode and decode rules' Snakemake benchmarks: wall seconds and peak memory (MB)
                for stage, seconds, rss in (("encode", encode["encode_seconds"], 100 + len(rows)), ("decode", 0.1, "NA")):
                    timing = root / layout.fill(getattr(layout, f"{stage.upper()}_TIMING"), preset=preset, dataset="demo",
                                                sequence=sequence, codec=codec, rate=rate)
                    timing.parent.mkdir(parents=True, exist_ok=True)
                    timing.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                                      f"{seconds:.4f}\t0:00:01\t{rss}\t900\t90\t95\t0\t1\t80\t{seconds:.2f}\n")
                if codec == COUNTED["codec"] and sequence == COUNTED["sequence"]:
                    macs = COUNTED["macs_per_pixel"][[r for r, _ in ladder].index(rate)]
                    (folder / f"{rate}.decoder_cost.json").write_text(json.dumps(
                        {"macs_per_pixel": macs, "denoiser_evaluations_per_frame": 2.0, "denoiser_calls": 4, "parameters": 123456,
                         "denoiser_parameters": 100000, "frames": FRAMES}))
                decode = {"bitstream_sha256": sha, "frames": FRAMES, "decode_seconds": 0.1 + rng.random() / 10}
                (folder / f"{rate}.decode.json").write_text(json.dumps(decode))
                per_frame = psnr_yuv + rng.normal(0, 0.4, FRAMES)
                pd.DataFrame({"frame": range(FRAMES), "psnr_y": per_frame - 0.7, "psnr_u": per_frame + 3,
                              "psnr_v": per_frame + 3.5, "psnr_yuv": per_frame,
                              "ms_ssim": np.clip(quality + rng.normal(0, 0.01, FRAMES), 0, 1),
                              "vmaf": 100 * quality + rng.normal(0, 1, FRAMES)}).to_csv(folder / f"{rate}.frames.csv", index=False)
                noise = rng.normal(0, 10 ** (-psnr_yuv / 20), middle.shape)
                matplotlib.image.imsave(folder / f"{rate}.preview.png", np.clip(middle + noise, 0, 1))
                rows.append({
                    "dataset": "demo", "sequence": sequence, "codec": codec, "rate": rate, "frames": FRAMES,
                    "width": FMT.width, "height": FMT.height, "bit_depth": 8, "bytes": n_bytes, "bpp": bpp,
                    "psnr_y": psnr_yuv - 0.7, "psnr_u": psnr_yuv + 3, "psnr_v": psnr_yuv + 3.5, "psnr_yuv": psnr_yuv,
                    "ms_ssim": quality, "vmaf": 100 * quality, "vmaf_neg": 100 * quality - 2,
                    "lpips": 0.6 * (1 - quality), "dists": 0.4 * (1 - quality),
                    "encode_seconds": encode["encode_seconds"], "decode_seconds": decode["decode_seconds"],
                    "bitstream": str(bitstream.relative_to(root)), "bitstream_sha256": sha, "source_sha256": source_sha,
                    "codec_version": f"{codec} 4.1", "config_hash": "c0ffee1234567890", "not_computed": "fid: dataset-level",
                })
                finished = start + dt.timedelta(seconds=10 * (len(rows) - 1) + 6)
                (folder / f"{rate}.summary.json").write_text(json.dumps({**rows[-1], "provenance": {"finished_utc": finished.isoformat()}}))
    rd_path = root / "reports" / preset / "rd.csv"
    rd_path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(rd_path, index=False)
    return rd_path


METRICS = "psnr_yuv,psnr_y,ms_ssim,vmaf,vmaf_neg,lpips,dists,fid"


def report_file(name: str, preset: str = PRESET) -> str:
    """A file of reports/<preset>/ as the rules name it (``name``: a `vcbench.layout` template's name, e.g. "RD")."""
    return layout.fill(getattr(layout, name), preset=preset)


def bd_table_args(preset: str = PRESET, *extra: str) -> tuple[str, ...]:
    return ("bd-table", "--rd", report_file("RD", preset), "--out", report_file("BD", preset), "--anchor", "x265", *extra)


def report_args(preset: str = PRESET, *extra: str) -> tuple[str, ...]:
    files = {"--rd": "RD", "--bd": "BD", "--plots": "PLOTS", "--provenance": "PROVENANCE", "--html": "HTML", "--md": "MARKDOWN"}
    return ("report", "--preset", preset, *[arg for flag, name in files.items() for arg in (flag, report_file(name, preset))],
            "--anchor", "x265", *report_job_args(preset), *extra)


# What the report reads of every job, by the option that passes it (the report rule's REPORT_JOB_FILES).
REPORT_JOB_FILES = {"--encode-record": layout.ENCODE_RECORD, "--summary": layout.SUMMARY, "--encode-timing": layout.ENCODE_TIMING,
                    "--decode-timing": layout.DECODE_TIMING}


def decoder_cost_args(preset: str = PRESET) -> list[str]:
    """--decoder-cost KEY FILE of the counted jobs (COUNTED), as the plots and report rules pass them."""
    return [arg for key, job in job_keys(preset).items() if job["codec"] == COUNTED["codec"] and job["sequence"] == COUNTED["sequence"]
            for arg in ("--decoder-cost", key, layout.fill(layout.DECODER_COST, **job))]


def report_job_args(preset: str = PRESET) -> list[str]:
    return [arg for option, template in REPORT_JOB_FILES.items() for key, job in job_keys(preset).items()
            for arg in (option, key, layout.fill(template, **job))] + decoder_cost_args(preset)


def job_keys(preset: str = PRESET) -> dict[str, dict[str, str]]:
    """Job key (dataset/sequence/codec/rate) -> the job's fields, for every job of the tree."""
    return {f"demo/{sequence}/{codec}/{rate}": {"preset": preset, "dataset": "demo", "sequence": sequence, "codec": codec,
                                                "rate": rate, "extension": extension}
            for sequence in SEQUENCES for codec, (extension, ladder, _) in CODECS.items() for rate, _ in ladder}


# The records provenance reads, by the option that passes them (the rule's JOB_RECORDS).
RECORD_OPTIONS = {"--encode-record": layout.ENCODE_RECORD, "--decode-record": layout.DECODE_RECORD, "--summary": layout.SUMMARY}


def record_args(preset: str = PRESET, options: tuple[str, ...] = tuple(RECORD_OPTIONS)) -> list[str]:
    """OPTION KEY FILE of every job of the tree, for each of ``options``, as the provenance and mlflow_runs rules pass them."""
    return [arg for option in options for key, job in job_keys(preset).items()
            for arg in (option, key, layout.fill(RECORD_OPTIONS[option], **job))]


def plots_file_args(preset: str = PRESET) -> list[str]:
    """--frames/--preview KEY FILE of every job of the tree and --source of every sequence, as the plots rule passes them."""
    args = []
    for sequence in SEQUENCES:
        args += ["--source", f"demo/{sequence}", layout.fill(layout.SEQUENCE, dataset="demo", sequence=sequence)]
        for codec, (_, ladder, _) in CODECS.items():
            for rate, _ in ladder:
                job = {"preset": preset, "dataset": "demo", "sequence": sequence, "codec": codec, "rate": rate}
                key = f"demo/{sequence}/{codec}/{rate}"
                args += ["--frames", key, layout.fill(layout.FRAMES, **job), "--preview", key, layout.fill(layout.PREVIEW, **job)]
    return args


def build_report(root: Path, preset: str = PRESET) -> Path:
    """The report rules in DAG order through the command line (MLflow steps aside: see test_tracking)."""
    vcbench(*bd_table_args(preset, "--method", "pchip", "--metrics", METRICS), cwd=root)
    vcbench("plots", "--rd", report_file("RD", preset), "--out", report_file("PLOTS", preset), *plots_file_args(preset),
            *decoder_cost_args(preset), "--metrics", METRICS, "--preview-bpp", "0.02", cwd=root)
    vcbench("provenance", "--preset", preset, "--rd", report_file("RD", preset), "--bd", report_file("BD", preset),
            *record_args(preset), "--out", report_file("PROVENANCE", preset), cwd=root)
    vcbench(*report_args(preset, "--method", "pchip"), cwd=root)
    return root / "reports" / preset


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    build_results_tree(root)
    return build_report(root)


def test_bd_csv_adds_rows_against_each_further_anchor(tmp_path: Path):
    build_results_tree(tmp_path)
    result = vcbench(*bd_table_args(PRESET, "--also-against", "svtav1", "--also-against", "vvenc", "--metrics", "psnr_yuv"),
                     cwd=tmp_path)
    assert "no BD against vvenc: rd.csv has no RD points of it" in result.stderr
    bd = pd.read_csv(tmp_path / "reports" / PRESET / "bd.csv").set_index(["anchor", "codec", "sequence"])
    assert bd.loc[("x265", "svtav1", "mean"), "bd_quality"] == pytest.approx(0.8, abs=1e-6)
    assert bd.loc[("svtav1", "x265", "mean"), "bd_quality"] == pytest.approx(-0.8, abs=1e-6)


def test_bd_csv_has_sequences_and_dataset_means(report_dir: Path):
    bd = pd.read_csv(report_dir / "bd.csv")
    assert set(bd["metric"]) == {"psnr_yuv", "psnr_y", "ms_ssim", "vmaf", "vmaf_neg", "lpips", "dists"}  # no fid column
    assert set(bd["sequence"]) == {"bunny", "bikes", "mean"}
    assert set(bd["codec"]) == {"svtav1"} and set(bd["anchor"]) == {"x265"}
    psnr = bd[bd["metric"] == "psnr_yuv"].set_index("sequence")
    # svtav1 is 0.8 dB better at equal rate on a 6 dB/octave curve: BD-PSNR 0.8 dB, BD-rate 2^(-0.8/6) - 1.
    assert psnr.loc["mean", "bd_quality"] == pytest.approx(0.8, abs=1e-6)
    assert psnr.loc["mean", "bd_rate_pct"] == pytest.approx(100 * (2 ** (-0.8 / 6) - 1), abs=1e-6)
    assert psnr.loc["mean", "bd_rate_pct"] == pytest.approx(psnr.loc[["bunny", "bikes"], "bd_rate_pct"].mean())
    lpips = bd[(bd["metric"] == "lpips") & (bd["sequence"] == "mean")].iloc[0]
    assert lpips["direction"] == "lower" and lpips["bd_quality"] > 0 and lpips["bd_rate_pct"] < 0


def test_plots_fail_on_a_missing_declared_file_with_one_line_naming_it(report_dir: Path, tmp_path: Path):
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(report_dir.parents[1], root)
    missing = layout.fill(layout.FRAMES, preset=PRESET, dataset="demo", sequence="bikes", codec="x265", rate="qp47")
    (root / missing).unlink()
    args = [sys.executable, "-m", "vcbench.cli", "plots", "--rd", report_file("RD"), "--out", "plots", "--metrics", METRICS]
    result = subprocess.run([*args, *plots_file_args()], cwd=root, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and result.stderr.strip() == (
        f"vcbench: error: {missing}: no such file (--frames demo/bikes/x265/qp47); build it first (rule score: snakemake {missing})")
    # a point of rd.csv whose file the command was not given at all: the same, naming the option to pass
    given = plots_file_args()
    at = given.index("demo/bikes/svtav1/qp58")
    result = subprocess.run([*args, *given[:at - 1], *given[at + 2:]], cwd=root, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and result.stderr.strip().startswith(
        "vcbench: error: no --frames file given for demo/bikes/svtav1/qp58 (a point of rd.csv); pass --frames demo/bikes/svtav1/qp58 FILE")


def test_plots_are_written_as_png_and_svg(report_dir: Path):
    manifest = json.loads((report_dir / "plots" / "manifest.json").read_text())
    kinds = {f["kind"] for f in manifest["figures"]}
    assert kinds == {"rd", "rd_sequences", "frames", "crops", "cost"}
    for figure in manifest["figures"]:
        png = report_dir / "plots" / figure["png"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if figure["kind"] != "crops":
            assert (report_dir / "plots" / figure["svg"]).read_text().lstrip().startswith(("<?xml", "<svg"))
    image = matplotlib.image.imread(report_dir / "plots" / "rd_demo_psnr_yuv.png")
    assert image[..., :3].std() > 0.05  # not a blank canvas
    assert len([f for f in manifest["figures"] if f["kind"] == "crops"]) == len(SEQUENCES)


def test_provenance_covers_every_number(report_dir: Path):
    provenance = json.loads((report_dir / "provenance.json").read_text())
    rd = pd.read_csv(report_dir / "rd.csv")
    bd = pd.read_csv(report_dir / "bd.csv")
    assert len(provenance["rd_points"]) == len(rd) and len(provenance["bd_values"]) == len(bd)
    point = provenance["rd_points"][0]
    assert point["bitstream_sha256"] == rd.loc[0, "bitstream_sha256"]
    assert point["config_hash"] == "c0ffee1234567890" and point["data_version"] == "untracked"
    assert point["encoder_versions"]["ffmpeg"] == "7.1-static" and "numpy" in point["tool_versions"]
    assert point["commit"] is None and point["jobs"]["encode"]["commit"] is None  # the synthetic records name no commit
    mean = next(v for v in provenance["bd_values"] if v["sequence"] == "mean")
    assert len(mean["rd_points"]) == 2 * 3 * len(SEQUENCES)  # anchor + test, 3 rates, every sequence
    assert provenance["warning"].startswith("WARNING: ") and "12 RD point(s) have jobs that recorded no commit" in provenance["warning"]


def test_report_md_states_conventions_and_dirty_tree(report_dir: Path):
    text = (report_dir / "report.md").read_text()
    assert text.splitlines()[0].startswith("**WARNING: ") and "recorded no commit" in text.splitlines()[0]
    assert "anchor minus test" in text and "BD-rate (%) against x265" in text
    assert markdown_links(text) and all((report_dir / link).is_file() for link in markdown_links(text))


def markdown_links(text: str) -> list[str]:
    """Every link and image target of a markdown text but web addresses."""
    import re

    return [target for target in re.findall(r"\]\(([^)\s]+)\)", text) if not target.startswith(("http://", "https://"))]


def test_report_md_links_resolve_from_wherever_it_is_written(report_copy: Path):
    root = report_copy.parent.parent
    vcbench(*report_args(PRESET, "--method", "pchip", "--md", "published/report.md"), cwd=root)
    markdown = root / "published" / "report.md"
    links = markdown_links(markdown.read_text())
    assert "../reports/smoke/rd.csv" in links and any(link.startswith("../reports/smoke/plots/") for link in links)
    assert [link for link in links if not (markdown.parent / link).is_file()] == []


def test_dirty_warning_is_on_the_first_line_only_when_dirty(report_dir: Path):
    from vcbench.report.content import load_content
    from vcbench.report.html import render_html
    from vcbench.report.markdown import MarkdownLinks, render_markdown

    assert "recorded no commit" in (report_dir / "index.html").read_text().splitlines()[0]
    content = load_content(PRESET, report_dir / "rd.csv", report_dir / "bd.csv", report_dir / "plots" / "manifest.json",
                           report_dir / "provenance.json", None, report_dir, "x265", "pchip")
    content.provenance["warning"] = ""  # as for a clean checkout
    links = MarkdownLinks.from_files(report_dir / "report.md", rd=report_dir / "rd.csv", bd=report_dir / "bd.csv",
                                     provenance=report_dir / "provenance.json", html=report_dir / "index.html",
                                     plots=report_dir / "plots", analyses=report_dir)
    assert render_markdown(content, links).splitlines()[0] == f"# vcbench report: preset {PRESET}"
    html = render_html(content, report_dir, report_dir / "plots")
    assert html.splitlines()[0] == "<!DOCTYPE html>" and 'id="dirty-warning"' not in html


def test_index_html_renders_in_headless_chromium(report_dir: Path, tmp_path: Path):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent: install it with `apt-get install -y chromium`")
    html = report_dir / "index.html"
    # Chromium writes the DOM after scripts ran: a small script records how many images decoded.
    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace("</body>", """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute('data-images', imgs.length + '/' + ok);
  document.body.setAttribute('data-tables', document.querySelectorAll('table').length);
});
</script></body>"""))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([str(CHROMIUM), *flags, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    images = dom.stdout.split('data-images="')[1].split('"')[0]
    total, loaded = map(int, images.split("/"))
    assert total >= 6 and loaded == total, f"only {loaded} of {total} images decoded"
    assert int(dom.stdout.split('data-tables="')[1].split('"')[0]) >= 4
    assert "BD-rate (%) against x265" in dom.stdout and "recorded no commit" in dom.stdout

    shot = tmp_path / "shot.png"
    run = subprocess.run([str(CHROMIUM), *flags, f"--screenshot={shot}", "--window-size=1280,2400", html.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.std() > 0.05 and (pixels.mean(axis=2) < 0.5).mean() > 0.005  # text and plots, not a blank page


def test_bd_command_prints_json_for_two_csv_curves(tmp_path: Path):
    pd.DataFrame({"rate": [90.33, 181.03, 332.99, 547.79], "psnr": [27.95, 31.17, 34.44, 38.11]}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"rate": [127.1719, 186.14, 307.2924, 481.5588], "psnr": [29.9286, 32.4165, 34.7013, 37.4561]}).to_csv(
        tmp_path / "b.csv", index=False)
    out = vcbench("bd", "--anchor", "a.csv", "--test", "b.csv", "--metric", "psnr", "--method", "cubic", "--rate-column", "rate",
                  cwd=tmp_path)
    result = json.loads(out.stdout)
    assert result["bd_rate_pct"] == pytest.approx(-13.261773, abs=1e-4)
    assert result["bd_quality"] == pytest.approx(0.800713, abs=1e-4)
    assert result["method"] == "cubic" and 0.7 < result["overlap"] < 0.75
    assert "overlap" in out.stderr  # below 75 %: warned


def test_bd_command_rejects_a_csv_without_rate(tmp_path: Path):
    pd.DataFrame({"kbps": [1, 2], "psnr": [30, 31]}).to_csv(tmp_path / "a.csv", index=False)
    result = subprocess.run([sys.executable, "-m", "vcbench.cli", "bd", "--anchor", "a.csv", "--test", "a.csv",
                             "--metric", "psnr"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2 and "no rate column 'bpp' (found: kbps, psnr); pass --rate-column" in result.stderr


def _write_fid_csv(report_dir: Path, fid_of, not_computed: str = "", warning: str = "") -> Path:
    """fid.csv as `vcbench fid` writes it: one row per codec x rate of the tree, FID from ``fid_of(codec, index)``."""
    from vcbench.commands.fid import FID_COLUMNS

    rows = []
    for codec, (_, ladder, _) in CODECS.items():
        for index, (rate, _) in enumerate(ladder):
            value = fid_of(codec, index)
            rows.append({"dataset": "demo", "codec": codec, "rate": rate, "sequences": len(SEQUENCES),
                         "frames": FRAMES * len(SEQUENCES), "patches": 12, "reference_patches": 12,
                         "fid": value, "kid": "" if value == "" else value / 2000, "kid_std": "" if value == "" else 0.0012,
                         "kid_subset_size": "" if value == "" else 12, "warning": warning, "not_computed": not_computed})
    path = report_dir / "fid.csv"
    pd.DataFrame(rows, columns=FID_COLUMNS).to_csv(path, index=False)
    return path


@pytest.fixture()
def report_copy(report_dir: Path, tmp_path: Path) -> Path:
    """A copy of the built tree (the report reads reports/ and every job's records and timings in results/)."""
    import shutil

    shutil.copytree(report_dir.parents[1], tmp_path / "repo")
    return tmp_path / "repo" / "reports" / PRESET


def test_fid_gives_pooled_bd_rows_and_a_fid_table(report_copy: Path):
    root = report_copy.parent.parent
    # svtav1 is better at equal rate: lower FID at its (lower) rates than x265 at its own.
    warning = "only 12 patches (< 2048, the Inception feature dimension): FID is biased and not reliable at this count"
    _write_fid_csv(report_copy, lambda codec, i: (150.0 - 40 * i) - (15.0 if codec == "svtav1" else 0.0), warning=warning)
    fid = ("--fid", report_file("FID"))
    vcbench(*bd_table_args(PRESET, "--metrics", METRICS, *fid), cwd=root)
    vcbench(*report_args(PRESET, *fid), cwd=root)
    bd = pd.read_csv(report_copy / "bd.csv")
    pooled = bd[bd["metric"].isin(["fid", "kid"])].set_index("metric")
    assert set(pooled.index) == {"fid", "kid"} and set(pooled["sequence"]) == {"mean"}
    assert (pooled["bd_quality"] > 0).all() and (pooled["bd_rate_pct"] < 0).all()
    text = (report_copy / "report.md").read_text()
    assert "## FID and KID (pooled per dataset)" in text and "± 0.00120" in text and "only 12 patches (< 2048" in text
    assert "fid (lower better)" in text  # in the dataset's BD summary
    html = (report_copy / "index.html").read_text()
    assert 'class="fid"' in html and "only 12 patches (&lt; 2048" in html


def test_missing_fid_weights_give_no_bd_rows_and_the_report_names_the_fix(report_copy: Path, tmp_path: Path):
    from vcbench.assets.registry import load_registry, missing_reason

    root = report_copy.parent.parent
    reason = missing_reason(load_registry()["fid-inception-2015-12-05"], cache_dir=tmp_path / "empty-cache")
    _write_fid_csv(report_copy, lambda codec, i: "", not_computed=f"fid, kid: {reason}")
    fid = ("--fid", report_file("FID"))
    vcbench(*bd_table_args(PRESET, "--metrics", METRICS, *fid), cwd=root)
    vcbench(*report_args(PRESET, *fid), cwd=root)
    assert not pd.read_csv(report_copy / "bd.csv")["metric"].isin(["fid", "kid"]).any()
    text = (report_copy / "report.md").read_text()
    notes = text.split("## Not computed\n\n")[1].split("\n\n")[0].splitlines()
    # one line per unique reason; the reason's own "; run ..." is not split off
    assert f"- fid, kid: {reason} (6 of 6 pooled FID/KID points)" in notes
    assert "- fid: dataset-level (12 of 12 RD points)" in notes
    assert "vcbench assets fetch" in reason and str(tmp_path / "empty-cache") in reason
    from html import escape

    assert escape(reason) in (report_copy / "index.html").read_text()


def test_metrics_left_out_of_the_plan_are_reported_with_the_fix(report_copy: Path, tmp_path: Path, monkeypatch):
    """As the DAG runs the report without any weights: the score jobs were not given LPIPS/DISTS (rd.csv has
    no such columns), no FID job ran (no --fid), and the plan's reasons reach the report."""
    import shlex
    from html import escape

    from conftest import shipped_config
    from vcbench.workflow import Plan, not_computed_args

    for var in ("VCBENCH_ASSETS_DIR", "TORCH_HOME", "VCBENCH_ASSET_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    config = shipped_config()
    config["assets"] = {"cache_dir": str(tmp_path / "empty-cache")}
    plan = Plan(config, PRESET)
    root = report_copy.parent.parent
    rd = pd.read_csv(report_copy / "rd.csv").drop(columns=["lpips", "dists"]).assign(not_computed="")
    rd.to_csv(report_copy / "rd.csv", index=False)
    vcbench(*bd_table_args(PRESET, "--metrics", METRICS), cwd=root)
    vcbench(*report_args(PRESET, *shlex.split(not_computed_args(plan))), cwd=root)
    assert set(pd.read_csv(report_copy / "bd.csv")["metric"]) == {"psnr_yuv", "psnr_y", "ms_ssim", "vmaf", "vmaf_neg"}
    text = (report_copy / "report.md").read_text()
    notes = text.split("## Not computed\n\n")[1].split("\n\n")[0].splitlines()
    reasons = plan.unavailable_metrics
    assert notes == [f"- lpips: {reasons['lpips']} (no job was planned for it)",
                     f"- dists: {reasons['dists']} (no job was planned for it)",
                     f"- fid, kid: {reasons['fid']} (no job was planned for it)"]
    assert "missing fid-inception-2015-12-05; run `vcbench assets fetch`" in notes[2]
    assert "## FID and KID" not in text
    html = (report_copy / "index.html").read_text()
    assert all(escape(line[2:]) in html for line in notes)


def test_report_shows_only_the_analyses_it_is_given(tmp_path: Path, monkeypatch):
    from vcbench.analysis_record import AnalysisRecord, Table
    from vcbench.report.content import load_analyses

    monkeypatch.chdir(tmp_path)  # relative paths, as the DAG passes them
    report = Path("reports") / PRESET
    for sequence in ("bikes", "left_from_an_earlier_config"):
        folder = report / "analysis" / "demo" / sequence / "divinr" / "d1"
        folder.mkdir(parents=True)
        (folder / "per_step_count.csv").write_text("steps,decode_seconds,psnr_yuv\n1,2.5,20.1\n4,9.0,19.5\n")
        (folder / "denoising.png").write_bytes(b"png")
        AnalysisRecord("denoising", "DiV-INR denoising analysis", "divinr", "demo", sequence, f"{sequence} at d1", "how to read it",
                       ["denoising.png"], [Table("per step count", "per_step_count.csv")], ["a finding"]).write(folder)
    with pytest.raises(VcbenchError, match="names files that were not written: absent.png"):
        AnalysisRecord("k", "s", "c", "d", "q", "t", "n", ["absent.png"]).write(folder)
    shown = load_analyses(report, [Path("reports", PRESET, "analysis/demo/bikes/divinr/d1/analysis.json")])
    assert [s["heading"] for s in shown] == ["DiV-INR denoising analysis"] and shown[0]["note"] == "how to read it"
    (item,) = shown[0]["items"]
    assert item["title"] == "bikes at d1" and item["findings"] == ["a finding"]
    assert item["figures"] == ["analysis/demo/bikes/divinr/d1/denoising.png"]
    assert item["tables"] == [("per step count", ["steps", "decode_seconds", "psnr_yuv"],
                               [["1", "2.500", "20.100"], ["4", "9.000", "19.500"]])]


def test_the_report_states_each_metric_as_its_declaration_does():
    """The conventions name the lower-is-better columns and print each shown metric's own sentence, from the
    registry; the metrics registered but not shown are named too."""
    from vcbench.metrics.registry import metric_spec
    from vcbench.report.content import conventions, reported_metrics

    shown = reported_metrics(["dataset", "bpp", "psnr_y", "psnr_yuv", "cambi", "butteraugli_max", "cvvdp"])
    assert shown == ["psnr", "cambi", "butteraugli", "cvvdp"]
    lines = conventions("x265", "pchip", shown)
    assert "Lower-is-better metrics (cambi, butteraugli_max, butteraugli_3norm)" in " ".join(lines)
    assert all(metric_spec(name).conventions in lines for name in shown)
    assert not any(metric_spec("lpips").conventions == line for line in lines)
    (stated,) = [line for line in lines if line.startswith("Metrics in this report:")]
    assert stated.startswith("Metrics in this report: psnr, cambi, butteraugli, cvvdp; registered but not in it: ms_ssim, vmaf")


def test_the_crop_goes_where_detail_is_spread_not_to_a_lone_edge():
    from vcbench.report.crops import lowest_rate_points
    from vcbench.video.texture import crop_psnr, textured_window

    rng = np.random.default_rng(0)
    frame = np.full((96, 160, 3), 0.9)
    frame[:, 20:22] = 0.0  # one strong edge in a flat area: much gradient, little texture
    frame[40:88, 100:148] = rng.uniform(0, 1, (48, 48, 3))  # texture everywhere in this block
    assert textured_window(frame, 48) == (40, 96)
    assert crop_psnr(frame, frame) == 100.0 and crop_psnr(np.full((8, 8, 3), 0.5), np.full((8, 8, 3), 0.6)) == pytest.approx(20.0)
    rd = pd.DataFrame({"dataset": ["d"] * 3, "sequence": ["s"] * 3, "codec": ["a", "a", "b"], "rate": ["q1", "q2", "q1"],
                       "bpp": [0.02, 0.01, 0.05]})
    assert lowest_rate_points(rd)[["codec", "rate"]].values.tolist() == [["a", "q2"], ["b", "q1"]]


def test_the_report_states_the_run_time_and_the_cost_of_every_rate_point(report_dir: Path):
    text = (report_dir / "report.md").read_text()
    jobs = len(job_keys())
    minutes = (10 * (jobs - 1) + 6) / 60
    assert f"Run time: {minutes:.1f} min, from the first encode's start (2026-01-02 03:00:00 UTC)" in text
    costs = text.split("## Cost per rate point\n\n")[1].split("\n## ")[0]
    assert "FlopCounterMode" in costs
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|")[:2]): [c.strip() for c in line.strip("|").split("|")]
            for line in costs.splitlines() if line.startswith("| svtav1") or line.startswith("| x265")}
    # svtav1's rates are counted (1.5k, 3k, 6k MACs per pixel), x265's are not; peak memory: the largest of the sequences'
    assert rows[("svtav1", "qp63")][7:10] == ["1.5 k", "2.00 (4)", "123 k (100 k)"]
    assert rows[("svtav1", "qp53")][7] == "6 k" and rows[("x265", "qp51")][7:10] == ["n/a", "n/a", "n/a"]
    order = list(job_keys())
    peak = max(100 + order.index(f"demo/{sequence}/x265/qp51") for sequence in SEQUENCES)
    assert rows[("x265", "qp51")][5:7] == [str(peak), "n/a"]  # the decode benchmark sampled nothing (NA)
    html = (report_dir / "index.html").read_text()
    assert 'class="cost"' in html and "Run time: " in html


def test_the_cost_plot_sets_quality_against_decode_time_and_macs(report_dir: Path):
    manifest = json.loads((report_dir / "plots" / "manifest.json").read_text())
    (cost,) = [f for f in manifest["figures"] if f["kind"] == "cost"]
    assert cost["metric"] == "psnr_yuv" and cost["zoomed"] and "nearest 0.02 bpp" in cost["caption"]
    svg = (report_dir / "plots" / cost["svg"]).read_text()
    assert "decoder multiply-accumulates per pixel" in svg and "decode seconds per frame" in svg


def test_rd_plots_label_their_points_and_open_one_column_per_metric(report_dir: Path):
    from vcbench.report.plots import open_columns

    manifest = json.loads((report_dir / "plots" / "manifest.json").read_text())
    rd = {f["metric"]: f for f in manifest["figures"] if f["kind"] == "rd"}
    assert {m for m, f in rd.items() if f["open"]} == {"psnr_yuv", "ms_ssim", "vmaf", "lpips", "dists"}
    assert open_columns(["psnr_y", "psnr_yuv", "ssimulacra2", "butteraugli_max", "butteraugli_3norm", "cvvdp", "flip"]) == [
        "psnr_y", "ssimulacra2", "butteraugli_max", "cvvdp", "flip"]
    svg = (report_dir / "plots" / rd["psnr_yuv"]["svg"]).read_text()
    assert all(f">{rate}<" in svg or rate in svg for _, (_, ladder, _) in CODECS.items() for rate, _ in ladder)
    assert "0.05 bpp" in svg and not rd["psnr_yuv"]["zoomed"]  # svtav1 lies near x265: no zoomed panel


def test_a_codec_far_below_the_anchors_gets_a_panel_zoomed_on_them():
    from vcbench.report.plots import anchor_zoom

    curves = pd.DataFrame({"codec": ["x265"] * 3 + ["svtav1"] * 3 + ["givic"] * 2,
                           "bpp": [0.01, 0.02, 0.04, 0.01, 0.02, 0.04, 0.005, 0.01],
                           "psnr_yuv": [30.0, 32.0, 34.0, 30.5, 32.5, 34.5, 20.0, 21.0]})
    (bpp, quality) = anchor_zoom(curves, "psnr_yuv", ["x265", "svtav1"])
    assert quality == pytest.approx((30.0 - 0.36, 34.5 + 0.36)) and bpp == pytest.approx((0.01 / 1.15, 0.04 * 1.15))
    near = curves.assign(psnr_yuv=[30.0, 32.0, 34.0, 30.5, 32.5, 34.5, 29.0, 31.0])
    assert anchor_zoom(near, "psnr_yuv", ["x265", "svtav1"]) is None
    assert anchor_zoom(curves[curves["codec"] != "givic"], "psnr_yuv", ["x265", "svtav1"]) is None


def test_quality_against_sampling_steps_puts_every_codec_on_one_axis_per_metric(tmp_path: Path):
    from vcbench.analysis_record import AnalysisRecord, Table
    from vcbench.report.plots import step_plots

    records = []
    for codec, psnr in (("divinr", [20.0, 21.0, 21.5]), ("givic", [24.0, 25.0, 25.2])):
        folder = tmp_path / codec
        folder.mkdir()
        pd.DataFrame({"steps": [1, 2, 4], "decode_seconds": [1.0, 2.0, 4.0], "psnr_yuv": psnr, "lpips": [0.5, 0.4, 0.35]}).to_csv(
            folder / "steps.csv", index=False)
        records.append(AnalysisRecord("steps", "s", codec, "demo", "bikes", "t", "n", tables=[Table("c", "steps.csv")]).write(folder))
    other = tmp_path / "tdir"
    other.mkdir()
    pd.DataFrame({"r": [1, 2], "psnr_yuv": [1.0, 2.0]}).to_csv(other / "tdir.csv", index=False)  # no steps column: not drawn
    records.append(AnalysisRecord("tdir", "s", "diffvc", "demo", "bikes", "t", "n", tables=[Table("c", "tdir.csv")]).write(other))
    (entry,) = step_plots(records, ["psnr_yuv", "ms_ssim", "lpips"], tmp_path)
    assert entry["kind"] == "steps" and entry["dataset"] == "demo"
    svg = (tmp_path / entry["svg"]).read_text()
    assert "divinr bikes" in svg and "givic bikes" in svg and "diffvc" not in svg
    assert "lpips (lower is better)" in svg and "ms_ssim" not in svg  # only the metrics the tables hold
