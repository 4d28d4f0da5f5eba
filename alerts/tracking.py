"""Hysteresis: how a group's run of verdicts becomes episodes (pure; the store persists it).

Per rule and group a :class:`Track` counts consecutive breaches and clear evaluations:

    quiet ──breach × fire_after──► FIRE (a new episode, firing notice)
    firing ──breach──► still firing (RENOTIFY when ``renotify`` has passed since the last notice)
    firing ──clear × resolve_after──► RESOLVE (the episode ends, recovery notice)

A breach while firing resets the clear count; a clear while quiet resets the breach count.
``not_evaluable`` (baseline too thin) is not a breach; while firing it counts as clear, so an
episode whose data dried up still resolves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from alerts.conditions import Status
from alerts.rules import AlertRule


class Transition(str, Enum):
    QUIET = "quiet"
    PENDING = "pending"  # breaching, not yet fire_after times in a row
    FIRE = "fire"
    FIRING = "firing"
    RENOTIFY = "renotify"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class Track:
    """The persisted counters of one rule and group."""

    breach_streak: int = 0
    clear_streak: int = 0
    firing: bool = False
    episodes: int = 0  # episodes started so far: the next one is number episodes + 1
    last_notified: datetime | None = None
    breach_since: datetime | None = None  # first evaluation of the current breach run

    @property
    def episode_number(self) -> int:
        """The number of the current (or last) episode."""
        return self.episodes


def step(track: Track, status: Status, rule: AlertRule, now: datetime) -> tuple[Track, Transition]:
    """The next :class:`Track` and what happened, after one evaluation with ``status``."""
    breached = status == "breach"
    if not track.firing:
        if not breached:
            quiet = replace(track, breach_streak=0, clear_streak=0, breach_since=None)
            return quiet, Transition.QUIET
        streak = track.breach_streak + 1
        since = track.breach_since if track.breach_streak else now
        if streak < rule.fire_after:
            return replace(track, breach_streak=streak, breach_since=since), Transition.PENDING
        fired = Track(
            breach_streak=streak,
            clear_streak=0,
            firing=True,
            episodes=track.episodes + 1,
            last_notified=now,
            breach_since=since,
        )
        return fired, Transition.FIRE
    if breached:
        track = replace(track, breach_streak=track.breach_streak + 1, clear_streak=0)
        due = rule.renotify is not None and (
            track.last_notified is None or now - track.last_notified >= rule.renotify
        )
        if due:
            return replace(track, last_notified=now), Transition.RENOTIFY
        return track, Transition.FIRING
    clears = track.clear_streak + 1
    if clears >= rule.resolve_after:
        return Track(episodes=track.episodes, last_notified=now), Transition.RESOLVE
    return replace(track, breach_streak=0, clear_streak=clears), Transition.FIRING
