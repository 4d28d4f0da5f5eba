"""The dead-letter topic from the outside: reading it, exporting it for repair, replaying it.

Reading never joins a consumer group: the reader assigns partitions and seeks, so it commits
nothing and never takes partitions away from anyone. Replaying sends a message back to the
topic it first arrived on; a JSON object without an ``id`` gets the id the worker would have
given it at its original position (``<topic>-<partition>-<offset>``), so however often a message
is replayed, it can only ever overwrite its own document.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from moodwatch.settings import Settings
from stream.connections import kafka_options
from stream.errors import StreamError
from stream.publisher import Publisher, find_partitions
from stream.records import Position, Reason

# Failures a second attempt can fix without anyone editing the message.
TRANSIENT_REASONS = (Reason.MODEL_FAILED.value, Reason.INDEX_REJECTED.value)


class Redacting(Protocol):
    def redact(self, text: str) -> tuple[str, Iterable[str]]: ...


@dataclass(frozen=True, slots=True)
class Replay:
    """One message on its way back to its source topic."""

    topic: str
    value: bytes
    key: bytes | None
    source: Position
    reason: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead-letter record as :func:`stream.records.dead_letter` wrote it, plus where it sits."""

    reason: str
    detail: str
    original: bytes
    key: bytes | None
    source: Position
    position: Position
    timestamp_ms: int
    record: dict[str, Any]

    @classmethod
    def parse(cls, value: bytes | None, position: Position, timestamp_ms: int = 0) -> DeadLetter:
        try:
            record = json.loads(value or b"")
            key_b64 = record.get("key_b64")
            return cls(
                reason=str(record["reason"]),
                detail=str(record.get("detail") or ""),
                original=base64.b64decode(record["original_b64"], validate=True),
                key=base64.b64decode(key_b64, validate=True) if key_b64 else None,
                source=_source(record),
                position=position,
                timestamp_ms=timestamp_ms,
                record=record,
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise StreamError(
                f"{position.default_id} is not a dead-letter record ({type(exc).__name__}: {exc})"
            ) from exc

    @property
    def failed_at(self) -> str:
        return str(self.record.get("failed_at") or "")

    def text(self) -> str:
        """The message's text when it has one, else the whole original as text."""
        message = decode_original(self.original)
        if isinstance(message, dict) and isinstance(message.get("text"), str):
            return str(message["text"])
        return message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)

    def export(self) -> dict[str, Any]:
        """A line for hand repair: the record without the base64 copy, and the message itself."""
        record = {name: value for name, value in self.record.items() if name != "original_b64"}
        return {"dead_letter": record, "message": decode_original(self.original)}

    def replay(self) -> Replay:
        return Replay(self.source.topic, with_replay_id(self.original, self.source), self.key,
                      self.source, self.reason)

    def view(self, redactor: Redacting, width: int = 60) -> dict[str, Any]:
        """What inspect shows: no unredacted text leaves this method."""
        # Redact before cutting, so a cut can never leave half an address unrecognised.
        text, kinds = redactor.redact(" ".join(self.text().split()))
        detail, detail_kinds = redactor.redact(self.detail)
        return {
            "failed_at": self.failed_at,
            "reason": self.reason,
            "source": {"topic": self.source.topic, "partition": self.source.partition,
                       "offset": self.source.offset},
            "message_id": self.record.get("message_id"),
            "detail": detail,
            "preview": text if len(text) <= width else text[: width - 1] + "…",
            "redacted": sorted({*kinds, *detail_kinds}),
            "dead_letter": {"partition": self.position.partition, "offset": self.position.offset},
        }


def _source(record: dict[str, Any]) -> Position:
    source = record["source"]
    return Position(str(source["topic"]), int(source["partition"]), int(source["offset"]))


def decode_original(original: bytes) -> Any:
    """The original as JSON when it parses, else as text (undecodable bytes become U+FFFD)."""
    try:
        return json.loads(original)
    except ValueError:
        return original.decode("utf-8", "replace")


def with_replay_id(original: bytes, source: Position) -> bytes:
    """The original, with ``id`` set to its first position when it is an object without one."""
    try:
        message = json.loads(original)
    except ValueError:
        return original
    if not isinstance(message, dict) or message.get("id"):
        return original
    message["id"] = source.default_id
    return json.dumps(message, ensure_ascii=False).encode("utf-8")


def replays_from_export(lines: Iterable[str], name: str) -> Iterator[Replay]:
    """Replays from an export file someone has edited; a damaged line names itself."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            entry = json.loads(line)
            record = entry["dead_letter"]
            position = _source(record)
            message = entry["message"]
            key_b64 = record.get("key_b64")
            key = base64.b64decode(key_b64, validate=True) if key_b64 else None
            reason = str(record.get("reason") or "")
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise StreamError(
                f"{where}: not an export line ({type(exc).__name__}: {exc}); each line needs "
                '{"dead_letter": {"source": {"topic", "partition", "offset"}, ...}, "message": ...}'
            ) from exc
        if isinstance(message, str):
            value = message.encode("utf-8")  # maybe fixed into JSON text by hand: id added below
        else:
            value = json.dumps(message, ensure_ascii=False).encode("utf-8")
        yield Replay(position.topic, with_replay_id(value, position), key, position, reason)


class DeadLetterReader:
    """Reads the dead-letter topic up to the end it had when the reader opened."""

    def __init__(self, settings: Settings, topic: str, stall_timeout_s: float = 15.0) -> None:
        self._settings = settings
        self._topic = topic
        self._stall_timeout_s = stall_timeout_s
        self._consumer = AIOKafkaConsumer(
            **kafka_options(settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # retention may delete what we seek to
            fetch_max_wait_ms=200,
        )
        self._bounds: dict[TopicPartition, tuple[int, int]] = {}
        self.unreadable: list[str] = []

    async def __aenter__(self) -> DeadLetterReader:
        try:
            await self._consumer.start()
            # A consumer's own metadata lists no topic until it subscribes to one; ask for all.
            partitions = await find_partitions(self._consumer._client, self._topic)
            if not partitions:
                raise StreamError(
                    f"there is no topic {self._topic!r} on "
                    f"{self._settings.kafka_bootstrap_servers}; nothing was dead-lettered yet, "
                    "or MOODWATCH_TOPIC_DEAD_LETTER names another topic"
                )
            tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            begins = await self._consumer.beginning_offsets(tps)
            ends = await self._consumer.end_offsets(tps)
        except KafkaError as exc:
            await self._consumer.stop()
            raise StreamError(
                f"cannot read {self._topic!r} from {self._settings.kafka_bootstrap_servers}: {exc}"
            ) from exc
        except BaseException:
            await self._consumer.stop()
            raise
        self._bounds = {tp: (begins[tp], ends[tp]) for tp in tps}
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._consumer.stop()

    @property
    def size(self) -> int:
        """Records the topic holds (as of opening)."""
        return sum(end - begin for begin, end in self._bounds.values())

    async def newest(self, limit: int, reasons: Iterable[str] = ()) -> list[DeadLetter]:
        """The ``limit`` newest records (of these reasons, if given), newest first."""
        wanted = set(reasons)
        found: list[DeadLetter] = []
        for tp, (begin, end) in self._bounds.items():
            # Walk back in growing windows until this partition has given `limit` matches.
            matches: list[DeadLetter] = []
            window, high = limit, end
            while high > begin and len(matches) < limit:
                low = max(begin, high - window)
                matches = [dl async for dl in self._letters(tp, low, high, wanted)] + matches
                high, window = low, window * 4
            found.extend(matches[-limit:])
        found.sort(key=lambda dl: (dl.timestamp_ms, dl.position.partition, dl.position.offset),
                   reverse=True)
        return found[:limit]

    async def everything(self, reasons: Iterable[str] = ()) -> AsyncIterator[DeadLetter]:
        """Every record (of these reasons, if given), partition by partition, oldest first."""
        wanted = set(reasons)
        for tp, (begin, end) in self._bounds.items():
            async for dl in self._letters(tp, begin, end, wanted):
                yield dl

    async def _letters(
        self, tp: TopicPartition, low: int, high: int, wanted: set[str]
    ) -> AsyncIterator[DeadLetter]:
        self._consumer.assign([tp])
        self._consumer.seek(tp, low)
        waited = 0.0
        try:
            while await self._consumer.position(tp) < high:
                batch = await self._consumer.getmany(tp, timeout_ms=500, max_records=500)
                records = batch.get(tp, [])
                waited = 0.0 if records else waited + 0.5
                if waited >= self._stall_timeout_s:
                    raise StreamError(
                        f"reading {tp.topic}/{tp.partition} stalled at offset "
                        f"{await self._consumer.position(tp)} of {high}"
                    )
                for record in records:
                    if record.offset >= high:
                        return
                    position = Position(tp.topic, tp.partition, record.offset)
                    try:
                        dl = DeadLetter.parse(record.value, position, record.timestamp)
                    except StreamError as exc:
                        self.unreadable.append(str(exc))
                        continue
                    if not wanted or dl.reason in wanted:
                        yield dl
        except KafkaError as exc:
            raise StreamError(f"cannot read {tp.topic}/{tp.partition}: {exc}") from exc


@dataclass(slots=True)
class ReplayReport:
    planned: Counter[str] = field(default_factory=Counter)  # topic → messages to send
    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


async def replay(
    settings: Settings,
    items: Iterable[Replay] | AsyncIterable[Replay],
    *,
    dry_run: bool = False,
    limit: int | None = None,
    on_item: Callable[[Replay], None] | None = None,
) -> ReplayReport:
    """Send each replay to its topic (at most ``limit``); ``dry_run`` only counts them."""
    report = ReplayReport()
    if dry_run:
        async for item in _each(items, limit):
            report.planned[item.topic] += 1
            if on_item is not None:
                on_item(item)
        return report
    missing: dict[str, str] = {}  # topic → why it cannot be sent to
    ready: set[str] = set()
    async with Publisher(settings) as publisher:
        async for item in _each(items, limit):
            report.planned[item.topic] += 1
            if on_item is not None:
                on_item(item)
            if item.topic not in ready and item.topic not in missing:
                try:
                    await publisher.require_topic(item.topic)
                    ready.add(item.topic)
                except StreamError as exc:
                    missing[item.topic] = str(exc)
            if item.topic in missing:
                report.failed[item.topic] += 1
                continue
            await publisher.send(item.topic, item.value, item.key)
    report.sent.update(publisher.sent)
    report.failed.update(publisher.failed)
    report.errors.update(publisher.errors)
    for topic, error in missing.items():
        report.errors[error] += report.failed[topic]
    return report


async def _each(items: Iterable[Replay] | AsyncIterable[Replay], limit: int | None
                ) -> AsyncIterator[Replay]:
    count = 0
    if isinstance(items, AsyncIterable):
        async for item in items:
            if limit is not None and count >= limit:
                return
            count += 1
            yield item
    else:
        for item in items:
            if limit is not None and count >= limit:
                return
            count += 1
            yield item
