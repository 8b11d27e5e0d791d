"""Answers to a JOD scale per sequence, with bootstrap intervals over observers, observer screening,
and each metric's rank agreement with the scale.

Model: Bradley-Terry, P(i preferred to j) = 1 / (1 + exp(-(t_i - t_j))), fitted by maximum likelihood
with choix's ``ilsr_pairwise_dense`` (iterative Luce spectral ranking, Maystre & Grossglauser, NIPS 2015,
which converges to the ML estimate; its small ``alpha`` keeps a never-losing condition finite) on the
matrix of preference counts. A "same" answer counts half a preference each way (as pwcmp does).
JOD: 1 JOD is the difference at which 75 % prefer one condition, so JOD = t / ln 3 (Bradley-Terry:
1/(1+e^-d) = 0.75 at d = ln 3). Each sequence's scale is anchored at its reference = 0 JOD.
Intervals: 95 % percentile bootstrap, resampling the kept observers with replacement.
Screening (stated rule): an observer is flagged, and left out of the scale, when
  (a) the mean log-likelihood per answer of their answers under the scale fitted to everyone else
      (leave-one-out, the quantity pwcmp's outlier analysis uses) is below Q1 - 1.5 IQR over observers
      (Tukey's fence; with at least 4 observers), or
  (b) they disagree with themselves on more than half of at least 3 hidden repeats ("same" against a
      preference counts half a disagreement).
Training answers are never scaled. A condition that no chain of compared pairs links to its reference
has no JOD (empty), rather than a number the data do not support.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import choix
import numpy as np
from scipy.sparse.csgraph import connected_components
from scipy.stats import spearmanr

from vcbench.study.folder import Study
from vcbench.study.store import TrialView

JOD_PER_BT_UNIT = 1 / math.log(3)
ALPHA = 1e-3  # ILSR's regularisation: a small rate added to every pair of the Markov chain
MIN_REPEATS = 3
DEFAULT_BOOTSTRAP = 500


@dataclass
class Scale:
    table: list[dict] = field(default_factory=list)  # one row per condition
    observers: list[dict] = field(default_factory=list)
    correlations: list[dict] = field(default_factory=list)
    method: dict = field(default_factory=dict)


def _fit(n: int, answers: list[tuple[int, int, str]]) -> np.ndarray:
    """Bradley-Terry scores (BT units, mean 0) of ``n`` conditions from (left, right, choice) answers."""
    wins = np.zeros((n, n))
    for left, right, choice in answers:
        if choice == "left":
            wins[left, right] += 1
        elif choice == "right":
            wins[right, left] += 1
        else:
            wins[left, right] += 0.5
            wins[right, left] += 0.5
    if not wins.any():
        return np.zeros(n)
    return choix.ilsr_pairwise_dense(wins, alpha=ALPHA)


def _linked_to_first(n: int, answers: list[tuple[int, int, str]]) -> np.ndarray:
    """Which conditions a chain of compared pairs links to condition 0 (the reference)."""
    graph = np.zeros((n, n))
    for left, right, _ in answers:
        graph[left, right] = graph[right, left] = 1
    labels = connected_components(graph, directed=False)[1]
    return labels == labels[0]


def _loglik(scores: np.ndarray, answers: list[tuple[int, int, str]]) -> tuple[float, int]:
    """Log-likelihood of ``answers`` under BT ``scores``, and how many it covers (a NaN score: not on the scale)."""
    total, used = 0.0, 0
    for left, right, choice in answers:
        if math.isnan(scores[left]) or math.isnan(scores[right]):
            continue
        p = 1 / (1 + math.exp(-(scores[left] - scores[right])))
        p = min(max(p, 1e-12), 1 - 1e-12)
        total += {"left": math.log(p), "right": math.log(1 - p)}.get(choice, 0.5 * (math.log(p) + math.log(1 - p)))
        used += 1
    return total, used


def _interval(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2.5th and 97.5th percentiles of each column of bootstrap ``draws`` (NaN where a column has no value)."""
    low, high = np.full(draws.shape[1], np.nan), np.full(draws.shape[1], np.nan)
    for k in range(draws.shape[1]):
        values = draws[:, k][~np.isnan(draws[:, k])]
        if len(values):
            low[k], high[k] = np.percentile(values, [2.5, 97.5])
    return low, high


class Scaler:
    def __init__(self, study: Study, answers: list[TrialView]):
        self.study = study
        self.groups = {group: [c.id for c in members] for group, members in study.groups.items()}
        position = {cid: (group, k) for group, ids in self.groups.items() for k, cid in enumerate(ids)}
        self.scored = [a for a in answers if a.kind != "training" and a.choice is not None]
        self.observers = sorted({a.participant for a in self.scored})
        # per observer, per group: (left, right, choice) in the group's indices
        self.by_observer: dict[str, dict[str, list]] = {o: {g: [] for g in self.groups} for o in self.observers}
        for a in self.scored:
            group, i = position[a.left]
            self.by_observer[a.participant][group].append((i, position[a.right][1], a.choice))

    def _scores(self, observers: list[str]) -> dict[str, np.ndarray]:
        """Each group's JOD, anchored at its reference (index 0), from ``observers``' answers (repeats allowed)."""
        out = {}
        for group, ids in self.groups.items():
            answers = [x for o in observers for x in self.by_observer[o][group]]
            t = _fit(len(ids), answers)
            # a condition no chain of comparisons links to the reference has no place on its scale
            out[group] = np.where(_linked_to_first(len(ids), answers), (t - t[0]) * JOD_PER_BT_UNIT, np.nan)
        return out

    def screen(self) -> list[dict]:
        rows = []
        for observer in self.observers:
            others = [o for o in self.observers if o != observer]
            scores = self._scores(others)
            answers = sum(len(v) for v in self.by_observer[observer].values())
            covered = [_loglik(scores[g] / JOD_PER_BT_UNIT, v) for g, v in self.by_observer[observer].items()]
            total, used = sum(c[0] for c in covered), sum(c[1] for c in covered)
            rows.append({"participant": observer, "answers": answers, "loo_loglik_per_answer": total / used if used else math.nan,
                         **self._repeat_disagreement(observer)})
        values = np.array([r["loo_loglik_per_answer"] for r in rows])
        values = values[~np.isnan(values)]
        q1, q3 = np.percentile(values, [25, 75]) if len(values) else (0.0, 0.0)
        fence = q1 - 1.5 * (q3 - q1)
        for row in rows:
            reasons = []
            if len(rows) >= 4 and row["loo_loglik_per_answer"] < fence:
                reasons.append(f"leave-one-out log-likelihood {row['loo_loglik_per_answer']:.3f} < Tukey fence {fence:.3f}")
            if row["repeats"] >= MIN_REPEATS and row["repeat_disagreement"] > 0.5:
                reasons.append(f"disagrees with own hidden repeats {row['repeat_disagreement']:.0%}")
            row["flagged"] = bool(reasons)
            row["reason"] = "; ".join(reasons)
        return rows

    def _repeat_disagreement(self, observer: str) -> dict:
        mine = {a.index: a for a in self.scored if a.participant == observer}
        scores = []
        for repeat in (a for a in mine.values() if a.kind == "repeat" and a.repeat_of in mine):
            first = mine[repeat.repeat_of]
            if repeat.winner == first.winner:
                scores.append(0.0)
            elif repeat.winner is None or first.winner is None:
                scores.append(0.5)
            else:
                scores.append(1.0)
        return {"repeats": len(scores), "repeat_disagreement": float(np.mean(scores)) if scores else math.nan}

    def scale(self, bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> Scale:
        observers = self.screen()
        kept = [o["participant"] for o in observers if not o["flagged"]]
        point = self._scores(kept)
        rng = np.random.default_rng(seed)
        draws = {g: [] for g in self.groups}
        for _ in range(bootstrap if kept else 0):
            sample = [kept[k] for k in rng.integers(len(kept), size=len(kept))]
            for group, scores in self._scores(sample).items():
                draws[group].append(scores)
        table = []
        for group, ids in self.groups.items():
            low, high = _interval(np.array(draws[group]).reshape(-1, len(ids)))
            counts = self._comparisons(group, kept)
            for k, cid in enumerate(ids):
                c = self.study.by_id[cid]
                table.append({"dataset": c.dataset, "sequence": c.sequence, "condition": cid, "codec": c.codec, "rate": c.rate,
                              "bpp": c.bpp, "jod": float(point[group][k]), "jod_low": float(low[k]), "jod_high": float(high[k]),
                              "comparisons": int(counts[k]), **self.study.metrics.get(cid, {})})
        return Scale(table, observers, correlations(table, self.study.metric_columns), {
            "model": "Bradley-Terry, maximum likelihood (choix.ilsr_pairwise_dense), 'same' = half a preference each way",
            "jod": "JOD = BT score / ln 3 (1 JOD = 75 % preference); each sequence's reference = 0 JOD",
            "interval": f"95 % percentile bootstrap over kept observers, {bootstrap} resamples, seed {seed}",
            "screening": "flagged if the leave-one-out log-likelihood per answer is below Q1 - 1.5 IQR over observers (with >= 4 "
                         "observers), or if "
                         f"more than half of >= {MIN_REPEATS} hidden repeats disagree with the first answer; flagged observers "
                         "are left out",
            "observers_kept": len(kept), "observers_flagged": len(observers) - len(kept),
            "answers_scaled": sum(len(v) for o in kept for v in self.by_observer[o].values()),
        })

    def _comparisons(self, group: str, observers: list[str]) -> np.ndarray:
        counts = np.zeros(len(self.groups[group]), dtype=int)
        for o in observers:
            for left, right, _ in self.by_observer[o][group]:
                counts[left] += 1
                counts[right] += 1
        return counts


def correlations(table: list[dict], metrics: list[str]) -> list[dict]:
    """Spearman's rho between each metric and JOD over the coded conditions (the references left out), per
    sequence and over all sequences together. A lower-is-better metric agrees with people at rho near -1."""
    out = []
    coded = [row for row in table if row["bpp"] is not None]
    scopes = {"all": coded}
    for row in coded:
        scopes.setdefault(f"{row['dataset']}/{row['sequence']}", []).append(row)
    for metric in metrics:
        for scope, rows in scopes.items():
            pairs = [(row[metric], row["jod"]) for row in rows
                     if row.get(metric) is not None and math.isfinite(row[metric]) and math.isfinite(row["jod"])]
            rho = math.nan
            if len(pairs) >= 3 and len({p[0] for p in pairs}) > 1 and len({p[1] for p in pairs}) > 1:
                rho = float(spearmanr(*zip(*pairs)).statistic)
            out.append({"metric": metric, "scope": scope, "n": len(pairs), "spearman_rho": rho})
    return out
