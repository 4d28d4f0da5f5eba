"""Turning raw Kafka bytes into a :class:`Message`, or a :class:`Rejection` saying why not.

Validation never raises for bad input: every way a message can be malformed maps to a
:class:`Reason`, so the caller can dead-letter it and move on. The fields and their limits are
:mod:`stream.contract`'s; an accepted message is guaranteed to encode as UTF-8 JSON (no lone
surrogate, no ``NaN``) anywhere, so nothing downstream can fail on its encoding.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stream.contract import (
    BY_NAME,
    CHANNELS,
    FIELDS,
    MAX_METADATA_DEPTH,
    MAX_METADATA_ENTRIES,
    Kind,
)
from stream.records import Message, Position, Reason, Rejection

# Valid UTF-8 bytes can carry a lone surrogate only as a JSON escape \uD800-\uDFFF; when no such
# escape is in the record (nearly always), the walk over every string is skipped.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_STRING_KINDS = (Kind.KEYWORD, Kind.CHANNEL, Kind.TIMESTAMP)


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    max_chars: int


def parse_created_at(value: str) -> datetime:
    """ISO-8601 with or without offset (naive means UTC); ``Z`` accepted.

    Raises ValueError for anything else, including a moment outside years 1-9999 in UTC.
    """
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError(f"{value!r} is outside the years 1-9999 in UTC") from exc


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
        data: Any = json.loads(decoded, parse_constant=_no_constant, parse_float=_finite_float)
    except ValueError as exc:
        return Rejection(Reason.NOT_JSON, f"not JSON: {exc}")
    except RecursionError:  # the C decoder's guard against nesting thousands of levels deep
        return Rejection(Reason.NOT_JSON, "not JSON this parser accepts: nested too deep")
    if not isinstance(data, dict):
        return Rejection(Reason.NOT_AN_OBJECT, f"expected a JSON object, got {type(data).__name__}")
    if _SURROGATE_ESCAPE.search(raw) and (where := _first_unencodable(data)) is not None:
        return Rejection(
            Reason.UNENCODABLE, f"{where} contains an unpaired surrogate escape (not UTF-8)"
        )
    return _from_object(data, position, timestamp_ms, topic_channel, limits)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {literal[:40]} is out of range")
    return value


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
    for field in FIELDS:
        value = data.get(field.name)
        if value is None or field.kind is Kind.TEXT:
            continue
        if field.kind in _STRING_KINDS and not isinstance(value, str):
            return Rejection(
                Reason.WRONG_TYPE, f"{field.name!r} must be a string, got {type(value).__name__}"
            )
        if field.kind is Kind.OBJECT and not isinstance(value, dict):
            return Rejection(
                Reason.WRONG_TYPE, f"{field.name!r} must be an object, got {type(value).__name__}"
            )
        if field.kind is Kind.KEYWORD and (rejection := _keyword(field.name, value)) is not None:
            return rejection
    metadata: dict[str, Any] = data.get("metadata") or {}
    if (problem := _metadata_problem(metadata)) is not None:
        return Rejection(Reason.BAD_METADATA, f"'metadata' {problem}")
    channel = data.get("channel") or topic_channel
    if channel not in CHANNELS:
        return Rejection(Reason.BAD_CHANNEL, f"channel {channel!r} is not one of {CHANNELS}")
    message_id = data.get("id") or position.default_id
    if not message_id.strip():
        return Rejection(Reason.WRONG_TYPE, "'id' must not be only whitespace")
    created: datetime
    if data.get("created_at"):
        try:
            created = parse_created_at(data["created_at"])
        except ValueError:
            return Rejection(
                Reason.BAD_CREATED_AT,
                f"'created_at' {_shown(data['created_at'])} is not ISO-8601 in years 1-9999",
            )
    else:
        created = _kafka_time(timestamp_ms)
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


def _keyword(name: str, value: str) -> Rejection | None:
    limit = BY_NAME[name].max_bytes
    if limit is not None and len(value) * 4 > limit and len(value.encode("utf-8")) > limit:
        return Rejection(
            Reason.FIELD_TOO_LONG,
            f"{name!r} has {len(value.encode('utf-8'))} bytes (UTF-8), over {limit}",
        )
    if (control := _CONTROL.search(value)) is not None:
        return Rejection(
            Reason.CONTROL_CHARACTER,
            f"{name!r} contains the control character U+{ord(control.group()):04X} "
            f"at {control.start()}; keyword fields must be printable",
        )
    return None


def _kafka_time(timestamp_ms: int | None) -> datetime:
    """The record's Kafka timestamp, or now when it has none (or one no calendar holds)."""
    if timestamp_ms is not None and timestamp_ms > 0:
        try:
            return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass  # a producer may set any 64-bit timestamp
    return datetime.now(UTC)


def _metadata_problem(metadata: dict[str, Any]) -> str | None:
    """Why metadata is too deep or too large, else None (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(metadata, 1)]
    entries = 0
    while stack:
        value, depth = stack.pop()
        children: list[Any]
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_METADATA_DEPTH:
            return f"is nested more than {MAX_METADATA_DEPTH} levels deep"
        entries += len(children)
        if entries > MAX_METADATA_ENTRIES:
            return f"has more than {MAX_METADATA_ENTRIES} keys and items"
        stack.extend((child, depth + 1) for child in children)
    return None


def _first_unencodable(data: dict[str, Any]) -> str | None:
    """Where the first string that UTF-8 cannot encode sits (a key or a value), else None."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return repr(where)
        elif isinstance(value, dict):
            for key, child in value.items():
                if _SURROGATE.search(key):
                    return f"a key {_shown(key)}" + (f" in {where!r}" if where else "")
                stack.append((f"{where}.{key}" if where else key, child))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(value))
    return None


def _shown(value: object, width: int = 60) -> str:
    """A value for a detail message: escaped, so the message itself always encodes."""
    text = ascii(value)
    return text if len(text) <= width else text[: width - 1] + "…"
