"""What flows through the stream: accepted messages, dead letters, scored documents.

The input contract (one JSON object per Kafka message: which fields, their types, defaults and
limits) is defined once in :mod:`stream.contract`; :class:`Message` holds one accepted message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from stream.contract import CHANNELS as CHANNELS  # re-exported for older callers


@dataclass(frozen=True, slots=True)
class Position:
    """Where a record sits in Kafka."""

    topic: str
    partition: int
    offset: int

    @property
    def default_id(self) -> str:
        return f"{self.topic}-{self.partition}-{self.offset}"


@dataclass(frozen=True, slots=True)
class Message:
    """An accepted input message (text already redacted once it leaves validation's caller)."""

    id: str
    text: str
    channel: str
    created_at: datetime
    position: Position
    source: str | None = None
    lang: str | None = None
    author: str | None = None
    conversation_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    redactions: tuple[str, ...] = ()


class Reason(str, Enum):
    """Why a message went to the dead-letter topic."""

    TOO_LARGE = "too_large"
    INVALID_UTF8 = "invalid_utf8"
    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_TEXT = "missing_text"
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    WRONG_TYPE = "wrong_type"
    BAD_CHANNEL = "bad_channel"
    BAD_CREATED_AT = "bad_created_at"
    MODEL_FAILED = "model_failed"
    INDEX_REJECTED = "index_rejected"
    INTERNAL_ERROR = "internal_error"
    UNENCODABLE = "unencodable"  # a string UTF-8 cannot encode (a lone surrogate escape)
    CONTROL_CHARACTER = "control_character"  # in a keyword field
    FIELD_TOO_LONG = "field_too_long"  # a keyword field over its byte limit
    BAD_METADATA = "bad_metadata"  # nested too deep, or too many entries


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str


WORKER_NAME = f"{socket.gethostname()}-{os.getpid()}"

# The original travels base64-encoded (4/3 its size) inside a JSON record that must fit the
# producer's request limit (1 MB by default). 256 KiB of original is at most ~342 KiB of record.
MAX_ORIGINAL_BYTES = 256 * 1024


def dead_letter_key(position: Position) -> bytes:
    """The dead letter's Kafka key: its source position. A redelivered record that fails again
    gets the same key, so readers (and topic compaction) keep one dead letter per record."""
    return position.default_id.encode("utf-8")


def dead_letter(
    reason: Reason,
    detail: str,
    original: bytes,
    position: Position,
    key: bytes | None = None,
    message_id: str | None = None,
    timestamp_ms: int | None = None,
    headers: Sequence[tuple[str, bytes]] = (),
    max_original_bytes: int = MAX_ORIGINAL_BYTES,
) -> bytes:
    """The dead-letter record: enough to understand, fix and replay the original.

    An original larger than ``max_original_bytes`` keeps only that prefix, with
    ``original_truncated: true`` and its full size and SHA-256, so the dead letter always fits
    the producer's request limit and the original can still be identified at its source.
    """
    truncated = len(original) > max_original_bytes
    kept = original[:max_original_bytes] if truncated else original
    record = {
        "reason": reason.value,
        "detail": detail[:2000],
        "message_id": message_id,
        "original_b64": base64.b64encode(kept).decode("ascii"),
        "original_size": len(original),
        "original_sha256": hashlib.sha256(original).hexdigest(),
        "original_truncated": truncated,
        "key_b64": base64.b64encode(key[:1024]).decode("ascii") if key is not None else None,
        "timestamp_ms": timestamp_ms,
        "headers": [
            [name, base64.b64encode(value or b"").decode("ascii")] for name, value in headers
        ][:64],
        "source": {
            "topic": position.topic,
            "partition": position.partition,
            "offset": position.offset,
        },
        "failed_at": datetime.now(UTC).isoformat(),
        "worker": WORKER_NAME,
    }
    # ensure_ascii: a message id or detail holding a lone surrogate still encodes.
    return json.dumps(record, ensure_ascii=True).encode("ascii")
