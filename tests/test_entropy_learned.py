"""The learned entropy models: exact round trips through real range-coded strings, costs that match
their likelihoods, damaged strings refused, and the exact fixed-point evaluation that picks the
Gaussian's scales the same on every machine."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from vcbench.entropy import fixed_point
from vcbench.entropy.fixed_point import ExactNet, to_grid
from vcbench.entropy.learned import SCALE_TABLE, FactorizedPrior, GaussianConditional, bits, round_ste
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
    indexes = gaussian.indexes(to_grid(scales.log()))
    assert int(indexes.min()) >= 0 and int(indexes.max()) < len(gaussian.scale_table)
    strings = gaussian.compress(symbols, indexes)
    assert torch.equal(gaussian.decompress(strings, indexes), symbols)


def test_gaussian_cost_falls_with_the_scale_and_indexes_pick_the_table_entry_below() -> None:
    gaussian = GaussianConditional()
    table = gaussian.scale_table
    scales = torch.tensor([float(table[0]) / 2, float(table[5]) * 1.0001, float(table[6]) * 0.9999, 1e6])
    assert gaussian.indexes(to_grid(scales.log())).tolist() == [0, 5, 5, len(table) - 1]
    zeros = torch.zeros(1, 1, 32, 32, dtype=torch.int64)
    small = gaussian.compress(zeros, gaussian.indexes(to_grid(torch.full((1, 1, 32, 32), 0.2).log())))[0]
    large = gaussian.compress(zeros, gaussian.indexes(to_grid(torch.full((1, 1, 32, 32), 8.0).log())))[0]
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


def test_scale_indexes_are_picked_from_exact_log_scales_by_a_rule_no_machine_can_round_differently() -> None:
    """The rule (GaussianConditional.indexes): index = how many of the table's log-scales 1..63,
    rounded up to the fixed-point grid, the exact log-scale reaches. Every input of the rule is a
    decimal constant or a grid value, and the two roundings in it (6 digits of exp, the grid of log)
    have margins of 1e-9 and more: a machine whose exp or log is 1 ulp off rounds them the same."""
    gaussian = GaussianConditional()
    thresholds = torch.tensor([math.ceil(math.log(scale) * fixed_point.GRID) / fixed_point.GRID for scale in SCALE_TABLE[1:]],
                              dtype=torch.float64)
    torch.manual_seed(2)
    logs = to_grid(torch.cat([torch.rand(20000, dtype=torch.float64) * 12 - 6, thresholds, thresholds - 1 / fixed_point.GRID]))
    indexes = gaussian.indexes(logs)
    assert indexes.device.type == "cpu" and indexes.dtype == torch.int64
    assert torch.equal(indexes, (logs[:, None] >= thresholds).sum(dim=1))
    assert indexes[20000:20063].tolist() == list(range(1, 64)) and indexes[20063:].tolist() == list(range(63))
    assert torch.equal(gaussian.indexes(logs.view(2, -1)), indexes.view(2, -1))
    with pytest.raises(ValueError, match="off the fixed-point grid"):
        gaussian.indexes(torch.tensor([0.1]))
    for scale in np.exp(np.linspace(math.log(0.11), math.log(256.0), 64)):  # SCALE_TABLE's 6 significant digits
        digits = scale / 10.0 ** (math.floor(math.log10(scale)) - 5)
        assert abs(digits - math.floor(digits) - 0.5) > 1e-9 * digits
    for scale in SCALE_TABLE[1:]:  # the thresholds' grid
        position = math.log(scale) * fixed_point.GRID
        assert abs(position - round(position)) > 1e-9 * abs(position)


def test_exact_networks_compute_exact_integer_arithmetic_in_any_summation_order() -> None:
    """ExactNet's convolutions equal int64 arithmetic on the grid's integers (so no rounding happens
    inside a layer), and the whole network gives the same bits at 1 and 2 threads, in channels_last
    (other CPU kernels) and batched with other items."""
    torch.manual_seed(3)
    network = nn.Sequential(nn.Conv2d(6, 12, 3, padding=1), nn.LeakyReLU(0.1), nn.ConvTranspose2d(12, 8, 4, 2, 1), nn.LeakyReLU(0.1),
                            nn.Conv2d(8, 4, 5, 2, 2))
    exact = ExactNet(network)
    values = to_grid(torch.randn(1, 6, 9, 11, dtype=torch.float64) * 30)
    first = exact.steps[0]
    bits = next(b for b in range(64) if torch.equal(first.weight * 2**b, torch.round(first.weight * 2**b)))
    integers = (values * fixed_point.GRID).to(torch.int64)
    columns = nn.functional.unfold(integers.double(), 3, padding=1).to(torch.int64)  # copies, exact
    weight = (first.weight * 2**bits).to(torch.int64).reshape(12, -1)
    bias = (first.bias * 2**bits * fixed_point.GRID).to(torch.int64)
    expected = (weight @ columns[0] + bias[:, None]).reshape(12, 9, 11)
    sums = nn.functional.conv2d(values, first.weight, first.bias, padding=1)[0] * (2**bits * fixed_point.GRID)
    assert torch.equal(sums.to(torch.int64), expected) and torch.equal(sums, expected.double())
    out = exact(values)
    assert torch.equal(out, to_grid(out)) and not torch.equal(out, torch.zeros_like(out))
    try:
        torch.set_num_threads(2)
        assert torch.equal(exact(values), out)
    finally:
        torch.set_num_threads(1)
    assert torch.equal(ExactNet(network.to(memory_format=torch.channels_last))(values.contiguous(memory_format=torch.channels_last)), out)
    batch = torch.cat([values, to_grid(torch.randn(2, 6, 9, 11, dtype=torch.float64))])
    assert torch.equal(exact(batch)[:1], out)
    with pytest.raises(ValueError, match="float64 CPU"):
        exact(values.float())
    with pytest.raises(TypeError, match="no exact evaluation"):
        ExactNet(nn.Sequential(nn.ReLU()))


def test_diffvc_codes_and_decodes_the_same_bytes_at_one_and_two_threads(tmp_path) -> None:
    """The committed DiffVC model: the bitstream and the reconstruction do not depend on torch's CPU threads."""
    from conftest import write_sequence
    from vcbench.codecs.base import RatePoint
    from vcbench.codecs.diffvc import DiffVcCodec
    from vcbench.video import VideoFormat

    clip = write_sequence(tmp_path / "clip.y4m", VideoFormat(64, 48), 3)  # frames I P I
    try:
        for threads in (1, 2):
            codec = DiffVcCodec(model="models/diffvc", backbone="models/embedded", device="cpu", threads=threads, intra_period=2,
                                steps=1, tdir_r=0)
            codec.encode(clip, tmp_path / f"{threads}.diffvc", RatePoint("q20", {"q": 20}))
            codec.decode(tmp_path / "1.diffvc", tmp_path / f"{threads}.y4m")
    finally:
        torch.set_num_threads(1)
    assert (tmp_path / "1.diffvc").read_bytes() == (tmp_path / "2.diffvc").read_bytes()
    assert (tmp_path / "1.y4m").read_bytes() == (tmp_path / "2.y4m").read_bytes()


def test_strings_the_range_decoder_cannot_decode_are_a_bitstream_error() -> None:
    """constriction raises AssertionError on data no encoder wrote; the caller sees a one-line BitstreamError."""
    with pytest.raises(BitstreamError, match="latent 0: the range-coded string is invalid for this model"):
        GaussianConditional().decompress([b"\xff" * 8], torch.zeros(1, 10, dtype=torch.int64))
    with pytest.raises(BitstreamError, match="side information 0: the range-coded string is invalid for this model"):
        _prior().decompress([b"\xff" * 8], (3, 64, 64))
