"""Backtest on an in-memory history: aligned ticks, episode times, groups that go silent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.backtest import backtest, evaluation_ticks
from alerts.query import Measurement
from alerts.rules import AlertRule
from alerts.windows import GroupStats, WindowStats, plan_windows

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
EVERY = timedelta(seconds=10)


def test_ticks_are_aligned_to_the_interval_since_the_epoch() -> None:
    start = T0 + timedelta(seconds=3)
    ticks = list(evaluation_ticks(start, start + timedelta(seconds=30), EVERY))
    assert ticks == [T0 + timedelta(seconds=s) for s in (10, 20, 30)]


def test_replay_reports_fire_and_resolve_times_per_group() -> None:
    rule = AlertRule.model_validate(
        {
            "name": "share",
            "group_by": "topic",
            "window": "10s",
            "condition": {"type": "negative_share", "above": 0.5, "min_count": 5},
            "fire_after": 2,
            "resolve_after": 2,
        }
    )
    burst = (T0 + timedelta(seconds=20), T0 + timedelta(seconds=60))  # ticks 20..50 breach

    def fake_measure(r: AlertRule, at: datetime) -> Measurement:
        hot = burst[0] <= at < burst[1]
        groups = {"calm": GroupStats("calm", WindowStats(count=10, negative=1), ())}
        if hot:  # the "refunds" group only exists while it burns: it then goes silent
            groups["refunds"] = GroupStats("refunds", WindowStats(count=10, negative=9), ())
        return Measurement(r.name, at, plan_windows(r, at), groups, len(groups), r.group_limit)

    episodes = backtest(rule, fake_measure, T0, T0 + timedelta(seconds=120), EVERY)
    assert [(e.group, e.number) for e in episodes] == [("refunds", 1)]
    (episode,) = episodes
    assert episode.first_breach == T0 + timedelta(seconds=20)
    assert episode.fired_at == T0 + timedelta(seconds=30)
    assert episode.resolved_at == T0 + timedelta(seconds=70)
    assert episode.numbers["share"] == 0.9
