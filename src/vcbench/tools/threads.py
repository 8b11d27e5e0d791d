"""How many threads a job's pools use: the job's own count, never the node's.

Snakemake runs every shell job with ``OMP_NUM_THREADS`` (and the BLAS libraries' variables) set to
the rule's ``threads``, locally and inside a Slurm allocation, and Slurm confines the job to the
CPUs it was given (its affinity mask). ``os.cpu_count()`` is neither: on a cluster node it is every
core of the node, whatever the job asked for. Every thread pool of vcbench (its own, ffmpeg's
decoders, libvmaf, the anchor encoders, torch) takes its size from :func:`job_threads`."""

from __future__ import annotations

import os

#: the variable Snakemake sets to a job's ``threads`` (it reaches torch and numpy's BLAS as well)
JOB_THREADS_VARIABLE = "OMP_NUM_THREADS"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask: a Slurm job's allocation, `taskset`)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform (macOS)
        return os.cpu_count() or 1


def job_threads(requested: int = 0) -> int:
    """``requested`` when it is set (> 0); else the job's threads as its runner set them
    (``OMP_NUM_THREADS``), never more than :func:`usable_cpus`; else :func:`usable_cpus`."""
    if requested > 0:
        return requested
    given = os.environ.get(JOB_THREADS_VARIABLE, "")
    if given.isdigit() and int(given) > 0:
        return min(int(given), usable_cpus())
    return usable_cpus()
