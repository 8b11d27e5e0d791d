"""FID and KID on the 256x256 patch protocol, with Inception features that match torch-fidelity.

Protocol (the README's conventions): every frame is converted to 8-bit RGB (BT.709, range per
source, rounded to uint8) and cut into non-overlapping 256x256 tiles, plus a second tiling shifted by 128 px in both
directions when both sides are at least 384 px. Patches are pooled over a dataset per codec and
rate point; the reference set is the source's patches of the same frames.

Features: the `pt_inception-2015-12-05` network, built as pytorch-fid builds its FID Inception
(torchvision Inception3 with weights=None and pytorch-fid's FIDInception blocks) and loaded from
the verified asset, run with torch-fidelity's input path: uint8 -> float, TensorFlow-1.x bilinear
resize to 299x299 (align_corners=False, no antialias), (x - 128) / 128, 2048-d pool features.
Statistics follow torch-fidelity (FID in float64, see `frechet_distance` for the trace term); KID with the cubic
polynomial kernel, unbiased MMD^2, mean and standard deviation over random subsets.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from vcbench.io import atomic_path
from vcbench.metrics.learned_options import INCEPTION_ASSET
from vcbench.metrics.weights import load_weights
from vcbench.tools.device import choose_device
from vcbench.video import Frame, VideoFormat, Y4MReader, yuv_to_rgb

if TYPE_CHECKING:  # torch is imported where features are computed: counting patches does without it
    import torch

PATCH = 256
SHIFT = 128
MIN_SIDE_FOR_SHIFT = 384
INCEPTION_SIZE = 299
FEATURE_DIM = 2048


def patch_origins(height: int, width: int) -> list[tuple[int, int]]:
    """Top-left corners (row, col) of the protocol's patches for a height x width frame."""
    origins = [(r, c) for r in range(0, height - PATCH + 1, PATCH) for c in range(0, width - PATCH + 1, PATCH)]
    if min(height, width) >= MIN_SIDE_FOR_SHIFT:
        origins += [
            (r, c)
            for r in range(SHIFT, height - PATCH + 1, PATCH)
            for c in range(SHIFT, width - PATCH + 1, PATCH)
        ]
    return origins


def frame_to_uint8_rgb(frame: Frame, fmt: VideoFormat) -> np.ndarray:
    """H x W x 3 uint8 RGB: the BT.709 conversion, rounded (10-bit sources included)."""
    return np.rint(yuv_to_rgb(frame, fmt) * 255.0).astype(np.uint8)


def extract_patches(rgb: np.ndarray) -> np.ndarray:
    """N x 256 x 256 x 3 patches of an H x W x 3 image (N may be 0 for frames under 256 px)."""
    height, width = rgb.shape[:2]
    origins = patch_origins(height, width)
    if not origins:
        return np.zeros((0, PATCH, PATCH, rgb.shape[2]), dtype=rgb.dtype)
    return np.stack([rgb[r : r + PATCH, c : c + PATCH] for r, c in origins])


def resize_bilinear_tf1(images: torch.Tensor, size: int) -> torch.Tensor:
    """TensorFlow 1.x `resize_bilinear` (align_corners=False, no half-pixel centres, no antialias).

    Source coordinate of output pixel i is i * in/out; this is what torch-fidelity (and torchmetrics
    with antialias=False) do before the FID Inception, and what the original TF FID code did.
    """
    import torch

    def axis(in_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        position = torch.arange(size, dtype=images.dtype, device=images.device) * torch.tensor(
            in_size / size, dtype=torch.float32
        )
        low = position.long()
        high = (low + 1).clamp_max(in_size - 1)
        return low, high, position - low.to(images.dtype)

    y_low, y_high, dy = axis(images.shape[2])
    x_low, x_high, dx = axis(images.shape[3])
    top = images[:, :, y_low, :]
    bottom = images[:, :, y_high, :]
    top = top[:, :, :, x_low] + (top[:, :, :, x_high] - top[:, :, :, x_low]) * dx.view(1, 1, 1, -1)
    bottom = bottom[:, :, :, x_low] + (bottom[:, :, :, x_high] - bottom[:, :, :, x_low]) * dx.view(1, 1, 1, -1)
    return top + (bottom - top) * dy.view(1, 1, -1, 1)


def build_fid_inception() -> torch.nn.Module:
    """pytorch-fid's FID Inception architecture with uninitialised (random) weights: nothing downloads."""
    from pytorch_fid.inception import (
        FIDInceptionA,
        FIDInceptionC,
        FIDInceptionE_1,
        FIDInceptionE_2,
        _inception_v3,
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = _inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


class InceptionFeatures:
    """2048-d pool features of uint8 RGB patches, on the GPU when there is one."""

    def __init__(
        self,
        cache_dir: str | os.PathLike | None = None,
        registry_path: str | os.PathLike | None = None,
        batch_size: int = 16,
        device: str | None = None,
        progress: bool = True,
    ) -> None:
        state = load_weights(INCEPTION_ASSET, cache_dir, registry_path)  # MetricUnavailable when missing

        net = build_fid_inception()
        net.load_state_dict(state)
        self.device = choose_device(device or "auto", "fid options")
        self.net = net.eval().requires_grad_(False).to(self.device)
        self.batch_size = max(1, int(batch_size))
        self.progress = progress

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = resize_bilinear_tf1(x.float(), INCEPTION_SIZE)
        x = (x - 128) / 128
        for layer in (
            net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, net.maxpool1,
            net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, net.maxpool2,
            net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d,
            net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, net.avgpool,
        ):  # fmt: skip
            x = layer(x)
        return x.flatten(1)

    def __call__(self, patches: np.ndarray) -> np.ndarray:
        """N x 2048 float32 features of N x H x W x 3 uint8 patches."""
        if patches.dtype != np.uint8:
            raise ValueError("Inception features expect uint8 RGB patches")
        import torch

        out = np.zeros((len(patches), FEATURE_DIM), dtype=np.float32)
        starts = range(0, len(patches), self.batch_size)
        for start in tqdm(starts, desc="inception", unit="batch", disable=None if self.progress else True, leave=False):
            batch = torch.from_numpy(patches[start : start + self.batch_size]).permute(0, 3, 1, 2).to(self.device)
            with torch.no_grad():
                out[start : start + len(batch)] = self._forward(batch).float().cpu().numpy()
        return out


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2).

    tr((S1 S2)^1/2) is computed as the sum of singular values of S1^1/2 S2^1/2 (the same quantity as
    torch-fidelity's eigenvalues of S1 S2): with fewer patches than feature dimensions the
    covariances are singular, and this form keeps FID(X, X) at 0 to rounding instead of the
    sqrt(eps)-sized noise that square roots of near-zero eigenvalues of S1 S2 add.
    """
    diff = mu1 - mu2
    singular_values = np.linalg.svd(_psd_sqrt(sigma1) @ _psd_sqrt(sigma2), compute_uv=False)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * singular_values.sum())


def fid(features_1: np.ndarray, features_2: np.ndarray) -> float:
    """FID of two feature sets (N_i x D), exactly as `frechet_distance` of their Gaussian statistics.

    With at most D samples per set the trace term is computed in sample space: the nonzero
    eigenvalues of S1 S2 are the squared singular values of X1c X2c^T / sqrt((n1-1)(n2-1)) (X_ic
    the centred features), an n1 x n2 problem instead of two D x D square roots.
    """
    x1 = np.asarray(features_1, dtype=np.float64)
    x2 = np.asarray(features_2, dtype=np.float64)
    if max(len(x1), len(x2)) > x1.shape[1]:
        return frechet_distance(*gaussian_statistics(x1), *gaussian_statistics(x2))
    mu1, mu2 = x1.mean(axis=0), x2.mean(axis=0)
    c1, c2 = x1 - mu1, x2 - mu2
    n1, n2 = len(x1) - 1, len(x2) - 1
    trace_sqrt = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt(n1 * n2)
    diff = mu1 - mu2
    return float(diff @ diff + (c1 * c1).sum() / n1 + (c2 * c2).sum() / n2 - 2.0 * trace_sqrt)


def _unbiased_mmd2(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    m = k_xx.shape[0]
    off_xx = k_xx.sum() - np.trace(k_xx)
    off_yy = k_yy.sum() - np.trace(k_yy)
    return float((off_xx + off_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kid(
    features_1: np.ndarray, features_2: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 2020
) -> tuple[float, float, int]:
    """(mean, std, subset size) of the polynomial-kernel MMD^2 over random subsets (torch-fidelity defaults).

    The subset size shrinks to the smaller set when a set has fewer than ``subset_size`` patches.
    """
    size = min(subset_size, len(features_1), len(features_2))
    if size < 2:
        raise ValueError("KID needs at least 2 patches in each set")
    x_all = np.asarray(features_1, dtype=np.float64)
    y_all = np.asarray(features_2, dtype=np.float64)
    gamma = 1.0 / x_all.shape[1]
    kernel = lambda a, b: (a @ b.T * gamma + 1.0) ** 3  # noqa: E731
    rng = np.random.RandomState(seed)
    values = np.zeros(subsets)
    for index in range(subsets):
        x = x_all[rng.choice(len(x_all), size, replace=False)]
        y = y_all[rng.choice(len(y_all), size, replace=False)]
        values[index] = _unbiased_mmd2(kernel(x, x), kernel(x, y), kernel(y, y))
    return float(values.mean()), float(values.std()), size


# --- per-sequence feature files and their pooling over a dataset --------------------------------

UNRELIABLE_BELOW = FEATURE_DIM  # fewer patches than feature dimensions: singular covariances, biased FID


def sequence_features(
    path: str | os.PathLike, frames: int | None, extractor: InceptionFeatures | None
) -> tuple[np.ndarray, int, int]:
    """(features, frame count, patch count) of the first ``frames`` frames of a Y4M file.

    Without an extractor (weights missing) the features are empty but the counts are still real.
    """
    chunks: list[np.ndarray] = []
    count = patches = 0
    with Y4MReader(path) as reader:
        fmt = reader.format
        for frame in reader.frames(limit=frames):
            count += 1
            frame_patches = extract_patches(frame_to_uint8_rgb(frame, fmt))
            patches += len(frame_patches)
            if extractor is not None and len(frame_patches):
                chunks.append(extractor(frame_patches))
    features = np.concatenate(chunks) if chunks else np.zeros((0, FEATURE_DIM), dtype=np.float32)
    return features, count, patches


def write_feature_file(path: str | os.PathLike, features: np.ndarray, **meta: object) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, features=features.astype(np.float32), **{k: np.asarray(v) for k, v in meta.items()})


def read_feature_file(path: str | os.PathLike) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] if key == "features" else data[key].item() for key in data.files}


def pool(entries: list[dict], kid_subsets: int = 100, kid_subset_size: int = 1000) -> list[dict]:
    """One fid.csv row per dataset x codec x rate: the reconstructions' patches against the sources'.

    ``entries`` are read feature files: sources have codec == "" (role "source").
    """
    sources = {(e["dataset"], e["sequence"]): e for e in entries if e["role"] == "source"}
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for entry in entries:
        if entry["role"] != "source":
            groups.setdefault((entry["dataset"], entry["codec"], entry["rate"]), []).append(entry)
    rows = []
    for (dataset, codec, rate), members in sorted(groups.items()):
        members.sort(key=lambda e: e["sequence"])
        missing_sources = [m["sequence"] for m in members if (dataset, m["sequence"]) not in sources]
        if missing_sources:
            raise ValueError(f"no source features for {dataset}/{', '.join(missing_sources)}")
        references = [sources[(dataset, m["sequence"])] for m in members]
        patches = sum(m["patches"] for m in members)
        row: dict[str, object] = {
            "dataset": dataset,
            "codec": codec,
            "rate": rate,
            "sequences": len(members),
            "frames": sum(m["frames"] for m in members),
            "patches": patches,
            "reference_patches": sum(r["patches"] for r in references),
            "fid": "",
            "kid": "",
            "kid_std": "",
            "kid_subset_size": "",
            "warning": "",
            "not_computed": "",
        }
        reasons = sorted({e["missing"] for e in (*members, *references) if e["missing"]})
        if reasons:
            row["not_computed"] = "; ".join(f"fid, kid: {reason}" for reason in reasons)
        elif patches < 2 or row["reference_patches"] < 2:
            row["not_computed"] = "fid, kid: fewer than 2 patches of 256x256 (frames smaller than 256 px?)"
        else:
            ours = np.concatenate([m["features"] for m in members])
            theirs = np.concatenate([r["features"] for r in references])
            row["fid"] = fid(theirs, ours)
            row["kid"], row["kid_std"], row["kid_subset_size"] = kid(theirs, ours, kid_subsets, kid_subset_size)
        if patches < UNRELIABLE_BELOW:
            row["warning"] = (
                f"only {patches} patches (< {UNRELIABLE_BELOW}, the Inception feature dimension): "
                "FID is biased and not reliable at this count"
            )
        rows.append(row)
    return rows
