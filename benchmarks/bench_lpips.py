"""LPIPS throughput on 1080p frames: vcbench's batched metric against the `lpips` package frame by frame.

Both sides use the same seeded random AlexNet trunk (the real weights cannot be downloaded here;
speed does not depend on the values) saved in a temporary TORCH_HOME, and both start from the same
YUV 4:2:0 frames (so both include the BT.709 conversion). Prints frames per second and the ratio.

    python benchmarks/bench_lpips.py --frames 8 --batch-size 4 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
import yaml


def make_frames(count: int, width: int, height: int, seed: int):
    from vcbench.video import Frame

    rng = np.random.default_rng(seed)
    planes = lambda h, w, lo, hi: rng.integers(lo, hi, (h, w), dtype=np.uint8)  # noqa: E731
    ch, cw = (height + 1) // 2, (width + 1) // 2
    return [Frame(planes(height, width, 16, 236), planes(ch, cw, 16, 241), planes(ch, cw, 16, 241)) for _ in range(count)]


def prepare_weights(home: Path) -> None:
    """Seeded random AlexNet under TORCH_HOME, and a registry accepting its sha256."""
    from vcbench.assets.registry import DEFAULT_REGISTRY
    from vcbench.io import sha256_file

    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    weights = checkpoints / "alexnet-owt-7be5be79.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), weights)
    entries = yaml.safe_load(DEFAULT_REGISTRY.read_text())
    for entry in entries["assets"]:
        if entry["name"] == "torchvision-alexnet":
            entry["sha256"] = sha256_file(weights)
    (home / "registry.yaml").write_text(yaml.safe_dump(entries))
    os.environ["TORCH_HOME"] = str(home)
    os.environ["VCBENCH_ASSET_REGISTRY"] = str(home / "registry.yaml")
    os.environ.pop("VCBENCH_ASSETS_DIR", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import lpips

    from vcbench.metrics.learned import LPIPSMetric
    from vcbench.video import VideoFormat, yuv_to_rgb

    with tempfile.TemporaryDirectory() as tmp:
        prepare_weights(Path(tmp))
        fmt = VideoFormat(width=args.width, height=args.height)
        reference, distorted = make_frames(args.frames, args.width, args.height, 1), make_frames(args.frames, args.width, args.height, 2)

        ours = LPIPSMetric(batch_size=args.batch_size, progress=False)
        package = lpips.LPIPS(net="alex", version="0.1", verbose=False).to(ours.device)
        to_tensor = lambda f: torch.from_numpy(yuv_to_rgb(f, fmt)).permute(2, 0, 1)[None].to(ours.device) * 2 - 1  # noqa: E731

        def run_ours() -> list[float]:
            return ours.compute(reference, distorted, fmt)["lpips"]

        def run_package() -> list[float]:
            with torch.no_grad():
                return [package(to_tensor(r), to_tensor(d)).item() for r, d in zip(reference, distorted)]

        ours.compute(reference[:1], distorted[:1], fmt)  # warm-up (allocator, kernels)
        # Alternate the two paths and keep each one's best time: the machine may be shared.
        ours_seconds = package_seconds = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            batched = run_ours()
            ours_seconds = min(ours_seconds, time.perf_counter() - start)
            start = time.perf_counter()
            per_frame = run_package()
            package_seconds = min(package_seconds, time.perf_counter() - start)

    ours_fps, package_fps = args.frames / ours_seconds, args.frames / package_seconds
    print(f"device {ours.device}, {torch.get_num_threads()} threads, {args.frames} frames of {args.width}x{args.height}")
    print(f"vcbench batched (batch {args.batch_size}): {ours_fps:.3f} frames/s")
    print(f"lpips package, frame by frame:     {package_fps:.3f} frames/s")
    print(f"ratio (ours / package): {ours_fps / package_fps:.2f}x; max |difference| {np.max(np.abs(np.array(batched) - per_frame)):.2e}")


if __name__ == "__main__":
    main()
