"""Changing what the workers serve, from the models page (each behind a confirmation).

Roll back: the registry's ``current`` pointer returns to the version promoted before it
(:meth:`models.registry.Registry.rollback`, which records why), then every worker is told on the
model-updates topic::

    {"event": "rolled_back", "version": ..., "previous": ..., "at": ISO-8601}   key "current"

The pointer is the truth and the event the nudge: a worker that misses it reads ``current``
itself. Where the registry is mounted read-only (the Docker dashboard), this says so.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from dashboard.errors import DashboardError
from models.errors import RegistryError
from models.registry import Registry
from moodwatch.settings import Settings
from stream.connections import kafka_options

EVENT_KEY = b"current"


def rolled_back_event(version: str, previous: str | None) -> dict[str, Any]:
    return {
        "event": "rolled_back",
        "version": version,
        "previous": previous,
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


async def _announce(settings: Settings, event: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(**kafka_options(settings), acks="all")
    try:
        await producer.start()
        await producer.send_and_wait(
            settings.topic_model_updates, json.dumps(event).encode("utf-8"), key=EVENT_KEY
        )
    finally:
        await producer.stop()


def roll_back(settings: Settings) -> dict[str, Any]:
    """Make the previously promoted version current and tell the workers; returns the event."""
    registry = Registry(settings.registry_path)
    previous = registry.current_id()
    try:
        version = registry.rollback()
    except RegistryError as exc:
        raise DashboardError(str(exc)) from exc
    except OSError as exc:
        raise DashboardError(
            f"cannot change the registry at {settings.registry_path} from here ({exc.strerror}); "
            "run `moodwatch model rollback` where the registry is writable"
        ) from exc
    event = rolled_back_event(version.id, previous)
    try:
        asyncio.run(_announce(settings, event))
    except (KafkaError, OSError) as exc:
        raise DashboardError(
            f"rolled back to {version.id}, but could not tell the workers on "
            f"{settings.topic_model_updates!r} ({exc}); they pick it up when they next read "
            "the registry"
        ) from exc
    return event
