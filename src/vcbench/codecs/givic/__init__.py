"""GIViC (Gao, Teng, Peng, Zhang and Bull, arXiv 2503.19604): generative implicit video coding. Per GOP, a denoiser overfitted to a
spatiotemporal pyramid of the GOP is the bitstream; the decoder samples it coarse to fine, token
by token, with a hierarchical gated-linear-attention transformer (HGLA) carrying state along the
sequence and scale axes.

``GivicCodec`` is imported on first use: ``settings`` can be read without loading torch (the
workflow reads the declared options every time it parses the DAG).
"""

from __future__ import annotations

from typing import Any

__all__ = ["GivicCodec"]


def __getattr__(name: str) -> Any:
    if name == "GivicCodec":
        from vcbench.codecs.givic.codec import GivicCodec

        return GivicCodec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
