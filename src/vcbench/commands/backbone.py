"""`vcbench backbone check`: a backbone's ceiling (its VAE's round trip) on given sequences."""

from __future__ import annotations

from pathlib import Path

import click

CHECK_FRAMES = 16  # frames of each sequence the check codes unless told otherwise (the DAG: at most this many)


@click.group()
def backbone() -> None:
    """Inspect the diffusion backbones the latent-diffusion codecs run on."""


@backbone.command()
@click.option("--backbone", "folder", required=True, help="A diffusers folder (vae/, unet/, scheduler/) or hf://owner/name.")
@click.option("--frames", type=click.IntRange(min=1), default=CHECK_FRAMES, show_default=True,
              help="Frames of each sequence to code.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write the results as JSON here.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.argument("sequences", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check(folder: str, frames: int, out: Path | None, device: str, quiet: bool, sequences: tuple[Path, ...]) -> None:
    """The VAE round trip of BACKBONE on each Y4M SEQUENCE: PSNR-RGB, PSNR-YUV, MS-SSIM and VMAF,
    the best quality any latent-diffusion codec on this backbone can reach."""
    from vcbench.codecs.base import Codec
    from vcbench.diffusion.backbone import load_backbone
    from vcbench.diffusion.ceiling import round_trip
    from vcbench.io import write_json_atomic
    from vcbench.tools.device import choose_device

    counts = {source: min(frames, Codec.frames_to_code(source, None)) for source in sequences}  # every file checked first
    loaded = load_backbone(folder, choose_device(device, "backbone check"))
    results = {}
    for source, count in counts.items():
        results[source.stem] = {"source": str(source), **round_trip(loaded, source, count, progress=not quiet)}
        row = results[source.stem]
        click.echo(f"{source.stem}: {row['frames']} frames, PSNR-RGB {row['psnr_rgb']:.2f} dB, PSNR-YUV {row['psnr_yuv']:.2f} dB, "
                   f"MS-SSIM {row['ms_ssim']:.4f}, VMAF {row['vmaf']:.2f}")
    if out is not None:
        write_json_atomic(out, {"backbone": str(folder), "backbone_hash": loaded.hash, "sequences": results})
