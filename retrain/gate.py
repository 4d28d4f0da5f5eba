"""The evaluation gate: may a candidate replace the current version?

Two kinds of checks, each comparing macro-F1 of the candidate with the current version on the
same examples (the reports come from :func:`models.evaluation.evaluate`):

- **held-out**: the share of the new labels kept out of training. The candidate must improve or
  tie within ``heldout_tolerance`` on every head the held-out labels cover. No held-out labels
  means nothing new was shown to work: the gate rejects.
- **golden slices**: the bundled golden set overall, per channel and per channel/topic, for both
  heads. A slice with at least ``min_slice_examples`` examples fails when its macro-F1 drops by
  more than ``slice_tolerance`` *and* the drop is unlikely to be noise: given both versions'
  answers on the golden examples (:func:`golden_answers`), the drop must be significant at
  ``confidence`` (:mod:`retrain.paired`): from ``large_slice`` examples (overall, channels) a
  paired bootstrap must put the upper bound of the change below zero; on smaller slices, where
  the bootstrap is too eager, an exact McNemar test must find the candidate wrong more often.
  A topic slice of 30 examples moves by 3 points when one answer flips; a 2-point rule on the
  point estimate alone would reject good candidates at random. Without the answers the point
  estimate alone decides. Smaller slices are reported but never gate.

The decision is a value with every number in it, so it can be stored with the version and shown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from models.examples import Example
from models.inference import Prediction
from retrain.paired import CONFIDENCE, delta_upper_bound, mcnemar_p

HEADS = ("sentiment", "topic")


@dataclass(frozen=True)
class Tolerances:
    heldout: float = 0.01
    slice: float = 0.02
    min_slice_examples: int = 20
    confidence: float = CONFIDENCE
    large_slice: int = 100


@dataclass(frozen=True)
class SliceAnswers:
    """The true labels of one golden slice's examples and both versions' answers on them."""

    truth: list[str]
    current: list[str]
    candidate: list[str]


def golden_answers(
    examples: Sequence[Example],
    current: Sequence[Prediction],
    candidate: Sequence[Prediction],
) -> dict[str, SliceAnswers]:
    """Check name (as in :func:`golden_checks`) → the answers of both versions on that slice."""
    rows: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        slices = ["golden", f"golden channel {example.channel or '?'}"]
        if example.topic:
            slices.append(f"golden topic {example.channel}/{example.topic}")
        for head in HEADS:
            if getattr(example, head):
                for name in slices:
                    rows[f"{name} {head}"].append(i)
    answers = {}
    for name, indices in rows.items():
        head = name.rsplit(" ", 1)[1]
        answers[name] = SliceAnswers(
            [str(getattr(examples[i], head)) for i in indices],
            [str(getattr(current[i], head)) for i in indices],
            [str(getattr(candidate[i], head)) for i in indices],
        )
    return answers


@dataclass(frozen=True)
class Check:
    """One comparison: ``passed`` is False only for a gating check that failed."""

    name: str
    current: float
    candidate: float
    n: int
    tolerance: float
    gating: bool
    passed: bool
    # One-sided upper confidence bound of candidate − current (paired bootstrap) and the exact
    # McNemar p-value; None when the answers were not given (the point estimate decided).
    upper_bound: float | None = None
    p_value: float | None = None

    @property
    def delta(self) -> float:
        return self.candidate - self.current


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "reason": self.reason,
            "checks": [{**asdict(c), "delta": round(c.delta, 4)} for c in self.checks],
        }


def _compare(
    name: str,
    current: dict[str, Any],
    candidate: dict[str, Any],
    tolerance: float,
    min_examples: int,
    answers: dict[str, SliceAnswers] | None = None,
    confidence: float = CONFIDENCE,
    large_slice: int = 100,
) -> list[Check]:
    checks = []
    for head in HEADS:
        if head not in current or head not in candidate:
            continue
        n = int(candidate[head]["n"])
        before, after = float(current[head]["macro_f1"]), float(candidate[head]["macro_f1"])
        gating = n >= min_examples
        dropped = after < before - tolerance - 1e-9
        given = (answers or {}).get(f"{name} {head}")
        upper = p = None
        if given is not None and gating and dropped:
            upper = delta_upper_bound(
                given.truth, given.current, given.candidate, confidence=confidence
            )
            p = mcnemar_p(given.truth, given.current, given.candidate)
        if upper is None or p is None:
            noise = False
        elif n >= large_slice:
            noise = upper >= 0
        else:
            noise = p >= 1 - confidence
        passed = not gating or not dropped or noise
        checks.append(
            Check(f"{name} {head}", before, after, n, tolerance, gating, passed, upper, p)
        )
    return checks


def golden_checks(
    current: dict[str, Any],
    candidate: dict[str, Any],
    tolerances: Tolerances,
    answers: dict[str, SliceAnswers] | None = None,
) -> list[Check]:
    """Overall, per-channel and per-topic slices of two golden-set reports."""
    limits = (
        tolerances.slice,
        tolerances.min_slice_examples,
        answers,
        tolerances.confidence,
        tolerances.large_slice,
    )
    checks = _compare("golden", current, candidate, *limits)
    for kind in ("channel", "topic"):
        before_slices = current.get("slices", {}).get(kind, {})
        for name, after in sorted(candidate.get("slices", {}).get(kind, {}).items()):
            if name in before_slices:
                checks += _compare(f"golden {kind} {name}", before_slices[name], after, *limits)
    return checks


def decide(
    current_golden: dict[str, Any],
    candidate_golden: dict[str, Any],
    current_heldout: dict[str, Any] | None,
    candidate_heldout: dict[str, Any] | None,
    tolerances: Tolerances,
    answers: dict[str, SliceAnswers] | None = None,
) -> GateDecision:
    """Promote or reject, with the reason in one sentence and every check's numbers.

    ``answers`` (from :func:`golden_answers`) make the golden checks paired tests.
    """
    held: list[Check] = []
    if current_heldout is not None and candidate_heldout is not None:
        held = _compare("held-out", current_heldout, candidate_heldout, tolerances.heldout, 1)
    golden = golden_checks(current_golden, candidate_golden, tolerances, answers)
    checks = held + golden
    if not held:
        return GateDecision(False, "no held-out new labels to judge the candidate on", checks)
    failed = [c for c in checks if not c.passed]
    if failed:
        worst = min(failed, key=lambda c: c.delta + c.tolerance)
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        bound = (
            f", and even the {tolerances.confidence:.0%} upper bound of the change is "
            f"{worst.upper_bound:+.3f} (McNemar p={worst.p_value:.3f})"
            if worst.upper_bound is not None and worst.p_value is not None
            else ""
        )
        return GateDecision(
            False,
            f"{worst.name} macro-F1 {worst.current:.3f} → {worst.candidate:.3f} "
            f"(n={worst.n}) drops more than the tolerance {worst.tolerance:.3f}{bound}{more}",
            checks,
        )
    gains = ", ".join(f"{c.name} {c.current:.3f} → {c.candidate:.3f}" for c in held)
    noisy = [c.name for c in golden if c.upper_bound is not None]
    golden_note = (
        f"no golden slice regressed beyond noise ({len(noisy)} dropped past the tolerance "
        f"within the {tolerances.confidence:.0%} bound: {', '.join(noisy)})"
        if noisy
        else "no golden slice regressed"
    )
    return GateDecision(True, f"held-out improves or ties ({gains}); {golden_note}", checks)
