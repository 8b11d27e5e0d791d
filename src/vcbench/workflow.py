"""The experiment plan behind the Snakefile: which jobs a preset fans out to, and their paths.

Kept out of the Snakefile so that it is plain, testable Python; the rules only map wildcards
to `vcbench` commands.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from vcbench import layout
from vcbench.assets import is_present, load_registry, missing_reason
from vcbench.codecs import codec_entry
from vcbench.codecs.analyses import FIRST, LADDER, LOWEST, RATE, Analysis, Stage, declared_analyses
from vcbench.codecs.registry import declared_options
from vcbench.data import load_dataset
from vcbench.errors import ConfigError
from vcbench.io import sha256_file
from vcbench.metrics.registry import headline_columns, metric_spec
from vcbench.tracking.job import recorded_sha256


@dataclass(frozen=True)
class Job:
    """One encode/decode/score job: a sequence of a dataset, coded by a codec at a rate point: ``rate``
    its label, ``knobs`` its knobs as the config check made them (checked against the codec's declared
    knob set, defaults filled in), which the encode rule passes on as they are."""

    preset: str
    dataset: str
    sequence: str
    codec: str
    rate: str
    extension: str
    knobs: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """dataset/sequence/codec/rate: the job's RD point, as provenance, MLflow and the report commands name it."""
        return f"{self.dataset}/{self.sequence}/{self.codec}/{self.rate}"

    def path(self, template: str) -> str:
        """``template`` (a `vcbench.layout` one) filled in with this job's fields."""
        return layout.fill(template, preset=self.preset, dataset=self.dataset, sequence=self.sequence, codec=self.codec,
                           rate=self.rate, extension=self.extension)

    @property
    def bitstream(self) -> str:
        return self.path(layout.BITSTREAM)

    @property
    def summary(self) -> str:
        return self.path(layout.SUMMARY)

    @property
    def analysis_dir(self) -> str:
        return self.path(layout.ANALYSIS_DIR)


def config_hash(config: dict[str, Any]) -> str:
    """A short, stable hash of the configuration (recorded with every result): all of it but the codec
    options that change no output (`Option.changes_output`), so that setting one leaves finished results current."""
    shaping = {**config, "codecs": {key: {**entry, "options": entry_options(entry, changes_output=True)}
                                    for key, entry in config["codecs"].items()}}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()[:16]


def entry_options(entry: Mapping[str, Any], changes_output: bool) -> dict[str, Any]:
    """The options a codec entry sets (config ``codecs.<key>.options``) that can change its outputs, or
    (``changes_output`` False) those that cannot, as their declarations (`Option.changes_output`) say."""
    declared = declared_options(entry["codec"])[0]
    return {name: value for name, value in entry["options"].items()
            if name not in declared or declared.options[name].changes_output == changes_output}


def content_version(path: str) -> str:
    """A file's sha256, or "absent" before it exists (a model not yet trained: Snakemake evaluates params
    again when the job is about to run, and records that). Hashed again only when its size or mtime changes."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return "absent"
    return _sha256_of(path, stat.st_size, stat.st_mtime_ns)


@cache
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(Path(path))


def sequence_path(dataset: str, sequence: str) -> str:
    return layout.fill(layout.SEQUENCE, dataset=dataset, sequence=sequence)


def source_version(dataset: str, sequence: str) -> str:
    """The sequence's sha256 as its record (``data/<set>/<seq>.json``) states it: a param of every
    job that reads the sequence, so that a new version of it (a new record) reruns them, while a
    `dvc pull` (new mtimes, same content) does not. Before the sequence is prepared there is no
    record yet; Snakemake evaluates params again when the job is about to run, and records that."""
    return recorded_sha256(Path(sequence_path(dataset, sequence))) or "no record"


def keyed_args(flag: str, files: Mapping[str, str]) -> str:
    """{"demo/bikes": "data/demo/bikes.y4m"} -> "--source demo/bikes data/demo/bikes.y4m": KEY FILE arguments, quoted for the shell."""
    return " ".join(f"{flag} {shlex.quote(key)} {shlex.quote(path)}" for key, path in files.items())


def cli_pairs(flag: str, mapping: Mapping[str, Any]) -> str:
    """{"qp": 37} -> "-p qp=37": KEY=VALUE arguments of the vcbench CLI, quoted for the shell."""
    return " ".join(f"{flag} {shlex.quote(f'{key}={value}')}" for key, value in mapping.items())


def not_computed_args(plan: Plan) -> str:
    """``--not-computed 'METRICS: REASON'`` of the report, one per metric the plan leaves out."""
    # a pooled metric's columns are left out together, as its own table names them (FID with KID)
    texts = [f"{', '.join(spec.column_names) if (spec := metric_spec(metric)).scope == 'pooled' else metric}: {reason}"
             for metric, reason in plan.unavailable_metrics.items()]
    return " ".join(f"--not-computed {shlex.quote(text)}" for text in texts)


def gpus_present() -> int:
    """GPUs this machine offers, without importing torch: CUDA_VISIBLE_DEVICES if set, else the
    NVIDIA driver's list."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([device for device in visible.split(",") if device.strip() not in ("", "-1")])
    return len(list(Path("/proc/driver/nvidia/gpus").glob("*")))


def local_gpu_slots(cores: int) -> int:
    """How many neural jobs may run at once on this machine: one per GPU; with no GPU they run on
    the CPU, where only the cores limit them."""
    return gpus_present() or cores


def spread(items: list, count: int | None) -> list:
    """``count`` items evenly spread over ``items`` (first and last included), or all of them."""
    if count is None or count >= len(items):
        return list(items)
    return [items[i] for i in np.round(np.linspace(0, len(items) - 1, count)).astype(int)]


class Plan:
    """The jobs of one preset of a checked configuration (`vcbench.config_check.check_config`: the
    schema's defaults are filled in, so every setting is read as it is, never with a default here)."""

    def __init__(self, config: dict[str, Any], preset: str | None = None):
        self.config = config
        self.preset = preset or config["preset"]
        if self.preset not in config["presets"]:
            raise ConfigError(f"config preset: unknown preset {self.preset!r}; one of {', '.join(config['presets'])} "
                              "(--config preset=NAME)")
        self.settings = config["presets"][self.preset]
        for index, codec in enumerate(self.settings["codecs"]):
            if codec not in config["codecs"]:
                raise ConfigError(f"config presets.{self.preset}.codecs[{index}]: {codec!r} has no entry under `codecs:` "
                                  f"(configured: {', '.join(config['codecs'])})")
            labels = [point["label"] for point in config["codecs"][codec]["ladder"]]
            if len(set(labels)) != len(labels):
                raise ConfigError(f"config codecs.{codec}.ladder: duplicate labels {labels}; each rate point needs its own")

    @property
    def frames(self) -> int:
        return int(self.settings["frames"])

    def sequences(self, dataset: str) -> list[str]:
        names = list(load_dataset(dataset).sequences)
        count = self.settings["sequences"]
        return names if count is None else names[:count]

    def codec_entry(self, codec: str) -> dict[str, Any]:
        return self.config["codecs"][codec]

    def ladder(self, codec: str) -> list[dict[str, Any]]:
        return spread(self.codec_entry(codec)["ladder"], self.settings["rate_points"])

    def job(self, dataset: str, sequence: str, codec: str, rate: str) -> Job:
        """The planned job of one rate point (what a rule's wildcards name), or a ConfigError saying it is none."""
        try:
            return self._jobs_by_key[f"{dataset}/{sequence}/{codec}/{rate}"]
        except KeyError:
            raise ConfigError(f"{dataset}/{sequence}/{codec}/{rate} is not a job of preset {self.preset!r}: not one of its "
                              f"sequences, codecs or (spread to `rate_points`) rate points") from None

    @cached_property
    def _jobs_by_key(self) -> dict[str, Job]:
        return {job.key: job for job in self.jobs}

    def extension(self, codec: str) -> str:
        return codec_entry(self.codec_entry(codec)["codec"]).extension

    def uses_gpu(self, codec: str) -> bool:
        return codec_entry(self.codec_entry(codec)["codec"]).uses_gpu

    def codec_requires(self, codec: str) -> list[str]:
        """Files the codec entry needs besides the sequence (config `requires`, e.g. a trained backbone)."""
        return self.codec_entry(codec)["requires"]

    def requires_versions(self, codec: str) -> dict[str, str]:
        """File -> sha256 of each of the codec entry's `requires`: a params value of its encodes, so that new
        content reruns them while a new mtime alone (a checkout, a copy) does not."""
        return {path: content_version(path) for path in self.codec_requires(codec)}

    def codec_option_args(self, codec: str, changes_output: bool = True) -> str:
        """The codec entry's configured options as ``-o KEY=VALUE`` arguments (the codec fills in its own defaults):
        those that can change its outputs (the rules' params), or (``changes_output`` False) those that cannot,
        which the rules pass outside the params rerun trigger."""
        return cli_pairs("-o", entry_options(self.codec_entry(codec), changes_output))

    @cached_property
    def backbones(self) -> dict[str, str]:
        """Name (the folder's) -> folder of every local backbone the preset's codecs run on (their
        ``backbone`` option, declared default included); hub ids are left out (the check needs the files here)."""
        folders = {str(self.codec_option(codec, "backbone")) for codec in self.settings["codecs"]
                   if "backbone" in declared_options(self.codec_entry(codec)["codec"])[0]}
        return {Path(folder).name: folder for folder in sorted(folders) if not folder.startswith("hf://")}

    @property
    def report(self) -> dict[str, Any]:
        """Config `report`: the anchor, the BD method and metrics, the preview rate."""
        return self.config["report"]

    @property
    def assets_cache_arg(self) -> str:
        """``--cache-dir DIR`` of every job that loads pretrained weights (config `assets.cache_dir`; none when it is null:
        the jobs then look in $VCBENCH_ASSETS_DIR, $TORCH_HOME, ~/.cache/torch)."""
        cache_dir = self.config["assets"]["cache_dir"]
        return f"--cache-dir {shlex.quote(cache_dir)}" if cache_dir else ""

    @property
    def bd_span_args(self) -> str:
        """``--interval LOW HIGH`` and ``--min-overlap`` of the BD table (config `report.bd_interval_bpp`, `bd_min_overlap`)."""
        report = self.config["report"]
        interval = f"--interval {report['bd_interval_bpp'][0]!r} {report['bd_interval_bpp'][1]!r} " if report["bd_interval_bpp"] else ""
        return f"{interval}--min-overlap {report['bd_min_overlap']!r}"

    @property
    def tracking_args(self) -> str:
        """``--experiment`` and ``--tracking-uri`` of the MLflow jobs (config `tracking`)."""
        tracking = self.config["tracking"]
        uri = f" --tracking-uri {shlex.quote(tracking['tracking_uri'])}" if tracking["tracking_uri"] else ""
        return f"--experiment {shlex.quote(tracking['experiment'])}{uri}"

    @property
    def metrics(self) -> list[str]:
        """The metrics the preset scores: its own `metrics` where it sets them, else the config's."""
        return list(self.settings.get("metrics", self.config["metrics"]))

    @property
    def bd_metrics(self) -> list[str]:
        """The columns of the BD table and RD plots: config `report.bd_metrics`, or (null) the headline
        columns the preset's metrics declare."""
        chosen = self.report["bd_metrics"]
        return list(chosen) if chosen is not None else headline_columns(self.metrics)

    def metric_options(self, metric: str) -> dict[str, Any]:
        """Config `metric_options` of ``metric`` as given (the metric fills in its own defaults)."""
        return self.config["metric_options"].get(metric, {})  # a sparse map: most metrics have no entry

    def metric_option_args(self, metrics: list[str]) -> str:
        """``-m METRIC.KEY=VALUE`` of ``metrics``: their config `metric_options` (a command refuses options of
        a metric it does not score)."""
        return cli_pairs("-m", {f"{metric}.{key}": value for metric in metrics
                                for key, value in self.metric_options(metric).items()})

    def all_sequences(self) -> list[tuple[str, str]]:
        """(dataset, sequence) of every sequence the preset codes."""
        return [(dataset, sequence) for dataset in self.settings["datasets"] for sequence in self.sequences(dataset)]

    def sources(self) -> list[str]:
        """The preset's sequence files."""
        return list(self.source_files().values())

    def source_files(self) -> dict[str, str]:
        """dataset/sequence -> file of every sequence the preset codes."""
        return {f"{dataset}/{sequence}": sequence_path(dataset, sequence) for dataset, sequence in self.all_sequences()}

    def job_files(self, template: str) -> dict[str, str]:
        """Job key (dataset/sequence/codec/rate) -> ``template`` (a `vcbench.layout` one) filled in, for every job."""
        return {job.key: job.path(template) for job in self.jobs}

    @cached_property
    def decoder_cost_jobs(self) -> list[Job]:
        """The jobs whose decode is counted (rule decoder_cost): every rate point of each neural codec on the first
        sequence of every dataset. The count depends on the rate (a rate knob may size a network) and the frame size,
        hardly on the content, so one sequence of a dataset stands for the others."""
        first = {(dataset, self.sequences(dataset)[0]) for dataset in self.settings["datasets"]}
        return [job for job in self.jobs if self.uses_gpu(job.codec) and (job.dataset, job.sequence) in first]

    def decoder_cost_files(self) -> dict[str, str]:
        """Job key -> its decoder cost JSON, for every job of `decoder_cost_jobs`."""
        return {job.key: job.path(layout.DECODER_COST) for job in self.decoder_cost_jobs}

    @cached_property
    def jobs(self) -> list[Job]:
        return [
            Job(self.preset, dataset, sequence, codec, point["label"], self.extension(codec),
                {name: value for name, value in point.items() if name != "label"})
            for dataset in self.settings["datasets"]
            for sequence in self.sequences(dataset)
            for codec in self.settings["codecs"]
            for point in self.ladder(codec)
        ]

    @cached_property
    def unavailable_metrics(self) -> dict[str, str]:
        """Configured metrics whose weights are absent from the assets cache (config `assets.cache_dir`,
        else the folders `vcbench.assets.torch_home` names) -> why, with the fix. Decided once, when the
        workflow starts: no job is planned whose result is known to be empty, and the report says why.
        Presence is checked without hashing the large files (`is_present`); the jobs verify the sha256."""
        cache_dir = self.config["assets"]["cache_dir"]
        unavailable = {}
        for metric in self.metrics:
            spec = metric_spec(metric)
            if not spec.uses_weights:
                continue
            options = spec.options.parse(self.metric_options(metric), f"config metric_options.{metric}")  # LPIPS' net
            names = spec.asset_names(options)
            registry = load_registry(options.get("registry_path"))
            unknown = sorted(set(names) - set(registry))
            if unknown:
                raise ConfigError(f"the asset registry has no asset {unknown[0]!r}, which {metric} needs "
                                  f"(known: {', '.join(sorted(registry))})")
            absent = [registry[name] for name in names if not is_present(registry[name], cache_dir)]
            if absent:  # the first, as the metric itself would report it
                unavailable[metric] = missing_reason(absent[0], cache_dir)
        return unavailable

    @property
    def available_metrics(self) -> list[str]:
        """The configured metrics that can be computed here, in the config's order."""
        return [metric for metric in self.metrics if metric not in self.unavailable_metrics]

    @property
    def frame_metrics(self) -> list[str]:
        """The available metrics the score jobs compute (per frame or per sequence; not FID/KID, which pool over a dataset)."""
        return [metric for metric in self.available_metrics if metric_spec(metric).scope != "pooled"]

    @property
    def score_uses_gpu(self) -> bool:
        """Whether the score jobs run a network (a metric with a `device` option: LPIPS, DISTS), and so
        ask for a GPU. Without those metrics' weights none is planned, and scoring asks for none."""
        return any("device" in metric_spec(metric).options for metric in self.frame_metrics)

    @property
    def analysis_metrics(self) -> list[str]:
        """The score jobs' metrics that config `analysis.metrics` keeps for the codecs' analyses, in score order."""
        return [metric for metric in self.frame_metrics if metric in self.config["analysis"]["metrics"]]

    def codec_option(self, codec: str, name: str) -> Any:
        """The value of a codec entry's option as the codec will see it (the declared default when not set)."""
        entry = self.codec_entry(codec)
        return declared_options(entry["codec"])[0].parse(entry["options"], f"config codecs.{codec}.options")[name]

    def codec_analyses(self, codec: str) -> list[Analysis]:
        """The analyses the codec of entry ``codec`` declares that its settings leave on (a `switch` setting
        set to [] turns one off)."""
        return [analysis for analysis in declared_analyses(self.codec_entry(codec)["codec"])
                if analysis.switch is None or self.analysis_settings(codec, analysis)[analysis.switch]]

    def analysis_settings(self, codec: str, analysis: Analysis) -> dict[str, Any]:
        """Config `codecs.<codec>.analyses.<name>`, checked against the analysis' declared settings, defaults filled in."""
        given = self.codec_entry(codec)["analyses"].get(analysis.name, {})  # a sparse map: most analyses keep their defaults
        return analysis.settings.parse(given, f"config codecs.{codec}.analyses.{analysis.name}")

    def analysis_sequences(self, analysis: Analysis) -> list[tuple[str, str]]:
        """(dataset, sequence) an analysis runs on: every sequence, or the first of each dataset."""
        if analysis.sequences == FIRST:
            return [(dataset, self.sequences(dataset)[0]) for dataset in self.settings["datasets"]]
        return self.all_sequences()

    def analysis_rates(self, codec: str, analysis: Analysis) -> list[str]:
        """The rate points an analysis takes, in ladder order: the lowest (ladders run from low to high rate),
        the whole ladder, or the ladder's first N (N: the setting the declaration names)."""
        labels = [point["label"] for point in self.ladder(codec)]
        if analysis.rates == LOWEST:
            return labels[:1]
        return labels if analysis.rates == LADDER else labels[: self.analysis_settings(codec, analysis)[analysis.rates]]

    def analysis_items(self, codec: str, analysis: Analysis, stage: Stage) -> list[str]:
        """The values a stage fans out over besides the rate point (none: one job per rate point)."""
        if stage.over is None:
            return [""]
        options = declared_options(self.codec_entry(codec)["codec"])[0].parse(self.codec_entry(codec)["options"],
                                                                             f"config codecs.{codec}.options")
        return [str(item) for item in stage.over(self.analysis_settings(codec, analysis), options)]

    @cached_property
    def analysis_records(self) -> list[str]:
        """Every analysis record (analysis.json) of the preset, the report's inputs: each codec's declared
        analyses that are on, on their sequences, at their rate points (or once per sequence)."""
        records = []
        for codec in self.settings["codecs"]:
            for analysis in self.codec_analyses(codec):
                folder = analysis.folder(analysis.last)
                rates = self.analysis_rates(codec, analysis) if analysis.last.per == RATE else [""]
                records += [layout.fill(f"{folder}/{layout.ANALYSIS_RECORD}", preset=self.preset, dataset=dataset, sequence=sequence,
                                        codec=codec, rate=rate)
                            for dataset, sequence in self.analysis_sequences(analysis) for rate in rates]
        return records

    def analysis_inputs(self, analysis: Analysis, stage: Stage, dataset: str, sequence: str, codec: str,
                        rate: str | None) -> list[tuple[str, str, str]]:
        """(kind, label, file) of every file one job of ``stage`` reads: its job files (`Stage.reads`) of its rate
        point or of every one the analysis takes, and for the last stage the first file of every earlier stage's job."""
        where = {"preset": self.preset, "dataset": dataset, "sequence": sequence, "codec": codec, "extension": self.extension(codec)}
        rates = [rate] if stage.per == RATE else self.analysis_rates(codec, analysis)
        files = [(kind.lower(), point, layout.fill(getattr(layout, kind), **where, rate=point)) for kind in stage.reads for point in rates]
        if stage is analysis.last:
            for earlier in analysis.stages[:-1]:
                template = f"{analysis.folder(earlier)}/{earlier.writes[0]}"
                files += [(earlier.name, f"{item}/{point}" if item else point, layout.fill(template, **where, rate=point, item=item))
                          for item in self.analysis_items(codec, analysis, earlier) for point in self.analysis_rates(codec, analysis)]
        return files
