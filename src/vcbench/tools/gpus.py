"""One GPU per job on a machine with several: the job's `gpu` resource becomes its CUDA_VISIBLE_DEVICES.

Snakemake runs as many GPU jobs at once as the machine has GPUs (the `gpu` resource), but it does
not say which GPU each may use: left alone, every job would use cuda:0. A rule that asks for GPUs
passes its count as ``VCBENCH_GPUS`` (``VCBENCH_GPUS={resources.gpu} vcbench ...``); before torch
starts, the job claims that many of the GPUs it can see (an exclusive `flock` per GPU in a
machine-wide folder, held until the process ends, so a killed job frees its GPU) and narrows
CUDA_VISIBLE_DEVICES to them. ``VCBENCH_GPUS=0`` hides every GPU: a job that asked for none uses
none. A job that sees no more GPUs than it asked for takes them without a lock: under Slurm
(``--gpus=1``) it sees only its own (jobs on one node may each see theirs as device 0). Without
``VCBENCH_GPUS`` (vcbench run by hand) nothing changes. Torch-free: the CLI calls it first.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from vcbench.errors import ConfigError

#: the job's GPU count, as its rule passes it
JOB_GPUS_VARIABLE = "VCBENCH_GPUS"
#: where the per-GPU locks live (one folder per machine; override for tests or a shared /tmp)
LOCK_DIR_VARIABLE = "VCBENCH_GPU_LOCK_DIR"

_held: list[int] = []  # the claimed GPUs' lock files, open for the life of the process


def visible_gpus(environ: dict[str, str] | None = None) -> list[str]:
    """The GPUs this process may use: CUDA_VISIBLE_DEVICES's entries if it is set, else every GPU
    the NVIDIA driver lists (by index)."""
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [device.strip() for device in visible.split(",") if device.strip() not in ("", "-1")]
    return [str(index) for index in range(len(list(Path("/proc/driver/nvidia/gpus").glob("*"))))]


def lock_dir(environ: dict[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get(LOCK_DIR_VARIABLE) or f"/tmp/vcbench-gpu-locks-{os.getuid()}")


def claim_job_gpus() -> list[str] | None:
    """Narrow CUDA_VISIBLE_DEVICES to the GPUs this job asked for (``VCBENCH_GPUS``), each claimed
    for this process alone. Returns the claimed devices, or None when the job states no count."""
    wanted = os.environ.get(JOB_GPUS_VARIABLE, "").strip()
    if not wanted:
        return None
    if not wanted.isdigit():
        raise ConfigError(f"{JOB_GPUS_VARIABLE}={wanted!r}: give the number of GPUs the job asked for (its `gpu` resource)")
    count, devices = int(wanted), visible_gpus()
    if count == 0:
        claimed = []
    elif len(devices) <= count:
        claimed = devices  # its own already (a Slurm allocation), or all there are
    else:
        claimed = _claim(devices, count, lock_dir())
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(claimed)
    return claimed


def _claim(devices: list[str], count: int, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    claimed = []
    for device in devices:
        handle = os.open(folder / f"gpu-{device}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            continue
        _held.append(handle)
        claimed.append(device)
        if len(claimed) == count:
            return claimed
    raise ConfigError(f"this job asked for {count} GPU(s) but only {len(claimed)} of CUDA_VISIBLE_DEVICES={','.join(devices)} "
                      f"are free (the others are held by running vcbench jobs, see {folder}); run with "
                      f"`--resources gpu={len(devices)}` at most")
