"""The Kafka notifier: the notice as JSON on the ``alerts`` topic, keyed by episode id."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from alerts.errors import NotifyError
from alerts.notifiers.notice import Notice


class KafkaNotifier:
    name = "kafka"

    def __init__(self, topic: str, options: dict[str, Any], timeout_s: float) -> None:
        self.topic = topic
        self._options = options
        self._timeout_ms = int(timeout_s * 1000)
        self._producer: AIOKafkaProducer | None = None

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                **self._options, acks="all", request_timeout_ms=self._timeout_ms
            )
            try:
                await producer.start()
            except KafkaError as exc:
                await producer.stop()
                raise NotifyError(f"kafka: cannot connect: {exc}") from exc
            self._producer = producer
        return self._producer

    async def send(self, notice: Notice) -> None:
        producer = await self._started()
        try:
            await producer.send_and_wait(
                self.topic, notice.to_bytes(), key=notice.episode.id.encode("utf-8")
            )
        except KafkaError as exc:
            raise NotifyError(f"kafka: topic {self.topic}: {exc}") from exc

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
