"""The study's statistics on a simulated panel: observers answering from a known JOD scale through the
real scheduler (active sampling) and store, one of them at random; `scale` must recover the scale and
flag that observer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import spearmanr

from study_helpers import observer_choice, truth_of, write_study
from vcbench.cli import cli
from vcbench.report.content import load_analyses
from vcbench.study.export import answers_csv, read_answers
from vcbench.study.folder import Study
from vcbench.study.sampling import information_gain, laplace_posterior
from vcbench.study.scaling import JOD_PER_BT_UNIT, Scaler
from vcbench.study.schedule import Scheduler, repeat_positions
from vcbench.study.store import AnswerConflict, Store

TRUTH = {"bikes": [0.0, -0.6, -1.3, -2.2, -3.0, -4.1], "city": [0.0, -0.4, -1.0, -1.9, -2.7, -3.6]}
GOOD, RANDOM = [f"obs{k}" for k in range(10)], "random1"


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    """A study answered by 10 Thurstone observers and one random one, through the scheduler and a SQLite store."""
    folder = write_study(tmp_path_factory.mktemp("study") / "sim", TRUTH, training=2, trials=40, repeats=4)
    study = Study(folder)
    store = Store(study.default_database_url())
    scheduler = Scheduler(study, store, seed=0)
    rng = np.random.default_rng(0)
    truth = truth_of(TRUTH)
    for code in [*GOOD, RANDOM]:
        while (trial := scheduler.next_trial(code)) is not None:
            store.answer(code, trial.index, observer_choice(truth, trial.left, trial.right, rng, reliable=code != RANDOM), 800.0)
    return study, store


def test_the_simulated_panel_is_recovered_and_the_random_observer_flagged(panel):
    study, store = panel
    result = Scaler(study, store.answered()).scale(bootstrap=200, seed=0)
    flagged = {o["participant"] for o in result.observers if o["flagged"]}
    assert flagged == {RANDOM}
    table = pd.DataFrame(result.table)
    truth = truth_of(TRUTH)
    for sequence in TRUTH:
        rows = table[table["sequence"] == sequence]
        rho = spearmanr(rows["jod"], [truth[c] for c in rows["condition"]]).statistic
        print(f"{sequence}: Spearman(JOD, truth) = {rho:.3f}")
        assert rho >= 0.9
        reference = rows[rows["codec"] == "reference"].iloc[0]
        assert reference["jod"] == 0.0
    assert (table["jod_low"] <= table["jod"] + 1e-9).all() and (table["jod"] <= table["jod_high"] + 1e-9).all()
    # the scale is in JOD and the intervals mean what they say: the truth lies inside (nearly) every 95 % interval
    inside = sum(low - 1e-9 <= truth[c] <= high + 1e-9 for c, low, high in zip(table["condition"], table["jod_low"], table["jod_high"]))
    print(f"true JOD inside the 95 % interval: {inside} of {len(table)}")
    assert inside >= len(table) - 3  # BT (logistic) stretches large differences of Thurstone observers a little
    corr = {(c["metric"], c["scope"]): c["spearman_rho"] for c in result.correlations}
    assert corr[("psnr_yuv", "t/bikes")] >= 0.9 and abs(corr[("noise", "all")]) < 0.9


def test_sessions_follow_the_plan_training_first_and_hidden_repeats_swapped(panel):
    study, store = panel
    trials = store.trials(GOOD[0])
    assert len(trials) == study.session.total == 46
    assert [t.kind for t in trials[:2]] == ["training", "training"]
    repeats = [t for t in trials if t.kind == "repeat"]
    assert [t.index for t in repeats] == repeat_positions(2, 40, 4)
    for repeat in repeats:
        first = trials[repeat.repeat_of]
        assert first.kind == "trial" and (repeat.left, repeat.right) == (first.right, first.left)
    assert all(study.by_id[t.left].group == study.by_id[t.right].group for t in trials)


def test_an_answer_is_idempotent_and_a_changed_one_refused(tmp_path):
    study = Study(write_study(tmp_path / "s", TRUTH))
    store = Store(study.default_database_url())
    trial = Scheduler(study, store, seed=1).next_trial("p1")
    first = store.answer("p1", trial.index, "left", 100.0)
    again = store.answer("p1", trial.index, "left", 250.0)
    assert again == first and store.counts()["answered"] == 1
    with pytest.raises(AnswerConflict, match="already answered"):
        store.answer("p1", trial.index, "right", 100.0)
    with pytest.raises(AnswerConflict, match="no trial 5"):
        store.answer("p1", 5, "left", 100.0)


def test_information_gain_prefers_the_unresolved_pair():
    wins = np.zeros((3, 3))
    wins[0, 1], wins[1, 0] = 30, 1  # 0 vs 1 settled
    gain = information_gain(*laplace_posterior(wins))
    assert gain[1, 2] > gain[0, 1] and gain[0, 2] > gain[0, 1]
    assert gain[0, 1] == gain[1, 0] and gain[0, 0] == 0


def test_export_round_trips_and_the_cli_writes_the_table(panel, tmp_path):
    study, store = panel
    path = tmp_path / "answers.csv"
    path.write_text(answers_csv(study, store.answered()))
    assert read_answers(path) == store.answered()
    runner = CliRunner()
    out = tmp_path / "scale"
    result = runner.invoke(cli, ["study", "scale", str(study.root), "--answers", str(path), "--out", str(out), "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    assert "flagged: random1" in result.output
    table = pd.read_csv(out / "jod.csv")
    assert {"jod", "jod_low", "jod_high", "bpp", "psnr_yuv", "noise"} <= set(table.columns)
    assert (out / "jod.html").read_text().count("<table") == 3 and "data:image/png;base64," in (out / "jod.html").read_text()
    # the analysis record the preset's report shows: the plot, both tables, and each metric's agreement with JOD
    (section,) = load_analyses(tmp_path, [out / "analysis.json"])
    (item,) = section["items"]
    assert section["heading"].startswith("Subjective study") and item["figures"] == ["scale/jod.png"]
    assert [caption for caption, _, _ in item["tables"]] == ["JOD per condition, beside each metric",
                                                             "Each metric's Spearman correlation with JOD"]
    assert "psnr_yuv" in item["findings"][1] and "1 flagged" in item["findings"][0]
    exported = runner.invoke(cli, ["study", "export", str(study.root), "--out", str(tmp_path / "export")])
    assert exported.exit_code == 0, exported.output
    assert len(pd.read_csv(tmp_path / "export" / "answers.csv")) == 11 * 46


def test_jod_is_bradley_terry_units_over_ln3():
    assert JOD_PER_BT_UNIT * np.log(3) == pytest.approx(1.0)


@pytest.mark.parametrize("args, message", [
    (["scale", "{study}"], "no scored answers yet"),
    (["serve", "{study}", "--db", "notadb://x"], "--db 'notadb://x': not a usable SQLAlchemy URL"),
    (["export", "{empty}"], "study.json: no such file; make the study with `vcbench study create"),
    (["create", "{empty}", "--out", "{empty}/s"], "rd.csv: no such file; a study is made from a finished report"),
    (["create", "{empty}", "--out", "{empty}/s", "-o", "x265"], "-o x265: give CODEC.KEY=VALUE"),
])
def test_bad_input_is_one_line_naming_the_fix(tmp_path, args, message):
    study, empty = write_study(tmp_path / "s", TRUTH), tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["study", *(a.format(study=study, empty=empty) for a in args)])
    assert result.exit_code != 0 and message in str(result.exception) and "\n" not in str(result.exception)
    assert not (empty / "s").exists()
