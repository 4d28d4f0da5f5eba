"""Replaying a rule over indexed history: when it would have fired and resolved, notifying no one.

It runs the live code path — the same aggregation (:func:`alerts.query.measure`), the same
:func:`alerts.conditions.judge` and the same hysteresis (:func:`alerts.tracking.step`) — at the
same evaluation moments the alerter uses (multiples of the interval since the epoch, see
:func:`evaluation_ticks`), keeping the tracks in memory instead of Elasticsearch. Over data that
was fully indexed in time, it reports the episode times the live alerter produced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.conditions import judge
from alerts.query import Measurement
from alerts.rules import AlertRule
from alerts.tracking import Track, Transition, step
from alerts.windows import GroupStats


def tick_at_or_before(moment: datetime, every: timedelta) -> datetime:
    """The last evaluation moment at or before ``moment`` (aligned to the epoch)."""
    seconds = every.total_seconds()
    stamp = moment.timestamp()
    return datetime.fromtimestamp(stamp - (stamp % seconds), tz=UTC)


def evaluation_ticks(start: datetime, end: datetime, every: timedelta) -> Iterator[datetime]:
    """Evaluation moments in ``(start, end]``, aligned like the live alerter's."""
    tick = tick_at_or_before(start, every)
    if tick <= start:
        tick += every
    while tick <= end:
        yield tick
        tick += every


@dataclass
class ReplayedEpisode:
    rule: str
    group: str
    number: int
    first_breach: datetime
    fired_at: datetime
    resolved_at: datetime | None = None
    numbers: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "group": self.group,
            "number": self.number,
            "first_breach": self.first_breach.isoformat(),
            "fired_at": self.fired_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "numbers": self.numbers,
            "reason": self.reason,
        }


def backtest(
    rule: AlertRule,
    measure_fn: Callable[[AlertRule, datetime], Measurement],
    start: datetime,
    end: datetime,
    every: timedelta,
) -> list[ReplayedEpisode]:
    """Every episode ``rule`` would have had between ``start`` and ``end``, oldest first."""
    tracks: dict[str, Track] = {}
    open_episodes: dict[str, ReplayedEpisode] = {}
    episodes: list[ReplayedEpisode] = []
    for tick in evaluation_ticks(start, end, every):
        measurement = measure_fn(rule, tick)
        groups = [*measurement.groups, *(g for g in open_episodes if g not in measurement.groups)]
        for group in groups:
            stats = measurement.groups.get(group) or GroupStats.gone(group)
            verdict = judge(rule, stats)
            track, transition = step(tracks.get(group, Track()), verdict.status, rule, tick)
            tracks[group] = track
            if transition == Transition.FIRE:
                episode = ReplayedEpisode(
                    rule.name,
                    group,
                    track.episode_number,
                    first_breach=track.breach_since or tick,
                    fired_at=tick,
                    numbers=dict(verdict.numbers),
                    reason=verdict.reason,
                )
                open_episodes[group] = episode
                episodes.append(episode)
            elif transition == Transition.RESOLVE and group in open_episodes:
                open_episodes.pop(group).resolved_at = tick
    return episodes
