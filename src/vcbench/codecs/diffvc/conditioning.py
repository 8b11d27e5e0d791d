"""How DiffVC drives the backbone's denoiser: the conditioning branch, QPP's prompt and LoRA.

Choices, and why:

* **Channel concatenation.** The condition the denoiser sees beside its noisy latent is a fusion of
  the frame's decoded latent and the temporal context of the previous decoded frame (zeros for
  I-frames): ``decoded + f(decoded, context)`` with ``f``'s last layer zero at initialisation, so
  training starts from what the backbone knows (a degraded latent as condition; the embedded
  backbone was trained so) rather than from noise. Backbones whose denoiser takes only the noisy
  latent (Stable Diffusion 2.1's UNet2DConditionModel) get a widened input convolution, the
  condition's input weights zero at first (as InstructPix2Pix widens it); it is part of the model.
* **QPP's prompt.** q enters the denoiser as a learned embedding (a sinusoidal code of q through a
  small MLP, last layer zero at first) added to the denoiser's timestep embedding through a forward
  hook on its ``time_embedding``; every resnet block scales and shifts its features by that
  embedding, so q modulates the intermediate features at every level. A denoiser with
  cross-attention also attends to learned q tokens (its ``encoder_hidden_states``). Nothing of the
  prompt is sent: q is a header field.
* **LoRA** (rank ``lora_rank``, 0 for none) on the attention projections and resnet convolutions
  (the targets of :mod:`vcbench.diffusion.lora`): the denoiser was trained for another condition,
  and low-rank updates adapt it to decoded latents at a few thousand parameters. The adapter's
  tensors are the LoRA weights themselves (tied), so they are trained and saved in place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.models.embeddings import get_timestep_embedding
from peft import LoraConfig, inject_adapter_in_model
from torch import nn

from vcbench.diffusion.backbone import Backbone
from vcbench.diffusion.lora import TARGETS
from vcbench.errors import ConfigError

LORA_ADAPTER = "diffvc"
Q_EMBEDDING = 32  # width of the sinusoidal code of q


class DenoiserAdapter(ModelMixin, ConfigMixin):
    """The trained parts around a frozen backbone denoiser: condition fusion, q prompt, LoRA."""

    @register_to_config
    def __init__(self, latent_channels: int = 16, context_channels: int = 32, hidden: int = 64, time_embed_dim: int = 64,
                 context_dim: int | None = None, prompt_tokens: int = 1, lora_rank: int = 0,
                 lora_names: tuple[str, ...] = (), lora_shapes: tuple[tuple[int, ...], ...] = (), widened_input: bool = False,
                 conv_in_channels: tuple[int, int, int] = (0, 0, 0)):
        super().__init__()
        self.fusion = nn.Sequential(nn.Conv2d(latent_channels + context_channels, hidden, 3, padding=1), nn.LeakyReLU(0.1),
                                    nn.Conv2d(hidden, latent_channels, 3, padding=1))
        nn.init.zeros_(self.fusion[-1].weight)
        nn.init.zeros_(self.fusion[-1].bias)
        self.q_mlp = nn.Sequential(nn.Linear(Q_EMBEDDING, hidden), nn.SiLU())
        self.q_time = nn.Linear(hidden, time_embed_dim)
        nn.init.zeros_(self.q_time.weight)
        nn.init.zeros_(self.q_time.bias)
        self.q_tokens = nn.Linear(hidden, prompt_tokens * context_dim) if context_dim else None
        self.lora = nn.ParameterList([nn.Parameter(torch.zeros(shape)) for shape in lora_shapes])
        # (in, out, kernel) of a widened input convolution: noisy latent + condition channels in
        self.conv_in = nn.Conv2d(conv_in_channels[0], conv_in_channels[1], conv_in_channels[2],
                                 padding=conv_in_channels[2] // 2) if widened_input else None
        self._q: torch.Tensor | None = None
        self._hook = None

    # -- building and attaching ------------------------------------------------------------------
    @classmethod
    def for_backbone(cls, backbone: Backbone, context_channels: int, lora_rank: int, seed: int) -> DenoiserAdapter:
        """A fresh adapter for ``backbone``, attached (training starts from it)."""
        unet, latent = backbone.unet, backbone.latent_channels
        in_channels = int(unet.config.in_channels)
        if in_channels not in (latent, 2 * latent):
            raise ConfigError(f"{backbone.folder}: the denoiser takes {in_channels} input channels; DiffVC needs the noisy latent "
                              f"({latent}) or it plus a concatenated condition ({2 * latent})")
        if getattr(unet, "carries_diffvc_adapter", False):
            raise ValueError(f"{backbone.folder}: this loaded backbone already carries a DiffVC adapter; load it again for another")
        torch.manual_seed(seed)
        names, shapes = [], []
        if lora_rank:
            _inject_lora(unet, lora_rank)
            for name, param in sorted(unet.named_parameters()):
                if "lora_" in name:
                    names.append(name)
                    shapes.append(tuple(param.shape))
        widened = in_channels == latent
        conv = unet.conv_in
        conv_in_channels = (2 * latent, conv.out_channels, conv.kernel_size[0]) if widened else (0, 0, 0)
        adapter = cls(latent_channels=latent, context_channels=context_channels, time_embed_dim=_time_embed_dim(unet),
                      context_dim=backbone.context_dim, lora_rank=lora_rank, lora_names=tuple(names), lora_shapes=tuple(shapes),
                      widened_input=widened, conv_in_channels=conv_in_channels)
        with torch.no_grad():
            parameters = dict(unet.named_parameters())
            for slot, name in zip(adapter.lora, names):
                slot.copy_(parameters[name])  # peft's initialisation: A random, B zero (the update starts at 0)
            if widened:
                adapter.conv_in.weight.zero_()
                adapter.conv_in.weight[:, :latent] = conv.weight
                adapter.conv_in.bias.copy_(conv.bias)
        adapter.to(backbone.device)
        adapter.attach(backbone, inject=False)
        return adapter

    def attach(self, backbone: Backbone, inject: bool = True) -> None:
        """Put the adapter into ``backbone``'s denoiser (LoRA tied, input widened, q hook)."""
        unet, config = backbone.unet, self.config
        if getattr(unet, "carries_diffvc_adapter", False):
            raise ValueError(f"{backbone.folder}: this loaded backbone already carries a DiffVC adapter; load it again for another")
        if _time_embed_dim(unet) != config.time_embed_dim or (backbone.context_dim or None) != config.context_dim:
            raise ConfigError(f"{backbone.folder}: the denoiser's embedding sizes do not fit this DiffVC model; pass the backbone it "
                              "was trained on")
        if config.lora_rank and inject:
            _inject_lora(unet, config.lora_rank)
        names = sorted(name for name, _ in unet.named_parameters() if "lora_" in name)
        if names != list(config.lora_names):
            raise ConfigError(f"{backbone.folder}: the denoiser's LoRA layers differ from this DiffVC model's; pass the backbone it "
                              "was trained on")
        for name, param in zip(names, self.lora):
            owner, _, attribute = name.rpartition(".")
            setattr(unet.get_submodule(owner), attribute, param)
        if self.conv_in is not None:
            unet.conv_in = self.conv_in
        self._hook = unet.time_embedding.register_forward_hook(self._add_prompt)
        unet.carries_diffvc_adapter = True

    def _add_prompt(self, module, inputs, output: torch.Tensor) -> torch.Tensor:
        if self._q is None:
            raise RuntimeError("the DiffVC denoiser was called outside DenoiserAdapter.predict")
        return output + self.q_time(self._q).to(output.dtype)

    # -- running ------------------------------------------------------------------------------------
    def condition(self, decoded: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """The concatenated condition from a frame's decoded latent and its temporal context (None: I-frame)."""
        if context is None:
            context = decoded.new_zeros(decoded.shape[0], self.config.context_channels, *decoded.shape[2:])
        return decoded + self.fusion(torch.cat([decoded, context], dim=1))

    @contextlib.contextmanager
    def _prompted(self, features: torch.Tensor) -> Iterator[None]:
        self._q = features
        try:
            yield
        finally:
            self._q = None

    def predict(self, backbone: Backbone, noisy: torch.Tensor, timestep: torch.Tensor, condition: torch.Tensor,
                q: torch.Tensor) -> torch.Tensor:
        """The denoiser's output for ``noisy`` given the condition and the quantisation indices ``q`` (B,)."""
        features = self.q_mlp(get_timestep_embedding(q.float().reshape(-1), Q_EMBEDDING))
        tokens = None
        if self.q_tokens is not None:
            tokens = self.q_tokens(features).reshape(features.shape[0], self.config.prompt_tokens, self.config.context_dim)
        with self._prompted(features):
            return backbone.predict(noisy, timestep, condition, tokens, None)


def _inject_lora(unet: nn.Module, rank: int) -> None:
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, target_modules=TARGETS, lora_dropout=0.0), unet,
                            adapter_name=LORA_ADAPTER)


def _time_embed_dim(unet: nn.Module) -> int:
    return int(unet.time_embedding.linear_2.out_features)
