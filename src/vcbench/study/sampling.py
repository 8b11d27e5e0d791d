"""Which pair to ask next: active sampling by expected information gain.

The method is ASAP's criterion (Mikhailiuk, Wilmot, Perez-Ortiz, Yue, Mantiuk, "Active Sampling for
Pairwise Comparisons via Approximate Message Passing and Information Gain Maximization", ICPR 2020):
ask the pair whose answer is expected to tell most about the scores, i.e. maximise the mutual
information between the outcome and the scores under a Thurstone Case V model. ASAP approximates the
posterior by message passing; here it is a Laplace approximation (the MAP by Newton's method, the
covariance from the Hessian). An answer depends on the scores only through the pair's difference
d = s_i - s_j, so the information gain about all scores equals that about d (Houlsby et al., "Bayesian
Active Learning for Classification and Preference Learning", 2011, "BALD"):
    IG = H(E[p]) - E[H(p)],  p = Phi(d),  d ~ N(m, v),  E[p] = Phi(m / sqrt(1 + v)),
the second term by Gauss-Hermite quadrature. Concurrent participants are spread over pairs by
drawing the pair with probability proportional to its gain rather than always the best one.

Scores here are in probit units (P(i over j) = Phi(s_i - s_j)); ``scaling`` reports JOD.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtr

METHOD = ("expected information gain of the answer about the scores (ASAP's criterion: Mikhailiuk et al., ICPR 2020) under a "
          "Thurstone Case V posterior with a Laplace approximation; each pair drawn with probability proportional to its gain")
PRIOR_SD = 2.0  # a weak N(0, 2^2) prior on every score: keeps unanswered pairs finite
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)  # for E over a standard normal
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def _mills(x: np.ndarray) -> np.ndarray:
    """phi(x) / Phi(x), stable for very negative x."""
    return np.exp(-0.5 * x * x - 0.5 * np.log(2 * np.pi) - log_ndtr(x))


def laplace_posterior(wins: np.ndarray, prior_sd: float = PRIOR_SD, iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the scores given ``wins[i, j]`` (times i was preferred to j; a "same" adds
    0.5 to both), under Thurstone Case V with a N(0, prior_sd^2) prior."""
    n = wins.shape[0]
    s = np.zeros(n)
    i, j = np.nonzero(wins)
    w = wins[i, j]
    for _ in range(iterations):
        x = s[i] - s[j]
        lam = _mills(x)
        grad = -s / prior_sd**2
        np.add.at(grad, i, w * lam)
        np.add.at(grad, j, -w * lam)
        curv = w * lam * (x + lam)  # -d2/dx2 log Phi(x) >= 0
        hess = np.eye(n) / prior_sd**2
        np.add.at(hess, (i, i), curv)
        np.add.at(hess, (j, j), curv)
        np.add.at(hess, (i, j), -curv)
        np.add.at(hess, (j, i), -curv)
        step = np.linalg.solve(hess, grad)
        s = s + step
        if np.max(np.abs(step)) < 1e-8:
            break
    return s, np.linalg.inv(hess)


def _entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def information_gain(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """IG[i, j] of asking pair (i, j) (nats; the diagonal 0)."""
    m = mean[:, None] - mean[None, :]
    d = np.diag(cov)
    v = np.maximum(d[:, None] + d[None, :] - 2 * cov, 0.0)
    expected = _entropy(ndtr(m / np.sqrt(1 + v)))
    samples = m[..., None] + np.sqrt(v)[..., None] * _NODES
    gain = expected - (_entropy(ndtr(samples)) * _WEIGHTS).sum(axis=-1)
    np.fill_diagonal(gain, 0.0)
    return np.maximum(gain, 0.0)


def choose_pair(groups: dict[str, np.ndarray], rng: np.random.Generator, avoid: set[tuple[str, int, int]] = frozenset()
                ) -> tuple[str, int, int]:
    """(group, i, j) for the next comparison, over every group's ``wins`` matrix; ``avoid``: pairs not to
    ask now (the participant's previous one), unless nothing else is left."""
    candidates, gains = [], []
    for group, wins in groups.items():
        gain = information_gain(*laplace_posterior(wins))
        for i, j in zip(*np.triu_indices(len(wins), k=1)):
            candidates.append((group, int(i), int(j)))
            gains.append(gain[i, j])
    weights = np.array(gains)
    allowed = np.array([c not in avoid and (c[0], c[2], c[1]) not in avoid for c in candidates])
    if allowed.any():
        weights = np.where(allowed, weights, 0.0)
    if weights.sum() <= 0:
        weights = allowed.astype(float) if allowed.any() else np.ones(len(candidates))
    return candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))]
