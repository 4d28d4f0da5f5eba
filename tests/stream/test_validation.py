"""The input contract: what is accepted, and the reason for everything that is not."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from stream.records import Message, Position, Reason, Rejection
from stream.validation import Limits, validate

POS = Position("chat", 2, 41)
LIMITS = Limits(max_bytes=1000, max_chars=100)


def check(
    raw: bytes | None, topic_channel: str | None = "chat", ts: int | None = 1_700_000_000_000
) -> Message | Rejection:
    return validate(raw, POS, ts, topic_channel, LIMITS)


def test_full_message_is_accepted() -> None:
    raw = json.dumps(
        {
            "text": "where is my parcel?",
            "id": "c-9",
            "channel": "chat",
            "source": "web-queue",
            "created_at": "2026-11-22T08:00:00Z",
            "lang": "en",
            "author": "u1",
            "conversation_id": "conv-3",
            "metadata": {"tier": "gold"},
        }
    ).encode()
    message = check(raw)
    assert isinstance(message, Message)
    assert message.id == "c-9" and message.source == "web-queue"
    assert message.created_at == datetime(2026, 11, 22, 8, tzinfo=UTC)
    assert message.metadata == {"tier": "gold"}


def test_defaults_come_from_kafka() -> None:
    message = check(b'{"text": "hi"}', topic_channel="news")
    assert isinstance(message, Message)
    assert message.id == "chat-2-41"
    assert message.channel == "news"
    assert message.created_at == datetime.fromtimestamp(1_700_000_000, tz=UTC)


def test_naive_timestamp_means_utc() -> None:
    message = check(b'{"text": "x", "created_at": "2026-01-02T03:04:05"}')
    assert isinstance(message, Message)
    assert message.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, Reason.MISSING_TEXT),
        (b"x" * 1001, Reason.TOO_LARGE),
        (b'{"text": "caf\xe9"}', Reason.INVALID_UTF8),
        (b'{"text": "\\ud800 lone surrogate"}', Reason.INVALID_UTF8),
        (b"{text: 1}", Reason.NOT_JSON),
        (b"", Reason.NOT_JSON),
        (b'["text"]', Reason.NOT_AN_OBJECT),
        (b'"just a string"', Reason.NOT_AN_OBJECT),
        (b'{"body": "no text field"}', Reason.MISSING_TEXT),
        (b'{"text": 42}', Reason.WRONG_TYPE),
        (b'{"text": "\\n\\t "}', Reason.EMPTY_TEXT),
        (json.dumps({"text": "y" * 101}).encode(), Reason.TEXT_TOO_LONG),
        (b'{"text": "x", "id": 7}', Reason.WRONG_TYPE),
        (b'{"text": "x", "metadata": [1]}', Reason.WRONG_TYPE),
        (b'{"text": "x", "channel": "sms"}', Reason.BAD_CHANNEL),
        (b'{"text": "x", "created_at": "yesterday"}', Reason.BAD_CREATED_AT),
        (json.dumps({"text": "x", "id": "i" * 600}).encode(), Reason.WRONG_TYPE),
    ],
)
def test_every_bad_input_has_a_reason(raw: bytes | None, reason: Reason) -> None:
    outcome = check(raw)
    assert isinstance(outcome, Rejection)
    assert outcome.reason is reason
    assert outcome.detail


def test_unknown_topic_without_channel_is_rejected() -> None:
    outcome = check(b'{"text": "x"}', topic_channel=None)
    assert isinstance(outcome, Rejection) and outcome.reason is Reason.BAD_CHANNEL
