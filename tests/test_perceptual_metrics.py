"""The weight-free perceptual metrics against their reference tools: SSIMULACRA 2.1 against the reference
C++'s scores (to its 8 printed decimals) and Butteraugli against butteraugli_main's on the 24 pairs of
tests/data/perceptual (SSIMULACRA 2.1 also on 9 pairs of odd sizes in tests/data/perceptual/odd_sizes), FLIP
against flip-evaluator reading the PNG files itself, ColorVideoVDP for sanity; each through
`vcbench metric` and each metric class on a small Y4M pair."""

from __future__ import annotations

import csv
import json
import math
import threading

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, write_sequence
from vcbench.metrics import butteraugli as butteraugli_module, flip as flip_module
from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.butteraugli import Butteraugli, butteraugli
from vcbench.metrics.flip import FLIP, flip
from vcbench.metrics.ssimulacra2 import SSIMULACRA2, ssimulacra2
from vcbench.video import Frame, VideoFormat, Y4MReader, color as color_module, yuv_to_rgb
from vcbench.video.color import yuv_to_srgb8
from vcbench_cli import vcbench

# 256x256 crops of scikit-image's photos against JPEG q5/20/60 and a Gaussian blur, with the reference
# tools' scores (README.md there says how they were made)
REFERENCE = REPO / "tests" / "data" / "perceptual"


def _read(name: str) -> np.ndarray:
    return np.asarray(Image.open(REFERENCE / name).convert("RGB"))


@pytest.fixture(scope="module")
def pairs() -> list[tuple[dict, np.ndarray, np.ndarray]]:
    rows = list(csv.DictReader((REFERENCE / "scores.csv").open(encoding="utf-8")))
    assert len(rows) == 24
    images = {name: _read(name) for row in rows for name in (row["reference"], row["distorted"])}
    return [(row, images[row["reference"]], images[row["distorted"]]) for row in rows]


# The issue asks for 0.05 points; the arithmetic is the reference's own (float32, fused multiply-adds), so it
# agrees to the 8 decimals the reference prints: a looser result means an operation was reordered or fused.
SSIMULACRA2_TOLERANCE = 1e-7


def _ssimulacra2_misses(rows: list[dict], folder) -> list[str]:
    off = []
    for row in rows:
        ref, dist = (np.asarray(Image.open(folder / row[side]).convert("RGB")) for side in ("reference", "distorted"))
        score = ssimulacra2(ref, dist)["ssimulacra2"]
        if abs(score - float(row["ssimulacra2_1"])) > SSIMULACRA2_TOLERANCE:
            off.append(f"{row['distorted']}: {score:.9f} vs {row['ssimulacra2_1']}")
    return off


def test_ssimulacra2_equals_the_reference_implementation_on_every_pair(pairs):
    off = _ssimulacra2_misses([row for row, _, _ in pairs], REFERENCE)
    assert not off, "\n".join(off)


def test_ssimulacra2_equals_the_reference_implementation_on_odd_sizes():
    """8x8 to 257x129: rows narrower than the blur's 4-output step, sizes with fewer than 6 scales, flat images."""
    folder = REFERENCE / "odd_sizes"
    rows = list(csv.DictReader((folder / "scores.csv").open(encoding="utf-8")))
    assert len(rows) == 9
    off = _ssimulacra2_misses(rows, folder)
    assert not off, "\n".join(off)


def test_ssimulacra2_compiles_once_for_read_only_and_non_contiguous_images(pairs):
    """What PIL and slicing hand over scores as a fresh array does, through the one compiled version
    (numba would compile, some seconds, once more for each other array layout)."""
    from vcbench.metrics.ssimulacra2_kernels import map_sums

    _, ref, dist = pairs[1]
    expected = ssimulacra2(ref.copy(), dist.copy())["ssimulacra2"]
    read_only = dist.copy()
    read_only.flags.writeable = False
    assert ssimulacra2(ref[::-1].copy()[::-1], read_only)["ssimulacra2"] == expected
    assert len(map_sums.signatures) == 1, map_sums.signatures


def test_ssimulacra2_kernels_compile_where_no_cache_folder_is_writable():
    """numba finds no cache folder for a function whose source file it cannot see, as for a read-only
    install without a writable NUMBA_CACHE_DIR or home: the kernels are then compiled in memory, quietly."""
    from vcbench.metrics.ssimulacra2_kernels import _compiled

    namespace: dict = {}
    exec(compile("def twice(x):\n    return 2 * x\n", "<no source file>", "exec"), namespace)
    assert _compiled(namespace["twice"])(21) == 42


def test_ssimulacra2_of_identical_images_is_100(pairs):
    _, ref, _ = pairs[0]
    assert ssimulacra2(ref, ref)["ssimulacra2"] == 100.0


def test_butteraugli_equals_butteraugli_main_on_every_pair(pairs):
    off = []
    for row, ref, dist in pairs:
        values = butteraugli(ref, dist)
        for column, reference_column in (("butteraugli_max", "butteraugli_max"), ("butteraugli_3norm", "butteraugli_3norm")):
            expected = float(row[reference_column])
            if abs(values[column] - expected) > 1e-3 * expected:
                off.append(f"{row['distorted']} {column}: {values[column]:.6f} vs {expected}")
    assert not off, "\n".join(off)


def test_butteraugli_without_libjxl_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(butteraugli_module, "_LIBRARY", "libjxl.so.0.7-not-here")
    butteraugli_module._libjxl.cache_clear()
    try:
        with pytest.raises(MetricUnavailable, match="apt-get install libjxl0.7"):
            Butteraugli()
    finally:
        butteraugli_module._libjxl.cache_clear()


def test_flip_equals_flip_evaluator_reading_the_png_files(pairs):
    from flip_evaluator import evaluate

    for row, ref, dist in pairs[:: 8]:
        _, expected, _ = evaluate(str(REFERENCE / row["reference"]), str(REFERENCE / row["distorted"]), "LDR",
                                  applyMagma=False)
        assert flip(ref, dist)["flip"] == pytest.approx(expected, rel=1e-6), row["distorted"]


@pytest.fixture(scope="module")
def video_pair() -> np.ndarray:
    """4 frames of 64x64 sRGB: a crop of a photo panning 2 pixels a frame."""
    photo = _read("astronaut_ref.png")
    return np.stack([np.roll(photo[96:160, 96:160], shift, axis=1) for shift in range(0, 8, 2)])


@pytest.fixture(scope="module")
def cvvdp_metric():
    from vcbench.metrics.cvvdp import ColorVideoVDP

    return ColorVideoVDP()


def test_cvvdp_falls_with_more_noise(video_pair, cvvdp_metric):
    from vcbench.metrics.cvvdp import _jod

    noise = np.random.default_rng(0).normal(0.0, 1.0, video_pair.shape)
    scores = [_jod(cvvdp_metric._model, video_pair, np.clip(video_pair + sigma * noise, 0, 255).astype(np.uint8), 25.0)
              for sigma in (4.0, 12.0, 36.0)]
    assert 10.0 > scores[0] > scores[1] > scores[2], scores


@pytest.mark.parametrize("name, columns", [
    ("ssimulacra2", ["ssimulacra2"]), ("butteraugli", ["butteraugli_max", "butteraugli_3norm"]),
    ("flip", ["flip"]), ("cvvdp", ["cvvdp"]),
])
def test_vcbench_metric_prints_the_values_as_json(name, columns, pairs):
    row = next(r for r, _, _ in pairs if r["distorted"] == "astronaut_jpeg20.png")
    result = vcbench("metric", name, REFERENCE / row["reference"], REFERENCE / row["distorted"])
    assert result.code == 0, result.stderr
    values = json.loads(result.stdout)
    assert sorted(values) == sorted(columns)
    assert all(math.isfinite(v) for v in values.values())
    if name == "ssimulacra2":
        assert values["ssimulacra2"] == pytest.approx(float(row["ssimulacra2_1"]), abs=0.05)
    if name == "butteraugli":
        assert values["butteraugli_3norm"] == pytest.approx(float(row["butteraugli_3norm"]), rel=1e-3)


def test_vcbench_metric_refuses_images_of_different_sizes_in_one_line(tmp_path):
    small = tmp_path / "small.png"
    Image.fromarray(_read("astronaut_ref.png")[:64, :64]).save(small)
    result = vcbench("metric", "ssimulacra2", REFERENCE / "astronaut_ref.png", small)
    assert result.code == 2
    assert "small.png" in result.error and "give two images of one size" in result.error


def test_vcbench_metric_refuses_a_file_that_is_not_an_image():
    result = vcbench("metric", "butteraugli", REFERENCE / "astronaut_ref.png", REFERENCE / "scores.csv")
    assert result.code == 2
    assert "scores.csv" in result.error and "not a readable image" in result.error


def test_vcbench_metric_refuses_a_16_bit_png(tmp_path):
    deep = tmp_path / "deep.png"
    Image.fromarray(_read("astronaut_ref.png")[..., 0].astype(np.uint16) * 257).save(deep)
    result = vcbench("metric", "ssimulacra2", deep, deep)
    assert result.code == 2
    assert "deep.png" in result.error and "16-bit PNG" in result.error


@pytest.fixture(scope="module")
def y4m_pair(tmp_path_factory) -> tuple[list, list, VideoFormat]:
    folder = tmp_path_factory.mktemp("perceptual")
    fmt = VideoFormat(64, 48)
    frames = []
    for seed, name in ((0, "ref.y4m"), (1, "dist.y4m")):
        with Y4MReader(write_sequence(folder / name, fmt, 3, seed=seed)) as reader:
            frames.append(list(reader))
    return frames[0], frames[1], fmt


@pytest.mark.parametrize("metric_class", [SSIMULACRA2, Butteraugli, FLIP])
def test_each_frame_metric_gives_a_finite_value_per_frame_of_a_y4m_pair(metric_class, y4m_pair):
    ref, dist, fmt = y4m_pair
    values = metric_class().compute(ref, dist, fmt)
    assert list(values) == list(metric_class.columns)
    for column in metric_class.columns:
        assert len(values[column]) == len(ref) and all(math.isfinite(v) for v in values[column]), (column, values)


def test_cvvdp_gives_one_value_for_a_y4m_pair_and_10_for_identical_frames(y4m_pair, cvvdp_metric):
    ref, dist, fmt = y4m_pair
    value = cvvdp_metric.compute_sequence(ref, dist, fmt)["cvvdp"]
    assert math.isfinite(value) and value < 10.0
    assert cvvdp_metric.compute_sequence(ref, ref, fmt)["cvvdp"] == pytest.approx(10.0, abs=1e-4)


def test_frames_below_the_reference_minimum_are_refused(y4m_pair):
    ref, dist, fmt = y4m_pair
    tiny = fmt.with_size(6, 6)
    with pytest.raises(MetricUnavailable, match="at least 8x8"):
        SSIMULACRA2().compute([f.crop(6, 6) for f in ref], [f.crop(6, 6) for f in dist], tiny)


def test_flip_runs_on_the_jobs_threads_in_the_thread_that_calls_it(monkeypatch, pairs):
    if flip_module._openmp() is None:
        pytest.skip("this flip-evaluator build bundles no OpenMP runtime of its own")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    _, reference, distorted = pairs[0]
    seen = []

    def score() -> None:  # a new thread, as the score job's frame-metrics worker
        flip(reference, distorted)
        seen.append(flip_module._openmp().omp_get_max_threads())

    worker = threading.Thread(target=score)
    worker.start()
    worker.join()
    assert seen == [1]


def test_a_frame_is_converted_to_srgb_once_for_every_metric_while_it_lives(y4m_pair):
    ref, _, fmt = y4m_pair
    frame = Frame(ref[0].y.copy(), ref[0].u.copy(), ref[0].v.copy())
    image = yuv_to_srgb8(frame, fmt)
    assert yuv_to_srgb8(frame, fmt) is image and not image.flags.writeable
    np.testing.assert_array_equal(image, np.rint(yuv_to_rgb(frame, fmt) * 255.0).astype(np.uint8))
    entries = len(color_module._SRGB8)
    del frame
    assert len(color_module._SRGB8) == entries - 1


@pytest.mark.parametrize("bit_depth, full_range", [(8, False), (10, False), (10, True)])
def test_yuv_to_rgb_equals_the_conversion_after_upsampling_bit_for_bit(bit_depth, full_range):
    """Chroma is weighted before it is upsampled: the same float32 operations on every sample as the formula."""
    fmt = VideoFormat(37, 23, bit_depth, full_range=full_range)
    rng = np.random.default_rng(bit_depth)
    planes = [rng.integers(0, fmt.max_value + 1, shape).astype(fmt.dtype) for shape in ((23, 37), (12, 19), (12, 19))]
    scale = float(1 << (bit_depth - 8))
    y, u, v = (plane.astype(np.float32) for plane in (planes[0], *(p.repeat(2, 0).repeat(2, 1)[:23, :37] for p in planes[1:])))
    if full_range:
        y, u, v = y / float(fmt.max_value), (u - 128.0 * scale) / float(fmt.max_value), (v - 128.0 * scale) / float(fmt.max_value)
    else:
        y, u, v = (y - 16.0 * scale) / (219.0 * scale), (u - 128.0 * scale) / (224.0 * scale), (v - 128.0 * scale) / (224.0 * scale)
    r, b = y + 2.0 * (1.0 - 0.2126) * v, y + 2.0 * (1.0 - 0.0722) * u
    g = (y - 0.2126 * r - 0.0722 * b) / (1.0 - 0.2126 - 0.0722)
    np.testing.assert_array_equal(yuv_to_rgb(Frame(*planes), fmt), np.clip(np.stack([r, g, b], axis=-1), 0.0, 1.0))
