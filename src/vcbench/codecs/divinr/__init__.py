"""DiV-INR (seeds 000/001): INR-conditioned latent diffusion with jointly optimised LoRA adapters."""

from vcbench.codecs.divinr.codec import DivInrCodec

__all__ = ["DivInrCodec"]
