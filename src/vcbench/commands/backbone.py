"""`vcbench backbone check`: a backbone's ceiling (its VAE's round trip) on given sequences."""

from __future__ import annotations

from pathlib import Path

import click

from vcbench.commands.files import FilePath

CHECK_FRAMES = 16  # frames of each sequence the check codes unless told otherwise (the DAG: at most this many)
CEILING_METRICS = ("psnr", "ms_ssim", "vmaf")  # the report's own metrics (its backbone ceilings table)


@click.group()
def backbone() -> None:
    """Inspect the diffusion backbones the latent-diffusion codecs run on."""


@backbone.command()
@click.option("--backbone", "folder", required=True, help="A diffusers folder (vae/, unet/, scheduler/) or hf://owner/name.")
@click.option("--frames", type=click.IntRange(min=1), default=CHECK_FRAMES, show_default=True,
              help="Frames of each sequence to code.")
@click.option("--out", type=FilePath(), default=None, help="Also write the results as JSON here.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.argument("sequences", nargs=-1, required=True, type=FilePath(exists=True))
def check(folder: str, frames: int, out: Path | None, device: str, quiet: bool, sequences: tuple[Path, ...]) -> None:
    """The VAE round trip of BACKBONE on each Y4M SEQUENCE: PSNR-RGB, PSNR-YUV, MS-SSIM and VMAF,
    the best quality any latent-diffusion codec on this backbone can reach."""
    from vcbench.codecs.base import Codec
    from vcbench.commands.files import refuse_overwriting
    from vcbench.diffusion.backbone import load_backbone
    from vcbench.diffusion.ceiling import round_trip
    from vcbench.io import write_json_atomic
    from vcbench.metrics.scoring import score_files
    from vcbench.tools.device import choose_device

    refuse_overwriting({f"SEQUENCES #{index}": path for index, path in enumerate(sequences, 1)}, {"--out": out})
    counts = {source: min(frames, Codec.frames_to_code(source, None)) for source in sequences}  # every file checked first
    loaded = load_backbone(folder, choose_device(device, "backbone check"))

    def scorer(source: Path, reconstruction: Path) -> dict[str, float]:
        return score_files(source, reconstruction, list(CEILING_METRICS), progress=not quiet).means()

    results = {}
    for source, count in counts.items():
        results[source.stem] = {"source": str(source), **round_trip(loaded, source, count, scorer, progress=not quiet)}
        row = results[source.stem]
        click.echo(f"{source.stem}: {row['frames']} frames, PSNR-RGB {row['psnr_rgb']:.2f} dB, PSNR-YUV {row['psnr_yuv']:.2f} dB, "
                   f"MS-SSIM {row['ms_ssim']:.4f}, VMAF {row['vmaf']:.2f}")
    if out is not None:
        write_json_atomic(out, {"backbone": str(folder), "backbone_hash": loaded.hash, "sequences": results})
