"""The episode state machine through the real evaluator and dispatcher, on the in-memory store
with a fake clock: one episode per burst, restarts and leader changes continue it, notices are
delivered once and failures are recorded and retried."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from elasticsearch import Elasticsearch

from alerts.dispatch import Dispatcher
from alerts.episodes import Episode
from alerts.errors import NotifyError
from alerts.evaluator import Evaluator
from alerts.lease import Lease
from alerts.notifiers.notice import Notice
from alerts.query import Measurement
from alerts.rules import AlertRule
from alerts.store import Silence
from alerts.testing import MemoryAlertStore
from alerts.tracking import Track
from alerts.windows import GroupStats, WindowPlan, WindowStats, plan_windows

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
EVERY = timedelta(seconds=5)
RULE = AlertRule.model_validate(
    {
        "name": "share",
        "group_by": "topic",
        "window": "5s",
        "condition": {"type": "negative_share", "above": 0.5, "min_count": 5},
        "fire_after": 2,
        "resolve_after": 2,
        "renotify": "15s",
        "notify": ["log", "webhook"],
    }
)


class History:
    """A fake clock's worth of data: 'refunds' burns from tick ``start`` to ``end`` (exclusive)."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end

    def measure(self, rule: AlertRule, at: datetime) -> Measurement:
        tick = int((at - T0) / EVERY)
        hot = self.start <= tick < self.end
        groups = {
            "delivery": GroupStats("delivery", WindowStats(count=10, negative=1), ()),
            "refunds": GroupStats("refunds", WindowStats(count=10, negative=9 if hot else 1), ()),
        }
        return Measurement(rule.name, at, plan_windows(rule, at), groups, 2, rule.group_limit)


def no_evidence(rule: AlertRule, group: str, plan: WindowPlan) -> dict[str, Any]:
    return {"rising_terms": [{"term": "refund"}]}


def evaluator(store: MemoryAlertStore, history: History) -> Evaluator:
    return Evaluator(
        cast(Elasticsearch, None),
        store,
        "memory-messages",
        dashboard_url="http://dash",
        notifiers=["log", "webhook"],
        measure_fn=history.measure,
        evidence_fn=no_evidence,
    )


def at(tick: int) -> datetime:
    return T0 + tick * EVERY


def test_a_burst_is_one_episode_fired_renotified_and_resolved_once() -> None:
    store = MemoryAlertStore()
    ev = evaluator(store, History(2, 8))
    notices = []
    for tick in range(14):
        notices += ev.evaluate(RULE, at(tick)).notices
    (episode,) = store.list_episodes()
    assert (episode.id, episode.state, episode.group) == ("share:refunds:1", "resolved", "refunds")
    assert episode.first_breach == at(2) and episode.fired_at == at(3)
    assert episode.last_breach == at(7) and episode.resolved_at == at(9)
    assert episode.numbers["share"] == 0.9 and episode.evidence["rising_terms"]
    kinds = [(n.kind, n.notifier, n.outcome) for n in episode.notifications]
    assert kinds == [
        ("firing", "log", "pending"), ("firing", "webhook", "pending"),
        ("renotify", "log", "pending"), ("renotify", "webhook", "pending"),
        ("resolved", "log", "pending"), ("resolved", "webhook", "pending"),
    ]  # fmt: skip
    assert notices == ["share:refunds:1"] * 3


def test_a_new_leader_continues_the_episode_without_duplicating_it() -> None:
    store = MemoryAlertStore()
    history = History(2, 8)
    first = evaluator(store, history)
    for tick in range(5):  # fires at tick 3
        first.evaluate(RULE, at(tick))
    second = evaluator(store, history)  # takes over with nothing cached
    for tick in range(5, 14):
        second.evaluate(RULE, at(tick))
    assert [(e.id, e.state) for e in store.list_episodes()] == [("share:refunds:1", "resolved")]


class CrashingTrackStore(MemoryAlertStore):
    """Dies (once) right after the episode write, before the track write."""

    crashed = False

    def put_track(self, rule: str, group: str, track: Track, version: Any) -> Any:
        if track.firing and not self.crashed:
            self.crashed = True
            raise RuntimeError("killed between episode and track")
        return super().put_track(rule, group, track, version)


def test_a_crash_between_episode_and_track_write_is_adopted_not_doubled() -> None:
    store = CrashingTrackStore()
    history = History(2, 8)
    first = evaluator(store, history)
    for tick in range(4):  # fires at tick 3, and "dies" there
        with contextlib.suppress(RuntimeError):
            first.evaluate(RULE, at(tick))
    assert store.crashed
    successor = evaluator(store, history)
    for tick in range(3, 14):
        successor.evaluate(RULE, at(tick))
    (episode,) = store.list_episodes()
    assert episode.state == "resolved"
    assert [n.kind for n in episode.notifications].count("firing") == 2  # log + webhook, once


def test_a_silenced_group_records_the_episode_but_sends_nothing() -> None:
    store = MemoryAlertStore()
    ev = evaluator(store, History(2, 8))
    silences = [Silence("share", "refunds", at(100))]
    for tick in range(6):
        ev.evaluate(RULE, at(tick), silences)
    (episode,) = store.list_episodes()
    assert {n.outcome for n in episode.notifications} == {"silenced"}
    assert episode.pending() == []


def test_the_lease_has_one_holder_until_it_expires() -> None:
    store = MemoryAlertStore()
    a = Lease(store, "a", timedelta(seconds=15))
    b = Lease(store, "b", timedelta(seconds=15))
    assert a.acquire(T0) and not b.acquire(T0 + timedelta(seconds=1))
    assert a.acquire(T0 + timedelta(seconds=5))  # renewed
    assert not b.acquire(T0 + timedelta(seconds=19))
    assert b.acquire(T0 + timedelta(seconds=21))  # a stopped renewing: expired
    assert not a.acquire(T0 + timedelta(seconds=22))
    b.release()
    assert a.acquire(T0 + timedelta(seconds=23))


class Recorder:
    def __init__(self, name: str, failures: int = 0) -> None:
        self.name = name
        self.failures = failures
        self.sent: list[tuple[str, str]] = []

    async def send(self, notice: Notice) -> None:
        if self.failures:
            self.failures -= 1
            raise NotifyError(f"{self.name}: HTTP 503")
        self.sent.append((notice.kind, notice.episode.id))

    async def close(self) -> None:
        return None


def fired_episode(store: MemoryAlertStore) -> Episode:
    ev = evaluator(store, History(0, 100))
    for tick in range(2):
        ev.evaluate(RULE, at(tick))
    (episode,) = store.list_episodes()
    return episode


async def test_a_failing_notifier_neither_blocks_others_nor_loses_the_notice() -> None:
    store = MemoryAlertStore()
    episode = fired_episode(store)
    log, webhook = Recorder("log"), Recorder("webhook", failures=4)
    dispatcher = Dispatcher(store, {"log": log, "webhook": webhook}, attempts=3, backoff_s=0)

    recorded = await dispatcher.deliver(episode.id)

    assert recorded is not None
    outcomes = {n.notifier: (n.outcome, n.attempts, n.error) for n in recorded.notifications}
    assert outcomes == {"log": ("sent", 1, None), "webhook": ("failed", 3, "webhook: HTTP 503")}
    assert log.sent == [("firing", episode.id)] and webhook.sent == []

    assert await dispatcher.retry_pending() == 1  # a later cycle tries the failed one again
    assert webhook.sent == [("firing", episode.id)]
    assert log.sent == [("firing", episode.id)]  # not sent twice
    assert store.list_episodes(pending_only=True) == []
