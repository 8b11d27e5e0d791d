"""Stand-ins for the public diffusers checkpoints: the real diffusers classes with each family's real
configuration where it decides what the codecs must handle (latent channels and VAE scaling, the
denoiser's class, input channels, cross-attention width, attention heads, addition embeddings, the
scheduler class, prediction type and spacing), at tiny widths with random weights, saved with
``save_pretrained`` into an SD-style folder (``model_index.json`` at the top). What runs on them
runs as on the real checkpoints, at a fraction of a second per call.

Used by tests/test_stock_backbones.py and the GPU check (scripts/gpu_check.py)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLTemporalDecoder,
    DDIMScheduler,
    EulerDiscreteScheduler,
    PNDMScheduler,
    UNet2DConditionModel,
    UNetSpatioTemporalConditionModel,
)

# every SD-class scheduler's noise schedule
_SD_BETAS = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear"}
# SD 2.x's attention: heads per level (diffusers' legacy "attention_head_dim"), linear projections
_SD2_ATTENTION = {"attention_head_dim": [5, 10, 20, 20], "use_linear_projection": True}


def _kl_vae(scaling_factor: float) -> AutoencoderKL:
    """SD's AutoencoderKL: 4 levels (8x down), 4 latent channels, at tiny widths."""
    return AutoencoderKL(block_out_channels=(8, 8, 16, 16), down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=1, norm_num_groups=4,
                         sample_size=64, scaling_factor=scaling_factor)


def _sd_unet(cross_attention_dim: int, **attention) -> UNet2DConditionModel:
    """SD 1.x/2.x's UNet2DConditionModel: 4 input channels (the noisy latent alone), 3 cross-attention levels and a
    plain one, at tiny widths divisible by SD 2's heads."""
    return UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(20, 40, 40, 80), layers_per_block=1,
                                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                                cross_attention_dim=cross_attention_dim, norm_num_groups=4, **attention)


def sd15() -> dict:
    return {"vae": _kl_vae(0.18215), "unet": _sd_unet(768, attention_head_dim=8),
            "scheduler": PNDMScheduler(**_SD_BETAS, set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1)}


def sd21() -> dict:
    return {"vae": _kl_vae(0.18215), "unet": _sd_unet(1024, **_SD2_ATTENTION, upcast_attention=True),  # the 768-v model's fp32 attention
            "scheduler": DDIMScheduler(**_SD_BETAS, prediction_type="v_prediction", clip_sample=False, set_alpha_to_one=False,
                                       steps_offset=1)}


def sd_turbo() -> dict:
    return {"vae": _kl_vae(0.18215), "unet": _sd_unet(1024, **_SD2_ATTENTION),
            "scheduler": EulerDiscreteScheduler(**_SD_BETAS, prediction_type="epsilon", timestep_spacing="trailing", steps_offset=1)}


def sdxl() -> dict:
    """SDXL: 3 levels, cross-attention 2048, the "text_time" addition embedding (a pooled text embedding, 32 wide here, 1280
    in SDXL, and six size/crop numbers), VAE scaling 0.13025, Euler on a discrete schedule."""
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(20, 40, 80), layers_per_block=1,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                                attention_head_dim=[5, 10, 20], use_linear_projection=True, cross_attention_dim=2048,
                                addition_embed_type="text_time", addition_time_embed_dim=8,
                                projection_class_embeddings_input_dim=32 + 6 * 8,
                                norm_num_groups=4)
    return {"vae": _kl_vae(0.13025), "unet": unet,
            "scheduler": EulerDiscreteScheduler(**_SD_BETAS, prediction_type="epsilon", timestep_spacing="leading", steps_offset=1)}


def svd() -> dict:
    """Stable Video Diffusion: UNetSpatioTemporalConditionModel taking the noisy latent and the (here: INR) latent
    concatenated (8 channels), cross-attention 1024, three micro-conditioning numbers; AutoencoderKLTemporalDecoder;
    EulerDiscrete with EDM's continuous noise levels and v-prediction."""
    # these two classes fix GroupNorm at 32 groups, so their widths start at 32 (and SVD's 5/10/20 heads would not divide them)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=(32,) * 4, down_block_types=("DownEncoderBlock2D",) * 4,
                                       latent_channels=4, layers_per_block=1, sample_size=64, scaling_factor=0.18215)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=8, in_channels=8, out_channels=4, block_out_channels=(32, 32, 64, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlockSpatioTemporal",) * 3 + ("DownBlockSpatioTemporal",),
        up_block_types=("UpBlockSpatioTemporal",) + ("CrossAttnUpBlockSpatioTemporal",) * 3,
        num_attention_heads=(2, 2, 4, 4), cross_attention_dim=1024, addition_time_embed_dim=4, projection_class_embeddings_input_dim=12,
        num_frames=4)
    scheduler = EulerDiscreteScheduler(**_SD_BETAS, prediction_type="v_prediction", interpolation_type="linear", use_karras_sigmas=True,
                                       sigma_min=0.002, sigma_max=700.0, timestep_spacing="leading", timestep_type="continuous",
                                       steps_offset=1)
    return {"vae": vae, "unet": unet, "scheduler": scheduler}


FAMILIES = {"sd15": sd15, "sd21": sd21, "sd-turbo": sd_turbo, "sdxl": sdxl, "svd": svd}


def save_stand_in(folder: str | Path, family: str, seed: int = 0) -> Path:
    """Write the ``family`` stand-in (a key of :data:`FAMILIES`) to ``folder`` in the diffusers pipeline layout."""
    folder = Path(folder)
    torch.manual_seed(seed)
    components = FAMILIES[family]()
    index = {"_class_name": f"StandIn_{family}", "_diffusers_version": __import__("diffusers").__version__}
    for name, component in components.items():
        component.save_pretrained(folder / name)
        index[name] = ["diffusers", type(component).__name__]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    return folder
