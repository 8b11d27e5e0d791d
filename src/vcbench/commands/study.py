"""`vcbench study create|serve|export|scale`: a pairwise subjective study from a report."""

from __future__ import annotations

from pathlib import Path

import click

from vcbench.commands.files import FilePath, FolderPath, outputs_in, refuse_overwriting
from vcbench.study.folder import CONFIG, DATABASE, EXPORT, SCALE, SessionPlan, Study

STUDY_DIR = FolderPath(exists=True)
DB_HELP = "SQLAlchemy URL of the answer store (default: SQLite with WAL, <STUDY>/answers.sqlite)."


def _store(study: Study, db: str | None):
    from vcbench.study.store import Store

    return Store(db or study.default_database_url())


@click.group()
def study() -> None:
    """A pairwise subjective study (ITU-T P.910 / BT.500 practice) built from a report, scaled to JOD."""


@study.command()
@click.argument("report", type=FolderPath(exists=True))
@click.option("--out", type=FolderPath(), required=True, help="The new study folder (never overwritten).")
@click.option("--root", type=FolderPath(exists=True), default=Path("."), show_default=True,
              help="The repository root that rd.csv's paths are relative to.")
@click.option("--bpp", "targets", type=float, multiple=True, help="A bpp target (repeatable; default 0.01 0.02 0.04): per "
              "sequence and codec, the rate point nearest each (in log bpp) is shown.")
@click.option("--codec", "codecs", multiple=True, help="Only this codec (rd.csv's codec column; repeatable; default all).")
@click.option("--training", type=click.IntRange(min=1), default=SessionPlan.training, show_default=True,
              help="Practice pairs at the start of each session (not scaled).")
@click.option("--trials", type=click.IntRange(min=1), default=SessionPlan.trials, show_default=True,
              help="Scored pairs per session.")
@click.option("--repeats", type=click.IntRange(min=0), default=SessionPlan.repeats, show_default=True,
              help="Hidden repeats per session (observer screening).")
@click.option("-o", "--option", "options", multiple=True, metavar="CODEC.KEY=VALUE",
              help="A decoder option of one codec (rd.csv's codec column), as `vcbench decode -o KEY=VALUE` takes it (repeatable).")
def create(report: Path, out: Path, root: Path, targets, codecs, training: int, trials: int, repeats: int, options) -> None:
    """Make a study folder from REPORT (reports/<preset>): conditions, lossless clips decoded anew from the
    bitstreams, and provenance."""
    from vcbench.study.build import create_study
    from vcbench.study.conditions import DEFAULT_BPP_TARGETS

    config = create_study(report, out, root, tuple(targets) or DEFAULT_BPP_TARGETS, tuple(codecs),
                          SessionPlan(training, trials, repeats), _per_codec(options), progress=click.echo)
    size = sum(c["clip_bytes"] for c in config["conditions"])
    click.echo(f"{out}: {len(config['conditions'])} conditions in {len({c['sequence'] for c in config['conditions']})} "
               f"sequence(s), clips {size / 1e6:.2f} MB ({config['clip_format']['summary']}), each checked identical to its decode")


def _per_codec(options) -> dict[str, tuple[str, ...]]:
    from vcbench.errors import ConfigError

    out: dict[str, list[str]] = {}
    for option in options:
        codec, dot, pair = option.partition(".")
        if not dot or "=" not in pair:
            raise ConfigError(f"-o {option}: give CODEC.KEY=VALUE (CODEC: rd.csv's codec column), e.g. -o CODEC.device=cpu")
        out.setdefault(codec, []).append(pair)
    return {codec: tuple(pairs) for codec, pairs in out.items()}


@study.command()
@click.argument("folder", type=STUDY_DIR)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--db", default=None, help=DB_HELP)
@click.option("--seed", type=int, default=None, help="Seed of the pair sampler (default: fresh).")
def serve(folder: Path, host: str, port: int, db: str | None, seed: int | None) -> None:
    """Serve the study's page and API until stopped (Ctrl-C)."""
    import uvicorn

    from vcbench.study.server import create_app

    loaded = Study(folder)
    app = create_app(loaded, _store(loaded, db), seed)
    click.echo(f"study {folder}: http://{host}:{port}/ (answers in {db or loaded.default_database_url()})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


@study.command()
@click.argument("folder", type=STUDY_DIR)
@click.option("--db", default=None, help=DB_HELP)
@click.option("--out", type=FolderPath(), default=None, help="Default: <STUDY>/export.")
def export(folder: Path, db: str | None, out: Path | None) -> None:
    """Write every shown trial and its answer (answers.csv) and the study's config (study.json)."""
    from vcbench.study.export import export as write_export

    out = out or folder / EXPORT
    refuse_overwriting(_study_files(folder), outputs_in(out, ("answers.csv", CONFIG), "--out"))
    loaded = Study(folder)
    store = _store(loaded, db)
    trials = sorted((t for code in _participants(store) for t in store.trials(code)), key=lambda t: (t.participant, t.index))
    csv_path, _ = write_export(loaded, trials, out)
    click.echo(f"{csv_path}: {sum(t.choice is not None for t in trials)} answers of {len(trials)} shown trials")


def _study_files(folder: Path) -> dict[str, Path]:
    """The study's own files, which an export or a scale must never replace."""
    return {f"the study's {name}": folder / name for name in (CONFIG, DATABASE)}


def _participants(store) -> list[str]:
    return store.participant_codes()


@study.command()
@click.argument("folder", type=STUDY_DIR)
@click.option("--db", default=None, help=DB_HELP)
@click.option("--answers", type=FilePath(exists=True), default=None,
              help="Scale an exported answers.csv instead of the store.")
@click.option("--out", type=FolderPath(), default=None, help="Default: <STUDY>/scale.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=500, show_default=True, help="Bootstrap resamples of observers.")
@click.option("--seed", type=int, default=0, show_default=True)
def scale(folder: Path, db: str | None, answers: Path | None, out: Path | None, bootstrap: int, seed: int) -> None:
    """JOD per condition with 95 % bootstrap intervals, observer screening, and each metric's Spearman
    correlation with JOD."""
    from vcbench.errors import ConfigError
    from vcbench.study.export import read_answers
    from vcbench.study.scaling import Scaler
    from vcbench.study.tables import FILES, write_scale

    out = out or folder / SCALE
    refuse_overwriting({**_study_files(folder), "--answers": answers}, outputs_in(out, FILES, "--out"))
    loaded = Study(folder)
    given = read_answers(answers) if answers is not None else _store(loaded, db).answered()
    if not any(a.kind != "training" for a in given):
        raise ConfigError(f"{answers or folder}: no scored answers yet; run `vcbench study serve {folder}` and collect some")
    result = Scaler(loaded, given).scale(bootstrap, seed)
    written = write_scale(result, out, loaded.config.get("name", folder.name))
    flagged = [o["participant"] for o in result.observers if o["flagged"]]
    click.echo(f"{written[0]}: {len(result.table)} conditions, {result.method['answers_scaled']} answers of "
               f"{result.method['observers_kept']} observers; flagged: {', '.join(flagged) or 'none'}")
