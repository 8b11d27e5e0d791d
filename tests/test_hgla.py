"""HGLA: the recurrent and chunked forms of gated linear attention agree; the carried state follows
the sequence axis within a context window only, and the scale axis from the parent token."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from vcbench.codecs.givic.hgla import GlaLayer, gla, gla_chunked, gla_recurrent
from vcbench.codecs.givic.model import Denoiser
from vcbench.codecs.givic.pyramid import CHANNELS, Geometry
from vcbench.codecs.givic.sampling import Sampler


def _inputs(batch: int, length: int, heads: int, dk: int, dv: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(batch, length, heads, dk, generator=generator) for _ in range(2))
    v = torch.randn(batch, length, heads, dv, generator=generator)
    g = F.logsigmoid(torch.randn(batch, length, heads, dk, generator=generator) * 3) / 2  # strong and weak decays
    state = torch.randn(batch, heads, dk, dv, generator=generator)
    return q, k, v, g, state


@pytest.mark.parametrize(("length", "chunk"), [(1, 16), (37, 16), (64, 16), (50, 7), (200, 64)])
def test_recurrent_and_chunked_forms_agree(length: int, chunk: int) -> None:
    q, k, v, g, state = _inputs(2, length, 3, 8, 5)
    o_rec, s_rec = gla_recurrent(q, k, v, g, state)
    o_chunk, s_chunk = gla_chunked(q, k, v, g, state, chunk=chunk)
    assert o_rec.shape == o_chunk.shape == (2, length, 3, 5)
    torch.testing.assert_close(o_chunk, o_rec, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s_chunk, s_rec, atol=1e-5, rtol=1e-5)
    assert o_rec.abs().max() > 1  # not trivially small


def test_the_recurrence_is_the_gla_definition() -> None:
    q, k, v, g, state = _inputs(1, 3, 1, 2, 2)
    o, final = gla_recurrent(q, k, v, g, state)
    s = state[0, 0]
    for t in range(3):
        s = torch.diag(g[0, t, 0].exp()) @ s + k[0, t, 0, :, None] @ v[0, t, 0, None, :]
        torch.testing.assert_close(o[0, t, 0], q[0, t, 0] @ s / 2**0.5)
    torch.testing.assert_close(final[0, 0], s)


def test_a_zero_state_is_no_state() -> None:
    q, k, v, g, _ = _inputs(2, 20, 2, 4, 4)
    zeros = torch.zeros(2, 2, 4, 4)
    torch.testing.assert_close(gla_recurrent(q, k, v, g)[0], gla_recurrent(q, k, v, g, zeros)[0])
    torch.testing.assert_close(gla(q, k, v, g)[0], gla_chunked(q, k, v, g)[0])  # on the CPU gla is the chunked form


def test_the_layer_gives_the_same_in_both_forms() -> None:
    torch.manual_seed(0)
    layer = GlaLayer(16, 2, 8)
    x = torch.randn(3, 45, 16)
    state = torch.randn(3, 2, 8, 8)
    out_rec, end_rec = layer(x, state, form=gla_recurrent)
    out_chunk, end_chunk = layer(x, state, form=gla_chunked)
    torch.testing.assert_close(out_chunk, out_rec, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(end_chunk, end_rec, atol=1e-5, rtol=1e-5)


def _sampler(context: int, form=gla) -> tuple[Sampler, Geometry]:
    geometry = Geometry(levels=2, token=(1, 4, 4), patch=2)
    torch.manual_seed(0)
    model = Denoiser(geometry, width=8, depth=2, head_dim=4)
    with torch.no_grad():
        for parameter in model.parameters():  # the head starts at zero: give every weight a value
            parameter.copy_(torch.randn_like(parameter) * 0.3)
    return Sampler(model, context=context, steps=2, form=form), geometry


def _level_states(sampler: Sampler, geometry: Geometry, tokens: torch.Tensor, parent_states) -> torch.Tensor:
    above = torch.zeros(CHANNELS, *geometry.shape(1))
    with torch.no_grad():
        return torch.stack([s for s in sampler.level(2, above, parent_states, clean=tokens).states], 1)


@pytest.mark.parametrize(("context", "reached"), [(4, [False, True, True, True, False, False, False, False]),
                                                  (0, [False] + [True] * 7)])  # 0: no restart, the whole level
def test_the_sequence_state_restarts_every_context_length_tokens(context: int, reached: list[bool]) -> None:
    sampler, geometry = _sampler(context)
    tokens = torch.randn(8, CHANNELS, *geometry.token, generator=torch.Generator().manual_seed(1))
    changed = tokens.clone()
    changed[1] += 1.0  # reaches the later tokens of its context window only
    parents = sampler.model.zero_states(1, torch.device("cpu"))
    moved = (_level_states(sampler, geometry, changed, parents) - _level_states(sampler, geometry, tokens, parents)).abs()
    assert (moved.flatten(1).max(1).values > 1e-6).tolist() == reached


def test_the_scale_axis_carries_the_parent_state_to_every_child() -> None:
    sampler, geometry = _sampler(context=1)  # no sequence state: only the parent's reaches a token
    tokens = torch.randn(8, CHANNELS, *geometry.token, generator=torch.Generator().manual_seed(2))
    zeros = sampler.model.zero_states(1, torch.device("cpu"))
    ones = [torch.ones_like(s) for s in zeros]
    moved = (_level_states(sampler, geometry, tokens, ones) - _level_states(sampler, geometry, tokens, zeros)).abs()
    assert (moved.flatten(1).max(1).values > 1e-4).all()


def test_decoding_in_either_form_agrees() -> None:
    recurrent, _ = _sampler(context=3, form=gla_recurrent)
    chunked, _ = _sampler(context=3, form=gla_chunked)
    with torch.no_grad():
        a, b = recurrent.decode(seed=5)[-1].video, chunked.decode(seed=5)[-1].video
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
