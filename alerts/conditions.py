"""Deciding, from a group's window numbers, whether a rule's condition is breached.

Pure functions: the same numbers give the same :class:`Verdict` live and in a backtest.

Spike math (``metric`` share or volume): the baseline value is the mean over non-empty baseline
windows; ``ratio = current / baseline``; ``z = (current - baseline) / sd`` where ``sd`` is the
larger of the baseline windows' standard deviation and the sampling noise expected at the
current size (binomial ``sqrt(p(1-p)/n)`` for a share, Poisson ``sqrt(mean)`` for a volume), so
a baseline that happened to be flat does not turn a small wobble into a huge z-score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from alerts.rules import AlertRule, ModelDrift, NegativeShare, Spike, Volume
from alerts.windows import SENTIMENT_LABELS, GroupStats, WindowStats

Status = Literal["breach", "clear", "not_evaluable"]


@dataclass(frozen=True)
class Verdict:
    """``breach``, ``clear``, or ``not_evaluable`` (the baseline is too thin to judge)."""

    status: Status
    reason: str
    numbers: dict[str, float | int | None] = field(default_factory=dict)

    @property
    def breached(self) -> bool:
        return self.status == "breach"


def judge(rule: AlertRule, stats: GroupStats) -> Verdict:
    """Apply ``rule.condition`` to one group's numbers."""
    condition = rule.condition
    if isinstance(condition, NegativeShare):
        return _negative_share(condition, stats.current)
    if isinstance(condition, Spike):
        return _spike(condition, stats)
    if isinstance(condition, Volume):
        return _volume(condition, stats)
    return _model_drift(condition, stats)


def _negative_share(condition: NegativeShare, current: WindowStats) -> Verdict:
    numbers: dict[str, float | int | None] = {
        "count": current.count,
        "negative": round(current.negative, 3),
        "share": round(current.share, 4),
        "threshold": condition.above,
        "min_count": condition.min_count,
    }
    if current.count < condition.min_count:
        return Verdict(
            "clear", f"{current.count} messages < min_count {condition.min_count}", numbers
        )
    if current.share >= condition.above:
        return Verdict(
            "breach", f"negative share {current.share:.0%} ≥ {condition.above:.0%}", numbers
        )
    return Verdict("clear", f"negative share {current.share:.0%} < {condition.above:.0%}", numbers)


def spike_numbers(metric: str, stats: GroupStats) -> dict[str, float | int | None]:
    """Current value, baseline mean and spread, ratio and z-score of a spike condition."""
    current = stats.current
    windows = [w for w in stats.baseline if w.count > 0]
    if metric == "share":
        value = current.share
        values = [w.share for w in windows]
    else:
        value = current.negative
        values = [w.negative for w in windows]
    base = sum(values) / len(values) if values else 0.0
    spread = math.sqrt(sum((v - base) ** 2 for v in values) / len(values)) if values else 0.0
    if metric == "share":
        p = min(max(base, 1e-3), 1 - 1e-3)
        noise = math.sqrt(p * (1 - p) / max(current.count, 1))
    else:
        noise = math.sqrt(max(base, 1.0))
    sd = max(spread, noise)
    ratio = value / base if base > 0 else (math.inf if value > 0 else 0.0)
    return {
        "metric_current": round(value, 4),
        "baseline_mean": round(base, 4),
        "baseline_sd": round(sd, 4),
        "ratio": None if math.isinf(ratio) else round(ratio, 3),
        "z": round((value - base) / sd, 3),
        "count": current.count,
        "negative": round(current.negative, 3),
        "baseline_count": sum(w.count for w in stats.baseline),
        "baseline_windows": len(windows),
    }


def _spike(condition: Spike, stats: GroupStats) -> Verdict:
    numbers = spike_numbers(condition.metric, stats)
    current = stats.current
    baseline_count = int(numbers["baseline_count"] or 0)
    filled = int(numbers["baseline_windows"] or 0)
    if baseline_count < condition.min_baseline_count or filled < condition.min_baseline_windows:
        return Verdict(
            "not_evaluable",
            f"baseline too thin: {baseline_count} messages in {filled} windows "
            f"(need {condition.min_baseline_count} in {condition.min_baseline_windows})",
            numbers,
        )
    if current.count < condition.min_count or current.negative < condition.min_negative:
        return Verdict(
            "clear",
            f"below floors: {current.count} messages, {current.negative:.1f} negative "
            f"(need {condition.min_count} and {condition.min_negative})",
            numbers,
        )
    tests: list[tuple[str, bool]] = []
    ratio = numbers["ratio"]
    if condition.min_ratio is not None:
        passed = ratio is None or ratio >= condition.min_ratio  # None: from zero to something
        tests.append((f"ratio {'∞' if ratio is None else ratio} vs {condition.min_ratio}", passed))
    if condition.min_z is not None:
        z = float(numbers["z"] or 0.0)
        tests.append((f"z {z} vs {condition.min_z}", z >= condition.min_z))
    results = [passed for _, passed in tests]
    breached = all(results) if condition.combine == "all" else any(results)
    summary = ", ".join(f"{text} {'✓' if ok else '✗'}" for text, ok in tests)
    return Verdict(
        "breach" if breached else "clear", f"{condition.metric} spike: {summary}", numbers
    )


def _volume(condition: Volume, stats: GroupStats) -> Verdict:
    current = stats.current
    history = sum(w.count for w in stats.baseline)
    numbers: dict[str, float | int | None] = {
        "count": current.count,
        "above": condition.above,
        "below": condition.below,
        "baseline_count": history,
    }
    if condition.above is not None and current.count > condition.above:
        return Verdict("breach", f"{current.count} messages > {condition.above}", numbers)
    if condition.below is not None and current.count < condition.below:
        if condition.require_history and history == 0 and not stats.vanished:
            return Verdict(
                "clear", "no messages before either: not a feed that went silent", numbers
            )
        return Verdict("breach", f"{current.count} messages < {condition.below}", numbers)
    return Verdict("clear", f"{current.count} messages within bounds", numbers)


def _model_drift(condition: ModelDrift, stats: GroupStats) -> Verdict:
    current, base = stats.current, stats.pooled_baseline
    now_mix, base_mix = current.mix(), base.mix()
    shift = 0.5 * sum(abs(now_mix[s] - base_mix[s]) for s in SENTIMENT_LABELS)
    drop = base.mean_confidence - current.mean_confidence
    numbers: dict[str, float | int | None] = {
        "count": current.count,
        "baseline_count": base.count,
        "mean_confidence": round(current.mean_confidence, 4),
        "baseline_mean_confidence": round(base.mean_confidence, 4),
        "confidence_drop": round(drop, 4),
        "mix_shift": round(shift, 4),
        **{f"mix_{s}": round(now_mix[s], 4) for s in SENTIMENT_LABELS},
        **{f"baseline_mix_{s}": round(base_mix[s], 4) for s in SENTIMENT_LABELS},
    }
    if base.count < condition.min_baseline_count:
        return Verdict("not_evaluable", f"baseline too thin: {base.count} messages", numbers)
    if current.count < condition.min_count:
        return Verdict(
            "clear", f"{current.count} messages < min_count {condition.min_count}", numbers
        )
    reasons = []
    if condition.max_confidence_drop is not None and drop >= condition.max_confidence_drop:
        reasons.append(f"mean confidence fell {drop:.3f} ≥ {condition.max_confidence_drop}")
    if condition.max_mix_shift is not None and shift >= condition.max_mix_shift:
        reasons.append(f"class mix moved {shift:.3f} ≥ {condition.max_mix_shift}")
    if reasons:
        return Verdict("breach", "; ".join(reasons), numbers)
    return Verdict("clear", "model signals within bounds", numbers)
