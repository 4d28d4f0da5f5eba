"""What flows through the stream: accepted messages, dead letters, scored documents.

The input contract (one JSON object per Kafka message)::

    text             str, required, non-empty, at most MOODWATCH_MAX_TEXT_CHARS characters
    id               str, optional; default "<topic>-<partition>-<offset>"
    channel          "news" | "chat", optional; default from the topic it arrived on
    source           str, optional: outlet, chat queue, ...
    created_at       ISO-8601 string, optional; default the Kafka timestamp; naive means UTC
    lang, author, conversation_id   str, optional
    metadata         JSON object, optional, stored as is (not indexed)
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

CHANNELS = ("news", "chat")


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
    # Labels (stream/labels.py)
    UNKNOWN_MESSAGE = "unknown_message"
    BAD_LABEL = "bad_label"
    UNKNOWN_CLASS = "unknown_class"


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
