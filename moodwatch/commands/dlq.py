"""``moodwatch dlq``: look into the dead-letter topic, export it for repair, replay it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from moodwatch.settings import Settings, load_settings
from stream.dead_letters import (
    TRANSIENT_REASONS,
    DeadLetter,
    DeadLetterReader,
    ReplayReport,
)
from stream.feeder import decoded_lines
from stream.records import Position, Reason

if TYPE_CHECKING:
    from stream.replays import Outcome, Pending, ReplayLog

REASONS = [reason.value for reason in Reason]


@click.group()
def dlq() -> None:
    """Inspect and replay the dead-letter topic (MOODWATCH_TOPIC_DEAD_LETTER)."""


@dlq.command()
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many of the newest records to show.")
@click.option("--reason", "reasons", multiple=True, type=click.Choice(REASONS),
              help="Only records with this reason; repeatable.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record (redacted).")
@click.option("--export", "export_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the records, UNREDACTED, as JSONL to fix by hand and replay.")
def inspect(limit: int, reasons: tuple[str, ...], as_json: bool, export_file: Path | None) -> None:
    """Show the newest dead letters: when, why, where from, and a redacted preview.

    Reading joins no consumer group and commits nothing.
    """
    from stream.redaction import Redactor

    settings = load_settings()
    letters, size, unreadable = asyncio.run(_newest(settings, limit, reasons))
    redactor = Redactor.from_setting(settings.pii_redaction)
    views = [letter.view(redactor) for letter in letters]
    if as_json:
        for view in views:
            click.echo(json.dumps(view, ensure_ascii=False))
    else:
        _table(views)
    which = f" with reason {', '.join(reasons)}" if reasons else ""
    click.echo(f"{len(letters)} newest{which} of {size} records in {settings.topic_dead_letter!r}",
               err=as_json)
    for problem in unreadable[:3]:
        click.secho(f"skipped: {problem}", fg="yellow", err=True)
    if export_file is not None:
        _export(export_file, letters)


@dlq.command()
@click.option("--file", "export_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Replay the (fixed) messages of an export file instead of the topic.")
@click.option("--reason", "reasons", multiple=True, type=click.Choice(REASONS),
              help="Replay records with this reason; repeatable. Default from the topic: "
                   f"{', '.join(TRANSIENT_REASONS)}; from a file: every line.")
@click.option("--dry-run", is_flag=True, help="Only list what would be sent.")
@click.option("--limit", type=click.IntRange(min=1), help="Replay at most N messages.")
@click.option("--state", "state_file", type=click.Path(dir_okay=False, path_type=Path),
              envvar="MOODWATCH_DLQ_REPLAY_STATE", show_envvar=True,
              help="Log of what was already replayed (default: "
                   "MOODWATCH_INFRA_HOME/dlq/replayed-<dead-letter topic>.jsonl).")
@click.option("--again", is_flag=True,
              help="Also send what the log says was already replayed.")
def replay(export_file: Path | None, reasons: tuple[str, ...], dry_run: bool,
           limit: int | None, state_file: Path | None, again: bool) -> None:
    """Send dead-lettered messages back to the topic they first arrived on, once each.

    A JSON object without an id gets "<topic>-<partition>-<offset>" of its original position,
    the id the worker would have given it, so a replay can never create a second document.
    Each message keeps its original Kafka timestamp and headers. What the broker acknowledged
    is logged (--state), and a later run skips it: running replay twice sends nothing twice.
    """
    from stream.replays import ReplayLog

    settings = load_settings()
    state = state_file or _default_state(settings)

    def show(item: Pending) -> None:
        if dry_run:
            click.echo(f"would send {_where(item.replay.source)} ({item.replay.reason or '?'}) "
                       f"→ {item.replay.topic}")

    with ReplayLog(state, again=again) as log:
        if export_file is not None:
            outcome = asyncio.run(_replay_file(settings, export_file, set(reasons), log, dry_run,
                                               limit, show))
        else:
            outcome = asyncio.run(_replay_topic(settings, reasons or TRANSIENT_REASONS, log,
                                                dry_run, limit, show))
    if outcome.skipped:
        click.echo(f"skipped {outcome.skipped} already replayed (see {state}; --again sends "
                   "them anyway)")
    _summary(outcome.report, dry_run)
    if sum(outcome.report.failed.values()):
        sys.exit(1)


def _default_state(settings: Settings) -> Path:
    return settings.infra_home / "dlq" / f"replayed-{settings.topic_dead_letter}.jsonl"


async def _newest(settings: Settings, limit: int, reasons: Iterable[str]
                  ) -> tuple[list[DeadLetter], int, list[str]]:
    async with DeadLetterReader(settings, settings.topic_dead_letter) as reader:
        letters = await reader.newest(limit, reasons)
        return letters, reader.size, reader.unreadable


async def _replay_topic(settings: Settings, reasons: Iterable[str], log: ReplayLog,
                        dry_run: bool, limit: int | None, show: Callable[[Pending], None]
                        ) -> Outcome:
    from stream.replays import from_letter, replay_once

    async with DeadLetterReader(settings, settings.topic_dead_letter) as reader:
        async def items() -> AsyncIterator[Pending]:
            async for letter in reader.everything(reasons):
                yield from_letter(letter)

        outcome = await replay_once(settings, items(), log, dry_run=dry_run, limit=limit,
                                    on_item=show)
    for problem in reader.unreadable[:3]:
        click.secho(f"skipped: {problem}", fg="yellow", err=True)
    return outcome


async def _replay_file(settings: Settings, path: Path, reasons: set[str], log: ReplayLog,
                       dry_run: bool, limit: int | None, show: Callable[[Pending], None]
                       ) -> Outcome:
    from stream.replays import from_export, replay_once

    def items() -> Iterator[Pending]:
        with path.open("rb") as binary:
            for item in from_export(decoded_lines(binary, str(path)), str(path)):
                if not reasons or item.replay.reason in reasons:
                    yield item

    # Parse the whole file first: a damaged line stops the replay before anything is sent.
    checked = list(items())
    return await replay_once(settings, checked, log, dry_run=dry_run, limit=limit, on_item=show)


def _where(position: Position) -> str:
    return f"{position.topic}/{position.partition}@{position.offset}"


def _when(failed_at: str) -> str:
    try:
        return datetime.fromisoformat(failed_at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return failed_at[:19]


def _table(views: list[dict[str, Any]]) -> None:
    if not views:
        return
    rows = [
        (_when(v["failed_at"]), v["reason"],
         f"{v['source']['topic']}/{v['source']['partition']}@{v['source']['offset']}",
         _cut(v["detail"], 40), v["preview"])
        for v in views
    ]
    header = ("failed_at (UTC)", "reason", "source", "detail", "text (redacted)")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                   + "  " + row[4])


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _export(path: Path, letters: list[DeadLetter]) -> None:
    # Owner-only from the first byte: the file holds the messages as they arrived.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        for letter in letters:
            out.write(json.dumps(letter.export(), ensure_ascii=False) + "\n")
    click.secho(
        f"wrote {len(letters)} records to {path}. It holds the messages UNREDACTED: keep it "
        f"private and delete it after `moodwatch dlq replay --file {path}`.",
        fg="yellow", err=True,
    )


def _summary(report: ReplayReport, dry_run: bool) -> None:
    if not report.planned:
        click.echo("nothing to replay")
        return
    for topic, planned in sorted(report.planned.items()):
        if dry_run:
            click.echo(f"{topic}: would send {planned}")
        else:
            click.echo(f"{topic}: sent {report.sent[topic]}, failed {report.failed[topic]}")
    for error, count in report.errors.most_common(3):
        click.secho(f"  {count} × {error}", fg="red", err=True)
