"""Labels people (or other systems) give messages: the record, its validation, and storing it.

The record on the labels topic (one JSON object; key = the message id, so one message's labels
stay in order on one partition)::

    message_id   str, required: the ``_id`` of an indexed message
    labeler      str, required: who labelled it (a person, or a system such as "support-tags")
    labeled_at   ISO-8601, required; naive means UTC. A newer label by the same labeler wins
    sentiment    "negative" | "neutral" | "positive", optional
    topic        a topic slug of the message's channel in the taxonomy, optional
    note         str, optional

At least one of sentiment and topic is required. Validation never raises for bad input: a bad
record becomes a :class:`~stream.records.Rejection` (``BAD_LABEL``, ``UNKNOWN_CLASS``,
``UNKNOWN_MESSAGE``) and :meth:`LabelStore.handle` returns the dead-letter payload to send.
Elasticsearch being down is not the label's fault: that raises :class:`IndexUnavailable`, so the
caller pauses instead of dead-lettering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, AsyncElasticsearch, ConflictError, NotFoundError

from models.examples import SENTIMENTS
from models.taxonomy import Taxonomy
from moodwatch.settings import Settings
from stream.connections import kafka_options
from stream.contract import MAX_ID_BYTES
from stream.errors import IndexingError, IndexUnavailable, StreamError
from stream.label_index import labels_index, labels_index_body
from stream.records import Position, Reason, Rejection, dead_letter
from stream.validation import parse_created_at

MAX_LABELER_CHARS = 128
MAX_NOTE_CHARS = 2000
MAX_LABEL_BYTES = 16384


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Label:
    """One labeller's judgement of one message."""

    message_id: str
    labeler: str
    labeled_at: datetime
    sentiment: str | None = None
    topic: str | None = None
    note: str | None = None

    @property
    def doc_id(self) -> str:
        """The labels-index ``_id``: one document per message and labeler."""
        return f"{self.message_id}:{self.labeler}"

    @property
    def version(self) -> int:
        """``labeled_at`` in epoch ms: the ES external version that makes newer labels win."""
        return int(self.labeled_at.timestamp() * 1000)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "message_id": self.message_id,
            "labeler": self.labeler,
            "labeled_at": iso(self.labeled_at),
        }
        for name in ("sentiment", "topic", "note"):
            if getattr(self, name) is not None:
                record[name] = getattr(self, name)
        return record

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_record(), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class MessageRef:
    """What a label is joined with: the labelled message as indexed."""

    id: str
    text: str
    channel: str
    source: str | None = None
    created_at: str | None = None
    predicted_sentiment: str | None = None
    predicted_topic: str | None = None
    model_version: str | None = None


def parse_label(raw: bytes | None) -> Label | Rejection:
    """Decode and check a label record on its own (the message is checked by the caller)."""
    if raw is None or not raw.strip():
        return Rejection(Reason.BAD_LABEL, "the label record is empty")
    if len(raw) > MAX_LABEL_BYTES:
        return Rejection(Reason.TOO_LARGE, f"{len(raw)} bytes is over {MAX_LABEL_BYTES}")
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Rejection(Reason.INVALID_UTF8, f"invalid UTF-8 at byte {exc.start}")
    except ValueError as exc:
        return Rejection(Reason.NOT_JSON, f"not JSON: {exc}")
    if not isinstance(data, dict):
        return Rejection(Reason.NOT_AN_OBJECT, f"expected a JSON object, got {type(data).__name__}")
    return label_from_object(data)


def _text_field(data: dict[str, Any], name: str, limit: int, required: bool) -> str | Rejection:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            return Rejection(Reason.BAD_LABEL, f"'{name}' is required")
        return ""
    if not isinstance(value, str):
        return Rejection(
            Reason.WRONG_TYPE, f"'{name}' must be a string, got {type(value).__name__}"
        )
    if len(value) > limit:
        return Rejection(Reason.BAD_LABEL, f"'{name}' is over {limit} characters")
    return value


def label_from_object(data: dict[str, Any]) -> Label | Rejection:
    """Check the fields of a decoded label record (see the module docstring)."""
    fields: dict[str, str] = {}
    for name, limit, required in (
        ("message_id", MAX_ID_BYTES, True),
        ("labeler", MAX_LABELER_CHARS, True),
        ("labeled_at", 64, True),
        ("sentiment", 32, False),
        ("topic", 128, False),
        ("note", MAX_NOTE_CHARS, False),
    ):
        value = _text_field(data, name, limit, required)
        if isinstance(value, Rejection):
            return value
        fields[name] = value
    if len(fields["message_id"].encode("utf-8")) + len(fields["labeler"].encode("utf-8")) >= 511:
        return Rejection(Reason.BAD_LABEL, "message_id and labeler together exceed 510 bytes")
    try:
        labeled_at = parse_created_at(fields["labeled_at"])
    except ValueError:
        return Rejection(Reason.BAD_LABEL, f"'labeled_at' {fields['labeled_at']!r} is not ISO-8601")
    sentiment = fields["sentiment"] or None
    topic = fields["topic"] or None
    if sentiment is None and topic is None:
        return Rejection(Reason.BAD_LABEL, "a label needs a 'sentiment', a 'topic' or both")
    if sentiment is not None and sentiment not in SENTIMENTS:
        return Rejection(
            Reason.UNKNOWN_CLASS, f"sentiment {sentiment!r} is not one of {', '.join(SENTIMENTS)}"
        )
    return Label(
        message_id=fields["message_id"],
        labeler=fields["labeler"],
        labeled_at=labeled_at,
        sentiment=sentiment,
        topic=topic,
        note=fields["note"] or None,
    )


def check_topic(label: Label, channel: str, taxonomy: Taxonomy) -> Rejection | None:
    """A topic must be one of the message's channel in the taxonomy."""
    if label.topic is None:
        return None
    slugs = [t.slug for t in taxonomy.for_channel(channel)]
    if label.topic not in slugs:
        return Rejection(
            Reason.UNKNOWN_CLASS,
            f"topic {label.topic!r} is not a {channel} topic (known: {', '.join(slugs)})",
        )
    return None


def label_document(
    label: Label, message: MessageRef, origin: str, stored_at: datetime | None = None
) -> dict[str, Any]:
    """The labels-index document: the label joined with its message."""
    return {
        **label.to_record(),
        "stored_at": iso(stored_at or datetime.now(UTC)),
        "origin": origin,
        "text": message.text,
        "channel": message.channel,
        "source": message.source,
        "message_created_at": message.created_at,
        "predicted": {
            "sentiment": message.predicted_sentiment,
            "topic": message.predicted_topic,
            "model_version": message.model_version,
        },
    }


@dataclass(frozen=True, slots=True)
class Stored:
    """The label is in the index (a replay of the same label counts as stored)."""

    doc_id: str


@dataclass(frozen=True, slots=True)
class Superseded:
    """The same labeler already has a newer label on this message; this one was dropped."""

    doc_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The label is invalid; ``dead_letter`` is the record to send to the dead-letter topic."""

    rejection: Rejection
    dead_letter: bytes


LabelOutcome = Stored | Superseded | Refused


class LabelStore:
    """Validates label records, joins them with their message and writes the labels index.

    The lead's Faust agent calls :meth:`handle` for every record of the labels topic and sends
    ``Refused.dead_letter`` to the dead-letter topic.
    """

    def __init__(self, client: AsyncElasticsearch, prefix: str, taxonomy: Taxonomy) -> None:
        self.client = client
        self.index = labels_index(prefix)
        self.messages_alias = f"{prefix}-messages"
        self.taxonomy = taxonomy

    async def ensure_index(self) -> None:
        """Create the labels index if it is missing (idempotent, race-safe)."""
        try:
            if await self.client.indices.exists(index=self.index):
                return
            await self.client.indices.create(index=self.index, **labels_index_body())
        except TransportConnectionError as exc:
            raise IndexUnavailable(f"cannot reach Elasticsearch: {exc}") from exc
        except ApiError as exc:
            if "resource_already_exists" not in str(exc):
                raise IndexingError(f"cannot create {self.index}: {exc}") from exc

    async def find_message(self, message_id: str) -> MessageRef | None:
        """The indexed message with this id, or None when no messages index has it."""
        try:
            result = await self.client.search(
                index=self.messages_alias,
                query={"ids": {"values": [message_id]}},
                size=1,
                source_includes=[
                    "text",
                    "channel",
                    "source",
                    "created_at",
                    "sentiment.label",
                    "topic.label",
                    "model_version",
                ],
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        except NotFoundError:
            return None
        except TransportConnectionError as exc:
            raise IndexUnavailable(f"cannot reach Elasticsearch: {exc}") from exc
        except ApiError as exc:
            raise _unavailable_or_error(exc) from exc
        hits = result.body["hits"]["hits"]
        if not hits:
            return None
        source = hits[0]["_source"]
        return MessageRef(
            id=message_id,
            text=source.get("text", ""),
            channel=source.get("channel", ""),
            source=source.get("source"),
            created_at=source.get("created_at"),
            predicted_sentiment=(source.get("sentiment") or {}).get("label"),
            predicted_topic=(source.get("topic") or {}).get("label"),
            model_version=source.get("model_version"),
        )

    async def handle(
        self, raw: bytes | None, position: Position, key: bytes | None = None
    ) -> LabelOutcome:
        """Validate, join and store one label record from the labels topic."""
        parsed = parse_label(raw)
        if isinstance(parsed, Rejection):
            return self._refuse(parsed, raw, position, key, None)
        message = await self.find_message(parsed.message_id)
        if message is None:
            rejection = Rejection(
                Reason.UNKNOWN_MESSAGE,
                f"no message with id {parsed.message_id!r} in {self.messages_alias}",
            )
            return self._refuse(rejection, raw, position, key, parsed.message_id)
        wrong_topic = check_topic(parsed, message.channel, self.taxonomy)
        if wrong_topic is not None:
            return self._refuse(wrong_topic, raw, position, key, parsed.message_id)
        return await self.store(parsed, message, "stream", raw, position, key)

    async def store(
        self,
        label: Label,
        message: MessageRef,
        origin: str,
        raw: bytes | None = None,
        position: Position | None = None,
        key: bytes | None = None,
    ) -> LabelOutcome:
        """Write a validated label; an older label than the stored one is :class:`Superseded`."""
        try:
            await self.client.index(
                index=self.index,
                id=label.doc_id,
                document=label_document(label, message, origin),
                version=label.version,
                version_type="external_gte",
            )
        except ConflictError:
            return Superseded(label.doc_id)
        except TransportConnectionError as exc:
            raise IndexUnavailable(f"cannot reach Elasticsearch: {exc}") from exc
        except ApiError as exc:
            if exc.meta.status == 429 or exc.meta.status >= 500:
                raise IndexUnavailable(f"Elasticsearch is overloaded: {exc}") from exc
            rejection = Rejection(Reason.INDEX_REJECTED, f"the labels index refused it: {exc}")
            where = position or Position(self.index, 0, 0)
            return self._refuse(rejection, raw or label.to_bytes(), where, key, label.message_id)
        return Stored(label.doc_id)

    @staticmethod
    def _refuse(
        rejection: Rejection,
        raw: bytes | None,
        position: Position,
        key: bytes | None,
        message_id: str | None,
    ) -> Refused:
        payload = dead_letter(
            rejection.reason, rejection.detail, raw or b"", position, key, message_id
        )
        return Refused(rejection, payload)


def _unavailable_or_error(exc: ApiError) -> StreamError:
    if exc.meta.status == 429 or exc.meta.status >= 500:
        return IndexUnavailable(f"Elasticsearch is overloaded: {exc}")
    return IndexingError(f"Elasticsearch refused a message lookup: {exc}")


async def publish_label(producer: AIOKafkaProducer, topic: str, label: Label) -> None:
    """Send one label on a started producer; returns once the broker has it."""
    await producer.send_and_wait(topic, label.to_bytes(), key=label.message_id.encode("utf-8"))


async def send_labels(settings: Settings, labels: list[Label]) -> int:
    """Publish labels to ``settings.topic_labels`` with a short-lived producer (the dashboard's
    and the benchmark's way in); returns how many were sent."""
    from aiokafka.errors import KafkaError

    producer = AIOKafkaProducer(**kafka_options(settings), acks="all")
    try:
        await producer.start()
        for label in labels:
            await producer.send(
                settings.topic_labels, label.to_bytes(), key=label.message_id.encode("utf-8")
            )
        await producer.flush()
    except KafkaError as exc:
        raise StreamError(f"cannot publish labels to {settings.topic_labels}: {exc}") from exc
    finally:
        await producer.stop()
    return len(labels)
