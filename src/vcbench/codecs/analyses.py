"""A codec's analyses, declared by the codec: its package's ``analyses`` module holds ``ANALYSES``, a
tuple of `Analysis`. The workflow plans them (`vcbench.workflow.Plan.analysis_records`), one rule per
stage runs them (workflow/rules/analysis.smk), `vcbench analysis NAME` is their one command, and
their settings live under the codec's config entry (``codecs.<key>.analyses.<name>.<setting>``),
checked against the declared `OptionSet` when the workflow starts.

Torch-free, as the declarations are: the workflow reads them each time it parses the DAG. The
function a stage runs is named as "module:function" and imported only by the job that runs it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from vcbench import layout
from vcbench.analysis_record import RECORD_NAME
from vcbench.codecs.registry import available_codecs, codec_package
from vcbench.errors import ConfigError
from vcbench.options import OptionSet

#: the module of a codec package that declares its analyses
MODULE = "analyses"
#: which rate points of the preset's ladder an analysis takes (or the name of an int setting: the ladder's first N)
LOWEST, LADDER = "lowest", "ladder"
#: which sequences: every one of the preset, or the first of each dataset
ALL, FIRST = "all", "first"
#: what a stage's job runs for: one selected rate point, or one sequence (every selected rate point at once)
RATE, SEQUENCE = "rate", "sequence"
#: the job files a stage may read of each selected rate point (`vcbench.layout` templates, by name)
JOB_FILES = ("BITSTREAM", "ENCODE_RECORD", "SUMMARY", "FRAMES")


@dataclass(frozen=True)
class Stage:
    """One rule of an analysis. The last stage writes the analysis record (``analysis.json``) the report
    reads, in ``<rate>/<folder>`` (per rate point) or ``ladder/<folder>`` (per sequence) of the codec's
    analysis folder; an earlier stage writes into ``results/.../<codec>/<folder>/``, and the last stage
    reads the first file of every job of every earlier stage."""

    name: str
    run: str  # "module:function", called with the job's `AnalysisJob`; what it returns is printed
    writes: tuple[str, ...]  # file names in the stage's folder; an earlier stage's may hold {rate} and {item}
    folder: str = ""
    per: str = RATE
    reads: tuple[str, ...] = ()  # of JOB_FILES: of its rate point (per RATE) or of every selected one (per SEQUENCE)
    # values this stage also fans out over (its {item}), from the settings and the codec's parsed options
    over: Callable[[dict[str, Any], dict[str, Any]], list] | None = None
    scores: bool = False  # scores decodes against the source: gets the analysis metrics (config `analysis.metrics`)
    gpu: bool = True  # runs a network
    local: bool = False  # a light gathering step: runs where Snakemake runs, never submitted to a cluster


@dataclass(frozen=True)
class Analysis:
    name: str  # `vcbench analysis NAME`, its rules' names and its key under codecs.<key>.analyses; unique over all codecs
    doc: str  # one line: what it measures
    stages: tuple[Stage, ...]
    settings: OptionSet = field(default_factory=OptionSet)
    rates: str = LOWEST  # LOWEST, LADDER, or an int setting's name: the ladder's first N points
    sequences: str = ALL
    switch: str | None = None  # a list setting: [] turns the analysis off

    @property
    def last(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise ConfigError(f"analysis {self.name}: no stage {name!r}; its stages: {', '.join(s.name for s in self.stages)}")

    def folder(self, stage: Stage) -> str:
        """The `vcbench.layout` template of the folder ``stage`` writes into."""
        if stage is not self.last:
            return layout.partial(layout.ANALYSIS_STAGE_DIR, folder=stage.folder)
        base = layout.ANALYSIS_DIR if stage.per == RATE else layout.LADDER_ANALYSIS_DIR
        return f"{base}/{stage.folder}" if stage.folder else base

    def rule(self, stage: Stage) -> str:
        """The stage's Snakemake rule (and Slurm resources key): analysis_<name>, analysis_<name>_<stage> for an earlier stage."""
        return f"analysis_{self.name}" if stage is self.last else f"analysis_{self.name}_{stage.name}"


@dataclass(frozen=True)
class AnalysisJob:
    """What one analysis job is given (`vcbench analysis`): who it is, its files, settings and options."""

    codec: str  # the config key of the codec entry (named in the record)
    dataset: str
    sequence: str
    rate: str | None  # the rate point of a per-rate stage
    item: str | None  # the value of a stage's `over`
    source: Path
    inputs: dict[str, list[tuple[str, Path]]]  # kind (a JOB_FILES name in lower case, or an earlier stage) -> (label, file)
    out_dir: Path
    outputs: list[Path]  # the stage's `writes` in out_dir, {rate} and {item} filled in
    settings: dict[str, Any]  # checked against the declaration, defaults filled in
    codec_options: dict[str, str]  # -o as given (the codec fills in its defaults)
    knobs: dict[str, str]  # -p: the rate point's knobs as given
    frames: int | None
    metrics: list[str]
    metric_options: dict[str, dict[str, Any]]
    quiet: bool = False

    def file(self, kind: str) -> Path:
        """The one file of ``kind`` (a per-rate stage's input)."""
        given = self.inputs.get(kind, [])
        if len(given) != 1:
            raise ConfigError(f"--input {kind}: this stage reads one {kind} ({len(given)} given); give --input {kind} LABEL FILE once")
        return given[0][1]

    def score(self, reconstruction: Path) -> tuple[dict[str, float], dict[str, str]]:
        """``reconstruction`` scored against the source with the job's metrics: (means per column, {metric: why not computed})."""
        from vcbench.metrics.scoring import score_files

        scores = score_files(self.source, reconstruction, self.metrics, None, self.metric_options, progress=not self.quiet)
        return scores.means(), scores.not_computed


def _check(analysis: Analysis, where: str) -> Analysis:
    names = [stage.name for stage in analysis.stages]
    if not analysis.stages or len(set(names)) != len(names):
        raise ConfigError(f"{where}: analysis {analysis.name!r} needs stages with distinct names")
    if RECORD_NAME not in analysis.last.writes:
        raise ConfigError(f"{where}: analysis {analysis.name}: its last stage writes the record the report reads, {RECORD_NAME}")
    for stage in analysis.stages:
        unknown = sorted(set(stage.reads) - set(JOB_FILES))
        if unknown or stage.per not in (RATE, SEQUENCE) or (stage.over is not None and stage.per != RATE):
            raise ConfigError(f"{where}: analysis {analysis.name} stage {stage.name}: reads one of {', '.join(JOB_FILES)} "
                              f"(not {unknown}), per {RATE!r} or {SEQUENCE!r}, and fans out `over` per rate only")
    for setting in [s for s in (analysis.switch, None if analysis.rates in (LOWEST, LADDER) else analysis.rates) if s]:
        if setting not in analysis.settings:
            raise ConfigError(f"{where}: analysis {analysis.name} names the setting {setting!r}, which it does not declare")
    return analysis


@cache
def declared_analyses(codec: str) -> tuple[Analysis, ...]:
    """The analyses the registered ``codec`` declares (none: no ``analyses`` module in its package)."""
    package = codec_package(codec)
    if package is None or importlib.util.find_spec(f"{package}.{MODULE}") is None:
        return ()
    module = importlib.import_module(f"{package}.{MODULE}")
    return tuple(_check(analysis, module.__name__) for analysis in module.ANALYSES)


@cache
def _by_name() -> dict[str, tuple[str, Analysis]]:
    found: dict[str, tuple[str, Analysis]] = {}
    for codec in available_codecs():
        for analysis in declared_analyses(codec):
            if analysis.name in found:
                raise ConfigError(f"analysis {analysis.name!r} is declared by both {found[analysis.name][0]} and {codec}; rename one")
            found[analysis.name] = (codec, analysis)
    return found


def analysis_named(name: str) -> tuple[str, Analysis]:
    """(the codec that declares it, the analysis) of ``name``, or a one-line error listing them."""
    try:
        return _by_name()[name]
    except KeyError:
        raise ConfigError(f"unknown analysis {name!r}; declared: {', '.join(sorted(_by_name())) or 'none'}") from None
