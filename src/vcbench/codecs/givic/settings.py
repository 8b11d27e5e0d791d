"""GIViC's codec options and rate knobs, declared once (no torch: the workflow checks a
configuration against them every time it parses the DAG, and the registry reads them from here).

The bounds also bound what a bitstream header may ask a decoder to build (see
:mod:`vcbench.codecs.givic.bitstream`), so an edited header cannot make it allocate gigabytes.
"""

from __future__ import annotations

from vcbench.codecs.base import CodecFacts
from vcbench.codecs.neural import DEVICE_OPTIONS
from vcbench.options import Option, OptionSet

#: the samplers a header may name: DDIM (eta 0) on the cosine schedule, from pure noise (see ``noise.py``)
SAMPLER_NAMES = ("ddim-cosine",)

#: the options that tune the per-GOP optimisation (fields of ``encoder.TrainSettings``, with the knobs rate_weight and quant_step)
ENCODER_OPTIONS = ("iterations", "qat_fraction", "learning_rate", "batch_tokens", "consistency", "refresh")

OPTIONS = OptionSet(
    *DEVICE_OPTIONS,
    Option("decode_steps", int, None, "decoder: sample with this many steps instead of the header's (not the normative decode)",
           minimum=1, maximum=1000),
    Option("gop", int, 32, "frames per GOP (one overfitted denoiser each)", minimum=1, maximum=256),
    Option("levels", int, 4, "pyramid levels K: level k is the GOP downsampled 2^(K-k) times in time and space", minimum=1,
           maximum=5),
    Option("patch", int, 4, "patch side (chroma-resolution samples): a token is a sequence of patches", minimum=1, maximum=16),
    Option("depth", int, 1, "HGLA blocks of the denoiser", minimum=1, maximum=8),
    Option("head_dim", int, 8, "key and value dimension of one GLA head (heads = width / head_dim)", minimum=2, maximum=64),
    Option("context", int, 8, "context length L: the sequence state restarts every L tokens of a level (0: never)", minimum=0,
           maximum=4096),
    Option("steps", int, 4, "sampling steps per token the decoder runs (written in the header)", minimum=1, maximum=1000),
    Option("seed", int, 0, "seed of the sampling noise and the initialisation (written in the header)", minimum=0,
           maximum=2**32 - 1),
    Option("iterations", int, 600, "optimisation iterations per GOP", minimum=1),
    Option("qat_fraction", float, 0.2, "fraction of the iterations that are quantisation-aware (at the end)", minimum=0, maximum=1),
    Option("learning_rate", float, 1e-2, "Adam learning rate (cosine decay to 5 %)", minimum=0),
    Option("batch_tokens", int, 12, "tokens per iteration, drawn from every level", minimum=1),
    Option("consistency", float, 0.3, "fraction of the tokens conditioned on the denoiser's own decoded coarser level",
           minimum=0, maximum=1),
    Option("refresh", int, 50, "iterations between refreshes of the carried states and of the own decoded coarser levels",
           minimum=1),
)

KNOBS = OptionSet(
    Option("width", int, 16, "feature width of the denoiser (a multiple of head_dim)", minimum=2, maximum=256),
    Option("rate_weight", float, 1.0, "weight of the rate term (estimated bits per pixel of the weights)", minimum=0),
    Option("quant_step", float, 0.1, "quantisation step of every weight tensor, relative to its RMS", minimum=1e-3, maximum=10),
)

FACTS = CodecFacts("givic", "vcbench.codecs.givic.codec:GivicCodec", "givic", True, OPTIONS, KNOBS)
