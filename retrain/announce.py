"""Telling every worker that ``current`` moved: one JSON event on the model-updates topic.

    {"event": "promoted" | "rolled_back", "version": "v0007", "previous": "v0006", "at": ISO-8601}

All events share one key, so they land on one partition and every worker sees them in order.
The registry pointer is the truth; the event is the nudge (a worker that starts later, or missed
the event, reads ``current`` itself).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from moodwatch.settings import Settings
from retrain.errors import AnnounceError
from stream.connections import kafka_options

Event = Literal["promoted", "rolled_back"]
EVENT_KEY = b"current"


def model_update(event: Event, version: str, previous: str | None) -> dict[str, Any]:
    return {
        "event": event,
        "version": version,
        "previous": previous,
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


async def announce_async(
    settings: Settings, event: Event, version: str, previous: str | None
) -> dict[str, Any]:
    """Publish the event and wait for the broker's acknowledgement; returns the event."""
    record = model_update(event, version, previous)
    producer = AIOKafkaProducer(**kafka_options(settings), acks="all")
    try:
        await producer.start()
        await producer.send_and_wait(
            settings.topic_model_updates, json.dumps(record).encode("utf-8"), key=EVENT_KEY
        )
    except KafkaError as exc:
        raise AnnounceError(
            f"{version} is {event.replace('_', ' ')} in the registry, but the event did not reach "
            f"{settings.topic_model_updates}: {exc}; workers pick it up on restart"
        ) from exc
    finally:
        await producer.stop()
    return record


def announce(
    settings: Settings, event: Event, version: str, previous: str | None
) -> dict[str, Any]:
    """Synchronous :func:`announce_async` for the CLI and the scheduler's worker thread."""
    return asyncio.run(announce_async(settings, event, version, previous))
