"""The health of what every message needs: the model, Elasticsearch, Kafka.

A :class:`Dependency` turns a stream of failures and successes into what an operator wants to
see. The first failure logs one WARNING naming the dependency and the reason; while it stays
down, a reminder at most every ``remind_every_s`` seconds; the first success after that logs one
INFO with how long it was down. Without this, a 60-second Elasticsearch outage wrote a line per
retry and drowned the one line that mattered.

While any dependency is down the pipeline holds its batch and retries (nothing is committed,
nothing is dead-lettered): consumption pauses through backpressure, and ``/health`` names the
failing dependency and why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("moodwatch.dependencies")

MODEL = "model"
ELASTICSEARCH = "elasticsearch"
KAFKA = "kafka"


@dataclass
class Dependency:
    name: str
    remind_every_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    on_change: Callable[[str, bool], None] | None = None
    reason: str | None = None
    down_since: float | None = None
    failures: int = 0
    _last_logged: float = field(default=0.0, repr=False)

    @property
    def ok(self) -> bool:
        return self.down_since is None

    def failed(self, reason: str) -> None:
        """Record a failure; logs on the first one and then at most every ``remind_every_s``."""
        now = self.clock()
        self.failures += 1
        self.reason = reason
        if self.down_since is None:
            self.down_since = now
            self._last_logged = now
            log.warning("%s is down: %s; holding the stream until it answers", self.name, reason)
            if self.on_change:
                self.on_change(self.name, False)
        elif now - self._last_logged >= self.remind_every_s:
            self._last_logged = now
            log.warning(
                "%s still down after %.0f s (%d failures): %s",
                self.name,
                now - self.down_since,
                self.failures,
                reason,
            )

    def recovered(self) -> None:
        """Record a success; logs once when the dependency comes back."""
        if self.down_since is None:
            return
        log.info("%s is back after %.0f s; resuming", self.name, self.clock() - self.down_since)
        self.down_since = None
        self.reason = None
        self.failures = 0
        if self.on_change:
            self.on_change(self.name, True)


class Dependencies:
    """The worker's dependencies by name, for ``/health`` and the metrics."""

    def __init__(
        self,
        names: tuple[str, ...] = (MODEL, ELASTICSEARCH, KAFKA),
        on_change: Callable[[str, bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        remind_every_s: float = 30.0,
    ) -> None:
        self._all = {name: Dependency(name, remind_every_s, clock, on_change) for name in names}
        if on_change:
            for name in names:
                on_change(name, True)

    def __getitem__(self, name: str) -> Dependency:
        return self._all[name]

    def failing(self) -> dict[str, str]:
        """Failing dependency → why, e.g. ``{"elasticsearch": "unreachable: ConnectionError"}``."""
        return {d.name: d.reason or "down" for d in self._all.values() if not d.ok}
