"""DiV-INR: INR-conditioned latent diffusion with jointly optimised LoRA adapters.

``DivInrCodec`` is imported on first use: the torch-free parts (``settings``, ``bitstream``) can be
read without loading torch (the workflow reads the declared options every time it parses the DAG).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DivInrCodec"]


def __getattr__(name: str) -> Any:
    if name == "DivInrCodec":
        from vcbench.codecs.divinr.codec import DivInrCodec

        return DivInrCodec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
