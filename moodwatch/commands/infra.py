"""``moodwatch infra``: real Kafka and Elasticsearch on localhost, without Docker."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from moodwatch.errors import EXIT_UNAVAILABLE
from moodwatch.settings import Settings, load_settings


def _run(action: Callable[[Settings], Sequence[object]], verb: str) -> Sequence[object]:
    from infra.render import render

    started = time.monotonic()
    statuses = action(load_settings())
    click.echo(render(statuses, relative_to=Path.cwd()))  # type: ignore[arg-type]
    if verb != "status":
        click.echo(f"({verb} took {time.monotonic() - started:.1f} s)")
    return statuses


@click.group()
def infra() -> None:
    """Local single-node Kafka 3.9 (KRaft) and Elasticsearch 8.14 from Maven Central jars.

    Data, logs and jars live under MOODWATCH_INFRA_HOME (default var/).
    """


@infra.command()
def up() -> None:
    """Start both (fetching jars the first time) and wait until they answer. Idempotent."""
    from infra import services

    _run(services.up, "up")


@infra.command()
def down() -> None:
    """Stop the services infra started (and nothing else)."""
    from infra import services

    _run(services.down, "down")


@infra.command()
@click.option("--check", is_flag=True,
              help=f"Exit {EXIT_UNAVAILABLE} unless both services answer.")
def status(check: bool) -> None:
    """Versions, ports, pids, heap, data size and health of both services."""
    from infra import services

    statuses = _run(services.status, "status")
    if check and not services.all_healthy(statuses):  # type: ignore[arg-type]
        sys.exit(EXIT_UNAVAILABLE)


@infra.command()
@click.argument("name", type=click.Choice(["kafka", "elasticsearch"]))
def start(name: str) -> None:
    """Start one service."""
    from infra import services

    _run(lambda s: [services.start_service(name, s)], "start")


@infra.command()
@click.argument("name", type=click.Choice(["kafka", "elasticsearch"]))
def stop(name: str) -> None:
    """Stop one service."""
    from infra import services

    _run(lambda s: [services.stop_service(name, s)], "stop")
