"""Only records the worker has finished may move a committed offset.

Faust acknowledges a record it *skips* as though it had been processed. During a rebalance it
drops the events it pulls while the flow is suspended, or that belong to an older consumer
generation, and acks them so the lag does not grow. The same rebalance has just reset the
partition's bookkeeping, so that ack is committed at once, and the record is never delivered
again, to this worker or any other. The soak of workers joining and leaving
(``tests/integration/test_rebalance_soak.py``) lost one message this way in eight rounds.

:class:`CommitGuard` wraps the consumer's ``ack``: an offset counts only while the worker says
the record is finished (indexed, dead-lettered, or its label stored). A skipped record stays
uncommitted and is read again from the committed offset by whoever holds its partition next.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

Key = tuple[str, int, int]  # topic, partition, offset


def _key(message: Any) -> Key:
    return (message.topic, message.partition, message.offset)


class CommitGuard:
    def __init__(self, on_refused: Callable[[str], None] | None = None) -> None:
        self._finished: set[Key] = set()
        self._lock = threading.Lock()  # Faust may acknowledge from its consumer thread
        self._on_refused = on_refused
        self.refused = 0

    @contextmanager
    def finishing(self, messages: list[Any]) -> Iterator[None]:
        """Within the block, acks of ``messages`` reach the consumer (and its commits)."""
        keys = [_key(m) for m in messages]
        with self._lock:
            self._finished.update(keys)
        try:
            yield
        finally:
            with self._lock:
                self._finished.difference_update(keys)

    def finish(self, message: Any) -> None:
        """Let the next ack of ``message`` through (for acks Faust makes after our code)."""
        with self._lock:
            self._finished.add(_key(message))

    def admits(self, message: Any) -> bool:
        """Whether an ack of ``message`` may count; consumes a :meth:`finish` mark."""
        key = _key(message)
        with self._lock:
            if key in self._finished:
                self._finished.discard(key)
                return True
            self.refused += 1
        log.info("kept %s[%d]@%d out of the commit: skipped in a rebalance, read again", *key)
        if self._on_refused is not None:
            self._on_refused(message.topic)
        return False

    def install(self, consumer: Any) -> None:
        """Wrap ``consumer.ack`` (once) so only admitted records are acknowledged."""
        if getattr(consumer, "_moodwatch_guarded", False):
            return
        original = consumer.ack

        def ack(message: Any) -> bool:
            return bool(self.admits(message) and original(message))

        consumer.ack = ack
        consumer._moodwatch_guarded = True
