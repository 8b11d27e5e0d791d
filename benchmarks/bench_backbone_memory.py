"""Memory per frame of a Stable Diffusion 2.1-sized backbone (the real UNet2DConditionModel and
AutoencoderKL configurations at full width, random weights), through vcbench's Backbone: one denoiser
call over F frames and one VAE decode, in fp32 and under bf16 autocast, with and without VAE tiling.

Without a GPU it measures the CPU: each case runs in a fresh process, and its peak RSS above the
loaded model is what the call's activations took (ru_maxrss). With CUDA (device=cuda) it reports
torch.cuda.max_memory_allocated above the loaded model instead. Memory of SDPA attention (torch's
flash / memory-efficient kernels, diffusers' default) grows with the pixels, so the per-frame figure
at a moderate size scales to 1080p by the pixel count; the script prints that scaling.
Usage: python benchmarks/bench_backbone_memory.py [--size 256] [--vae-size 512] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

HD_PIXELS = 1088 * 1920  # 1080p padded to the backbone's multiple of 64
TILE, SD21_TILE = 256, 768  # the tiled decode's tile here, and SD 2.1's (its VAE sample_size)

SD21_UNET = {"sample_size": 96, "in_channels": 4, "out_channels": 4, "block_out_channels": (320, 640, 1280, 1280), "layers_per_block": 2,
             "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
             "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, "cross_attention_dim": 1024,
             "attention_head_dim": (5, 10, 20, 20), "use_linear_projection": True}
SD21_VAE = {"block_out_channels": (128, 256, 512, 512), "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4, "latent_channels": 4, "layers_per_block": 2, "sample_size": 768,
            "scaling_factor": 0.18215}


def _peak_mib(device) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(case: dict) -> dict:
    """One case in this process: the model's memory, then the peak above it during the call."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    from vcbench.diffusion.backbone import Backbone

    torch.manual_seed(0)
    torch.set_num_threads(1)
    device = torch.device(case["device"])
    unet = UNet2DConditionModel(**SD21_UNET) if case["part"] == "unet" else torch.nn.Identity()
    vae = AutoencoderKL(**SD21_VAE)
    for module in (unet, vae):
        module.to(device).eval().requires_grad_(False)
    backbone = Backbone(None, "", vae, unet, dict(DDIMScheduler().config), device)
    backbone.configure_memory(case["precision"], case["tiling"])
    if case["tiling"]:  # tiles of TILE pixels, so that they take effect at this size (SD 2.1's own are 768)
        vae.tile_sample_min_size, vae.tile_latent_min_size = TILE, TILE // 8
    size, frames = case["size"], case["frames"]
    latents = torch.randn(frames, 4, size // 8, size // 8, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    loaded = _peak_mib(device)
    with torch.inference_mode():
        if case["part"] == "unet":
            context = torch.zeros(1, 1, 1024, device=device)
            backbone.predict(latents, torch.tensor([500], device=device), None, context, None)
        else:
            backbone.decode_latents(latents, chunk=frames)
    return {**case, "activation_mib_per_frame": round((_peak_mib(device) - loaded) / frames, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="frame side (pixels) for the denoiser")
    parser.add_argument("--vae-size", type=int, default=512, help="frame side (pixels) for the VAE decoder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return
    cases = [{"part": "unet", "size": args.size, "frames": frames, "precision": precision, "tiling": False}
             for precision in ("fp32", "bf16") for frames in (1, 2)]
    cases += [{"part": "vae", "size": args.vae_size, "frames": 1, "precision": precision, "tiling": tiling}
              for precision in ("fp32", "bf16") for tiling in (False, True)]
    for case in cases:
        case["device"] = args.device
        out = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], check=True, capture_output=True, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        # tiled: memory is bounded by one tile whatever the frame size; else it grows with the pixels
        scale = (SD21_TILE / TILE) ** 2 if result["tiling"] else HD_PIXELS / result["size"] ** 2
        print(f"{result['part']:4} {result['size']}px x{result['frames']} {result['precision']} tiling={result['tiling']}: "
              f"{result['activation_mib_per_frame']} MiB/frame (x{scale:.1f} pixels at 1080p"
              f"{' in 768-pixel tiles' if result['tiling'] else ''}: ~{result['activation_mib_per_frame'] * scale / 1024:.1f} GiB/frame)",
              flush=True)


if __name__ == "__main__":
    main()
