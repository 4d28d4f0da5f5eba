"""Delivering an episode's pending notices through every notifier, and recording the outcome.

Notifiers run side by side (one slow or failing notifier never delays the others), each with
its own timeout and a few quick retries with exponential backoff (tenacity). The outcome of
every notice — sent, or failed with the error and attempt count — is written back on the
episode with a conditional write. A failed notice stays pending and is tried again on later
cycles (:meth:`Dispatcher.retry_pending`) until ``max_attempts``; the alert itself is never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from alerts.episodes import Episode, Notification
from alerts.errors import ConflictError, NotifyError
from alerts.metrics import AlerterMetrics
from alerts.notifiers.notice import Notice, Notifier
from alerts.store import AlertStore

log = logging.getLogger(__name__)

#: A notice failing this many attempts in total stops being retried (it stays ``failed``).
MAX_ATTEMPTS = 20


def due(notification: Notification) -> bool:
    return notification.outcome == "pending" or (
        notification.outcome == "failed" and notification.attempts < MAX_ATTEMPTS
    )


class Dispatcher:
    def __init__(
        self,
        store: AlertStore,
        notifiers: Mapping[str, Notifier],
        metrics: AlerterMetrics | None = None,
        *,
        attempts: int = 3,
        timeout_s: float = 10.0,
        backoff_s: float = 0.2,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.metrics = metrics
        self.attempts = attempts
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s

    async def deliver(self, episode_id: str) -> Episode | None:
        """Send every due notice of one episode; returns the episode as recorded afterwards."""
        found = await asyncio.to_thread(self.store.get_episode, episode_id)
        if found is None:
            return None
        episode, _ = found
        todo = [(i, n) for i, n in enumerate(episode.notifications) if due(n)]
        if not todo:
            return episode
        await asyncio.gather(*(self._send_and_record(episode, i, n) for i, n in todo))
        final = await asyncio.to_thread(self.store.get_episode, episode_id)
        return final[0] if final else None

    async def _send_and_record(
        self, episode: Episode, index: int, notification: Notification
    ) -> Episode | None:
        # Record each notifier's outcome as soon as it is known, not after the slowest one:
        # the window in which a crash would make the next leader resend it stays tiny.
        result = await self._send(episode, notification)
        return await asyncio.to_thread(self._record, episode.id, {index: result})

    async def retry_pending(self) -> int:
        """Deliver notices left pending or failed by earlier cycles (or an earlier leader)."""
        episodes = await asyncio.to_thread(self.store.list_episodes, pending_only=True, size=200)
        for episode in episodes:
            await self.deliver(episode.id)
        return len(episodes)

    async def _send(
        self, episode: Episode, notification: Notification
    ) -> tuple[bool, int, str | None]:
        notifier = self.notifiers.get(notification.notifier)
        if notifier is None:
            return False, 1, f"notifier {notification.notifier!r} is not configured"
        notice = Notice(notification.kind, episode)
        tries = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential(multiplier=self.backoff_s, max=5 * self.backoff_s + 1),
                retry=retry_if_exception_type(NotifyError),
                reraise=True,
            ):
                with attempt:
                    tries += 1
                    try:
                        await asyncio.wait_for(notifier.send(notice), self.timeout_s)
                    except TimeoutError:
                        raise NotifyError(
                            f"{notifier.name}: timed out after {self.timeout_s} s"
                        ) from None
        except NotifyError as exc:
            log.warning(
                "notice %s %s via %s failed after %d attempts: %s",
                notification.kind,
                episode.id,
                notifier.name,
                tries,
                exc,
            )
            self._count(notifier.name, "failed")
            return False, tries, str(exc)
        self._count(notifier.name, "sent")
        return True, tries, None

    def _count(self, notifier: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.notifications.labels(notifier, outcome).inc()

    def _record(
        self, episode_id: str, outcomes: dict[int, tuple[bool, int, str | None]]
    ) -> Episode | None:
        for _ in range(20):
            found = self.store.get_episode(episode_id)
            if found is None:
                return None
            episode, version = found
            for index, (ok, tries, error) in outcomes.items():
                if index >= len(episode.notifications):
                    continue
                notification = episode.notifications[index]
                notification.attempts += tries
                notification.outcome = "sent" if ok else "failed"
                notification.error = error
                notification.at = datetime.now(UTC)
            try:
                self.store.put_episode(episode, version)
                return episode
            except ConflictError:
                continue  # the evaluator added a notice meanwhile: re-read and apply again
        log.error("could not record notice outcomes on %s (kept conflicting)", episode_id)
        return None
