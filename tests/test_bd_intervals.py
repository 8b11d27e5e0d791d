"""Dataset means with bootstrap intervals, the generated summary and the time table of a report."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vcbench.report.bd_intervals import format_interval, mean_interval
from vcbench.report.cost import time_table
from vcbench.report.summary import summary_sentences


def test_the_interval_is_seeded_and_brackets_the_mean():
    values = [-30.0, -12.0, -20.0, -5.0, -18.0]
    first, again = mean_interval(values), mean_interval(values)
    assert first == again and first.sequences == 5
    assert first.mean == pytest.approx(np.mean(values)) and first.low < first.mean < first.high
    assert min(values) <= first.low and first.high <= max(values)


def test_one_sequence_has_no_interval_and_says_why():
    one = mean_interval([4.2, math.nan])
    assert one.mean == 4.2 and math.isnan(one.low) and math.isnan(one.high) and one.sequences == 1
    assert "one sequence" in one.note
    assert format_interval(one, 1) == "4.2 (n=1, no interval)"
    assert mean_interval([]).sequences == 0 and format_interval(mean_interval([]), 1) == "n/a"


def _bd(rows):
    columns = ["dataset", "sequence", "codec", "anchor", "metric", "bd_rate_pct", "bd_quality"]
    return pd.DataFrame(rows, columns=columns)


def test_the_summary_ranks_codecs_and_names_those_without_bd():
    bd = _bd([
        ("d", "a", "fast", "x265", "psnr", -20.0, 1.0), ("d", "mean", "fast", "x265", "psnr", -20.0, 1.0),
        ("d", "a", "neural", "x265", "psnr", math.nan, -3.0), ("d", "mean", "neural", "x265", "psnr", math.nan, -3.0),
        ("d", "a", "broken", "x265", "psnr", math.nan, math.nan), ("d", "mean", "broken", "x265", "psnr", math.nan, math.nan),
        ("d", "mean", "fast", "x265", "vmaf", 5.0, -1.0), ("d", "mean", "neural", "x265", "vmaf", math.nan, -9.0),
    ])
    lead, broken, fast, neural = summary_sentences(bd, "x265", ["psnr", "vmaf", "lpips"])
    assert lead == ("d (1 sequence), BD against x265 over each pair's overlap: fast > x265 > neural on 1 of 2 metrics "
                    "(elsewhere vmaf: x265 > fast > neural).")
    assert broken == "broken: not defined on psnr."
    assert fast == "fast: BD-rate -20.0 % psnr, +5.0 % vmaf."
    assert neural == "neural: BD-quality (positive = better) -3 psnr, -9 vmaf."


def test_the_time_table_puts_the_slowest_decoder_first():
    rd = pd.DataFrame({"codec": ["a", "a", "b"], "frames": [8, 8, 8], "encode_seconds": [8.0, 16.0, 0.8],
                       "decode_seconds": [4.0, 4.0, 0.08]})
    header, rows = time_table(rd)
    assert header[0] == "codec" and [row[0] for row in rows] == ["a", "b"]
    assert rows[0][1:] == ["2", "1.500", "1.000-2.000", "0.500", "0.500-0.500", "32.0"]
    assert rows[1][4] == "0.010"


def test_the_pivot_shows_sequences_by_codec_and_why_a_value_is_missing():
    from vcbench.report.overview import bd_pivot

    bd = _bd([("d", "s1", "a", "x", "psnr", -10.0, 0.5), ("d", "s2", "a", "x", "psnr", math.nan, -1.5),
              ("d", "s1", "b", "x", "psnr", math.nan, math.nan), ("d", "mean", "a", "x", "psnr", -10.0, -0.5)])
    bd["overlap"] = [0.9, 0.8, 0.02, 0.85]
    header, rows = bd_pivot(bd, "d", "x", "psnr")
    assert header == ["sequence", "a", "b"]
    assert rows == [["s1", "-10.0", "n.d. (overlap 2%)"], ["s2", "n.d. (BD-quality -1.5)", ""], ["mean", "-10.0", ""]]


def test_the_caveats_name_the_neural_codecs_and_their_backbones():
    from vcbench.report.overview import caveats

    rd = pd.DataFrame({"dataset": ["d", "d"], "sequence": ["s", "s"], "codec": ["x265", "divinr_quick"], "frames": [8, 8],
                       "bitstream": ["r/x265/qp37.hevc", "r/divinr_quick/d1.divinr"]})
    items = caveats(rd, ["models/quick"], ["lpips: weights absent"], (0.005, 0.05), 0.5)
    assert items[0].startswith("Neural codecs (divinr_quick) ran on the backbone(s) models/quick.")
    assert "not the papers' pretrained models" in items[0]
    assert any("0.005-0.05 bpp" in item and "50%" in item for item in items)
    assert any(item == "Not computed: lpips: weights absent." for item in items)


def test_bd_over_a_fixed_interval_measures_a_known_shift():
    from vcbench.bd import bd_in_interval

    rate, quality = [0.004, 0.01, 0.02, 0.04, 0.08], [28.0, 30.0, 33.0, 36.0, 39.0]
    same = bd_in_interval(rate, quality, rate, quality, (0.005, 0.05))
    assert same.bd_rate_pct == pytest.approx(0.0, abs=1e-9) and same.bd_quality == pytest.approx(0.0, abs=1e-9)
    assert same.overlap == pytest.approx(1.0)
    cheaper = bd_in_interval(rate, quality, [0.8 * r for r in rate], quality, (0.005, 0.05))
    assert cheaper.bd_rate_pct == pytest.approx(-20.0, abs=1e-6) and cheaper.bd_quality > 0


def test_a_value_whose_curves_do_not_cover_the_interval_is_not_defined():
    from vcbench.bd import bd_in_interval

    # the test's rates cover a fifth of the interval: no BD-quality there; it reaches the anchor's qualities at
    # about four times the rate, which BD-rate (over the anchor's quality range) still measures
    low = bd_in_interval([0.004, 0.01, 0.05], [30, 33, 36], [0.03, 0.06, 0.1], [31, 34, 37], (0.005, 0.05), min_coverage=0.5)
    assert math.isnan(low.bd_quality) and low.bd_rate_pct > 100
    assert "cover 22% of 0.005-0.05 bpp together (< 50%)" in "; ".join(low.notes)
    apart = bd_in_interval([0.004, 0.01, 0.05], [30, 33, 36], [0.03, 0.06, 0.1], [20, 22, 24], (0.005, 0.05))
    assert math.isnan(apart.bd_rate_pct) and "no BD-rate: the test covers 0%" in "; ".join(apart.notes)


def _rd(shifts: dict[str, float]) -> pd.DataFrame:
    """An anchor and a test codec whose rate is the anchor's times ``shifts[sequence]``; a third codec far away."""
    rows = []
    for sequence, shift in shifts.items():
        for qp, (bpp, psnr) in enumerate(zip([0.004, 0.01, 0.02, 0.04, 0.08], [28.0, 30.0, 33.0, 36.0, 39.0])):
            rows.append(("d", sequence, "anchor", f"qp{qp}", bpp, psnr))
            rows.append(("d", sequence, "test", f"qp{qp}", bpp * shift, psnr))
            rows.append(("d", sequence, "far", f"q{qp}", bpp * 50, psnr - 20))
    return pd.DataFrame(rows, columns=["dataset", "sequence", "codec", "rate", "bpp", "psnr_yuv"])


def test_bd_csv_has_fixed_interval_rows_means_with_intervals_and_undefined_values():
    from vcbench.report.bd_table import BD_COLUMNS, FIXED, MEAN, OVERLAP, bd_table

    table = bd_table(_rd({"s1": 0.7, "s2": 0.8, "s3": 0.9}), "anchor", ["psnr_yuv"], interval=(0.005, 0.05), min_overlap=0.5)
    assert list(table.columns) == BD_COLUMNS and set(table["interval"]) == {OVERLAP, FIXED}
    fixed = table[(table["interval"] == FIXED) & (table["codec"] == "test")].set_index("sequence")
    assert fixed.loc[["s1", "s2", "s3"], "bd_rate_pct"].tolist() == pytest.approx([-30.0, -20.0, -10.0], abs=1e-6)
    mean = fixed.loc[MEAN]
    assert mean["bd_rate_pct"] == pytest.approx(-20.0) and mean["sequences"] == 3
    assert mean["ci_low_rate_pct"] < -20.0 < mean["ci_high_rate_pct"] and (mean["bpp_low"], mean["bpp_high"]) == (0.005, 0.05)
    assert fixed.loc["s1", ["ci_low_rate_pct", "ci_high_rate_pct"]].isna().all()  # intervals are over sequences
    # "far" shares no quality range with the anchor: not defined on any sequence, so no mean either
    far = table[(table["codec"] == "far") & (table["interval"] == OVERLAP)]
    assert far["bd_rate_pct"].isna().all() and far[far["sequence"] == MEAN]["sequences"].item() == 0


def test_one_sequence_gives_a_mean_without_an_interval_and_says_why():
    from vcbench.report.bd_table import FIXED, MEAN, bd_table

    table = bd_table(_rd({"only": 0.8}), "anchor", ["psnr_yuv"], interval=(0.005, 0.05))
    mean = table[(table["sequence"] == MEAN) & (table["codec"] == "test") & (table["interval"] == FIXED)].iloc[0]
    assert mean["bd_rate_pct"] == pytest.approx(-20.0) and math.isnan(mean["ci_low_rate_pct"])
    assert "one sequence: no interval" in mean["notes"]
