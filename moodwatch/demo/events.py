"""What the demo tells the user while it runs: each poll turns the system's state into news.

``Watch.poll`` reads what the services already publish (the messages index, alert episodes,
the retrain history, the worker's ``/health``) and returns the lines worth printing since the
last poll: an alert firing or resolving, a retrain's verdict, a hot-swap, and a periodic count
of what got indexed.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from alerts.store import AlertStore
from retrain.history import LoopHistory

STATUS_EVERY_S = 15.0


@dataclass(frozen=True)
class Event:
    kind: str  # "status", "alert_fired", "alert_resolved", "retrain", "swap"
    text: str


def serving_version(health_url: str) -> str | None:
    """The model version a worker's ``/health`` reports (None when it does not answer)."""
    try:
        with urllib.request.urlopen(health_url, timeout=2) as reply:  # noqa: S310 - our http URL
            body = json.loads(reply.read())
    except (OSError, ValueError):
        return None
    version = body.get("model_version") if isinstance(body, dict) else None
    return str(version) if version else None


@dataclass
class Watch:
    client: Elasticsearch
    prefix: str
    messages_alias: str
    health_url: str
    since: datetime
    baseline_count: int = 0
    _episodes: dict[str, str] = field(default_factory=dict)
    _runs: set[str] = field(default_factory=set)
    _version: str | None = None
    _last_status: float = 0.0
    _last_count: tuple[float, int] | None = None

    def start(self) -> None:
        """Remember what exists already, so only what happens from now on is reported."""
        self.baseline_count = self.indexed_total()
        self._runs = {run.run_id for run in LoopHistory(self.client, self.prefix).recent_runs()}
        self._version = serving_version(self.health_url)
        self._last_count = (time.monotonic(), self.baseline_count)
        self._last_status = time.monotonic()

    def indexed_total(self) -> int:
        if not self.client.indices.exists_alias(name=self.messages_alias):
            return 0
        self.client.indices.refresh(index=self.messages_alias)
        return int(self.client.count(index=self.messages_alias)["count"])

    def poll(self) -> list[Event]:
        return [*self._alerts(), *self._retrains(), *self._swap(), *self._status()]

    def _alerts(self) -> list[Event]:
        events = []
        episodes = AlertStore(self.client, self.prefix).list_episodes(since=self.since)
        for episode in reversed(episodes):
            seen = self._episodes.get(episode.id)
            if seen == episode.state:
                continue
            self._episodes[episode.id] = episode.state
            group = "" if episode.group in ("", "all") else f" [{episode.group}]"
            count = (episode.numbers or {}).get("count")
            counted = f" over {count} messages" if count is not None else ""
            if episode.state == "firing":
                text = f"ALERT FIRING  {episode.rule}{group}: {episode.reason}{counted}"
                if episode.link:
                    text += f"\n              open it: {episode.link}"
                events.append(Event("alert_fired", text))
            else:
                if seen is None:  # fired and resolved between two polls: say both
                    events.append(Event("alert_fired", f"ALERT FIRING  {episode.rule}{group}"))
                lasted = ""
                if episode.resolved_at is not None:
                    minutes = (episode.resolved_at - episode.fired_at).total_seconds() / 60
                    lasted = f" after {minutes:.1f} min"
                events.append(
                    Event("alert_resolved", f"ALERT RESOLVED {episode.rule}{group}{lasted}")
                )
        return events

    def _retrains(self) -> list[Event]:
        events = []
        for run in reversed(LoopHistory(self.client, self.prefix).recent_runs(limit=5)):
            if run.run_id in self._runs or run.finished_at is None:
                continue
            self._runs.add(run.run_id)
            if run.outcome not in ("promoted", "rejected"):
                continue  # "skipped: not enough labels" is not news
            numbers = _headline(run.numbers)
            events.append(
                Event(
                    "retrain",
                    f"RETRAIN      {run.outcome} {run.candidate or ''} (from {run.previous}): "
                    f"{run.reason}{numbers}",
                )
            )
        return events

    def _swap(self) -> list[Event]:
        version = serving_version(self.health_url)
        if version is None or version == self._version:
            return []
        previous, self._version = self._version, version
        if previous is None:
            return []
        return [Event("swap", f"HOT-SWAP     the worker now serves {version} (was {previous})")]

    def _status(self) -> list[Event]:
        now = time.monotonic()
        if now - self._last_status < STATUS_EVERY_S:
            return []
        self._last_status = now
        total = self.indexed_total()
        then, before = self._last_count or (now, total)
        self._last_count = (now, total)
        rate = (total - before) / max(now - then, 1e-9)
        return [
            Event(
                "status",
                f"indexed      {total - self.baseline_count:,} messages so far ({rate:,.1f} msg/s)",
            )
        ]


def _headline(numbers: dict[str, Any]) -> str:
    parts = []
    for key, name in (("new_labels", "{} new labels"), ("train_s", "trained in {:.0f} s")):
        value = numbers.get(key)
        if isinstance(value, int | float):
            parts.append(name.format(value))
    return f" ({', '.join(parts)})" if parts else ""
