"""DiffVC's own command, `vcbench train-diffvc`: train its model once (its analyses run through `vcbench
analysis`). Named in its FACTS.commands, which cli.py reads: it belongs to the command line, not to the codec's
floor, so it may use the commands' file checks."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from vcbench.commands.files import FolderPath, refuse_nested_folders


@click.command()
@click.option("--backbone", type=click.Path(path_type=Path), default=Path("models/embedded"), show_default=True,
              help="diffusers folder of the backbone (frozen; the model records its content hash)")
@click.option("--out", type=FolderPath(), default=Path("models/diffvc"), show_default=True,
              help="model folder to write (intra/, inter/, adapter/, model_index.json)")
@click.option("--septuplets", type=FolderPath(exists=True), default=None,
              help="train on a Vimeo-90k septuplet folder instead of the backbone's own material (paper scale)")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="training steps (default 3000)")
@click.option("--batch", type=click.IntRange(min=1), default=None, help="clips per step (default 4)")
@click.option("--crop", type=click.IntRange(min=8), default=None,
              help="training crop in pixels, a multiple of the frame padding (64 on the embedded backbone; default 128)")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None, help="Adam learning rate (default 1e-3)")
@click.option("--seed", type=int, default=None, help="seed of the initialisation and the material draws (default 0)")
@click.option("--perceptual-loss", type=click.Choice(["dists", "ssim"]), default="dists", show_default=True,
              help="the perceptual term: DISTS (the paper's; needs its weights, `vcbench assets fetch`) or the weight-free 1 - SSIM")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto: the GPU when torch sees one, else the CPU")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: the job's threads or the CPUs it may use)")
def train_diffvc(backbone: Path, out: Path, septuplets: Path | None, steps, batch, crop, learning_rate, seed, perceptual_loss: str,
                 device: str, threads: int | None) -> None:
    """Train DiffVC (intra and predictive codecs, QPP, the denoiser's adapter) once around a frozen
    BACKBONE, on material disjoint from the test sequences; resumes from a checkpoint beside OUT."""
    refuse_nested_folders({"--backbone": backbone, "--septuplets": septuplets}, {"--out": out})

    import dataclasses

    from vcbench.codecs.diffvc.training import Septuplets, TrainSettings, check_perceptual_loss, embedded_material, train
    from vcbench.diffusion.backbone import load_backbone
    from vcbench.tools.device import prepare_torch

    check_perceptual_loss(perceptual_loss)  # before the backbone and the material are read
    chosen = prepare_torch(device, threads or 0, "train-diffvc --device")
    given = {"steps": steps, "batch": batch, "crop": crop, "learning_rate": learning_rate, "seed": seed, "perceptual_loss": perceptual_loss}
    settings = dataclasses.replace(TrainSettings(), **{k: v for k, v in given.items() if v is not None})
    loaded = load_backbone(backbone, chosen)
    material = Septuplets(septuplets) if septuplets else embedded_material(settings.max_motion)
    command = shlex.join(["vcbench", *sys.argv[1:]])
    record = train(loaded, out, settings, material, command)
    click.echo(f"wrote {out} (model {record['content_hash'][:16]}, backbone {loaded.hash[:16]}, {record['training_seconds']} s, "
               f"perceptual term {record['perceptual_term'].split(' (')[0]}, losses {record['losses']})")

