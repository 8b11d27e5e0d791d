"""Bjontegaard deltas: the VCEG-M33 reference values, agreement with the `bjontegaard` package, and the edge cases."""

from __future__ import annotations

import math
import warnings

import bjontegaard
import numpy as np
import pandas as pd
import pytest

from vcbench.bd import BDWarning, bd, lower_is_better
from vcbench.report.bd_table import bd_table

# The VCEG-M33 example (Bjontegaard 2001): rates and PSNR of anchor and test.
ANCHOR = ([90.33, 181.03, 332.99, 547.79], [27.95, 31.17, 34.44, 38.11])
TEST = ([127.1719, 186.14, 307.2924, 481.5588], [29.9286, 32.4165, 34.7013, 37.4561])


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bd(*args, **kwargs)


def test_vceg_m33_reference_values_with_the_cubic_method():
    result = _quiet(*ANCHOR, *TEST, method="cubic")
    assert result.bd_quality == pytest.approx(0.800713, abs=1e-4)
    assert result.bd_rate_pct == pytest.approx(-13.261773, abs=1e-4)


def _package(method, rate_a, q_a, rate_t, q_t):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (bjontegaard.bd_rate(rate_a, q_a, rate_t, q_t, method=method, min_overlap=0),
                bjontegaard.bd_psnr(rate_a, q_a, rate_t, q_t, method=method, min_overlap=0))


def _random_curves(rng: np.random.Generator, points: int) -> tuple[list, list, list, list]:
    """Low-rate RD curves: bpp 0.005..0.1, PSNR rising 4-7 dB per rate doubling, test shifted."""
    rate_a = np.sort(rng.uniform(0.005, 0.1, points))
    slope = rng.uniform(4, 7)
    q_a = 30 + slope * np.log2(rate_a / 0.02) + rng.normal(0, 0.05, points)
    rate_t = np.sort(rate_a * rng.uniform(0.7, 1.3, points))
    q_t = 30 + rng.uniform(-1, 1) + slope * np.log2(rate_t / 0.02) + rng.normal(0, 0.05, points)
    return list(rate_a), list(np.sort(q_a)), list(rate_t), list(np.sort(q_t))


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
def test_agrees_with_the_bjontegaard_package(method):
    rng = np.random.default_rng(2024)
    cases = [(*ANCHOR, *TEST)] + [_random_curves(rng, n) for n in (4, 4, 5, 6, 8)]
    for rate_a, q_a, rate_t, q_t in cases:
        expected_rate, expected_quality = _package(method, rate_a, q_a, rate_t, q_t)
        result = _quiet(rate_a, q_a, rate_t, q_t, method=method)
        assert result.bd_rate_pct == pytest.approx(expected_rate, abs=1e-6)
        assert result.bd_quality == pytest.approx(expected_quality, abs=1e-6)


def test_pchip_on_the_m33_curves_matches_the_package_exactly():
    expected_rate, expected_quality = _package("pchip", *ANCHOR, *TEST)
    result = _quiet(*ANCHOR, *TEST, method="pchip")
    assert abs(result.bd_rate_pct - expected_rate) < 1e-6 and abs(result.bd_quality - expected_quality) < 1e-6
    assert result.bd_rate_pct < 0 and result.bd_quality > 0


def test_identical_curves_give_zero_and_swapping_inverts():
    same = _quiet(*ANCHOR, *ANCHOR)
    assert same.bd_rate_pct == pytest.approx(0, abs=1e-12) and same.bd_quality == pytest.approx(0, abs=1e-12)
    forward, backward = _quiet(*ANCHOR, *TEST), _quiet(*TEST, *ANCHOR)
    assert backward.bd_quality == pytest.approx(-forward.bd_quality, abs=1e-12)
    assert (1 + forward.bd_rate_pct / 100) * (1 + backward.bd_rate_pct / 100) == pytest.approx(1, abs=1e-12)


def test_unsorted_input_is_sorted_by_rate():
    order = [2, 0, 3, 1]
    shuffled = ([ANCHOR[0][i] for i in order], [ANCHOR[1][i] for i in order])
    assert _quiet(*shuffled, *TEST).bd_rate_pct == pytest.approx(_quiet(*ANCHOR, *TEST).bd_rate_pct, abs=1e-12)


def test_lower_is_better_metrics_are_negated_and_quality_is_anchor_minus_test():
    assert lower_is_better("lpips") and lower_is_better("DISTS") and lower_is_better("fid") and lower_is_better("kid")
    assert not lower_is_better("psnr_yuv") and not lower_is_better("vmaf_neg")
    rates_a, rates_t = [0.01, 0.02, 0.04, 0.08], [0.009, 0.018, 0.036, 0.072]
    lpips_a, lpips_t = [0.50, 0.38, 0.27, 0.18], [0.46, 0.34, 0.24, 0.16]  # the test is better at every rate
    result = _quiet(rates_a, lpips_a, rates_t, lpips_t, lower_better=True)
    mirrored = _quiet(rates_a, [-v for v in lpips_a], rates_t, [-v for v in lpips_t])
    assert result.bd_rate_pct == pytest.approx(mirrored.bd_rate_pct) and result.bd_rate_pct < 0
    assert result.bd_quality == pytest.approx(mirrored.bd_quality) and result.bd_quality > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = -bjontegaard.bd_psnr(rates_a, lpips_a, rates_t, lpips_t, method="pchip", min_overlap=0)
    assert result.bd_quality == pytest.approx(expected, abs=1e-9)  # anchor minus test


def test_small_overlap_warns_but_computes():
    with pytest.warns(BDWarning, match="overlap"):
        result = bd(*ANCHOR, *TEST)
    assert 0 < result.overlap < 0.75 and math.isfinite(result.bd_rate_pct) and "overlap" in result.notes[0]


def test_disjoint_curves_are_nan_with_a_reason():
    result = _quiet([0.01, 0.02, 0.03], [25, 27, 28], [0.1, 0.2, 0.3], [35, 37, 38])
    assert math.isnan(result.bd_rate_pct) and math.isnan(result.bd_quality) and result.overlap == 0
    assert any("do not overlap" in n for n in result.notes)


def test_non_monotonic_curve_has_no_bd_rate_but_keeps_bd_quality():
    result = _quiet([0.01, 0.02, 0.04, 0.08], [30, 32, 31.5, 35], *TEST_LOW)
    assert math.isnan(result.bd_rate_pct) and "not strictly increasing" in result.to_dict()["notes"]
    assert math.isfinite(result.bd_quality)


TEST_LOW = ([0.012, 0.022, 0.045, 0.09], [31, 33, 35, 37])


def test_two_points_and_too_few_points():
    two = _quiet([0.01, 0.04], [30, 34], [0.01, 0.04], [31, 35])
    assert two.bd_quality == pytest.approx(1.0) and math.isfinite(two.bd_rate_pct)
    one = _quiet([0.01], [30], [0.01, 0.04], [31, 35])
    assert math.isnan(one.bd_rate_pct) and "needs at least 2" in one.notes[0]
    with pytest.raises(ValueError, match="unknown BD method"):
        bd([1, 2], [3, 4], [1, 2], [3, 4], method="spline")


def _rd(sequence: str, codec: str, rates, psnr, lpips) -> list[dict]:
    return [{"dataset": "demo", "sequence": sequence, "codec": codec, "rate": f"r{i}", "bpp": r, "psnr_yuv": p, "lpips": lp}
            for i, (r, p, lp) in enumerate(zip(rates, psnr, lpips))]


def test_table_averages_sequences_and_names_those_left_out():
    rows = (_rd("a", "x265", *ANCHOR[:1], ANCHOR[1], [0.5, 0.4, 0.3, 0.2])
            + _rd("a", "neural", TEST[0], TEST[1], [0.45, 0.37, 0.28, 0.21])
            + _rd("b", "x265", [0.01, 0.02, 0.04, 0.08], [28, 30, 32, 34], [0.5, 0.4, 0.3, 0.2])
            + _rd("b", "neural", [0.01, 0.02, 0.04, 0.08], [29, 31, 33, 35], [0.5, 0.3, 0.35, 0.1]))  # lpips not monotonic
    table = bd_table(pd.DataFrame(rows), anchor="x265", metrics=["psnr_yuv", "lpips", "vmaf"], method="pchip")
    assert set(table["metric"]) == {"psnr_yuv", "lpips"}  # vmaf absent: skipped
    psnr = table[table["metric"] == "psnr_yuv"].set_index("sequence")
    assert list(psnr.index) == ["a", "b", "mean"]
    assert psnr.loc["mean", "bd_rate_pct"] == pytest.approx(psnr.loc[["a", "b"], "bd_rate_pct"].mean())
    assert psnr.loc["b", "bd_quality"] == pytest.approx(1.0)
    lpips = table[table["metric"] == "lpips"].set_index("sequence")
    assert math.isnan(lpips.loc["b", "bd_rate_pct"])
    assert lpips.loc["mean", "bd_rate_pct"] == pytest.approx(lpips.loc["a", "bd_rate_pct"])
    assert "left out: b" in lpips.loc["mean", "notes"] and lpips.loc["mean", "sequences"] == 1


def _pooled_inputs(fid_values: dict[str, list[float]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """rd.csv rows of two sequences and fid.csv rows (one per codec x rate) with the given FID per codec."""
    ladders = {"x265": [0.010, 0.020, 0.040, 0.080], "neural": [0.009, 0.018, 0.036, 0.072]}
    rows = []
    for sequence, scale in (("a", 0.9), ("b", 1.1)):  # mean bpp = the ladder
        for codec, rates in ladders.items():
            rows += _rd(sequence, codec, [scale * r for r in rates], [30, 32, 34, 36], [0.5, 0.4, 0.3, 0.2])
    fid = pd.DataFrame([{"dataset": "demo", "codec": codec, "rate": f"r{i}", "sequences": 2, "frames": 16,
                         "patches": 64, "reference_patches": 64, "fid": value, "kid": value / 1000,
                         "kid_std": 0.001, "kid_subset_size": 64, "warning": "only 64 patches (< 2048)",
                         "not_computed": ""}
                        for codec, values in fid_values.items() for i, value in enumerate(values)])
    return pd.DataFrame(rows), fid


def test_pooled_fid_and_kid_rows_use_the_mean_bpp_curve_and_negate():
    anchor_fid, test_fid = [120.0, 90.0, 65.0, 45.0], [100.0, 75.0, 55.0, 38.0]  # the test is better at every rate
    rd, fid = _pooled_inputs({"x265": anchor_fid, "neural": test_fid})
    table = bd_table(rd, anchor="x265", metrics=["psnr_yuv", "fid"], method="pchip", fid=fid)
    pooled = table[table["metric"].isin(["fid", "kid"])].set_index("metric")
    assert set(pooled["sequence"]) == {"mean"} and set(pooled.index) == {"fid", "kid"}
    expected = _quiet([0.010, 0.020, 0.040, 0.080], anchor_fid, [0.009, 0.018, 0.036, 0.072], test_fid, lower_better=True)
    assert pooled.loc["fid", "bd_rate_pct"] == pytest.approx(expected.bd_rate_pct, abs=1e-9)
    assert pooled.loc["fid", "bd_quality"] == pytest.approx(expected.bd_quality, abs=1e-9)
    assert pooled.loc["fid", "bd_rate_pct"] < 0 and pooled.loc["fid", "bd_quality"] > 0  # anchor minus test
    assert pooled.loc["kid", "bd_quality"] == pytest.approx(expected.bd_quality / 1000, abs=1e-9)
    assert pooled.loc["fid", "direction"] == "lower" and pooled.loc["fid", "sequences"] == 2
    assert "pooled" in pooled.loc["fid", "notes"] and "fewer patches than the Inception" in pooled.loc["fid", "notes"]
    assert list(table["metric"].drop_duplicates()) == ["fid", "kid", "psnr_yuv"]  # sorted with the other metrics


def test_pooled_rows_skip_missing_values_and_all_nan_gives_none():
    nan = math.nan
    rd, fid = _pooled_inputs({"x265": [120.0, 90.0, 65.0, nan], "neural": [100.0, 75.0, 55.0, 38.0]})
    row = bd_table(rd, anchor="x265", metrics=["fid"], fid=fid).query("metric == 'fid'").iloc[0]
    assert row["points_anchor"] == 3 and "left out (no fid): x265/r3" in row["notes"]
    rd, fid = _pooled_inputs({"x265": [nan] * 4, "neural": [nan] * 4})
    table = bd_table(rd, anchor="x265", metrics=["psnr_yuv", "fid"], fid=fid)
    assert set(table["metric"]) == {"psnr_yuv"}
    assert bd_table(rd, anchor="x265", metrics=["psnr_yuv"], fid=fid.assign(fid=1.0))["metric"].eq("psnr_yuv").all()
