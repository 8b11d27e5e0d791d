# Shared by every .smk file. The plan of the chosen preset, and the input and params functions
# the others use (kept here, so that those files hold only their rules). `config` is checked, with
# the schema's defaults filled in (the Snakefile's check_config): values are read as they are.
#
# Every value a shell command uses reaches it through `params:` or `input:`, so that a change of
# it reruns the jobs it shapes (Snakemake's params rerun trigger), never as a global.
import re
from functools import cache
from pathlib import Path

from vcbench import layout
from vcbench.reconstruction import keeps_reconstruction
from vcbench.assets.backbones import load_backbones
from vcbench.workflow import (
    Plan,
    cli_pairs,
    config_hash,
    keyed_args,
    local_gpu_slots,
    not_computed_args,
    sequence_path,
    source_version,
)

# Neural jobs ask for resource "gpu", scoped local in profiles/default. Locally they run one per
# GPU present, or side by side on the CPU cores of a machine without one (`--resources gpu=N`
# overrides); submitted cluster jobs are not limited by it.
if "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", local_gpu_slots(workflow.cores))

PRESET = config["preset"]
CONFIG_HASH = config_hash(config)

NAME = "[A-Za-z0-9_-]+"


wildcard_constraints:
    preset=NAME,
    dataset=NAME,
    sequence=NAME,
    codec=NAME,
    rate=NAME,


@cache
def plan(preset):
    return Plan(config, preset)


PLAN = plan(PRESET)


def bitstream_of(wc):
    return layout.fill(layout.BITSTREAM, preset=wc.preset, dataset=wc.dataset, sequence=wc.sequence, codec=wc.codec, rate=wc.rate,
                       extension=plan(wc.preset).extension(wc.codec))


def source_of(wc):
    # ancient(): a sequence restored by `dvc pull` or `git checkout` gets a new mtime but the
    # same content; that must not redo the finished work built on it. A new version of the
    # sequence reruns that work through `source_sha256` below instead.
    return ancient(sequence_path(wc.dataset, wc.sequence))


def source_sha256(wc):
    """Params value of the jobs that read a sequence: its sha256 as its record states it."""
    return source_version(wc.dataset, wc.sequence)


def codec_requires(wc):
    """Files a codec needs besides the sequence (e.g. a trained backbone). ancient(), as the sequence: a fresh
    clone or a branch switch renews their mtime, not their content; new content reruns the encodes through
    `requires_sha256` (and what follows them through their new bitstreams)."""
    return [ancient(path) for path in plan(wc.preset).codec_requires(wc.codec)]


def requires_sha256(wc):
    """Params value of the encodes: the sha256 of each of the codec's `requires` files."""
    return plan(wc.preset).requires_versions(wc.codec)


def codec_name(wc):
    return plan(wc.preset).codec_entry(wc.codec)["codec"]


def codec_options(wc):
    """-o KEY=VALUE of the codec entry's options that can change its outputs: a params value, a change reruns them."""
    return plan(wc.preset).codec_option_args(wc.codec)


# Reconstructions (decode.smk): a neural codec's decode is kept losslessly, an anchor's decoded again where read.
def codecs_keeping(keep):
    """A wildcard constraint: the config's codec keys whose reconstructions are kept (or not)."""
    keys = [key for key, entry in config["codecs"].items() if keeps_reconstruction(entry["codec"]) == keep]
    return "|".join(map(re.escape, keys)) or "(?!)"  # no such codec: matches nothing


def reconstruction_of(wc):
    """What the jobs that read a reconstruction's frames are given: the kept copy, or the bitstream itself."""
    if keeps_reconstruction(codec_name(wc)):
        return layout.fill(layout.KEPT_RECONSTRUCTION, preset=wc.preset, dataset=wc.dataset, sequence=wc.sequence,
                           codec=wc.codec, rate=wc.rate)
    return bitstream_of(wc)


def codec_neutral_options(wc, threads):
    """-o KEY=VALUE of the codec entry's options that change no output (`Option.changes_output` False, e.g. the
    anchors' encoder threads). Taking the job's `threads` makes it a params value Snakemake counts as derived from
    the job's resources, which its params rerun trigger leaves out: a change of them reruns nothing."""
    return plan(wc.preset).codec_option_args(wc.codec, changes_output=False)


def rate_knobs(wc):
    """-p KEY=VALUE of the job's rate point: its knobs as the config check made them, carried by the planned Job."""
    return cli_pairs("-p", plan(wc.preset).job(wc.dataset, wc.sequence, wc.codec, wc.rate).knobs)


def frames_of(wc):
    return plan(wc.preset).frames


# Threads. A job's `threads` is what it asks Slurm for (--cpus-per-task, or --cpus-per-gpu for a GPU
# job) and what its pools use: Snakemake sets OMP_NUM_THREADS to it, which vcbench.tools.threads reads
# (torch, numpy, libvmaf, ffmpeg's decoders, the anchor encoders), so none of them counts the node's
# cores. Threads are never params: the bytes do not depend on them (see coding_threads).
# CPU jobs that run in parallel (the anchor encoders' WPP rows and lookahead, ffmpeg's decoders, libvmaf):
PARALLEL_THREADS = 4
# Training on a GPU node (its data loading and CPU-side work); without a GPU, its CPU work:
TRAINING_THREADS = 8
# A CPU job that could use several threads (a score job, an anchor's encode or decode) takes at most half of --cores, so that
# two run side by side: on a small machine most such jobs keep one or two cores busy (the demo's score jobs used 1.3 of the
# 2 cores they held), and an anchor encode holding both cores left one idle while the score jobs waiting on it could not
# start (the demo on 2 cores: 1.4 jobs running on average through its last 15 minutes). On Slurm, whose profile sets
# cores: 256, it is PARALLEL_THREADS.
SIDE_BY_SIDE_THREADS = max(1, min(PARALLEL_THREADS, workflow.cores // 2))


def coding_threads(codec):
    """A codec's encode and decode threads: its `threads` option where the config sets one (a neural
    codec's CPU decode depends on its thread count, so the config pins it), else SIDE_BY_SIDE_THREADS (the
    anchors are bit-exact at any count; tests/test_anchors.py)."""
    return PLAN.codec_option(codec, "threads") or SIDE_BY_SIDE_THREADS


# Conda environments per family of jobs (used with `--sdm conda`, e.g. on a cluster).
TORCH_ENV = "../../envs/torch.yaml"
FFMPEG_ENV = "../../envs/ffmpeg.yaml"


def codec_env(wc):
    """Neural codecs need torch; the anchors only need ffmpeg."""
    return TORCH_ENV if plan(wc.preset).uses_gpu(wc.codec) else FFMPEG_ENV


# Metrics. FID/KID pool over a dataset (fid.smk); every other metric is scored per frame. Only the
# metrics whose weights are present are planned (Plan.unavailable_metrics: the report says why of the others).
FRAME_METRICS = PLAN.frame_metrics
ANALYSIS_METRICS = PLAN.analysis_metrics  # the codecs' analyses score their extra decodes with these
# `-m METRIC.KEY=VALUE` of the frame metrics (config `metric_options`).
METRIC_OPTIONS = PLAN.metric_option_args(FRAME_METRICS)
ANALYSIS_METRIC_OPTIONS = PLAN.metric_option_args(ANALYSIS_METRICS)
# --cache-dir of every job that loads pretrained weights (config `assets.cache_dir`): the one way the folder reaches them.
ASSETS_CACHE = PLAN.assets_cache_arg


def analysis_records(preset):
    """The analysis records of a preset (Plan.analysis_records: every analysis its codecs declare and leave on)."""
    return plan(preset).analysis_records


def scaled_study(preset):
    """The preset's subjective study as an analysis record, once `vcbench study scale` has written it (the report
    then shows it); a study is run by people, so the DAG never asks for one."""
    record = layout.fill(layout.STUDY_SCALE_RECORD, preset=preset)
    return [record] if Path(record).is_file() else []


def fid_inputs(wc):
    jobs = plan(wc.preset).jobs
    sources = sorted({job.path(layout.SOURCE_INCEPTION) for job in jobs})
    return sources + [job.path(layout.INCEPTION) for job in jobs]


def fid_table_input(wc):
    """fid.csv (pooled FID/KID) only when fid is a configured metric with its weights present; otherwise nothing to wait for."""
    return [layout.fill(layout.FID, preset=wc.preset)] if "fid" in plan(wc.preset).available_metrics else []


def fid_table_arg(wc, input):
    return f"--fid {input.fid}" if input.fid else ""


# The records of each job that provenance reads, by the option that passes them.
JOB_RECORDS = {"--encode-record": layout.ENCODE_RECORD, "--decode-record": layout.DECODE_RECORD, "--summary": layout.SUMMARY}


def record_args(wc, templates):
    """OPTION KEY FILE of every job, for each option -> `vcbench.layout` template of ``templates``."""
    preset_plan = plan(wc.preset)
    return " ".join(keyed_args(option, preset_plan.job_files(template)) for option, template in templates.items())


def plots_file_args(wc):
    """--frames/--preview KEY FILE of every job and --source KEY FILE of every sequence: the plots rule's inputs."""
    preset_plan = plan(wc.preset)
    return " ".join([keyed_args("--frames", preset_plan.job_files(layout.FRAMES)),
                     keyed_args("--preview", preset_plan.job_files(layout.PREVIEW)),
                     keyed_args("--source", preset_plan.source_files())])


# The report's settings (config `report`, `tracking`), each a params value of the jobs it shapes.
REPORT = PLAN.report
ALSO_AGAINST = " ".join(f"--also-against {name}" for name in REPORT["also_against"])
BD_METRICS = ",".join(PLAN.bd_metrics)  # config report.bd_metrics, or the headline columns the metrics declare
TRACKING_ARGS = PLAN.tracking_args


# Data and models (data.smk, models.smk).
def prepared_frames(wc):
    """The frames a sequence is prepared with: the most that any preset of the config codes of it (the largest
    `frames` of the presets whose datasets and `sequences` include it), so every preset finds its frames and no
    more are converted, stored or hashed; a sequence no preset codes gets all the frames its registry lists."""
    counts = [plan(preset).frames for preset in config["presets"] if (wc.dataset, wc.sequence) in plan(preset).all_sequences()]
    return f"--frames {max(counts)}" if counts else ""


# Pretrained backbones declared as assets (src/vcbench/assets/registry.yaml, `backbones:`): models/<name> holds one
# once its record (asset.json) is written, which only a verified folder gets. DiffVC is trained once per backbone.
BACKBONE_ASSETS = sorted(load_backbones())


def backbone_marker(folder):
    """The file that says a backbone folder is ready: a pretrained asset's record, else a trained model's index."""
    name = Path(folder).name
    if name in BACKBONE_ASSETS and Path(folder) == Path(layout.fill(layout.MODEL_DIR, model=name)):
        return layout.fill(layout.BACKBONE_ASSET_RECORD, model=name)
    return f"{folder}/{layout.MODEL_MARKER}"
