"""Deterministic torch, set in one place (as DCVC's and CompressAI's evaluation scripts do), and the
facts a neural decode's bits depend on, which its decode record names.

What is and is not guaranteed (docs/architecture.md, "Determinism"):

* the same bitstream decoded twice on one machine, device, dtype and thread count gives the same
  bytes (cuDNN's autotuner off and its deterministic kernels on, cuBLAS's fixed workspace, no TF32
  or reduced-precision reductions);
* on the CPU, the thread count is normative: oneDNN's convolutions (torch's default CPU kernels)
  block their reductions by thread count, so the embedded backbone's denoiser and VAE decoder round
  differently at 1 and 2 threads (measured: a 1x1 convolution with 16 input channels, last-bit
  differences up to 1e-6 that move a few decoded pixels by one code value). The decode record names
  the threads, and `vcbench verify` decodes with them;
* another device model, dtype or torch/CUDA/cuDNN version may round differently: verify compares
  those decodes within the stated tolerances (verify/compare.py, ``CROSS_DEVICE``).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import torch

# cuBLAS's two documented deterministic workspace settings (CUDA's "Results reproducibility");
# read when a cuBLAS handle is created, so it is set before any CUDA work
CUBLAS_DETERMINISTIC = (":4096:8", ":16:8")


def make_deterministic() -> None:
    """Pin every torch setting that trades reproducibility for speed. ``warn_only``: an operation
    without a deterministic kernel warns instead of failing, because the encoders train per GOP and
    some backward kernels (upsampling's, on CUDA) have none; scripts/gpu_check.py decodes with
    the strict setting to show that decoding uses none of them."""
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in CUBLAS_DETERMINISTIC:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_DETERMINISTIC[0]
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    torch.set_float32_matmul_precision("highest")


@contextmanager
def strict_determinism() -> Iterator[None]:
    """Within the block, an operation without a deterministic kernel raises instead of warning
    (what scripts/gpu_check.py decodes under)."""
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)


@cache
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux; what the platform module says elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_model(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def platform_record(device: torch.device, dtype: torch.dtype = torch.float32) -> dict:
    """What a decode on ``device`` in ``dtype`` depends on besides its bitstream (the decode
    record's fields; verify/compare.py's ``same_platform`` reads them)."""
    cuda = device.type == "cuda"
    return {"device": str(device), "device_model": device_model(device), "dtype": str(dtype).removeprefix("torch."),
            "threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__, "cuda": torch.version.cuda if cuda else None,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "deterministic": torch.are_deterministic_algorithms_enabled()}
