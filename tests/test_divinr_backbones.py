"""DiV-INR backbones: the SVD-style video kind end to end, content hashes, what is refused,
and the embedded prior's training (tiny settings) producing a loadable diffusers folder."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DModel

from test_divinr import FAST, write_clip
from tiny_backbones import save_tiny_backbone
from vcbench.codecs.base import RatePoint
from vcbench.codecs.divinr import DivInrCodec, bitstream
from vcbench.diffusion.backbone import backbone_hash, load_backbone
from vcbench.diffusion.embedded import PriorSettings, train_prior
from vcbench.diffusion.noise import EulerEdm, noise_process, sample
from vcbench.diffusion.strength import first_step
from vcbench.errors import ConfigError
from vcbench.video import Y4MReader


def test_video_backbone_round_trip(tmp_path: Path) -> None:
    folder = save_tiny_backbone(tmp_path / "svd", "video")
    backbone = load_backbone(folder)
    assert backbone.kind == "video" and backbone.context_dim == 16
    clip = write_clip(tmp_path / "clip.y4m", frames=3, width=48, height=32)
    codec = DivInrCodec(backbone=str(folder), **FAST)
    record = codec.encode(clip, tmp_path / "clip.divinr", RatePoint("v", {"inr_width": 4, "lora_rank": 1}))
    header = bitstream.read(tmp_path / "clip.divinr").header
    assert bitstream.time_ids(header) == pytest.approx([24.0, 127.0, 0.02])  # fps - 1, motion bucket, noise augmentation
    assert header["sampler"] == "euler-edm"  # SVD's scheduler config: continuous noise levels
    assert record["backbone_hash"] == backbone_hash(folder)
    codec.decode(tmp_path / "clip.divinr", tmp_path / "a.y4m")
    codec.decode(tmp_path / "clip.divinr", tmp_path / "b.y4m")
    assert (tmp_path / "a.y4m").read_bytes() == (tmp_path / "b.y4m").read_bytes()
    with Y4MReader(tmp_path / "a.y4m") as rec:
        assert (rec.format.width, rec.format.height, rec.count_frames()) == (48, 32, 3)


class OracleDenoiser:
    """A perfect v-prediction denoiser for the clean latents ``clean``, under either process's
    conventions: if sampler and training loss agree with them, sampling returns ``clean`` and the
    loss of the oracle's output is zero."""

    def __init__(self, clean: torch.Tensor, process):
        self.clean, self.process = clean, process

    def predict(self, model_input, timestep, condition, context, time_ids):
        if isinstance(self.process, EulerEdm):  # input = x / sqrt(s^2 + 1), x = clean + s * noise, timestep = ln(s) / 4
            sigma = (4 * timestep.reshape(-1)).exp().reshape(-1, 1, 1, 1)
            noisy = model_input * (sigma**2 + 1).sqrt()
            return (noisy / (sigma**2 + 1) - self.clean) * (sigma**2 + 1).sqrt() / sigma
        alpha = self.process.training.alphas_cumprod[timestep.reshape(-1).long()].reshape(-1, 1, 1, 1)
        return (alpha.sqrt() * model_input - self.clean) / (1 - alpha).sqrt()  # clean = sqrt(a) x_t - sqrt(1 - a) v


SVD_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                     prediction_type="v_prediction", interpolation_type="linear", use_karras_sigmas=True, sigma_min=0.002,
                     sigma_max=700.0, timestep_spacing="leading", timestep_type="continuous", steps_offset=1)
LDM_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                     prediction_type="v_prediction", clip_sample=False, set_alpha_to_one=True)


@pytest.mark.parametrize("config, name", [(SVD_SCHEDULER, "euler-edm"), (LDM_SCHEDULER, "ddim-trailing")])
def test_sampler_and_training_loss_share_the_backbones_conventions(config, name) -> None:
    process = noise_process(config)
    assert process.name == name
    clean = torch.randn((3, 4, 8, 8), generator=torch.Generator().manual_seed(1))
    oracle = OracleDenoiser(clean, process)
    example = process.training_example(clean, 3, torch.Generator().manual_seed(2))
    assert example.loss(oracle.predict(example.model_input, example.timesteps, None, None, None)) < 1e-8
    assert example.loss(torch.zeros_like(clean)) > 0.1
    for steps in (1, 4):
        decoded = sample(oracle, process, torch.zeros_like(clean), None, None, steps, seed=0)
        assert torch.allclose(decoded, clean, atol=1e-3), steps  # float32 round trip through sigma_max = 700


class NoiseProbe(OracleDenoiser):
    """The oracle, recording the noise its first input carries at the level that input's timestep names."""

    first_noise: torch.Tensor | None = None

    def predict(self, model_input, timestep, condition, context, time_ids):
        if self.first_noise is None:
            if isinstance(self.process, EulerEdm):
                sigma = (4 * timestep.reshape(-1)).exp().reshape(-1, 1, 1, 1)
                self.first_noise = (model_input * (sigma**2 + 1).sqrt() - self.clean) / sigma
            else:
                alpha = self.process.training.alphas_cumprod[timestep.reshape(-1).long()].reshape(-1, 1, 1, 1)
                self.first_noise = (model_input - alpha.sqrt() * self.clean) / (1 - alpha).sqrt()
        return super().predict(model_input, timestep, condition, context, time_ids)


@pytest.mark.parametrize("config", [SVD_SCHEDULER, LDM_SCHEDULER], ids=["euler-edm", "ddim-trailing"])
def test_a_later_start_noises_the_condition_to_the_level_of_its_step(config) -> None:
    """SDEdit's start: the condition plus the seeded noise at exactly the level the sampler's step expects."""
    process = noise_process(config)
    clean = torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(1))
    probe, seen = NoiseProbe(clean, process), []
    decoded = sample(probe, process, clean, None, None, 8, seed=0, on_step=lambda step, x0: seen.append(step), start=6)
    assert torch.allclose(decoded, clean, atol=1e-3)
    assert torch.allclose(probe.first_noise, torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)), atol=1e-3)
    assert seen == list(range(8))  # the skipped steps report the condition as their clean estimate
    with pytest.raises(ValueError, match="must be below"):
        sample(probe, process, clean, None, None, 4, seed=0, start=4)


def test_strength_counts_steps_as_diffusers_img2img_does() -> None:
    assert [first_step(8, s) for s in (1.0, 0.5, 0.125, 0.01)] == [0, 4, 7, 7]
    assert first_step(1, 0.3) == 0  # always at least one step
    assert first_step(10, struct.unpack("<f", struct.pack("<f", 0.7))[0]) == 3  # as the header carries it: float32


def test_content_hash_follows_the_weights_not_the_folder(tmp_path: Path) -> None:
    folder = save_tiny_backbone(tmp_path / "a", "image")
    copy = shutil.copytree(folder, tmp_path / "b")
    assert backbone_hash(folder) == backbone_hash(copy)
    (copy / "model_index.json").write_text("{}")  # provenance is not part of the identity
    assert backbone_hash(folder) == backbone_hash(copy)
    weights = next((copy / "unet").glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert backbone_hash(folder) != backbone_hash(copy)


def _with_unet2d(folder: Path, in_channels: int) -> Path:
    """``folder``'s denoiser replaced by an unconditional LDM one (no cross-attention) taking ``in_channels``."""
    shutil.rmtree(folder / "unet")
    UNet2DModel(in_channels=in_channels, out_channels=4, block_out_channels=(8, 16), norm_num_groups=4, layers_per_block=1,
                down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2).save_pretrained(folder / "unet")
    return folder


def test_a_stock_denoiser_takes_the_inr_latents_as_its_start_and_others_are_refused(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.y4m", frames=2, width=48, height=32)
    odd = _with_unet2d(save_tiny_backbone(tmp_path / "odd", "image"), 6)
    with pytest.raises(ConfigError, match="takes 6 input channels; DiV-INR needs the latent's 4 .* or 8"):
        DivInrCodec(backbone=str(odd), **FAST)
    stock = _with_unet2d(save_tiny_backbone(tmp_path / "stock", "image"), 4)  # latent channels in, latent channels out
    with pytest.raises(ConfigError, match="strength=1 starts from pure noise and would ignore them: set strength below 1"):
        DivInrCodec(backbone=str(stock), **FAST)  # refused when the options are checked, before anything is loaded
    codec = DivInrCodec(backbone=str(stock), **{**FAST, "strength": 0.5})
    record = codec.encode(clip, tmp_path / "clip.divinr", RatePoint("v", {"inr_width": 4}))
    assert record["gops"][0]["parameters"]["context"] == 0  # no cross-attention: the INR and the LoRA are all it sends
    codec.decode(tmp_path / "clip.divinr", tmp_path / "a.y4m")
    codec.decode(tmp_path / "clip.divinr", tmp_path / "b.y4m")
    assert (tmp_path / "a.y4m").read_bytes() == (tmp_path / "b.y4m").read_bytes()


def test_missing_folder_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train-prior"):
        load_backbone(tmp_path / "absent")


@pytest.mark.slow
def test_embedded_prior_trains_saves_and_serves(tmp_path: Path) -> None:
    settings = PriorSettings(vae_steps=2, vae_batch=2, vae_crop=64, pca_crops=8, unet_steps=2, batch=2, latent_pool=4, pool_crop=64)
    record = train_prior(tmp_path / "embedded", settings)
    info = record["vcbench"]
    assert any("carphone" in source for source in info["trained_on"])
    assert any(source.startswith("debian:mate-backgrounds") for source in info["trained_on"])
    assert all("sha256:" in source for source in info["trained_on"])
    assert not any("bigbuckbunny" in source or "bikes" in source for source in info["trained_on"])
    assert info["colour"]["saturation"] > 0.3  # colour photos only: the first VAE's grey material made it desaturate
    saved = json.loads((tmp_path / "embedded" / "model_index.json").read_text())
    assert saved["vcbench"]["backbone_hash"] == backbone_hash(tmp_path / "embedded")
    backbone = load_backbone(tmp_path / "embedded")
    assert backbone.kind == "image" and backbone.downscale == 8
    assert not (tmp_path / ".embedded.checkpoint.pt").exists()
