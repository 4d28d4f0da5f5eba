"""Replaying dead letters once each, at the time they were first sent.

Time: a replayed message carries its original Kafka timestamp, so the worker files it where
the first attempt would have (``created_at`` falls back to the Kafka timestamp). Taken from the
dead letter's ``timestamp_ms`` when it has one, else from the ``created_at`` inside the
original JSON, else left to the producer (now). The original's Kafka headers (dead-letter field
``headers``: ``[key, value_b64]`` pairs) are sent again as they were.

Once: :class:`ReplayLog` is an append-only JSONL file with one line per replay the broker
acknowledged, keyed by the dead letter's own position (``<topic>/<partition>@<offset>``) for
replays from the topic, and by the source position plus a hash of the (hand-fixed) message for
replays from an export file. A later run skips what the log holds, so running ``dlq replay``
twice sends nothing the second time; a message that fails again gets a new dead letter, with a
new position, which can be replayed in its turn. A file was chosen over a consumer group with
committed offsets because replays are selective (``--reason``, ``--limit``, files): offsets
would mark skipped records as done. The file is locked while a replay runs. A crash between
the broker's ack and the line being written can send that one message again on the next run;
it then overwrites its own document (same id), so nothing is doubled in the index.

Kafka deletes records by the age of their timestamps: a message replayed with a timestamp
older than the input topic's ``retention.ms`` (7 days by default) may be deleted by the next
retention check (every 5 minutes by default) if no worker has consumed it by then.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import json
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from moodwatch.settings import Settings
from stream.dead_letters import DeadLetter, Replay, ReplayReport, replays_from_export
from stream.errors import StreamError
from stream.publisher import Header, Publisher
from stream.validation import parse_created_at


@dataclass(frozen=True, slots=True)
class Pending:
    """A replay with what makes it the same message as before: its time, headers and log key."""

    replay: Replay
    log_key: str
    timestamp_ms: int | None
    headers: tuple[Header, ...] = ()


def original_timestamp_ms(record: dict[str, Any], original: bytes) -> int | None:
    """The original Kafka timestamp: the dead letter's ``timestamp_ms``, else the message's
    ``created_at``, else None (the producer then stamps now)."""
    stamp = record.get("timestamp_ms")
    if isinstance(stamp, int) and not isinstance(stamp, bool) and stamp > 0:
        return stamp
    try:
        message = json.loads(original)
        created = parse_created_at(message["created_at"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    stamp = int(created.timestamp() * 1000)
    return stamp if stamp > 0 else None  # Kafka timestamps start in 1970


def original_headers(record: dict[str, Any]) -> tuple[Header, ...]:
    """The original's headers from the dead letter's ``headers`` (``[key, value_b64]`` pairs);
    a malformed list is dropped whole rather than half sent."""
    pairs = record.get("headers") or []
    try:
        return tuple((str(key), base64.b64decode(value, validate=True)) for key, value in pairs)
    except (ValueError, TypeError, binascii.Error):
        return ()


def from_letter(letter: DeadLetter) -> Pending:
    position = letter.position
    return Pending(
        letter.replay(),
        f"{position.topic}/{position.partition}@{position.offset}",
        original_timestamp_ms(letter.record, letter.original),
        original_headers(letter.record),
    )


def from_export(lines: Iterable[str], name: str) -> Iterator[Pending]:
    """Pending replays of an export file, each keyed by its source and its (fixed) content."""
    kept = list(lines)
    # The same lines in the same order (blank ones skipped alike); a damaged line raises in
    # replays_from_export, naming its line, before it is read here.
    records = (json.loads(line)["dead_letter"] for line in kept if line.strip())
    for replay, record in zip(replays_from_export(kept, name), records, strict=True):
        digest = hashlib.sha256(replay.value + b"\0" + (replay.key or b"")).hexdigest()[:32]
        source = replay.source
        yield Pending(
            replay,
            f"file:{source.topic}/{source.partition}@{source.offset}:{digest}",
            original_timestamp_ms(record, replay.value),
            original_headers(record),
        )


class ReplayLog:
    """What was already replayed: an append-only JSONL file, locked while open.

    ``again``: skip nothing (what is in the file is not read), but still record this run.
    """

    def __init__(self, path: Path, *, again: bool = False) -> None:
        self.path = path
        self._again = again
        self._done: set[str] = set()
        self._file: IO[str] | None = None

    def __enter__(self) -> ReplayLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise StreamError(
                f"another `dlq replay` is using {self.path}; wait for it to finish"
            ) from exc
        handle.seek(0)
        last = ""
        for line in handle:
            last = line
            if line.strip() and not self._again:
                try:
                    self._done.add(str(json.loads(line)["key"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash: that replay counts as not done
        if last and not last.endswith("\n"):
            handle.write("\n")  # end a torn line, so the next record starts a line of its own
        self._file = handle
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            os.fsync(self._file.fileno())  # once per run: a line per ack would cost a disk flush
            self._file.close()
            self._file = None

    def __contains__(self, key: str) -> bool:
        return key in self._done

    def record(self, key: str) -> None:
        """Note one acknowledged replay; handed to the OS before this returns, so a crash of
        this process loses nothing (the file is synced to disk when the log closes)."""
        if self._file is None:
            raise RuntimeError("the replay log is not open (use it in a with block)")
        self._done.add(key)
        self._file.write(json.dumps({"key": key}) + "\n")
        self._file.flush()


@dataclass(slots=True)
class Outcome:
    """A replay run: the usual report plus how many were skipped as already replayed."""

    report: ReplayReport
    skipped: int = 0


async def replay_once(
    settings: Settings,
    items: Iterable[Pending] | AsyncIterable[Pending],
    log: ReplayLog,
    *,
    dry_run: bool = False,
    limit: int | None = None,
    on_item: Callable[[Pending], None] | None = None,
) -> Outcome:
    """Send each pending replay not yet in ``log`` (at most ``limit``) with its original
    timestamp and headers; every acknowledged one is recorded. ``dry_run`` only counts."""
    outcome = Outcome(ReplayReport())
    report = outcome.report
    missing: dict[str, str] = {}
    ready: set[str] = set()

    async def each() -> AsyncIterator[Pending]:
        count = 0
        async for item in _as_async(items):
            if item.log_key in log:
                outcome.skipped += 1
                continue
            if limit is not None and count >= limit:
                return
            count += 1
            report.planned[item.replay.topic] += 1
            if on_item is not None:
                on_item(item)
            yield item

    if dry_run:
        async for _ in each():
            pass
        return outcome

    def done(key: str) -> Callable[[BaseException | None], None]:
        return lambda error: log.record(key) if error is None else None

    async with Publisher(settings) as publisher:
        async for item in each():
            topic = item.replay.topic
            if topic not in ready and topic not in missing:
                try:
                    await publisher.require_topic(topic)
                    ready.add(topic)
                except StreamError as exc:
                    missing[topic] = str(exc)
            if topic in missing:
                report.failed[topic] += 1
                continue
            await publisher.send(topic, item.replay.value, item.replay.key,
                                 timestamp_ms=item.timestamp_ms, headers=item.headers,
                                 on_done=done(item.log_key))
    report.sent.update(publisher.sent)
    report.failed.update(publisher.failed)
    report.errors.update(publisher.errors)
    for topic, error in missing.items():
        report.errors[error] += report.failed[topic]
    return outcome


async def _as_async(items: Iterable[Pending] | AsyncIterable[Pending]) -> AsyncIterator[Pending]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
