"""DiffVC (Ma and Chen, arXiv 2501.13528): diffusion-based conditional video coding in a
backbone's latent space, with QP prompting (QPP: one model for every rate) and temporal diffusion
information reuse (TDIR: P-frames take over the previous frame's sampling state).

Modules: ``settings`` (declared options, torch-free), ``model`` (intra and predictive codecs, QPP's
quantiser), ``conditioning`` (the denoiser's condition, q prompt and LoRA), ``tdir`` (the diffusion
decoder), ``store`` (the model folder and its hash), ``bitstream`` (the file), ``codec`` (the
codec interface), ``training`` (training the model once), ``analysis`` (TDIR, QPP, error propagation).

``DiffVcCodec`` is imported on first use: the torch-free parts can be read without loading torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DiffVcCodec", "DenoiserAdapter", "IntraCodec", "PredictiveCodec"]


def __getattr__(name: str) -> Any:
    if name == "DiffVcCodec":
        from vcbench.codecs.diffvc.codec import DiffVcCodec

        return DiffVcCodec
    if name == "DenoiserAdapter":
        from vcbench.codecs.diffvc.conditioning import DenoiserAdapter

        return DenoiserAdapter
    if name in ("IntraCodec", "PredictiveCodec"):
        from vcbench.codecs.diffvc import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
