"""A participant's session, one trial at a time: practice pairs, then actively sampled pairs with
hidden repeats among them (ITU-T P.910 / ITU-R BT.500 practice: training before scoring, and repeated
presentations to screen observers who answer inconsistently).

The next trial is decided when it is first asked for and stored at once, so a reload or a server
restart shows the same pending trial again.
"""

from __future__ import annotations

import threading

import numpy as np

from vcbench.study.folder import Study
from vcbench.study.sampling import choose_pair
from vcbench.study.store import Store, TrialView


def repeat_positions(training: int, trials: int, repeats: int) -> list[int]:
    """Where the hidden repeats go: spread evenly over the scored part, never before the first scored trial."""
    scored = trials + repeats
    return [training + max(1, round(k * scored / (repeats + 1))) for k in range(1, repeats + 1)]


def wins_by_group(study: Study, tally: list[tuple[str, str, str, int]]) -> dict[str, np.ndarray]:
    """Each sequence's matrix wins[i, j] (i preferred to j; "same" counts half for each), conditions in
    ``study.groups`` order, from the store's ``tally`` of (left, right, choice, count)."""
    index = {c.id: (group, k) for group, members in study.groups.items() for k, c in enumerate(members)}
    wins = {group: np.zeros((len(members), len(members))) for group, members in study.groups.items()}
    for left, right, choice, count in tally:
        (group, i), (_, j) = index[left], index[right]
        if choice == "left":
            wins[group][i, j] += count
        elif choice == "right":
            wins[group][j, i] += count
        else:
            wins[group][i, j] += 0.5 * count
            wins[group][j, i] += 0.5 * count
    return wins


class Scheduler:
    def __init__(self, study: Study, store: Store, seed: int | None = None):
        self.study, self.store = study, store
        self.plan = study.session
        self._repeats = set(repeat_positions(self.plan.training, self.plan.trials, self.plan.repeats))
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()  # numpy's generator is not thread-safe

    def next_trial(self, code: str) -> TrialView | None:
        """The participant's first unanswered trial (made now if needed); None when the session is complete."""
        done = self.store.trials(code)
        pending = [t for t in done if t.choice is None]
        if pending:
            return pending[0]
        index = len(done)
        if index >= self.plan.total:
            return None
        with self._lock:
            kind, left, right, repeat_of = self._decide(index, done)
        return self.store.add_trial(code, index, kind, left, right, repeat_of)

    def _decide(self, index: int, done: list[TrialView]) -> tuple[str, str, str, int | None]:
        if index < self.plan.training:
            a, b = self.study.training_pairs[index % len(self.study.training_pairs)]
            return ("training", *self._sides(a, b), None)
        repeated = {t.repeat_of for t in done}
        earlier = [t for t in done if t.kind == "trial" and t.index not in repeated]
        if index in self._repeats and earlier:
            first = earlier[int(self._rng.integers(len(earlier)))]
            return "repeat", first.right, first.left, first.index  # sides swapped, so a side bias shows as inconsistency
        groups = self.study.groups
        last = next((t for t in reversed(done) if t.kind != "training"), None)
        avoid = set()
        if last is not None:
            group = self.study.by_id[last.left].group
            ids = [c.id for c in groups[group]]
            avoid.add((group, ids.index(last.left), ids.index(last.right)))
        group, i, j = choose_pair(wins_by_group(self.study, self.store.tally(("trial", "repeat"))), self._rng, avoid)
        return ("trial", *self._sides(groups[group][i].id, groups[group][j].id), None)

    def _sides(self, a: str, b: str) -> tuple[str, str]:
        return (a, b) if self._rng.random() < 0.5 else (b, a)
