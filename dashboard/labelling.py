"""Sending labels from the label queue to the labels topic.

The label is the stream's own :class:`stream.labels.Label` (the labels contract, validated and
stored on the other side by :class:`stream.labels.LabelStore`); :func:`label_now` builds one
with the same checks the labels agent applies, so the dashboard never sends a label the agent
would dead-letter: a labeler name, a sentiment of ``SENTIMENTS``, a topic of the message's
channel, at least one of the two.

A newer label by the same labeler replaces an older one, which is how "undo" works: the
message returns to the queue and its next label wins. The publisher keeps one producer on its
own event-loop thread (Streamlit runs each script in a fresh thread without a loop), and
:meth:`LabelPublisher.publish` returns once the broker has the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from dashboard.errors import DashboardError, DataUnavailable
from models.taxonomy import Taxonomy
from moodwatch.settings import Settings
from stream.connections import kafka_options
from stream.labels import Label, check_topic, iso, label_from_object
from stream.records import Rejection

SEND_TIMEOUT_S = 15.0


def label_now(
    message_id: str,
    labeler: str,
    channel: str,
    taxonomy: Taxonomy,
    *,
    sentiment: str | None = None,
    topic: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> Label:
    """A label of ``message_id`` (a ``channel`` message) by ``labeler``, stamped ``now``.

    Raises :class:`DashboardError` saying what is wrong when the labels agent would refuse it.
    """
    record = {
        "message_id": message_id,
        "labeler": labeler.strip(),
        "labeled_at": iso(now or datetime.now(UTC)),
        "sentiment": sentiment,
        "topic": topic,
        "note": note,
    }
    parsed = label_from_object(record)
    if isinstance(parsed, Rejection):
        raise DashboardError(f"cannot send this label: {parsed.detail}")
    wrong_topic = check_topic(parsed, channel, taxonomy)
    if wrong_topic is not None:
        raise DashboardError(f"cannot send this label: {wrong_topic.detail}")
    return parsed


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

    def publish(self, label: Label) -> None:
        """Send ``label``; returns once the broker acknowledged it."""
        payload = label.to_bytes()
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
