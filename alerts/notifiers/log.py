"""The log notifier: one WARNING line per notice (always on)."""

from __future__ import annotations

import logging

from alerts.notifiers.notice import Notice

log = logging.getLogger("moodwatch.alerts.notice")


class LogNotifier:
    name = "log"

    async def send(self, notice: Notice) -> None:
        log.warning(
            "%s",
            " | ".join(notice.summary_lines()[:3]),
            extra={"fields": {"notice": notice.kind, "episode_id": notice.episode.id}},
        )

    async def close(self) -> None:
        return None
