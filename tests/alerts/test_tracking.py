"""Hysteresis: consecutive breaches to fire, clear evaluations to resolve, re-notify schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.conditions import Status
from alerts.rules import AlertRule
from alerts.tracking import Track, Transition, step

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
EVERY = timedelta(seconds=5)


def rule(**extra: object) -> AlertRule:
    return AlertRule.model_validate(
        {"name": "r", "condition": {"type": "volume", "above": 1}, **extra}
    )


def run(r: AlertRule, statuses: list[Status]) -> list[Transition]:
    track, seen = Track(), []
    for i, status in enumerate(statuses):
        track, transition = step(track, status, r, T0 + i * EVERY)
        seen.append(transition)
    return seen


def test_fires_after_consecutive_breaches_only() -> None:
    r = rule(fire_after=3)
    assert run(r, ["breach", "breach", "clear", "breach", "breach"]).count(Transition.FIRE) == 0
    assert run(r, ["breach", "breach", "breach"])[-1] == Transition.FIRE


def test_resolves_after_n_clear_evaluations_and_a_breach_resets_the_count() -> None:
    r = rule(resolve_after=3)
    seen = run(r, ["breach", "clear", "clear", "breach", "clear", "clear", "clear"])
    assert seen == [
        Transition.FIRE,
        Transition.FIRING,
        Transition.FIRING,
        Transition.FIRING,
        Transition.FIRING,
        Transition.FIRING,
        Transition.RESOLVE,
    ]


def test_one_fire_and_one_resolve_per_episode_and_numbered_episodes() -> None:
    r = rule(resolve_after=1)
    track = Track()
    statuses: list[Status] = ["breach", "breach", "clear", "breach", "clear"]
    for status in statuses:
        track, _ = step(track, status, r, T0)
    assert track.episodes == 2 and not track.firing


def test_renotify_on_schedule_while_firing() -> None:
    r = rule(renotify="10s")
    seen = run(r, ["breach"] * 6)  # t = 0, 5, 10, 15, 20, 25
    assert seen[0] == Transition.FIRE
    assert [i for i, t in enumerate(seen) if t == Transition.RENOTIFY] == [2, 4]


def test_not_evaluable_never_fires_but_counts_towards_resolve() -> None:
    r = rule(resolve_after=2)
    assert Transition.FIRE not in run(r, ["not_evaluable"] * 5)
    assert run(r, ["breach", "not_evaluable", "not_evaluable"])[-1] == Transition.RESOLVE


def test_first_breach_is_remembered_from_the_start_of_the_run() -> None:
    r = rule(fire_after=3)
    track = Track()
    for i in range(3):
        track, _ = step(track, "breach", r, T0 + i * EVERY)
    assert track.breach_since == T0
