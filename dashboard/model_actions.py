"""Changing what the workers serve, from the models page (each behind a confirmation).

Retrain now: ``moodwatch retrain now --force`` is started as its own low-priority process
(:func:`start_retrain`), so minutes of fine-tuning never run inside the dashboard; the run
records itself in the retrain history, passes the gate before anything is served, and the
learning loop's lock keeps it to one run at a time (a second one is refused, not queued).

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
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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


@dataclass(frozen=True)
class RetrainLaunch:
    """A started retrain process and where its output goes."""

    pid: int
    log: Path


def retrain_command() -> list[str]:
    # nice: the machine also scores messages; a retrain may wait, the stream may not.
    return ["nice", "-n", "10", sys.executable, "-m", "moodwatch", "retrain", "now", "--force"]


def start_retrain(settings: Settings) -> RetrainLaunch:
    """Start one retrain run in the background, whatever the number of new labels; returns at
    once. Its log is under ``<infra_home>/logs``; its outcome in the retrain history."""
    logs = settings.infra_home / "logs"
    log = logs / f"retrain-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
    try:
        logs.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(
                retrain_command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
                start_new_session=True,  # outlives a dashboard restart
            )
    except OSError as exc:
        raise DashboardError(
            f"could not start a retrain here ({exc}); run `moodwatch retrain now --force` "
            "where the scheduler runs"
        ) from exc
    return RetrainLaunch(process.pid, log)
