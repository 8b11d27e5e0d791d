"""Where torch work runs (the one rule every codec, metric and trainer follows), and how its CPU
memory is kept."""

from __future__ import annotations

import ctypes
import ctypes.util

import torch

from vcbench.errors import ConfigError
from vcbench.tools.determinism import make_deterministic
from vcbench.tools.threads import job_threads

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def choose_device(choice: str, owner: str) -> torch.device:
    """``auto``: CUDA when torch sees a device, else the CPU; ``cuda`` where there is none is a
    ConfigError naming ``owner`` (e.g. "<codec> options")."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice not in DEVICE_CHOICES:
        raise ConfigError(f"{owner}: device={choice!r}; use one of {', '.join(DEVICE_CHOICES)}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{owner}: device=cuda, but torch sees no CUDA device here; use device=auto or device=cpu")
    return torch.device(choice)


def keep_freed_memory() -> None:
    """Let glibc keep freed buffers for reuse instead of handing them back to the kernel.

    torch's CPU tensors come from malloc, which maps every buffer above a few MB (a batch of
    activations) afresh, so each layer page-faults it in again: on the demo's 640x320 frames that was
    a third of a CPU decode's time, in the kernel. The memory stays at its peak instead of shrinking
    between layers; the bits do not change."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return  # not glibc (e.g. macOS): nothing to tune
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 1 << 30)
    mallopt(m_trim_threshold, 1 << 30)


def prepare_torch(device: str, threads: int, owner: str) -> torch.device:
    """What a neural codec (and each trainer) does before its work: choose its device (see
    :func:`choose_device`), pin torch's deterministic settings (tools/determinism.py), keep freed
    buffers on the CPU, and set torch's CPU threads (0: the job's, :func:`job_threads`, never the
    node's count; on the CPU the thread count is part of what a decode's bits depend on, and its
    decode record names it)."""
    chosen = choose_device(device, owner)
    make_deterministic()
    if chosen.type == "cpu":
        keep_freed_memory()
    torch.set_num_threads(job_threads(threads))
    return chosen
