"""The learned entropy models: exact round trips through real range-coded strings, costs that match
their likelihoods, and damaged strings refused."""

from __future__ import annotations

import math

import pytest
import torch

from vcbench.entropy.learned import FactorizedPrior, GaussianConditional, bits, round_ste
from vcbench.errors import BitstreamError


def _prior(channels: int = 3) -> FactorizedPrior:
    torch.manual_seed(0)
    prior = FactorizedPrior(channels, support=16)
    prior.update_tables()
    return prior


def test_factorized_prior_round_trips_every_item_exactly() -> None:
    prior = _prior()
    symbols = prior.clip(torch.round(torch.randn(2, 3, 5, 7) * 4)).to(torch.int64)
    symbols[0, 1, 2, 3] = 16  # the ends of the support too
    symbols[1, 2, 0, 0] = -16
    strings = prior.compress(symbols)
    assert len(strings) == 2 and all(isinstance(s, bytes) and s for s in strings)
    assert torch.equal(prior.decompress(strings, (3, 5, 7)), symbols)


def test_factorized_prior_cost_is_close_to_its_likelihood_and_tables_follow_training() -> None:
    prior = _prior(1)
    symbols = torch.round(torch.randn(1, 1, 48, 48) * 3).clamp(-16, 16)
    with torch.no_grad():
        estimated = float(bits(prior.likelihood(symbols)))
    coded = 8 * len(prior.compress(symbols.to(torch.int64))[0])
    assert coded == pytest.approx(estimated, rel=0.05, abs=64)
    before = prior.tables.clone()
    optimiser = torch.optim.Adam(prior.parameters(), lr=0.05)
    for _ in range(30):  # fitting the density lowers the cost, and the coder's tables follow once updated
        optimiser.zero_grad()
        bits(prior.likelihood(symbols + torch.rand_like(symbols) - 0.5)).backward()
        optimiser.step()
    prior.update_tables()
    assert not torch.equal(prior.tables, before)
    assert 8 * len(prior.compress(symbols.to(torch.int64))[0]) < coded
    assert torch.equal(prior.decompress(prior.compress(symbols.to(torch.int64)), (1, 48, 48)), symbols.to(torch.int64))


def test_tables_travel_with_the_state_dict() -> None:
    prior = _prior()
    other = FactorizedPrior(3, support=16)
    other.load_state_dict(prior.state_dict())
    symbols = torch.randint(-5, 6, (1, 3, 4, 4))
    assert torch.equal(other.decompress(prior.compress(symbols), (3, 4, 4)), symbols)


def test_gaussian_conditional_round_trips_with_per_symbol_scales() -> None:
    gaussian = GaussianConditional()
    torch.manual_seed(1)
    scales = torch.rand(2, 4, 6, 6) * 20 + 0.05
    symbols = gaussian.clip(torch.round(torch.randn(2, 4, 6, 6) * scales)).to(torch.int64)
    symbols[0, 0, 0, 0] = gaussian.support  # an unlikely symbol still codes
    indexes = gaussian.indexes(scales)
    assert int(indexes.min()) >= 0 and int(indexes.max()) < len(gaussian.scale_table)
    strings = gaussian.compress(symbols, indexes)
    assert torch.equal(gaussian.decompress(strings, indexes), symbols)


def test_gaussian_cost_falls_with_the_scale_and_indexes_pick_the_table_entry_below() -> None:
    gaussian = GaussianConditional()
    table = gaussian.scale_table
    scales = torch.tensor([float(table[0]) / 2, float(table[5]), float(table[5]) * 1.01, 1e6])
    assert gaussian.indexes(scales).tolist() == [0, 5, 5, len(table) - 1]
    zeros = torch.zeros(1, 1, 32, 32, dtype=torch.int64)
    small = gaussian.compress(zeros, gaussian.indexes(torch.full((1, 1, 32, 32), 0.2)))[0]
    large = gaussian.compress(zeros, gaussian.indexes(torch.full((1, 1, 32, 32), 8.0)))[0]
    assert len(small) < len(large)
    likelihood = gaussian.likelihood(torch.zeros(1), torch.tensor([8.0]))
    assert float(likelihood) == pytest.approx(math.erf(0.5 / 8 / math.sqrt(2)), rel=1e-5)


def test_damaged_or_foreign_strings_are_refused() -> None:
    gaussian, prior = GaussianConditional(), _prior()
    indexes = torch.full((1, 2, 8, 8), 20)
    string = gaussian.compress(torch.randint(-3, 4, (1, 2, 8, 8)), indexes)[0]
    with pytest.raises(BitstreamError, match="whole number of 32-bit words"):
        gaussian.decompress([string[:-1]], indexes)
    with pytest.raises(BitstreamError, match="more than its symbols"):
        gaussian.decompress([string + string], indexes)
    side = prior.compress(torch.zeros(1, 3, 2, 2, dtype=torch.int64))[0]
    with pytest.raises(BitstreamError, match="more than its symbols"):
        prior.decompress([side + b"\x01\x02\x03\x04" * 4], (3, 2, 2))


def test_symbols_beyond_the_support_must_be_clipped_first() -> None:
    prior = _prior()
    with pytest.raises(ValueError, match="clip them first"):
        prior.compress(torch.full((1, 3, 1, 1), 17))
    assert int(prior.clip(torch.tensor([40.0]))) == 16


def test_round_ste_rounds_forward_and_passes_gradients() -> None:
    values = torch.tensor([0.4, 1.6, -2.5], requires_grad=True)
    rounded = round_ste(values)
    rounded.sum().backward()
    assert rounded.tolist() == [0.0, 2.0, -2.0] and values.grad.tolist() == [1.0, 1.0, 1.0]
