"""Kafka access for the command line: a throughput producer and a topic lookup.

The feed command, the dead-letter replay and the benchmarks send through :class:`Publisher`;
the worker itself produces through Faust. Errors are ours: an unreachable broker is
:class:`KafkaUnavailable` (a :class:`moodwatch.errors.ServiceUnavailable`, exit code 3 on the
command line), anything else a :class:`StreamError`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from moodwatch.settings import Settings
from stream.connections import kafka_options
from stream.errors import KafkaUnavailable, StreamError

Header = tuple[str, bytes]


class Publisher:
    """A producer tuned for throughput, with a bound on messages awaiting the broker's ack.

    acks=all plus idempotence: a retried batch is never written twice. ``sent`` counts only
    messages the broker acknowledged.
    """

    def __init__(
        self,
        settings: Settings,
        max_in_flight: int = 5000,
        on_delivered: Callable[[int], None] | None = None,
    ) -> None:
        self._settings = settings
        self._producer = AIOKafkaProducer(
            **kafka_options(settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=10,  # fills batches under load, costs at most 10 ms when idle
            max_batch_size=256 * 1024,
            request_timeout_ms=30000,
        )
        self._slots = asyncio.Semaphore(max_in_flight)
        self._on_delivered = on_delivered
        self.sent: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    async def __aenter__(self) -> Publisher:
        try:
            await self._producer.start()
        except KafkaError as exc:
            await self._producer.stop()
            raise KafkaUnavailable(
                f"cannot reach Kafka at {self._settings.kafka_bootstrap_servers}: {exc}; "
                "is it running (`moodwatch infra status`)?"
            ) from exc
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Flush first: stop() would also flush, but a cancelled stop() must not lose the count.
        try:
            await self._producer.flush()
        finally:
            await self._producer.stop()

    async def require_topic(self, topic: str) -> int:
        """The topic's partition count; a clear error instead of auto-creating a typo."""
        partitions = await find_partitions(self._producer.client, topic)
        if not partitions:
            raise StreamError(
                f"topic {topic!r} does not exist on {self._settings.kafka_bootstrap_servers}; "
                "create it first (a worker creates the standard topics on start)"
            )
        return len(partitions)

    async def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        *,
        timestamp_ms: int | None = None,
        headers: Sequence[Header] | None = None,
        on_done: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        """Hand one message to the producer; waits only while too many await their ack.

        ``timestamp_ms`` sets the record's Kafka timestamp (default: now, set by the producer);
        ``headers`` are sent as given. ``on_done`` is called once with None when the broker
        acknowledged this message, or with the error when it never will.
        """
        await self._slots.acquire()
        try:
            delivery = await self._producer.send(
                topic, value, key=key, timestamp_ms=timestamp_ms,
                headers=list(headers) if headers else None,
            )
        except KafkaError as exc:  # refused before queueing, e.g. a message over the size limit
            self._settle(topic, exc, on_done)
            return
        except BaseException:
            self._slots.release()
            raise
        delivery.add_done_callback(lambda done: self._settle(topic, _failure(done), on_done))

    def _settle(
        self,
        topic: str,
        error: BaseException | None,
        on_done: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self._slots.release()
        if on_done is not None:
            on_done(error)
        if error is None:
            self.sent[topic] += 1
            if self._on_delivered is not None:
                self._on_delivered(1)
        else:
            self.failed[topic] += 1
            self.errors[f"{type(error).__name__}: {error}"[:160]] += 1


async def find_partitions(client: Any, topic: str, settle_s: float = 3.0) -> set[int]:
    """Partitions of ``topic`` from a full metadata request (which never auto-creates it).

    A topic created a moment ago may not be in every broker's metadata yet, so an absent topic
    is asked for again for up to ``settle_s`` seconds before it counts as missing.
    """
    deadline = time.monotonic() + settle_s
    while True:
        try:
            cluster = await client.fetch_all_metadata()
        except KafkaError as exc:
            raise KafkaUnavailable(f"cannot read Kafka metadata: {exc}") from exc
        partitions: set[int] = cluster.partitions_for_topic(topic) or set()
        if partitions or time.monotonic() >= deadline:
            return partitions
        await asyncio.sleep(0.2)


def _failure(delivery: asyncio.Future[Any]) -> BaseException | None:
    if delivery.cancelled():
        return asyncio.CancelledError("the send was cancelled")
    return delivery.exception()
