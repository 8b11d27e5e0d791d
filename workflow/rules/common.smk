# Shared by every rule file: the plan of the chosen preset and small path helpers.
from functools import cache

from vcbench.workflow import Plan, config_hash, local_gpu_slots, sequence_path

# Neural rules ask for resource "gpu", scoped local (profiles/default): locally they run one per
# GPU present, or, on a machine without one, side by side on the CPU cores (`--resources gpu=N`
# overrides). Submitted cluster jobs are not limited by it.
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


def job_stem(wc):
    return f"results/{wc.preset}/{wc.dataset}/{wc.sequence}/{wc.codec}/{wc.rate}"


def source_of(wc):
    # ancient(): a sequence restored by `dvc pull` or `git checkout` gets a new mtime but the
    # same content (its sha256 is recorded); that must not redo the finished work built on it.
    return ancient(sequence_path(wc.dataset, wc.sequence))


def codec_requires(wc):
    """Files a codec needs besides the sequence (e.g. a trained backbone)."""
    return plan(wc.preset).codec_entry(wc.codec).get("requires", [])


# Conda environments per rule family (used with `--sdm conda`, e.g. on a cluster).
TORCH_ENV = "../../envs/torch.yaml"
FFMPEG_ENV = "../../envs/ffmpeg.yaml"


def codec_env(wc):
    """Neural codecs need torch; the anchors only need ffmpeg."""
    return TORCH_ENV if plan(wc.preset).uses_gpu(wc.codec) else FFMPEG_ENV


def kv_args(flag, mapping):
    """{"qp": 37} -> "-p qp=37" style arguments for the vcbench CLI."""
    return " ".join(f"{flag} {key}={value}" for key, value in mapping.items())
