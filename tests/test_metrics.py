"""PSNR and VMAF against ffmpeg's own psnr and libvmaf filters, MS-SSIM against pytorch-msssim and piq, on the same pairs."""

import json
import re

import numpy as np
import pytest

from vcbench.codecs import RatePoint, create_codec
from vcbench.errors import ConfigError
from vcbench.metrics.psnr import PSNR_CAP_DB
from vcbench.metrics.registry import available_metrics, create_metric, metric_class, metric_spec
from vcbench.metrics.scoring import score_files
from vcbench.metrics.spec import LIBVMAF
from vcbench.tools.ffmpeg import run_ffmpeg
from vcbench.video import read_y4m_header


@pytest.fixture(params=[8, 10])
def coded_pair(request, make_y4m, tmp_path):
    source = make_y4m(width=256, height=192, frames=5, bit_depth=request.param)
    codec = create_codec("x265")
    codec.encode(source, tmp_path / "c.hevc", RatePoint("q", {"qp": 38}))
    codec.decode(tmp_path / "c.hevc", tmp_path / "rec.y4m")
    return source, tmp_path / "rec.y4m"


def ffmpeg_psnr(reference, distorted, tmp_path):
    stats = tmp_path / "psnr.log"
    run_ffmpeg(["-i", str(distorted), "-i", str(reference), "-lavfi", f"[0:v][1:v]psnr=stats_file={stats}", "-f", "null", "-"], "psnr")
    rows = []
    for line in stats.read_text().splitlines():
        fields = dict(re.findall(r"(\w+):(\S+)", line))
        rows.append({k: float(fields[k]) for k in ("psnr_y", "psnr_u", "psnr_v", "mse_y", "mse_u", "mse_v")})
    return rows


def test_psnr_matches_ffmpeg_per_frame(coded_pair, tmp_path):
    reference, distorted = coded_pair
    ours = score_files(reference, distorted, ["psnr"], metric_options={"psnr": {"peak": "ffmpeg"}}, progress=False).per_frame
    theirs = ffmpeg_psnr(reference, distorted, tmp_path)
    assert len(ours) == len(theirs) == 5
    for i, row in enumerate(theirs):
        for plane in "yuv":
            assert abs(ours[f"psnr_{plane}"][i] - row[f"psnr_{plane}"]) < 0.01
        expected_yuv = (6 * row["psnr_y"] + row["psnr_u"] + row["psnr_v"]) / 8
        assert abs(ours["psnr_yuv"][i] - expected_yuv) < 0.01


def test_psnr_default_peak_is_jvet(coded_pair):
    """The default peak is 255 x 2^(bitdepth-8) (HM/VTM/VVenC): at 10 bit exactly 20 log10(1020/1023) dB below
    ffmpeg's 2^bitdepth - 1; at 8 bit both are 255."""
    reference, distorted = coded_pair
    jvet = score_files(reference, distorted, ["psnr"], progress=False).per_frame
    ffmpeg = score_files(reference, distorted, ["psnr"], metric_options={"psnr": {"peak": "ffmpeg"}}, progress=False).per_frame
    expected = 20 * np.log10(1020 / 1023) if read_y4m_header(reference).bit_depth == 10 else 0.0
    for column in ("psnr_y", "psnr_u", "psnr_v", "psnr_yuv"):
        assert (jvet[column] < 90).all()  # not at the cap, where both would read 100 dB
        assert np.allclose(jvet[column] - ffmpeg[column], expected, rtol=0, atol=1e-9)
    with pytest.raises(ConfigError, match="peak"):
        create_metric("psnr", peak="1023")


def test_vmaf_matches_ffmpeg_libvmaf(coded_pair, tmp_path):
    reference, distorted = coded_pair
    ours = score_files(reference, distorted, ["vmaf"], progress=False).per_frame
    log = tmp_path / "vmaf.json"
    run_ffmpeg(["-i", str(distorted), "-i", str(reference), "-lavfi", f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}", "-f", "null", "-"],
               "vmaf")
    reference_mean = json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]
    assert abs(ours["vmaf"].mean() - reference_mean) < 0.01
    assert (ours["vmaf_neg"] <= ours["vmaf"] + 1e-6).all()


def test_libvmafs_extra_features_come_from_the_one_libvmaf_pass(coded_pair, tmp_path, monkeypatch):
    """PSNR-HVS, CIEDE2000 and CAMBI are features of the same libvmaf instance as VMAF (one ffmpeg run, one
    decode), equal to libvmaf run on its own with each feature, and leave VMAF's values as they were."""
    from vcbench.metrics import vmaf as vmaf_module

    reference, distorted = coded_pair
    alone = score_files(reference, distorted, ["vmaf"], progress=False).per_frame
    runs = []
    monkeypatch.setattr(vmaf_module, "run_ffmpeg", lambda args, what: (runs.append(args), run_ffmpeg(args, what)))
    ours = score_files(reference, distorted, ["vmaf", "psnr_hvs", "ciede2000", "cambi"], progress=False).per_frame
    assert len(runs) == 1 and runs[0].count("-i") == 2
    assert ours["vmaf"].tolist() == alone["vmaf"].tolist() and ours["vmaf_neg"].tolist() == alone["vmaf_neg"].tolist()
    for feature, columns in {"psnr_hvs": {"psnr_hvs": "psnr_hvs", "psnr_hvs_y": "psnr_hvs_y", "psnr_hvs_u": "psnr_hvs_cb",
                                          "psnr_hvs_v": "psnr_hvs_cr"},
                             "ciede": {"ciede2000": "ciede2000"}, "cambi": {"cambi": "cambi"}}.items():
        log = tmp_path / f"{feature}.json"
        run_ffmpeg(["-i", str(distorted), "-i", str(reference), "-lavfi",
                    f"[0:v][1:v]libvmaf=feature='name={feature}':log_fmt=json:log_path={log}", "-f", "null", "-"], feature)
        frames = json.loads(log.read_text())["frames"]
        for ours_column, theirs in columns.items():
            assert ours[ours_column].tolist() == pytest.approx([f["metrics"][theirs] for f in frames], abs=1e-6), ours_column
    # CIEDE2000 is libvmaf's score 45 - 20 log10(mean dE00): higher is better, like PSNR-HVS; CAMBI (banding) lower
    assert 20 < ours["ciede2000"].mean() < 60 and 20 < ours["psnr_hvs"].mean() < 60 and ours["cambi"].min() >= 0


def test_cambi_finds_the_banding_of_a_shallow_gradient_and_not_of_its_dithered_copy(tmp_path):
    """A luma ramp 60..80 over 320 px in 8 bit is 20 flat bands one code value apart: CAMBI's very case (about 19
    measured); the same ramp dithered by +-2 code values has no band (0)."""
    from vcbench.video import Frame, VideoFormat, Y4MWriter

    fmt = VideoFormat(320, 240)
    ramp = np.linspace(60, 80, fmt.width)[None, :].repeat(fmt.height, 0)
    chroma = np.full((fmt.chroma_height, fmt.chroma_width), 128, np.uint8)

    def clip(name, dither):
        y = np.round(ramp + np.random.default_rng(0).uniform(-dither, dither, ramp.shape)).astype(np.uint8)
        with Y4MWriter(tmp_path / name, fmt) as writer:
            for _ in range(2):
                writer.write(Frame(y, chroma, chroma))
        return tmp_path / name

    banded, dithered = clip("banded.y4m", 0.0), clip("dithered.y4m", 2.0)
    cambi = {path.stem: score_files(dithered, path, ["cambi"], progress=False).means()["cambi"] for path in (banded, dithered)}
    assert cambi["dithered"] < 0.1 and cambi["banded"] > 10, cambi


def test_identical_frames_hit_the_cap(make_y4m):
    source = make_y4m(width=64, height=64, frames=2)
    scores = score_files(source, source, ["psnr"], progress=False)
    assert (scores.per_frame["psnr_yuv"] == PSNR_CAP_DB).all()


def test_small_frames_leave_ms_ssim_not_computed(make_y4m):
    source = make_y4m(width=96, height=64, frames=2)
    scores = score_files(source, source, ["psnr", "ms_ssim"], progress=False)
    assert "at least 161x161" in scores.not_computed["ms_ssim"]
    assert np.isnan(scores.per_frame["ms_ssim"]).all()


@pytest.mark.parametrize("bit_depth", [8, 10])
@pytest.mark.parametrize("width", [200, 256])
def test_ms_ssim_is_pytorch_msssims_in_double_precision(make_y4m, tmp_path, bit_depth, width):
    """Against pytorch-msssim (the convention) always; against piq's independent implementation where
    the pyramid has no odd side (256x176): piq pads an odd side by replicating one edge, pytorch-msssim
    with zeros on both (3e-5 apart at 200x176, 10 bit)."""
    import piq
    import torch
    from pytorch_msssim import ms_ssim

    from vcbench.video import Y4MReader

    source = make_y4m(width=width, height=176, frames=2, bit_depth=bit_depth)
    codec = create_codec("x265")
    codec.encode(source, tmp_path / "a.hevc", RatePoint("q", {"qp": 40}))
    codec.decode(tmp_path / "a.hevc", tmp_path / "a.y4m")
    ours = score_files(source, tmp_path / "a.y4m", ["ms_ssim"], progress=False).per_frame["ms_ssim"]
    with Y4MReader(source) as ref, Y4MReader(tmp_path / "a.y4m") as dist:
        luma = [torch.from_numpy(np.stack([f.y for f in r.frames()]).astype(np.float64))[:, None] for r in (ref, dist)]
        peak = float(ref.format.max_value)
    assert np.allclose(ours, ms_ssim(luma[1], luma[0], data_range=peak, size_average=False).numpy(), rtol=0, atol=1e-6)
    if width == 256:
        assert np.allclose(ours, piq.multi_scale_ssim(luma[1], luma[0], data_range=peak, reduction="none").numpy(), rtol=0, atol=1e-6)
    assert ours.min() < 0.999


def test_ms_ssim_orders_quality(make_y4m, tmp_path):
    source = make_y4m(width=256, height=192, frames=3)
    codec = create_codec("x265")
    values = []
    for qp in (25, 50):
        codec.encode(source, tmp_path / f"{qp}.hevc", RatePoint("q", {"qp": qp}))
        codec.decode(tmp_path / f"{qp}.hevc", tmp_path / f"{qp}.y4m")
        values.append(score_files(source, tmp_path / f"{qp}.y4m", ["ms_ssim"], progress=False).per_frame["ms_ssim"].mean())
    assert 1.0 >= values[0] > values[1] > 0.0


@pytest.mark.parametrize("name", [m for m in available_metrics() if metric_spec(m).implementation not in (None, LIBVMAF)])
def test_a_metric_class_fills_the_columns_its_declaration_names(name):
    spec = metric_spec(name)
    cls = metric_class(name)
    assert tuple(cls.columns) == spec.column_names and cls.option_set is spec.options
    assert hasattr(cls, "compute_sequence" if spec.scope == "sequence" else "compute")
