"""LoRA adapters (peft) on the denoiser's attention projections and convolutions.

The down-projections (LoRA A) are frozen at a random initialisation drawn from the bitstream's
seed (as in LoRA-FA): the decoder regenerates them, so only the up-projections (LoRA B) are
optimised and sent, which halves the adapter's bits at the same rank.
"""

from __future__ import annotations

import torch
from peft import LoraConfig, inject_adapter_in_model

ADAPTER = "codec"  # peft's name for the adapters: in parameter names only, never in a bitstream
TARGETS = r".*(to_q|to_k|to_v|to_out\.0|conv1|conv2)$"


def attach_lora(unet: torch.nn.Module, rank: int) -> None:
    """Add rank-``rank`` adapters to the attention projections and resnet convolutions of ``unet``."""
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, target_modules=TARGETS, lora_dropout=0.0), unet, adapter_name=ADAPTER)


def reset_lora(unet: torch.nn.Module, seed: int) -> list[tuple[str, torch.nn.Parameter]]:
    """Draw every LoRA A from ``seed`` (frozen), zero every LoRA B (trainable); return the B's by name."""
    generator = torch.Generator().manual_seed(seed)
    trainable = []
    for name, param in sorted(unet.named_parameters(), key=lambda item: item[0]):
        if "lora_A" in name:
            fresh = torch.empty(param.shape)
            torch.nn.init.kaiming_uniform_(fresh, a=5**0.5, generator=generator)
            with torch.no_grad():
                param.copy_(fresh.to(param.device))
            param.requires_grad_(False)
        elif "lora_B" in name:
            with torch.no_grad():
                param.zero_()
            param.requires_grad_(True)
            trainable.append((name, param))
    return trainable
