"""Feeding text into Kafka as contract messages: file formats, a stdin bridge, pacing.

Sending is :mod:`stream.publisher`'s (the Kafka producer); this module only turns files and
pipes into contract rows and paces them.

Input formats (``Format``):

* ``jsonl``: one JSON object per line; objects pass through with their extra fields, and get
  the feed's channel when they name none.
* ``csv``: a header row; the text column (``text`` unless told otherwise) becomes ``text``,
  columns named like contract fields, or like one of their aliases (``message_id``,
  ``language``: :func:`stream.contract.csv_columns`), become those fields, every other column
  goes to ``metadata``.
* ``lines``: each non-blank line is the text of one message.

Rows whose text is blank are skipped and counted (:class:`ReadStats`), because they can only
end in the dead-letter topic. Anything else a reader cannot turn into a message is a
:class:`StreamError` naming the file and line, raised before that row is sent.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import threading
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import IO, Any, Literal, cast

from moodwatch.settings import Settings
from stream import contract
from stream.errors import StreamError
from stream.publisher import Publisher

Format = Literal["jsonl", "csv", "lines"]
Row = dict[str, Any]

_EXTENSIONS: dict[str, Format] = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".txt": "lines",
}
# CSV column -> contract field (names and aliases); any other column is kept under "metadata".
_CONTRACT_COLUMNS = contract.csv_columns()


@dataclass(frozen=True, slots=True)
class RowOptions:
    channel: str
    text_column: str = "text"
    stamp: bool = True  # fill a missing created_at with the moment the row is read


@dataclass(slots=True)
class ReadStats:
    """What a reader skipped, so the summary can say so."""

    skipped_blank: int = 0
    first_skipped: str | None = None

    def skip(self, where: str) -> None:
        self.skipped_blank += 1
        if self.first_skipped is None:
            self.first_skipped = where


def format_for(path: Path) -> Format | None:
    """The format a file's extension implies, or None when the content has to decide."""
    return _EXTENSIONS.get(path.suffix.lower())


def sniff(lines: Iterator[str]) -> tuple[Format, Iterator[str]]:
    """JSONL when the first non-blank line is a JSON object, else lines; nothing is consumed."""
    seen: list[str] = []
    for line in lines:
        seen.append(line)
        if line.strip():
            try:
                first = json.loads(line)
            except ValueError:
                first = None
            return ("jsonl" if isinstance(first, dict) else "lines"), chain(seen, lines)
    return "lines", iter(seen)


def decoded_lines(binary: Iterable[bytes], name: str) -> Iterator[str]:
    """UTF-8 lines with their endings kept (csv needs them); a bad byte names its line."""
    for number, raw in enumerate(binary, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StreamError(
                f"{name}:{number}: not valid UTF-8 (byte {exc.start} of the line); "
                "convert the file to UTF-8"
            ) from exc
        yield line.removeprefix("\ufeff") if number == 1 else line


def read_file(
    path: Path, fmt: Format | None, options: RowOptions, stats: ReadStats
) -> Iterator[Row]:
    """Rows of a file, closed when exhausted; ``fmt`` None: by extension, else by content."""
    try:
        binary = path.open("rb")
    except OSError as exc:
        raise StreamError(f"cannot read {path}: {exc.strerror}") from exc
    with binary:
        yield from read_rows(binary, str(path), fmt or format_for(path), options, stats)


def read_rows(
    binary: Iterable[bytes], name: str, fmt: Format | None, options: RowOptions, stats: ReadStats
) -> Iterator[Row]:
    """Rows of byte lines; ``fmt`` None means decide from the first line."""
    lines = decoded_lines(binary, name)
    if fmt is None:
        fmt, lines = sniff(lines)
    yield from parse_rows(lines, fmt, name, options, stats)


def stream_lines(binary: IO[bytes], chunk: int = 1 << 16) -> Iterator[bytes]:
    """Lines of a pipe, read straight from its file descriptor when it has one.

    A thread blocked in Python's buffered reader holds its lock, and the interpreter aborts at
    exit if a daemon thread still holds it; blocked in ``os.read`` it holds nothing, so a feed
    stopped while stdin is idle can exit cleanly.
    """
    try:
        descriptor = binary.fileno()
    except (OSError, ValueError, io.UnsupportedOperation):  # in memory (tests): nothing blocks
        yield from binary
        return
    pending = bytearray()
    while data := os.read(descriptor, chunk):
        pending += data
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            yield bytes(pending[start : end + 1])
            start = end + 1
        del pending[:start]
    if pending:
        yield bytes(pending)


def parse_rows(
    lines: Iterable[str],
    fmt: Format,
    name: str,
    options: RowOptions,
    stats: ReadStats | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[Row]:
    """Contract rows from decoded lines; lazy, so stamping happens as rows are sent."""
    stats = stats if stats is not None else ReadStats()
    reader = {"jsonl": _jsonl_rows, "csv": _csv_rows, "lines": _plain_rows}[fmt]
    for row in reader(lines, name, options, stats):
        if not row.get("channel"):
            row["channel"] = options.channel
        if options.stamp and not row.get("created_at"):
            row["created_at"] = now().isoformat()
        yield row


def _plain_rows(
    lines: Iterable[str], name: str, options: RowOptions, stats: ReadStats
) -> Iterator[Row]:
    for line in lines:
        text = line.rstrip("\r\n")
        if text.strip():
            yield {"text": text}


def _jsonl_rows(
    lines: Iterable[str], name: str, options: RowOptions, stats: ReadStats
) -> Iterator[Row]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise StreamError(
                f"{name}:{number}: not JSON ({exc}); each line must be one JSON object"
            ) from exc
        if not isinstance(data, dict):
            raise StreamError(f"{name}:{number}: expected a JSON object, got {type(data).__name__}")
        text = data.get("text")
        if not isinstance(text, str):
            raise StreamError(
                f"{name}:{number}: the object needs a string 'text' field"
                + (f" (it has {sorted(data)})" if data else "")
            )
        if not text.strip():
            stats.skip(f"{name}:{number}")
            continue
        yield data


def _csv_rows(
    lines: Iterable[str], name: str, options: RowOptions, stats: ReadStats
) -> Iterator[Row]:
    reader = csv.reader(lines)
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        raise StreamError(f"{name}:1: unreadable CSV header ({exc})") from exc
    if options.text_column not in header:
        raise StreamError(
            f"{name}:1: no column {options.text_column!r}; the columns are "
            f"{', '.join(header) or '(none)'}; choose one with --text-column"
        )
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise StreamError(f"{name}:{reader.line_num}: unreadable CSV ({exc})") from exc
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > len(header):
            raise StreamError(
                f"{name}:{reader.line_num}: {len(record)} fields but the header has {len(header)}"
            )
        values = dict(zip(header, record, strict=False))
        text = values.pop(options.text_column, "")
        if not text.strip():
            stats.skip(f"{name}:{reader.line_num}")
            continue
        row: Row = {"text": text}
        metadata = {}
        # A field's own name wins over its aliases whatever the column order.
        for column, value in sorted(values.items(), key=lambda cv: cv[0] not in contract.BY_NAME):
            if not value:
                continue
            field_name = _CONTRACT_COLUMNS.get(column)
            if field_name is not None and field_name not in row:
                row[field_name] = value
            else:
                metadata[column] = value
        if metadata:
            row["metadata"] = metadata
        yield row


def passes(open_pass: Callable[[], Iterator[Row]], loop: bool) -> Iterator[Row]:
    """The rows once, or over and over; a repeat's ids get ``-loopN`` so each pass is new."""
    number = 0
    while True:
        produced = False
        for row in open_pass():
            produced = True
            if number and row.get("id") is not None:
                row["id"] = f"{row['id']}-loop{number}"
            yield row
        if not (loop and produced):  # an empty source would otherwise spin forever
            return
        number += 1


_END = object()


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


async def rows_in_thread(rows: Iterable[Row], buffer: int = 1000) -> AsyncIterator[Row]:
    """Iterate a blocking source (stdin) in a thread so the producer keeps sending meanwhile.

    The thread is a daemon: if the source never ends (an idle pipe) and the feed stops, the
    process can still exit. At most ``buffer`` rows wait between the thread and the loop.
    """
    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[object] = asyncio.Queue()
    room = threading.Semaphore(buffer)
    closed = threading.Event()

    def hand_over(item: object) -> bool:
        while not room.acquire(timeout=0.2):
            if closed.is_set():
                return False
        try:
            loop.call_soon_threadsafe(ready.put_nowait, item)
        except RuntimeError:  # the loop is gone: nobody is listening any more
            return False
        return True

    def pump() -> None:
        try:
            for row in rows:
                if not hand_over(row):
                    return
        except BaseException as exc:  # handed to the loop, which re-raises it
            hand_over(_Raised(exc))
            return
        hand_over(_END)

    threading.Thread(target=pump, name="feed-reader", daemon=True).start()
    try:
        while True:
            item = await ready.get()
            room.release()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield cast(Row, item)
    finally:
        closed.set()


class TokenBucket:
    """Paces events to ``rate`` per second, allowing a short burst after a pause.

    ``take()`` always grants the event and returns how long to wait before acting on it; the
    bucket goes into debt meanwhile, so the long-run rate is exact whatever the caller's
    sleep overshoot.
    """

    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        # A tenth of a second's worth: smooth at high rates, never below one event.
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()

    def take(self) -> float:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


@dataclass(slots=True)
class FeedResult:
    sent: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    errors: Counter[str] = field(default_factory=Counter)  # each kind of failure → how often

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        line = f"sent {self.sent}, failed {self.failed} in {self.seconds:.1f} s"
        line += f" ({self.rate:.0f} msg/s)"
        return line + (", interrupted" if self.interrupted else "")


async def feed(
    settings: Settings,
    rows: Iterable[Row] | AsyncIterable[Row],
    topic: str,
    rate: float = 0,
    progress: bool = False,
    *,
    total: int | None = None,
    stop: asyncio.Event | None = None,
) -> FeedResult:
    """Send contract rows to ``topic`` and wait for every ack.

    ``rate`` paces sends (messages/s, 0 = as fast as possible). Setting ``stop`` ends the feed
    early: rows not yet handed to the producer are dropped, those in flight are still flushed
    and counted, and the result says ``interrupted``.
    """
    from tqdm import tqdm

    bar = tqdm(total=total, unit="msg", desc=topic, disable=None if progress else True,
               mininterval=0.5, smoothing=0.1)
    result = FeedResult()
    try:
        async with Publisher(settings, on_delivered=bar.update) as publisher:
            await publisher.require_topic(topic)
            started = time.monotonic()
            sending = asyncio.ensure_future(_send_rows(publisher, rows, topic, rate))
            try:
                if stop is not None:
                    stopping = asyncio.ensure_future(stop.wait())
                    await asyncio.wait({sending, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    stopping.cancel()
                    if not sending.done():
                        result.interrupted = True
                        sending.cancel()
                await sending
            except asyncio.CancelledError:
                if not result.interrupted:  # our caller cancelled us, not the stop event
                    raise
            finally:
                sending.cancel()  # a no-op once it is done; stops it if we are cancelled
        # Leaving the block flushed the producer: every count below is final.
        result.seconds = time.monotonic() - started
        result.sent = sum(publisher.sent.values())
        result.failed = sum(publisher.failed.values())
        result.errors = publisher.errors
        return result
    finally:
        bar.close()


async def _send_rows(
    publisher: Publisher, rows: Iterable[Row] | AsyncIterable[Row], topic: str, rate: float
) -> None:
    bucket = TokenBucket(rate) if rate > 0 else None
    async for row in _as_async(rows):
        if bucket is not None:
            delay = bucket.take()
            if delay > 0:
                await asyncio.sleep(delay)
        value, key = encode_row(row)
        await publisher.send(topic, value, key)


async def _as_async(rows: Iterable[Row] | AsyncIterable[Row]) -> AsyncIterator[Row]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


def encode_row(row: Row) -> tuple[bytes, bytes | None]:
    """Value and key of a row: the key is its id, so one message id keeps one partition."""
    value = json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    key = None if row.get("id") is None else str(row["id"]).encode("utf-8")
    return value, key
