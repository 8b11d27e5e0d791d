"""Tiny, untrained backbones of both kinds built from small configs and saved in the diffusers
layout: what the tests and quick checks of the diffusion codecs run on (no weights needed)."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLTemporalDecoder,
    DDIMScheduler,
    EulerDiscreteScheduler,
    UNet2DConditionModel,
    UNetSpatioTemporalConditionModel,
)


def save_tiny_backbone(folder: str | Path, kind: str = "image", seed: int = 0) -> Path:
    """Write an ``image`` (AutoencoderKL + UNet2DConditionModel) or ``video`` (SVD-style
    AutoencoderKLTemporalDecoder + UNetSpatioTemporalConditionModel) backbone to ``folder``."""
    folder = Path(folder)
    torch.manual_seed(seed)
    if kind == "image":
        vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                            up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, layers_per_block=1, norm_num_groups=4)
        unet = UNet2DConditionModel(sample_size=16, in_channels=8, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
                                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                                    cross_attention_dim=16, attention_head_dim=4, norm_num_groups=4)
        scheduler = DDIMScheduler(prediction_type="epsilon", clip_sample=False)
    elif kind == "video":
        vae = AutoencoderKLTemporalDecoder(block_out_channels=(32, 32), down_block_types=("DownEncoderBlock2D",) * 2, latent_channels=4,
                                           layers_per_block=1)
        unet = UNetSpatioTemporalConditionModel(
            sample_size=16, in_channels=8, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
            down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
            addition_time_embed_dim=4, projection_class_embeddings_input_dim=12, cross_attention_dim=16, num_attention_heads=(2, 4),
            num_frames=4,
        )
        # Stable Video Diffusion's own scheduler config: EDM, continuous noise levels, v-prediction
        scheduler = EulerDiscreteScheduler(
            num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", prediction_type="v_prediction",
            interpolation_type="linear", use_karras_sigmas=True, sigma_min=0.002, sigma_max=700.0, timestep_spacing="leading",
            timestep_type="continuous", steps_offset=1,
        )
    else:
        raise ValueError(f"kind must be 'image' or 'video', not {kind!r}")
    vae.save_pretrained(folder / "vae")
    unet.save_pretrained(folder / "unet")
    scheduler.save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(f'{{"_class_name": "DivInrTinyPipeline", "kind": "{kind}"}}\n')
    return folder
