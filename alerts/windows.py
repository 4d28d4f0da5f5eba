"""Time windows a rule compares, and the numbers measured in each.

The current window is ``[now - window, now)``. Baseline windows have the same length and sit
right before it (``trailing``: k = 1..K windows back) or at the same time of day one day or one
week earlier (``same_hour_yesterday`` / ``same_hour_last_week``: k = 1..K days or weeks back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.rules import AlertRule, ModelDrift, NegativeShare, Spike, Volume

SENTIMENT_LABELS = ("negative", "neutral", "positive")

#: Volume rules look back this many windows only to find groups that went silent.
DISCOVERY_WINDOWS = 12


@dataclass(frozen=True)
class Window:
    key: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class WindowPlan:
    current: Window
    baseline: tuple[Window, ...]

    @property
    def earliest(self) -> datetime:
        return min([self.current.start, *(w.start for w in self.baseline)])

    @property
    def windows(self) -> tuple[Window, ...]:
        return (self.current, *self.baseline)


def plan_windows(rule: AlertRule, now: datetime) -> WindowPlan:
    """The current window ending at ``now`` and the baseline windows the condition needs."""
    width = rule.window
    current = Window("current", now - width, now)
    condition = rule.condition
    step = width
    count = 0
    if isinstance(condition, Spike):
        count = condition.baseline_windows
        step = {
            "trailing": width,
            "same_hour_yesterday": timedelta(days=1),
            "same_hour_last_week": timedelta(days=7),
        }[condition.baseline]
    elif isinstance(condition, ModelDrift):
        count = condition.baseline_windows
    elif isinstance(condition, Volume):
        count = DISCOVERY_WINDOWS
    elif isinstance(condition, NegativeShare):
        count = 0
    baseline = tuple(
        Window(f"b{k}", now - k * step - width, now - k * step) for k in range(1, count + 1)
    )
    return WindowPlan(current, baseline)


@dataclass(frozen=True)
class WindowStats:
    """What one window of one group holds: counted messages, weighted negatives, model signals."""

    count: int = 0
    negative: float = 0.0
    confidence_sum: float = 0.0
    labels: dict[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.negative / self.count if self.count else 0.0

    @property
    def mean_confidence(self) -> float:
        return self.confidence_sum / self.count if self.count else 0.0

    def mix(self) -> dict[str, float]:
        """Share of each sentiment label (empty window: all zero)."""
        total = sum(self.labels.values())
        return {s: (self.labels.get(s, 0) / total if total else 0.0) for s in SENTIMENT_LABELS}


@dataclass(frozen=True)
class GroupStats:
    group: str
    current: WindowStats
    baseline: tuple[WindowStats, ...]
    #: True for a group with a firing episode that has no messages in the whole queried range.
    vanished: bool = False

    @classmethod
    def gone(cls, group: str) -> GroupStats:
        return cls(group, WindowStats(), (), vanished=True)

    @property
    def pooled_baseline(self) -> WindowStats:
        """The baseline windows added up into one."""
        labels: dict[str, int] = {}
        for stats in self.baseline:
            for label, n in stats.labels.items():
                labels[label] = labels.get(label, 0) + n
        return WindowStats(
            count=sum(s.count for s in self.baseline),
            negative=sum(s.negative for s in self.baseline),
            confidence_sum=sum(s.confidence_sum for s in self.baseline),
            labels=labels,
        )
