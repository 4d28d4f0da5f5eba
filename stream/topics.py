"""Creating moodwatch's Kafka topics (idempotently) before workers start."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from moodwatch.settings import Settings
from stream.connections import kafka_options
from stream.errors import KafkaUnavailable, StreamError


def topic_names(settings: Settings) -> list[str]:
    return [
        settings.topic_news,
        settings.topic_chat,
        settings.topic_dead_letter,
        settings.topic_labels,
        settings.topic_alerts,
        settings.topic_model_updates,
    ]


def _configs(name: str, settings: Settings) -> dict[str, str]:
    """Dead letters are keyed by their source position: compaction keeps one per record even
    when a worker died after sending one and before committing (the next owner sends it again);
    ``delete`` keeps the usual retention."""
    if name == settings.topic_dead_letter:
        return {"cleanup.policy": "compact,delete"}
    return {}


CONTROLLER_WAIT_S = 30.0


async def create_topics(
    admin: AIOKafkaAdminClient, topics: Sequence[NewTopic], wait_s: float = CONTROLLER_WAIT_S
) -> None:
    """``admin.create_topics``, waiting up to ``wait_s`` for the cluster to name a controller.

    A broker that was just started, or resumed after a pause, can answer a metadata request
    before it knows its brokers ("No broker metadata found"): aiokafka then has no controller
    to send the request to and fails with an ``AttributeError`` on ``None.nodeId`` instead of a
    Kafka error. That state passes within a second or two, so it is polled, not reported.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            await admin.create_topics(list(topics))
            return
        except AttributeError as exc:
            if "nodeId" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise StreamError(
                    f"Kafka named no controller within {wait_s:.0f} s, so no topic could be "
                    "created; is the broker healthy (`moodwatch doctor`)?"
                ) from exc
            await asyncio.sleep(0.2)


async def ensure_topics(settings: Settings, replication_factor: int = 1) -> list[str]:
    """Create whichever of the topics is missing; returns the names it created."""
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [name for name in topic_names(settings) if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await create_topics(
                    admin,
                    [
                        NewTopic(
                            n,
                            settings.topic_partitions,
                            replication_factor,
                            topic_configs=_configs(n, settings),
                        )
                        for n in missing
                    ],
                )
        return missing
    except KafkaConnectionError as exc:
        raise KafkaUnavailable(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {exc}; is it running "
            "(`moodwatch infra status`)?"
        ) from exc
    except KafkaError as exc:
        raise StreamError(
            f"cannot create topics on {settings.kafka_bootstrap_servers}: {exc}; is Kafka running "
            "(`moodwatch infra status`)?"
        ) from exc
    finally:
        await admin.close()
