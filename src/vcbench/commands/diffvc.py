"""DiffVC's commands: `vcbench train-diffvc` (train the model once) and its three analyses,
`vcbench diffvc-tdir`, `vcbench diffvc-qpp` and `vcbench diffvc-propagation`."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from vcbench.analysis_record import RECORD_NAME
from vcbench.commands.files import FilePath, FolderPath, outputs_in, refuse_nested_folders, refuse_overwriting
from vcbench.commands.options import metric_options as checked_metric_options, parse_pairs
from vcbench.commands.scoring import DEFAULT_METRICS

# what each analysis writes into its --out-dir (vcbench.codecs.diffvc.analysis)
TDIR_WRITES = ("tdir.csv", "tdir.png", RECORD_NAME)
QPP_WRITES = ("qpp.csv", "qpp.png", RECORD_NAME)
PROPAGATION_WRITES = ("propagation.csv", "propagation.png", RECORD_NAME)


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


def _ids(codec: str, dataset: str | None, sequence: str | None, source: Path | None) -> dict[str, str]:
    return {"codec": codec, "dataset": dataset or "", "sequence": sequence or (source.stem if source else "")}


_identity = [
    click.option("--codec", "codec_key", default="diffvc", show_default=True, help="The config's codec key (names the curve)."),
    click.option("--dataset", default=None, help="Dataset name for the record."),
    click.option("--sequence", default=None, help="Sequence name for the record (default: the source's file name)."),
]


def _with_identity(command):
    for option in reversed(_identity):
        command = option(command)
    return command


@click.command()
@click.argument("bitstream", type=FilePath(exists=True))
@click.argument("source", type=FilePath(exists=True))
@click.option("--out-dir", type=FolderPath(), required=True, help=f"Where {', '.join(TDIR_WRITES)} go.")
@click.option("--metrics", default=DEFAULT_METRICS, show_default=True, help="Comma-separated frame metrics (as for `vcbench score`).")
@click.option("-m", "--metric-option", "metric_options", multiple=True, metavar="METRIC.KEY=VALUE",
              help="An option for one metric, e.g. -m lpips.cache_dir=PATH.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A DiffVC decoder option (model, backbone, models_dir, device, threads).")
@_with_identity
@click.option("--quiet", is_flag=True, help="No progress bars while scoring.")
def diffvc_tdir(bitstream: Path, source: Path, out_dir: Path, metrics: str, metric_options, options, codec_key: str,
                dataset: str | None, sequence: str | None, quiet: bool) -> None:
    """Decode a DiffVC BITSTREAM with every TDIR r (0 to its steps - 1) and score each decode against
    the Y4M SOURCE: decode time per frame against the loss on every metric."""
    refuse_overwriting({"BITSTREAM": bitstream, "SOURCE": source}, outputs_in(out_dir, TDIR_WRITES))

    from vcbench.codecs.diffvc.analysis import run_tdir
    from vcbench.metrics.scoring import score_files

    names = [m.strip() for m in metrics.split(",") if m.strip()]
    per_metric = checked_metric_options(metric_options, names)

    def score(reconstruction: Path) -> tuple[dict[str, float], dict[str, str]]:
        scores = score_files(source, reconstruction, names, None, per_metric, progress=not quiet)
        return scores.means(), scores.not_computed

    ids = _ids(codec_key, dataset, sequence, source)
    table, findings = run_tdir(bitstream, source, out_dir, score, parse_pairs(options, "--option"), ids)
    click.echo(table.round(4).to_string(index=False))
    for line in findings:
        click.echo(line)


def _grid(text: str) -> list[int]:
    from vcbench.codecs.diffvc.settings import Q_MAX

    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or not all(v.isdigit() and int(v) <= Q_MAX for v in values):
        raise click.BadParameter(f"{text!r}: give q values in 0..{Q_MAX}, e.g. 0,7,14", param_hint="--grid")
    return sorted({int(v) for v in values})


@click.command()
@click.argument("source", type=FilePath(exists=True))
@click.option("--out-dir", type=FolderPath(), required=True, help=f"Where {', '.join(QPP_WRITES)} go.")
@click.option("--point", "points", nargs=2, multiple=True, required=True, metavar="ENCODE_RECORD SUMMARY",
              type=FilePath(exists=True), help="A ladder point: its encode record and score summary.")
@click.option("--grid", default="0,7,14,21,28,35,42,49,56,63", show_default=True, help="q values whose file sizes are measured.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A DiffVC option (model, backbone, intra_period, ... as the ladder was coded with).")
@_with_identity
def diffvc_qpp(source: Path, out_dir: Path, points, grid: str, options, codec_key: str, dataset: str | None,
               sequence: str | None) -> None:
    """QPP from one model: rate (file size at every q of --grid) and quality (the ladder's scored
    points) against q, for the Y4M SOURCE."""
    read = {f"--point #{index} {which}": path
            for index, pair in enumerate(points, 1) for which, path in zip(("ENCODE_RECORD", "SUMMARY"), pair)}
    refuse_overwriting({"SOURCE": source, **read}, outputs_in(out_dir, QPP_WRITES))

    from vcbench.codecs.diffvc.analysis import run_qpp
    from vcbench.codecs.diffvc.settings import OPTIONS

    given = parse_pairs(options, "--option")
    OPTIONS.parse(given, "diffvc options (-o)")  # before anything is read or written
    table = run_qpp(source, out_dir, list(points), _grid(grid), given, _ids(codec_key, dataset, sequence, source))
    click.echo(table.round(5).to_string(index=False))


@click.command()
@click.option("--out-dir", type=FolderPath(), required=True, help=f"Where {', '.join(PROPAGATION_WRITES)} go.")
@click.option("--point", "points", nargs=2, multiple=True, required=True, metavar="RATE FRAMES_CSV",
              type=(str, FilePath(exists=True)), help="A rate point's label and its per-frame scores.")
@click.option("--intra-period", type=click.IntRange(min=1), required=True, help="The codec's intra period.")
@_with_identity
def diffvc_propagation(out_dir: Path, points, intra_period: int, codec_key: str, dataset: str | None, sequence: str | None) -> None:
    """Quality against the frame's position within the intra period, per rate point (error propagation)."""
    refuse_overwriting({f"--point {rate}": path for rate, path in points}, outputs_in(out_dir, PROPAGATION_WRITES))

    from vcbench.codecs.diffvc.analysis import run_propagation

    table = run_propagation(out_dir, list(points), intra_period, _ids(codec_key, dataset, sequence, None))
    click.echo(table.round(4).to_string(index=False))
