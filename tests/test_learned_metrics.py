"""LPIPS and DISTS against the reference packages, with backbones of fixed random weights.

The real ImageNet weights cannot be downloaded here, so the test saves seeded random AlexNet and
VGG16 state dicts under a temporary TORCH_HOME with torchvision's file names. Our metrics load
them through the asset registry (a test registry holding their sha256); the reference packages
(`lpips.LPIPS`, `DISTS_pytorch.DISTS`) find the same files through torchvision, so both sides
use identical weights and no download can happen (the files exist; the network is absent).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
import yaml

from vcbench.assets import load_registry
from vcbench.assets.registry import DEFAULT_REGISTRY
from vcbench.io import sha256_file
from vcbench.metrics.base import MetricUnavailable
from vcbench.metrics.registry import create_metric
from vcbench.video import Frame, VideoFormat

KR, KB = 0.2126, 0.0722


@pytest.fixture(scope="module")
def random_torch_home(tmp_path_factory: pytest.TempPathFactory):
    """A TORCH_HOME holding seeded random AlexNet/VGG16 weights, and a registry that accepts them."""
    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    registry = load_registry()
    for name, build in (("torchvision-alexnet", torchvision.models.alexnet), ("torchvision-vgg16", torchvision.models.vgg16)):
        torch.manual_seed(1234)
        torch.save(build(weights=None).state_dict(), checkpoints / registry[name].file)
    entries = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    for entry in entries["assets"]:
        if entry["name"] in ("torchvision-alexnet", "torchvision-vgg16"):
            entry["sha256"] = sha256_file(checkpoints / entry["file"])
    registry_file = home / "registry.yaml"
    registry_file.write_text(yaml.safe_dump(entries))
    return home, registry_file


@pytest.fixture
def weights_env(random_torch_home, monkeypatch: pytest.MonkeyPatch):
    home, registry_file = random_torch_home
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.delenv("VCBENCH_ASSETS_DIR", raising=False)
    monkeypatch.setenv("VCBENCH_ASSET_REGISTRY", str(registry_file))
    return home


def make_frames(fmt: VideoFormat, count: int, seed: int) -> tuple[list[Frame], list[Frame]]:
    """Smooth limited-range content plus a noisy, slightly shifted distortion of it."""
    rng = np.random.default_rng(seed)
    scale = 1 << (fmt.bit_depth - 8)
    yy, xx = np.mgrid[0 : fmt.height, 0 : fmt.width]
    cy, cx = np.mgrid[0 : fmt.chroma_height, 0 : fmt.chroma_width]
    reference, distorted = [], []
    for index in range(count):
        y = 16 * scale + 219 * scale * (0.5 + 0.4 * np.sin(xx / 7.0 + index) * np.cos(yy / 5.0))
        u = 128 * scale + 100 * scale * np.sin(cx / 4.0 + cy / 6.0 + index)
        v = 128 * scale + 100 * scale * np.cos(cx / 5.0 - cy / 3.0)
        planes = [np.clip(np.rint(p), 0, fmt.max_value).astype(fmt.dtype) for p in (y, u, v)]
        reference.append(Frame(*planes))
        noisy = [
            np.clip(np.roll(p.astype(np.int64), 1, axis=1) + rng.integers(-8 * scale, 8 * scale + 1, p.shape), 0, fmt.max_value)
            .astype(fmt.dtype)
            for p in planes
        ]
        distorted.append(Frame(*noisy))
    return reference, distorted


def independent_rgb(frame: Frame, fmt: VideoFormat, full_range: bool | None = None) -> torch.Tensor:
    """BT.709 YCbCr -> R'G'B' by inverting the luma/colour-difference matrix (written from the spec).

    ``full_range`` overrides the format's range: used to show that a wrong range is detected.
    """
    full = fmt.full_range if full_range is None else full_range
    scale = 2.0 ** (fmt.bit_depth - 8)
    upsample = lambda plane: plane.repeat(2, 0).repeat(2, 1)[: fmt.height, : fmt.width].astype(np.float64)  # noqa: E731
    y, cb, cr = frame.y.astype(np.float64), upsample(frame.u), upsample(frame.v)
    if full:
        peak = 2.0**fmt.bit_depth - 1
        y, cb, cr = y / peak, (cb - 128 * scale) / peak, (cr - 128 * scale) / peak
    else:
        y, cb, cr = (y - 16 * scale) / (219 * scale), (cb - 128 * scale) / (224 * scale), (cr - 128 * scale) / (224 * scale)
    kg = 1 - KR - KB
    forward = np.array([[KR, kg, KB], [-KR / (2 * (1 - KB)), -kg / (2 * (1 - KB)), 0.5], [0.5, -kg / (2 * (1 - KR)), -KB / (2 * (1 - KR))]])
    rgb = np.einsum("ij,jhw->ihw", np.linalg.inv(forward), np.stack([y, cb, cr]))
    return torch.from_numpy(np.clip(rgb, 0, 1)).float()[None]


FORMATS = [
    pytest.param(VideoFormat(width=71, height=53, bit_depth=8), id="8bit-71x53"),
    pytest.param(VideoFormat(width=65, height=67, bit_depth=10), id="10bit-65x67"),
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_lpips_equals_reference_package(weights_env, fmt: VideoFormat) -> None:
    import lpips

    reference, distorted = make_frames(fmt, count=5, seed=fmt.bit_depth)
    ours = create_metric("lpips", batch_size=2, progress=False).compute(reference, distorted, fmt)["lpips"]
    model = lpips.LPIPS(net="alex", version="0.1", verbose=False)
    with torch.no_grad():
        expected = [
            model(independent_rgb(r, fmt) * 2 - 1, independent_rgb(d, fmt) * 2 - 1).item() for r, d in zip(reference, distorted)
        ]
        wrong_range = [
            model(independent_rgb(r, fmt, full_range=True) * 2 - 1, independent_rgb(d, fmt, full_range=True) * 2 - 1).item()
            for r, d in zip(reference, distorted)
        ]
        wrong_scale = [model(independent_rgb(r, fmt), independent_rgb(d, fmt)).item() for r, d in zip(reference, distorted)]
    assert len(ours) == 5 and min(ours) > 0
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    # The comparison is sharp enough to catch a wrong input range or a wrong YUV range.
    assert np.max(np.abs(np.array(ours) - wrong_range)) > 1e-4
    assert np.max(np.abs(np.array(ours) - wrong_scale)) > 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_dists_equals_reference_package(weights_env, fmt: VideoFormat) -> None:
    from DISTS_pytorch import DISTS

    reference, distorted = make_frames(fmt, count=3, seed=fmt.bit_depth + 1)
    ours = create_metric("dists", batch_size=2, progress=False).compute(reference, distorted, fmt)["dists"]
    model = DISTS()  # VGG16 from TORCH_HOME (our random file), alpha/beta shipped with the package
    expected = [model(independent_rgb(r, fmt), independent_rgb(d, fmt)).item() for r, d in zip(reference, distorted)]
    wrong_range = [
        model(independent_rgb(r, fmt, full_range=True), independent_rgb(d, fmt, full_range=True)).item()
        for r, d in zip(reference, distorted)
    ]
    assert len(ours) == 3 and min(ours) > 0
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-6)
    assert np.max(np.abs(np.array(ours) - wrong_range)) > 1e-4


@pytest.mark.slow
def test_lpips_vgg_option_runs(weights_env) -> None:
    fmt = VideoFormat(width=64, height=48)
    reference, distorted = make_frames(fmt, count=2, seed=3)
    metric = create_metric("lpips", net="vgg", progress=False)
    values = metric.compute(reference, distorted, fmt)["lpips"]
    same = metric.compute(reference, reference, fmt)["lpips"]
    assert len(values) == 2 and min(values) > 0
    np.testing.assert_allclose(same, 0.0, atol=1e-7)


@pytest.mark.parametrize("name", ["lpips", "dists"])
def test_missing_weights_name_the_asset_and_the_fix(tmp_path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("VCBENCH_ASSETS_DIR", raising=False)
    monkeypatch.delenv("VCBENCH_ASSET_REGISTRY", raising=False)
    with pytest.raises(MetricUnavailable) as err:
        create_metric(name)
    message = str(err.value)
    expected_file = "alexnet-owt-7be5be79.pth" if name == "lpips" else "vgg16-397923af.pth"
    assert message.startswith("missing torchvision-")
    assert "run `vcbench assets fetch`" in message
    assert str(tmp_path / "hub" / "checkpoints" / expected_file) in message


def test_wrong_weights_file_is_not_used(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), checkpoints / "alexnet-owt-7be5be79.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("VCBENCH_ASSETS_DIR", raising=False)
    monkeypatch.delenv("VCBENCH_ASSET_REGISTRY", raising=False)
    with pytest.raises(MetricUnavailable, match="wrong sha256"):
        create_metric("lpips")


def test_score_gives_the_assets_folder_to_every_learned_metric(make_y4m, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`score --cache-dir`, as the score rule passes config `assets.cache_dir` (and the FID jobs get it): the learned
    metrics look there, so their missing weights are named in that folder."""
    from vcbench_cli import vcbench

    monkeypatch.delenv("VCBENCH_ASSETS_DIR", raising=False)
    monkeypatch.delenv("VCBENCH_ASSET_REGISTRY", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "elsewhere"))
    clip = make_y4m(frames=2)
    folder = tmp_path / "weights folder"
    result = vcbench("score", clip, clip, "--metrics", "psnr,lpips,dists", "--cache-dir", folder)
    assert result.code == 0, result.stderr
    for name, file in (("lpips", "alexnet-owt-7be5be79.pth"), ("dists", "vgg16-397923af.pth")):
        line = next(line for line in result.stderr.splitlines() if line.startswith(f"not computed: {name}: "))
        assert str(folder / "hub" / "checkpoints" / file) in line
