"""Turning raw Kafka bytes into a :class:`Message`, or a :class:`Rejection` saying why not.

Validation never raises for bad input: every way a message can be malformed maps to a
:class:`Reason`, so the caller can dead-letter it and move on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stream.records import CHANNELS, Message, Position, Reason, Rejection

_OPTIONAL_STRINGS = ("id", "source", "lang", "author", "conversation_id", "channel", "created_at")
MAX_ID_CHARS = 512  # Elasticsearch refuses _id values over 512 bytes


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    max_chars: int


def parse_created_at(value: str) -> datetime:
    """ISO-8601 with or without offset (naive means UTC); ``Z`` accepted."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def validate(
    raw: bytes | None,
    position: Position,
    timestamp_ms: int | None,
    topic_channel: str | None,
    limits: Limits,
) -> Message | Rejection:
    if raw is None:
        return Rejection(Reason.MISSING_TEXT, "the record has no value (tombstone)")
    if len(raw) > limits.max_bytes:
        return Rejection(
            Reason.TOO_LARGE, f"{len(raw)} bytes is over the {limits.max_bytes}-byte limit"
        )
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(Reason.INVALID_UTF8, f"invalid UTF-8 at byte {exc.start}")
    try:
        data: Any = json.loads(decoded)
    except ValueError as exc:
        return Rejection(Reason.NOT_JSON, f"not JSON: {exc}")
    if not isinstance(data, dict):
        return Rejection(Reason.NOT_AN_OBJECT, f"expected a JSON object, got {type(data).__name__}")
    return _from_object(data, position, timestamp_ms, topic_channel, limits)


def _from_object(
    data: dict[str, Any],
    position: Position,
    timestamp_ms: int | None,
    topic_channel: str | None,
    limits: Limits,
) -> Message | Rejection:
    text = data.get("text")
    if text is None:
        return Rejection(Reason.MISSING_TEXT, "the 'text' field is missing")
    if not isinstance(text, str):
        return Rejection(Reason.WRONG_TYPE, f"'text' must be a string, got {type(text).__name__}")
    if not text.strip():
        return Rejection(Reason.EMPTY_TEXT, "'text' is empty or only whitespace")
    if len(text) > limits.max_chars:
        return Rejection(
            Reason.TEXT_TOO_LONG, f"'text' has {len(text)} characters, over {limits.max_chars}"
        )
    for name in _OPTIONAL_STRINGS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            return Rejection(
                Reason.WRONG_TYPE, f"{name!r} must be a string, got {type(value).__name__}"
            )
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        return Rejection(
            Reason.WRONG_TYPE, f"'metadata' must be an object, got {type(metadata).__name__}"
        )
    try:  # JSON escapes can smuggle in lone surrogates, which no index can store
        text.encode("utf-8")
    except UnicodeEncodeError:
        return Rejection(Reason.INVALID_UTF8, "'text' contains an unpaired surrogate escape")
    channel = data.get("channel") or topic_channel
    if channel not in CHANNELS:
        return Rejection(Reason.BAD_CHANNEL, f"channel {channel!r} is not one of {CHANNELS}")
    message_id = data.get("id") or position.default_id
    if len(message_id.encode("utf-8", "replace")) > MAX_ID_CHARS or not message_id.strip():
        return Rejection(Reason.WRONG_TYPE, "'id' must be 1 to 512 bytes")
    created: datetime
    if data.get("created_at"):
        try:
            created = parse_created_at(data["created_at"])
        except ValueError:
            return Rejection(
                Reason.BAD_CREATED_AT, f"'created_at' {data['created_at']!r} is not ISO-8601"
            )
    elif timestamp_ms is not None and timestamp_ms > 0:
        created = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    else:
        created = datetime.now(UTC)
    return Message(
        id=message_id,
        text=text,
        channel=channel,
        created_at=created,
        position=position,
        source=data.get("source"),
        lang=data.get("lang"),
        author=data.get("author"),
        conversation_id=data.get("conversation_id"),
        metadata=metadata,
    )
