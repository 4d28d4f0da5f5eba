"""Is a slice's macro-F1 drop real, or the noise of a few flipped examples?

The golden topic slices hold 20–55 examples: one flipped answer moves their macro-F1 by 2–5
points, more than the gate's tolerance. The current and the candidate version answer the *same*
examples, so the honest question is paired: resample the slice's examples with replacement
(a bootstrap), score both versions on each resample, and look at the distribution of the
difference. :func:`delta_upper_bound` returns the one-sided upper confidence bound of
``candidate − current``; when even that bound is below zero, the candidate is worse on the slice
with that confidence, not just unlucky on a handful of examples.

The bootstrap alone is too eager on the smallest slices: with 28 examples of which the
candidate gets 3 newly wrong and none newly right, a resample misses all three only 4 % of the
time, so the bound falls below zero, while an exact test of those 3 against 0 (McNemar's, on
the examples the versions disagree about) gives p = 0.125. :func:`mcnemar_p` is that test; the
gate uses it on small slices and the bootstrap on large ones. (Asking both everywhere was too
lenient: it let a 3-point drop of the whole golden set through, bound −0.007 but p = 0.054.)

Resampling is seeded, so the same predictions always give the same bound (the gate's decision
is reproducible).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ROUNDS = 2000
CONFIDENCE = 0.95


def _macro_f1(
    weights: np.ndarray, truth: np.ndarray, predicted: np.ndarray, classes: int
) -> np.ndarray:
    """Macro-F1 of every row of ``weights`` (rounds × n example counts), as models.evaluation
    computes it: the mean F1 over classes present in the (resampled) truth."""
    truth_1h = np.eye(classes)[truth]  # n × C
    pred_1h = np.eye(classes)[predicted]
    tp = weights @ (truth_1h * pred_1h)
    in_truth = weights @ truth_1h  # tp + fn
    in_pred = weights @ pred_1h  # tp + fp
    denominator = in_truth + in_pred
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    present = in_truth > 0
    scores: np.ndarray = (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    return scores


def delta_upper_bound(
    truth: Sequence[str],
    current: Sequence[str],
    candidate: Sequence[str],
    *,
    rounds: int = ROUNDS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> float:
    """One-sided upper bound of macro-F1(candidate) − macro-F1(current) over the examples.

    ``truth``, ``current`` and ``candidate`` are the labels of the same examples in the same
    order. Below zero: the candidate is worse with probability ``confidence`` (paired bootstrap).
    """
    n = len(truth)
    if not n == len(current) == len(candidate):
        raise ValueError("truth and both versions' answers must cover the same examples")
    if n == 0:
        return 0.0
    names = sorted({*truth, *current, *candidate})
    code = {name: i for i, name in enumerate(names)}
    t, a, b = (np.array([code[x] for x in seq]) for seq in (truth, current, candidate))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(rounds, n))
    weights = np.zeros((rounds, n))
    np.add.at(weights, (np.repeat(np.arange(rounds), n), draws.ravel()), 1.0)
    deltas = _macro_f1(weights, t, b, len(names)) - _macro_f1(weights, t, a, len(names))
    return float(np.quantile(deltas, confidence))


def mcnemar_p(truth: Sequence[str], current: Sequence[str], candidate: Sequence[str]) -> float:
    """Exact one-sided McNemar p-value that the candidate is wrong more often than current.

    Only the examples the versions disagree about count: ``lost`` (current right, candidate
    wrong) against ``gained``; under "no difference" each is a fair coin.
    """
    lost = sum(t == a != b for t, a, b in zip(truth, current, candidate, strict=True))
    gained = sum(t == b != a for t, a, b in zip(truth, current, candidate, strict=True))
    n = lost + gained
    return sum(math.comb(n, k) for k in range(lost, n + 1)) / 2**n if n else 1.0
