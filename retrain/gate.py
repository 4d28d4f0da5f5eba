"""The evaluation gate: may a candidate replace the current version?

Two kinds of checks, each comparing macro-F1 of the candidate with the current version on the
same examples (the reports come from :func:`models.evaluation.evaluate`):

- **held-out**: the share of the new labels kept out of training. The candidate must improve or
  tie within ``heldout_tolerance`` on every head the held-out labels cover. No held-out labels
  means nothing new was shown to work: the gate rejects.
- **golden slices**: the bundled golden set overall, per channel and per channel/topic, for both
  heads. No slice with at least ``min_slice_examples`` examples may drop by more than
  ``slice_tolerance``. Smaller slices are reported but do not gate (their F1 moves by whole
  examples).

The decision is a value with every number in it, so it can be stored with the version and shown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

HEADS = ("sentiment", "topic")


@dataclass(frozen=True)
class Tolerances:
    heldout: float = 0.01
    slice: float = 0.02
    min_slice_examples: int = 10


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
) -> list[Check]:
    checks = []
    for head in HEADS:
        if head not in current or head not in candidate:
            continue
        n = int(candidate[head]["n"])
        before, after = float(current[head]["macro_f1"]), float(candidate[head]["macro_f1"])
        gating = n >= min_examples
        passed = not gating or after >= before - tolerance - 1e-9
        checks.append(Check(f"{name} {head}", before, after, n, tolerance, gating, passed))
    return checks


def golden_checks(
    current: dict[str, Any], candidate: dict[str, Any], tolerances: Tolerances
) -> list[Check]:
    """Overall, per-channel and per-topic slices of two golden-set reports."""
    checks = _compare("golden", current, candidate, tolerances.slice, tolerances.min_slice_examples)
    for kind in ("channel", "topic"):
        before_slices = current.get("slices", {}).get(kind, {})
        for name, after in sorted(candidate.get("slices", {}).get(kind, {}).items()):
            if name in before_slices:
                checks += _compare(
                    f"golden {kind} {name}",
                    before_slices[name],
                    after,
                    tolerances.slice,
                    tolerances.min_slice_examples,
                )
    return checks


def decide(
    current_golden: dict[str, Any],
    candidate_golden: dict[str, Any],
    current_heldout: dict[str, Any] | None,
    candidate_heldout: dict[str, Any] | None,
    tolerances: Tolerances,
) -> GateDecision:
    """Promote or reject, with the reason in one sentence and every check's numbers."""
    held: list[Check] = []
    if current_heldout is not None and candidate_heldout is not None:
        held = _compare("held-out", current_heldout, candidate_heldout, tolerances.heldout, 1)
    golden = golden_checks(current_golden, candidate_golden, tolerances)
    checks = held + golden
    if not held:
        return GateDecision(False, "no held-out new labels to judge the candidate on", checks)
    failed = [c for c in checks if not c.passed]
    if failed:
        worst = min(failed, key=lambda c: c.delta + c.tolerance)
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        return GateDecision(
            False,
            f"{worst.name} macro-F1 {worst.current:.3f} → {worst.candidate:.3f} "
            f"(n={worst.n}) drops more than the tolerance {worst.tolerance:.3f}{more}",
            checks,
        )
    gains = ", ".join(f"{c.name} {c.current:.3f} → {c.candidate:.3f}" for c in held)
    return GateDecision(
        True, f"held-out improves or ties ({gains}); no golden slice regressed", checks
    )
