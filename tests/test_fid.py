"""FID/KID on the patch protocol: patch geometry, Inception features against torch-fidelity
(with the same seeded random weights), the Frechet distance's closed form, KID against
torch-fidelity, and the per-sequence -> pooled CLI path with and without weights."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from vcbench.assets.registry import DEFAULT_REGISTRY
from vcbench.cli import cli
from vcbench.io import sha256_file
from vcbench.metrics import fid as fidm
from vcbench.metrics.base import MetricUnavailable
from vcbench.video import Frame, VideoFormat, Y4MWriter, yuv_to_rgb


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [(1080, 1920, 49), (320, 640, 2), (256, 640, 2), (383, 1000, 3), (384, 384, 2), (255, 4000, 0), (720, 1280, 10 + 8)],
)
def test_patch_counts(height: int, width: int, expected: int) -> None:
    assert len(fidm.patch_origins(height, width)) == expected


def test_patches_are_the_tiles_and_the_shifted_tiles() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    patches = fidm.extract_patches(rgb)
    assert patches.shape == (49, 256, 256, 3)
    np.testing.assert_array_equal(patches[0], rgb[:256, :256])
    np.testing.assert_array_equal(patches[27], rgb[768:1024, 1536:1792])  # last plain tile (row 3, col 6)
    np.testing.assert_array_equal(patches[28], rgb[128:384, 128:384])  # first shifted tile
    np.testing.assert_array_equal(patches[48], rgb[640:896, 1664:1920])  # last shifted tile (row 2, col 6)


def test_uint8_rgb_is_the_rounded_bt709_conversion_for_10_bit() -> None:
    fmt = VideoFormat(width=20, height=10, bit_depth=10)
    rng = np.random.default_rng(1)
    frame = Frame(
        rng.integers(64, 941, (10, 20), dtype=np.uint16),
        rng.integers(64, 961, (5, 10), dtype=np.uint16),
        rng.integers(64, 961, (5, 10), dtype=np.uint16),
    )
    rgb = fidm.frame_to_uint8_rgb(frame, fmt)
    assert rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, np.rint(yuv_to_rgb(frame, fmt) * 255).astype(np.uint8))


def test_resize_matches_torch_fidelity_bit_exactly() -> None:
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (2, 3, 256, 256)).astype(np.float32))
    ours = fidm.resize_bilinear_tf1(x, 299)
    assert torch.equal(ours, interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False))
    # and it is not torch's half-pixel bilinear (pytorch-fid's resize), which differs
    half_pixel = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    assert (ours - half_pixel).abs().max() > 1.0


@pytest.fixture(scope="module")
def inception_home(tmp_path_factory: pytest.TempPathFactory):
    """Seeded random FID-Inception weights in a TORCH_HOME layout, and a registry accepting their sha256."""
    home = tmp_path_factory.mktemp("inception_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(7)
    net = fidm.build_fid_inception()
    generator = torch.Generator().manual_seed(8)
    for module in net.modules():  # non-trivial batch-norm statistics, so that a mismatch would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1, generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)
    weights = checkpoints / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(net.state_dict(), weights)
    entries = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    for entry in entries["assets"]:
        if entry["name"] == fidm.INCEPTION_ASSET:
            entry["sha256"] = sha256_file(weights)
    registry = home / "registry.yaml"
    registry.write_text(yaml.safe_dump(entries))
    return home, registry, weights


@pytest.fixture
def inception_env(inception_home, monkeypatch: pytest.MonkeyPatch):
    home, registry, weights = inception_home
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.delenv("VCBENCH_ASSETS_DIR", raising=False)
    monkeypatch.setenv("VCBENCH_ASSET_REGISTRY", str(registry))
    return weights


@pytest.mark.slow
def test_inception_features_match_torch_fidelity(inception_env) -> None:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    patches = np.random.default_rng(3).integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    ours = fidm.InceptionFeatures(batch_size=2, progress=False)(patches)
    reference = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(inception_env))
    with torch.no_grad():
        (expected,) = reference(torch.from_numpy(patches).permute(0, 3, 1, 2).contiguous())
    assert ours.shape == (3, 2048) and np.abs(ours).max() > 1e-3
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_missing_inception_weights(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("VCBENCH_ASSETS_DIR", raising=False)
    monkeypatch.delenv("VCBENCH_ASSET_REGISTRY", raising=False)
    with pytest.raises(MetricUnavailable, match=r"missing fid-inception-2015-12-05; run `vcbench assets fetch`"):
        fidm.InceptionFeatures()


def test_fid_of_a_set_against_itself_is_zero() -> None:
    rng = np.random.default_rng(4)
    few = np.abs(rng.standard_normal((300, 2048))).astype(np.float32)  # fewer samples than dimensions
    many = np.abs(rng.standard_normal((2500, 64))).astype(np.float32)
    assert abs(fidm.fid(few, few)) < 1e-6
    assert abs(fidm.fid(many, many)) < 1e-6
    assert fidm.fid(few, few[::-1] + 0.05) > 1.0


def test_frechet_distance_of_gaussians_matches_the_closed_form() -> None:
    # Covariances sharing an eigenbasis Q: d^2 = |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    rng = np.random.default_rng(5)
    dim = 6
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    a, b = rng.uniform(0.1, 3.0, dim), rng.uniform(0.1, 3.0, dim)
    mu1, mu2 = rng.standard_normal(dim), rng.standard_normal(dim)
    sigma1, sigma2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    closed_form = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert fidm.frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(closed_form, rel=1e-10)
    # 1-D: (mu1 - mu2)^2 + (s1 - s2)^2
    assert fidm.frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]])) == pytest.approx(10.0)


def test_sample_space_fid_equals_covariance_fid() -> None:
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((40, 50)), rng.standard_normal((30, 50)) * 1.3 + 0.2
    via_covariances = fidm.frechet_distance(*fidm.gaussian_statistics(x), *fidm.gaussian_statistics(y))
    # (the covariance path carries sqrt(eps)-sized noise from the singular covariances: hence 1e-7)
    assert fidm.fid(x, y) == pytest.approx(via_covariances, rel=1e-7)


def test_fid_and_kid_match_torch_fidelity_on_full_rank_features() -> None:
    from torch_fidelity.metric_fid import fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    rng = np.random.default_rng(7)
    x = np.abs(rng.standard_normal((400, 32))).astype(np.float32)
    y = (np.abs(rng.standard_normal((350, 32))) + 0.1).astype(np.float32)
    stats = [dict(zip(("mu", "sigma"), fidm.gaussian_statistics(f))) for f in (x, y)]
    expected_fid = fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]
    assert fidm.fid(x, y) == pytest.approx(expected_fid, rel=1e-8)
    expected = kid_features_to_metric(
        torch.from_numpy(x), torch.from_numpy(y), kid_subsets=20, kid_subset_size=100, verbose=False, rng_seed=2020,
        kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1,
    )  # fmt: skip
    mean, std, size = fidm.kid(x, y, subsets=20, subset_size=100, seed=2020)
    assert size == 100
    assert mean == pytest.approx(expected["kernel_inception_distance_mean"], rel=1e-5)
    assert std == pytest.approx(expected["kernel_inception_distance_std"], rel=1e-4)


def _write_y4m(path, fmt: VideoFormat, frames: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with Y4MWriter(path, fmt) as writer:
        for _ in range(frames):
            writer.write(
                Frame(
                    rng.integers(16, 236, (fmt.height, fmt.width), dtype=np.uint8),
                    rng.integers(16, 241, (fmt.chroma_height, fmt.chroma_width), dtype=np.uint8),
                    rng.integers(16, 241, (fmt.chroma_height, fmt.chroma_width), dtype=np.uint8),
                )
            )


def _pooled(tmp_path, extra_env: dict | None = None) -> list[dict]:
    fmt = VideoFormat(width=300, height=260)
    runner = CliRunner()
    source, rec = tmp_path / "seq.y4m", tmp_path / "seq.rec.y4m"
    _write_y4m(source, fmt, frames=3, seed=1)
    _write_y4m(rec, fmt, frames=2, seed=2)
    for args in (
        [str(source), str(tmp_path / "source.npz"), "--frames", "2", "--dataset", "d", "--sequence", "s"],
        [str(rec), str(tmp_path / "rec.npz"), "--dataset", "d", "--sequence", "s", "--codec", "x265", "--rate", "qp51"],
        [str(source), str(tmp_path / "self.npz"), "--frames", "2", "--dataset", "d", "--sequence", "s", "--codec", "same", "--rate", "r0"],
    ):
        result = runner.invoke(cli, ["fid-features", *args], env=extra_env)
        assert result.exit_code == 0, result.output
    out = tmp_path / "fid.csv"
    result = runner.invoke(cli, ["fid", str(out), *(str(tmp_path / f) for f in ("source.npz", "rec.npz", "self.npz"))])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(out.open()))


@pytest.mark.slow
def test_pooled_fid_csv(inception_env, tmp_path) -> None:
    rows = {row["codec"]: row for row in _pooled(tmp_path)}
    assert set(rows) == {"x265", "same"}
    assert rows["x265"]["frames"] == "2" and rows["x265"]["patches"] == "2" and rows["x265"]["reference_patches"] == "2"
    assert float(rows["x265"]["fid"]) > 0 and rows["x265"]["kid_subset_size"] == "2"
    assert abs(float(rows["same"]["fid"])) < 1e-6
    assert "only 2 patches" in rows["x265"]["warning"]
    assert rows["x265"]["not_computed"] == ""


def test_pooled_fid_csv_without_weights(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("VCBENCH_ASSETS_DIR", raising=False)
    monkeypatch.delenv("VCBENCH_ASSET_REGISTRY", raising=False)
    rows = _pooled(tmp_path)
    assert all(row["fid"] == "" and row["kid"] == "" for row in rows)
    assert rows[0]["patches"] == "2"
    assert ("fid, kid: missing fid-inception-2015-12-05; run `vcbench assets fetch` or place pt_inception-2015-12-05-6726825d.pth at"
            in rows[0]["not_computed"])
