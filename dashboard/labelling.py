"""Sending labels from the label queue to the labels topic.

The record is the labels contract (``stream/labels.py`` validates and stores it on the other
side)::

    {message_id, labeler, labeled_at, sentiment?, topic?, note?}    key = message_id

``topic`` is a topic slug of the message's channel. A newer label by the same labeler replaces
an older one, which is how "undo" works: the message returns to the queue and its next label
wins. The publisher keeps one producer on its own event-loop thread (Streamlit runs each script
in a fresh thread without a loop), and :meth:`LabelPublisher.publish` returns once the broker
has the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from dashboard.errors import DashboardError, DataUnavailable
from moodwatch.settings import Settings
from stream.connections import kafka_options

SEND_TIMEOUT_S = 15.0
MAX_LABELER_CHARS = 128


@dataclass(frozen=True)
class LabelRecord:
    """One labeller's judgement of one message, as sent on the labels topic."""

    message_id: str
    labeler: str
    labeled_at: datetime
    sentiment: str | None = None
    topic: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.labeler.strip() or len(self.labeler) > MAX_LABELER_CHARS:
            raise DashboardError(
                f"a labeler name is required (1 to {MAX_LABELER_CHARS} characters)"
            )
        if self.sentiment is None and self.topic is None:
            raise DashboardError("a label needs a sentiment, a topic or both")

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "message_id": self.message_id,
            "labeler": self.labeler.strip(),
            "labeled_at": self.labeled_at.astimezone(UTC).isoformat(timespec="milliseconds"),
        }
        for name in ("sentiment", "topic", "note"):
            value = getattr(self, name)
            if value is not None:
                record[name] = value
        return record


def label_now(message_id: str, labeler: str, **values: str | None) -> LabelRecord:
    return LabelRecord(message_id, labeler, datetime.now(UTC), **values)


class LabelPublisher:
    """A started Kafka producer for the labels topic, usable from any thread; close it once."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="label-publisher", daemon=True
        )
        self._thread.start()
        self._producer: AIOKafkaProducer | None = None
        self._lock = threading.Lock()

    def _run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=SEND_TIMEOUT_S)

    async def _start(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(**kafka_options(self._settings), acks="all")
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    def publish(self, label: LabelRecord) -> None:
        """Send ``label``; returns once the broker acknowledged it."""
        payload = json.dumps(label.to_record(), ensure_ascii=False).encode("utf-8")
        topic = self._settings.topic_labels
        try:
            with self._lock:
                if self._producer is None:
                    self._producer = self._run(self._start())
                producer = self._producer
            self._run(producer.send_and_wait(topic, payload, key=label.message_id.encode("utf-8")))
        except (KafkaError, TimeoutError, OSError) as exc:
            raise DataUnavailable(
                f"could not send the label to Kafka topic {topic!r}: {exc or type(exc).__name__}; "
                "check that Kafka is running, then label again"
            ) from exc

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                with contextlib.suppress(KafkaError, TimeoutError, OSError):
                    self._run(self._producer.stop())  # closing anyway
                self._producer = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
