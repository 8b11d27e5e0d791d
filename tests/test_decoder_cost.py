"""What a decode costs (vcbench.tools.decoder_cost, `vcbench decoder-cost`): denoiser evaluations are the outermost
calls of the declared denoiser classes, MACs are FlopCounterMode's, parameters those of the modules that ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from conftest import write_sequence
from stand_ins import sd15
from vcbench.tools.decoder_cost import count_decode, is_denoiser
from vcbench.video import VideoFormat
from vcbench_cli import vcbench


def _macs(run) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        run()
    return counter.get_total_flops() // 2


def test_a_decode_counts_each_outermost_denoiser_call_its_macs_and_the_parameters_that_ran() -> None:
    torch.manual_seed(0)
    parts = sd15()
    unet, vae = parts["unet"].eval(), parts["vae"].eval()
    head, unused = torch.nn.Linear(12, 20), torch.nn.Linear(20, 20)
    latent, prompt = torch.randn(2, 4, 8, 8), torch.randn(2, 3, 768)  # each call on a batch of 2 frames
    # an SD 1.x UNet holds Transformer2DModels (diffusers models themselves): one evaluation each call, not several
    assert any(is_denoiser(m) for m in unet.modules() if m is not unet)

    def denoise() -> None:
        unet(latent, 10, encoder_hidden_states=prompt)

    def decode() -> tuple[int, int, int]:
        with torch.no_grad():
            for _ in range(3):
                denoise()
            image = vae.decode(latent).sample  # its mid block is a diffusers UNet block, not a denoiser
            head(torch.ones(5, 12))
        return 2, image.shape[-1], image.shape[-2]

    with torch.no_grad():
        unet_macs, vae_macs = _macs(denoise), _macs(lambda: vae.decode(latent))
    cost = count_decode(decode)
    assert (cost.frames, cost.width, cost.height) == (2, 64, 64)
    assert cost.denoiser_calls == 3 and cost.denoiser_evaluations == 6 and cost.denoiser_evaluations_per_frame == 3.0
    assert cost.denoiser_classes == ("diffusers.models.unets.unet_2d_condition.UNet2DConditionModel",)
    assert cost.denoiser_macs == 3 * unet_macs > 0
    assert cost.macs == 3 * unet_macs + vae_macs + 5 * 12 * 20
    assert cost.macs_per_pixel == cost.macs / (2 * 64 * 64)
    ran_in_unet = sum(p.numel() for p in unet.parameters())
    assert 0 < cost.denoiser_parameters <= ran_in_unet  # branches a call does not take are not counted
    vae_decoder = sum(p.numel() for p in vae.decoder.parameters()) + sum(p.numel() for p in vae.post_quant_conv.parameters())
    assert cost.parameters == cost.denoiser_parameters + vae_decoder + 12 * 20 + 20  # `unused` never ran
    assert unused.weight.numel() == 400


TINY_GIVIC = {"levels": 2, "patch": 2, "gop": 4, "steps": 2, "context": 2, "head_dim": 4, "device": "cpu", "threads": 1}


@pytest.fixture(scope="module")
def givic_bitstream(tmp_path_factory) -> Path:
    from vcbench.codecs.base import RatePoint
    from vcbench.codecs.givic import GivicCodec

    root = tmp_path_factory.mktemp("cost")
    write_sequence(root / "clip.y4m", VideoFormat(37, 23, 8), 6)  # GOPs of 4 and 2 frames
    GivicCodec(**TINY_GIVIC, iterations=20, refresh=10, batch_tokens=4).encode(
        root / "clip.y4m", root / "clip.givic", RatePoint("w8", {"width": 8, "rate_weight": 0.01}))
    return root / "clip.givic"


def test_the_command_counts_a_givic_decode(givic_bitstream: Path) -> None:
    out = givic_bitstream.with_name("cost.json")
    options = [arg for key, value in TINY_GIVIC.items() for arg in ("-o", f"{key}={value}")]
    result = vcbench("decoder-cost", givic_bitstream, "--codec", "givic", *options, "--out", out)
    assert result.code == 0, result.stderr
    record = json.loads(out.read_text())
    assert (record["frames"], record["width"], record["height"]) == (6, 37, 23)
    assert record["denoiser_classes"] == ["vcbench.codecs.givic.model.Denoiser"]
    # per GOP and level: each context offset's tokens sampled in `steps` calls, then one call for their end states; an
    # evaluation is a token: each token of each level `steps` + 1 times
    assert record["denoiser_calls"] > 0 and record["denoiser_calls"] % (TINY_GIVIC["steps"] + 1) == 0
    assert record["denoiser_evaluations"] > record["denoiser_calls"]
    assert 0 < record["denoiser_macs"] <= record["macs"] and record["macs_per_pixel"] == record["macs"] / (6 * 37 * 23)
    assert 0 < record["denoiser_parameters"] < record["parameters"]  # the carried-state gates run outside the denoiser
    assert record["bitstream_sha256"] and record["provenance"]["started_utc"]
    assert not list(givic_bitstream.parent.glob(".decoder-cost-*"))  # the scratch decode is gone


def test_an_anchor_or_a_damaged_bitstream_is_refused_in_one_line_before_anything_is_written(givic_bitstream: Path,
                                                                                              tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    hevc = tmp_path / "a.hevc"
    hevc.write_bytes(b"\0\0\1")
    result = vcbench("decoder-cost", hevc, "--out", out)
    assert result.code == 2 and "not a neural codec" in result.error and not out.exists()
    damaged = tmp_path / "damaged.givic"
    damaged.write_bytes(givic_bitstream.read_bytes()[:-7])
    options = [arg for key, value in TINY_GIVIC.items() for arg in ("-o", f"{key}={value}")]
    result = vcbench("decoder-cost", damaged, "--codec", "givic", *options, "--out", out)
    assert result.code == 2 and str(damaged) in result.error and not out.exists()
