"""What flows through the stream: accepted messages, dead letters, scored documents.

The input contract (one JSON object per Kafka message: which fields, their types, defaults and
limits) is defined once in :mod:`stream.contract`; :class:`Message` holds one accepted message.
"""

from __future__ import annotations

import base64
import json
import os
import socket
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
    UNENCODABLE = "unencodable"  # a string UTF-8 cannot encode (a lone surrogate escape)
    CONTROL_CHARACTER = "control_character"  # in a keyword field
    FIELD_TOO_LONG = "field_too_long"  # a keyword field over its byte limit
    BAD_METADATA = "bad_metadata"  # nested too deep, or too many entries


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str


WORKER_NAME = f"{socket.gethostname()}-{os.getpid()}"


def dead_letter(
    reason: Reason,
    detail: str,
    original: bytes,
    position: Position,
    key: bytes | None = None,
    message_id: str | None = None,
) -> bytes:
    """The dead-letter record: enough to understand, fix and replay the original."""
    record = {
        "reason": reason.value,
        "detail": detail,
        "message_id": message_id,
        "original_b64": base64.b64encode(original).decode("ascii"),
        "key_b64": base64.b64encode(key).decode("ascii") if key is not None else None,
        "source": {
            "topic": position.topic,
            "partition": position.partition,
            "offset": position.offset,
        },
        "failed_at": datetime.now(UTC).isoformat(),
        "worker": WORKER_NAME,
    }
    return json.dumps(record).encode("utf-8")
