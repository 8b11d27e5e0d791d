"""What a backbone's latent costs: how close a codec that sends the latent itself could come to
the backbone's ceiling (its VAE round trip), and at what rate.

For each sequence the first frames are encoded by the VAE; the latent is then
* quantised with a uniform step (in units of the scaled latent) and decoded: PSNR-YUV, with the
  symbols' empirical entropy as bpp, coded independently ("intra") and as the first frame plus
  every frame's difference from it ("key + diff"), a generous bound for a latent coder without a
  learned context model;
* low-passed (average-pooled by 2 and 4, bilinear back) and decoded;
* interpolated linearly in time between 2, 3, 5 or 9 key frames and decoded.

An INR or any other latent-space codec at a given rate can do no better than the best of these at
that rate by much: the figures bound what DiV-INR can reach on a backbone.

    python benchmarks/bench_latent_cost.py --backbone models/embedded data/demo/*.y4m
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from pathlib import Path

import torch


def _entropy_bits(symbols: torch.Tensor) -> float:
    _, counts = torch.unique(symbols, return_counts=True)
    p = counts.double() / counts.sum()
    return float(-(p * p.log2()).sum()) * symbols.numel()


def _psnr_yuv(backbone, source: Path, fmt, latents: torch.Tensor) -> float:
    """PSNR-YUV of ``latents`` decoded by the backbone's VAE against the source's first frames."""
    from vcbench.diffusion.frames import to_frames
    from vcbench.metrics.scoring import score_files
    from vcbench.video import Y4MWriter

    with tempfile.TemporaryDirectory() as tmp:
        decoded = Path(tmp) / "decoded.y4m"
        with Y4MWriter(decoded, fmt) as writer:
            for frame in to_frames(backbone.decode_latents(latents), fmt):
                writer.write(frame)
        return score_files(source, decoded, ["psnr"], latents.shape[0], progress=False).means()["psnr_yuv"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sequences", nargs="+", type=Path)
    parser.add_argument("--backbone", default="models/embedded")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--steps", default="0.05,0.1,0.2,0.4,0.8")
    args = parser.parse_args()

    from vcbench.diffusion.backbone import load_backbone
    from vcbench.diffusion.frames import pad_to_multiple, read_rgb

    backbone = load_backbone(args.backbone, "cpu")
    for source in args.sequences:
        fmt, rgb = read_rgb(source, args.frames)
        frames = rgb.shape[0]
        pixels = frames * fmt.width * fmt.height
        latents = backbone.encode_frames(pad_to_multiple(rgb, backbone.downscale))

        psnr_yuv = functools.partial(_psnr_yuv, backbone, source, fmt)
        print(f"{source.name}: latent {tuple(latents.shape)}, RMS {float(latents.pow(2).mean().sqrt()):.3f}; "
              f"VAE round trip {psnr_yuv(latents):.2f} dB PSNR-YUV", flush=True)
        for step in (float(s) for s in args.steps.split(",")):
            symbols = torch.round(latents / step).long()
            intra = _entropy_bits(symbols)
            key_diff = _entropy_bits(symbols[:1]) + _entropy_bits(symbols[1:] - symbols[:1])
            print(f"  step {step:<5}: {psnr_yuv(symbols * step):6.2f} dB at intra {intra / pixels:.4f} bpp, "
                  f"key + diff {key_diff / pixels:.4f} bpp", flush=True)
        for factor in (2, 4):
            low = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(latents, factor), size=latents.shape[-2:],
                                                  mode="bilinear")
            print(f"  low-pass /{factor}: {psnr_yuv(low):6.2f} dB", flush=True)
        time = torch.arange(frames, dtype=torch.float32)
        for keys in (2, 3, 5, 9):
            at = torch.linspace(0, frames - 1, keys)
            right = torch.searchsorted(at, time, right=True).clamp(1, keys - 1)
            weight = ((time - at[right - 1]) / (at[right] - at[right - 1])).view(-1, 1, 1, 1)
            key_latents = latents[at.round().long()]
            between = key_latents[right - 1] * (1 - weight) + key_latents[right] * weight
            print(f"  {keys} key frames, linear in time: {psnr_yuv(between):6.2f} dB", flush=True)


if __name__ == "__main__":
    main()
