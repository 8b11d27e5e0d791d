"""DiV-INR's codec options and rate knobs, declared once (no torch: the workflow checks a
configuration against them every time it parses the DAG, and the registry reads them from here).

The bounds also bound what a bitstream header may ask a decoder to build, so an edited header
cannot make it allocate gigabytes (see :mod:`vcbench.codecs.divinr.bitstream`).
"""

from __future__ import annotations

from typing import Any

from vcbench.codecs.base import CodecFacts
from vcbench.codecs.neural import DEVICE_OPTIONS
from vcbench.diffusion.compatibility import MEMORY_OPTIONS, BackboneFacts, check_backbone_option, memory_problem
from vcbench.options import Option, OptionSet

#: the samplers a header may name (the keys of :data:`vcbench.diffusion.noise.SAMPLERS`)
SAMPLER_NAMES = ("ddim-trailing", "euler-edm")

#: the options that tune the encoder's optimisation (fields of ``encoder.EncoderSettings``, with the knobs
#: quant_step and rate_weight)
ENCODER_OPTIONS = ("fit_iterations", "fit_learning_rate", "iterations", "qat_fraction", "learning_rate", "lora_learning_rate",
                   "denoise_weight", "inr_frames", "batch_frames", "crop")


def backbone_problem(facts: BackboneFacts, options: dict[str, Any]) -> str | None:
    """Why DiV-INR cannot run on this backbone with these options, or None.

    A denoiser whose input is twice the latent channels (the embedded backbone, SVD) takes the INR
    latent concatenated to its noisy latent. A stock image denoiser (the latent channels alone, as
    every public SD model) takes the INR latent as the start of sampling only (SDEdit: strength < 1);
    the INR's information then reaches the denoiser through that start, and the GOP's context tokens
    and LoRA adapt the denoiser to the GOP (see :mod:`vcbench.codecs.divinr.codec`). The declared option check
    and the codec run it."""
    problem = facts.common_problem()
    if problem:
        return problem
    if facts.in_channels != 2 * facts.latent_channels:
        if not (facts.stock_input and facts.kind == "image"):
            return (f"its denoiser takes {facts.in_channels} input channels; DiV-INR needs the latent's {facts.latent_channels} "
                    f"(a stock image denoiser) or {2 * facts.latent_channels} (the INR latents concatenated); pass another backbone")
        if options.get("strength", 1.0) >= 1:
            return (f"its denoiser takes the noisy latent alone ({facts.in_channels} channels), so DiV-INR starts sampling from the "
                    "noised INR latents; strength=1 starts from pure noise and would ignore them: set strength below 1 (e.g. 0.5)")
    if options.get("unet_batch") and facts.kind == "video":
        return (f"unet_batch={options['unet_batch']}, but its denoiser {facts.unet_class} denoises a GOP as one clip; set unet_batch=0 "
                "and a smaller gop to bound its memory")
    return memory_problem(facts, options)


def _check(options: dict, where: str) -> None:
    check_backbone_option(backbone_problem, options, where)


OPTIONS = OptionSet(
    Option("backbone", str, "models/embedded", "diffusers folder (or hf://owner/name) of the backbone: one whose denoiser takes "
                                               "the INR latents concatenated (the embedded one, SVD) or a stock image one (SD "
                                               "1.5/2.1, SD-Turbo, SDXL: the noised INR latents are its start, strength < 1)"),
    Option("models_dir", str, None, "decoder: folder whose subfolders are searched for the backbone by content hash"),
    *DEVICE_OPTIONS,
    Option("x0_dir", str, None, "decoder: also write every sampling step's predicted clean frames, as step_<k>.y4m in this "
                                "folder (the denoising analysis)"),
    Option("decode_steps", int, None, "decoder: sample with this many steps instead of the header's (not the normative decode)",
           minimum=1, maximum=1000),
    Option("gop", int, 32, "frames per GOP (one INR and one set of adapters each)", minimum=1, maximum=1024),
    Option("steps", int, 8, "sampling steps of the decoder's schedule (written in the header; strength says how many run)",
           minimum=1, maximum=1000),
    Option("strength", float, 1.0, "share of the sampling steps the decoder runs, as diffusers' img2img strength (written in the "
                                   "header): 1 samples from pure noise; below 1 sampling starts from the INR latents noised to "
                                   "the level of the last max(1, int(strength x steps)) steps", minimum=0.01, maximum=1),
    Option("seed", int, 0, "sampling and LoRA seed (written in the header)", minimum=0, maximum=2**32 - 1),
    Option("fit_iterations", int, 600, "iterations per GOP that fit the INR alone to the latents (no denoiser: a "
                                       "quarter of the cost of a joint one) before the joint ones", minimum=0),
    Option("fit_learning_rate", float, 1e-2, "Adam learning rate of the INR while it is fitted alone", minimum=0),
    Option("iterations", int, 300, "joint optimisation iterations per GOP (INR, context, adapters, denoiser)", minimum=1),
    Option("qat_fraction", float, 0.25, "fraction of the iterations that are quantisation-aware (at the end)", minimum=0, maximum=1),
    Option("learning_rate", float, 5e-3, "Adam learning rate of the INR and the context tokens", minimum=0),
    Option("lora_learning_rate", float, 1e-3, "Adam learning rate of the LoRA up-projections", minimum=0),
    Option("denoise_weight", float, 1.0, "weight of the denoising loss", minimum=0),
    Option("inr_frames", int, 8, "frames per iteration for the latent loss (image backbones; video ones see the GOP)", minimum=1),
    Option("batch_frames", int, 4, "of those, frames per iteration for the denoising loss", minimum=1),
    Option("crop", int, 32, "latent crop of the denoising loss", minimum=1),
    *MEMORY_OPTIONS,
    Option("unet_batch", int, 0, "frames per denoiser call while sampling an image backbone (0: the GOP's frames at once; "
                                 "fewer fit a 1080p GOP in less GPU memory)", minimum=0),
    check=_check,
)

#: the options that trade memory and precision (a decode record states them: the bits depend on precision and tiling)
MEMORY_OPTION_NAMES = ("precision", "vae_tiling", "unet_batch")

KNOBS = OptionSet(
    Option("inr_width", int, 16, "hidden width of the INR (its MLP and every convolution)", minimum=1, maximum=512),
    Option("quant_step", float, 0.05, "quantisation step of every sent tensor, relative to its RMS", minimum=1e-4, maximum=10),
    Option("lora_rank", int, 1, "rank of the LoRA adapters (0: none)", minimum=0, maximum=64),
    Option("rate_weight", float, 1.0, "weight of the rate term (estimated bits per pixel)", minimum=0),
)

FACTS = CodecFacts("divinr", "vcbench.codecs.divinr.codec:DivInrCodec", "divinr", True, OPTIONS, KNOBS)
