"""``moodwatch feed``: send a file of texts (or stdin) into an input topic."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Literal

import click

from moodwatch.settings import Settings, load_settings
from stream import feeder
from stream.errors import StreamError
from stream.feeder import (
    FeedResult,
    ReadStats,
    Row,
    RowOptions,
    passes,
    read_file,
    read_rows,
    rows_in_thread,
    stream_lines,
)
from stream.records import CHANNELS


class _FirstError:
    """Ends a row source at its first bad row and keeps the error, so the feed can still
    flush what it sent and print its summary before reporting the problem."""

    def __init__(self) -> None:
        self.error: StreamError | None = None

    def guard(self, rows: Iterable[Row]) -> Iterator[Row]:
        try:
            yield from rows
        except StreamError as exc:
            self.error = exc


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True,
                                        path_type=Path))
@click.option("--channel", type=click.Choice(CHANNELS), required=True,
              help="Channel of the texts (rows naming their own channel keep it).")
@click.option("--format", "fmt", type=click.Choice(["auto", "jsonl", "csv", "lines"]),
              default="auto", show_default=True,
              help="auto: .jsonl/.ndjson, .csv, .txt by extension; otherwise (and on stdin) JSONL "
                   "when the first line is a JSON object, else one text per line.")
@click.option("--text-column", default="text", show_default=True, help="CSV column with the text.")
@click.option("--topic", help="Topic to send to (default: the channel's input topic).")
@click.option("--rate", type=click.FloatRange(min=0), default=0.0,
              help="Messages per second; 0 sends as fast as the broker takes them.")
@click.option("--loop", is_flag=True,
              help="Start over at the end until Ctrl-C; repeated ids get a -loopN suffix.")
@click.option("--limit", type=click.IntRange(min=1), help="Send at most N messages.")
@click.option("--stamp/--no-stamp", default=True, show_default=True,
              help="Give rows without created_at the moment they are sent.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bar on stderr (shown only on a terminal).")
def feed(path: Path, channel: str, fmt: str, text_column: str, topic: str | None, rate: float,
         loop: bool, limit: int | None, stamp: bool, progress: bool) -> None:
    """Send PATH (a file, or - for stdin) to Kafka as contract messages.

    Each row becomes {"text", "channel", ...}: JSONL objects pass through with their other
    fields; CSV columns named like a contract field (id, source, created_at, lang, author,
    conversation_id) or one of its aliases (message_id, language) become that field and the
    rest go to "metadata". A row's id is its Kafka
    key; rows without one spread over the partitions. Ctrl-C stops: messages already handed to
    Kafka are flushed and counted.
    """
    settings = load_settings()
    destination = topic or settings.input_topics[channel]
    options = RowOptions(channel=channel, text_column=text_column, stamp=stamp)
    chosen = None if fmt == "auto" else _format(fmt)
    errors = _FirstError()
    stats = ReadStats()
    rows: Iterable[Row] | AsyncIterable[Row]
    if str(path) == "-":
        if loop:
            raise click.BadParameter("needs a file: stdin can be read only once",
                                     param_hint="--loop")
        binary = stream_lines(click.get_binary_stream("stdin"))
        # stdin can block for as long as its writer likes: read it off the event loop.
        rows = rows_in_thread(islice(errors.guard(read_rows(binary, "<stdin>", chosen, options,
                                                            stats)), limit))
        total = limit
    else:
        # Check the whole file first: a bad line stops the feed before anything is sent.
        count = sum(1 for _ in read_file(path, chosen, RowOptions(channel, text_column, False),
                                         stats))
        if count == 0:
            click.echo(f"nothing to send: {path} has no rows with text")
            return
        rows = islice(errors.guard(passes(lambda: read_file(path, chosen, options, ReadStats()),
                                          loop)), limit)
        total = limit if loop else min(count, limit or count)
    try:
        result = asyncio.run(_run(settings, rows, destination, rate, progress, total))
    except asyncio.CancelledError:
        click.secho("abandoned: messages that were in flight may or may not have arrived",
                    fg="yellow", err=True)
        sys.exit(130)
    _report(result, stats)
    if errors.error is not None:
        raise errors.error
    if result.failed:
        sys.exit(1)


def _format(name: str) -> Literal["jsonl", "csv", "lines"]:
    if name == "jsonl":
        return "jsonl"
    return "csv" if name == "csv" else "lines"


async def _run(settings: Settings, rows: Iterable[Row] | AsyncIterable[Row], topic: str,
               rate: float, progress: bool, total: int | None) -> FeedResult:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def interrupted() -> None:
        if stop.is_set() and main is not None:  # a second Ctrl-C: stop waiting for acks too
            main.cancel()
            return
        stop.set()
        click.echo("\nstopping: waiting for the messages in flight (Ctrl-C again to abandon them)",
                   err=True)

    # Where signal handlers cannot be set (not the main thread), Ctrl-C simply raises.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupted)
    try:
        return await feeder.feed(settings, rows, topic, rate, progress, total=total, stop=stop)
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _report(result: FeedResult, stats: ReadStats) -> None:
    click.echo(result.summary())
    if stats.skipped_blank:
        click.echo(f"skipped {stats.skipped_blank} rows with blank text (the first at "
                   f"{stats.first_skipped})", err=True)
    for error, count in result.errors.most_common(3):
        click.secho(f"  {count} × {error}", fg="red", err=True)
