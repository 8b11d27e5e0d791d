"""The embedded backbone's autoencoder: it starts as the principal-component code of training patches, and its
material refuses to train on a missing photo before reading any."""

from pathlib import Path

import pytest
import torch

from vcbench.diffusion import material
from vcbench.diffusion.patch_vae import PatchAutoencoder, principal_patches
from vcbench.errors import ConfigError


def _smooth_images(count: int, size: int) -> torch.Tensor:
    """Images in [-1, 1] made of a few low frequencies per channel: a code of 16 components holds them nearly whole."""
    generator = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    waves = torch.stack([torch.ones_like(x), torch.cos(torch.pi * x), torch.cos(torch.pi * y)])
    weights = torch.randn(count, 3, 3, generator=generator) * 0.3
    return torch.einsum("bcw,whx->bchx", weights, waves).clamp(-1, 1)


def test_a_fresh_autoencoder_is_the_principal_component_code() -> None:
    images = _smooth_images(16, 32)
    vae = PatchAutoencoder(latent_channels=16, patch_size=8, encoder_channels=8, encoder_blocks=1, decoder_channels=8, decoder_blocks=1)
    before = (vae(images).sample - images).pow(2).mean()
    vae.init_linear(*principal_patches(images, 8, 16))
    after = (vae(images).sample - images).pow(2).mean()
    assert after < 1e-4 < before  # the refinement branches add nothing yet: the linear code alone reconstructs
    assert vae.spatial_compression_ratio == 8 and vae.encode(images).latent.shape == (16, 16, 4, 4)


def test_principal_directions_do_not_depend_on_the_svd_sign_choice() -> None:
    images = _smooth_images(8, 32)
    mean, basis, spread = principal_patches(images, 8, 4)
    assert torch.allclose(basis @ basis.T, torch.eye(4), atol=1e-4) and bool((spread[:-1] >= spread[1:]).all())
    again_mean, again, _ = principal_patches(images.flip(0), 8, 4)  # the same patches in another order
    assert torch.allclose(basis, again, atol=1e-4) and torch.allclose(mean, again_mean, atol=1e-6)


def test_the_latent_is_whitened() -> None:
    images = _smooth_images(64, 32)
    vae = PatchAutoencoder(latent_channels=4, patch_size=8, encoder_channels=8, encoder_blocks=1, decoder_channels=8, decoder_blocks=1)
    vae.init_linear(*principal_patches(images, 8, 4))
    latent = vae.encode(images).latent
    assert torch.allclose(latent.std(dim=(0, 2, 3)), torch.ones(4), atol=0.05)


def test_a_missing_training_photo_is_named_before_any_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(material, "_BACKGROUNDS", tmp_path)
    with pytest.raises(ConfigError, match=r"mate/nature/Aqua.jpg: missing training photo of Debian package mate-backgrounds"):
        material._debian_photos()
