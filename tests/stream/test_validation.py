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
        (b'{"text": "\\ud800 lone surrogate"}', Reason.UNENCODABLE),
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
        (json.dumps({"text": "x", "id": "i" * 600}).encode(), Reason.FIELD_TOO_LONG),
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


# --- Poison inputs: every field, every string at any depth (issue 8) ---


@pytest.mark.parametrize(
    ("record", "reason", "where"),
    [
        ({"text": "hi", "author": "\ud800"}, Reason.UNENCODABLE, "'author'"),
        ({"text": "hi", "source": "ok\udfff"}, Reason.UNENCODABLE, "'source'"),
        ({"text": "hi", "id": "\udc00"}, Reason.UNENCODABLE, "'id'"),
        ({"text": "hi", "created_at": "\ud800"}, Reason.UNENCODABLE, "'created_at'"),
        ({"text": "hi", "metadata": {"a": ["x", {"b": "\ud800"}]}}, Reason.UNENCODABLE,
         "'metadata.a[1].b'"),
        ({"text": "hi", "metadata": {"\ud83d": 1}}, Reason.UNENCODABLE, "a key '\\ud83d'"),
        ({"text": "hi", "unknown_extra": "\ud800"}, Reason.UNENCODABLE, "'unknown_extra'"),
        ({"text": "hi", "author": "bob\n"}, Reason.CONTROL_CHARACTER, "U+000A"),
        ({"text": "hi", "id": "a\x00b"}, Reason.CONTROL_CHARACTER, "U+0000"),
        ({"text": "hi", "source": "feed\x85"}, Reason.CONTROL_CHARACTER, "U+0085"),
        ({"text": "hi", "lang": "e" * 65}, Reason.FIELD_TOO_LONG, "'lang'"),
        ({"text": "hi", "author": "é" * 513}, Reason.FIELD_TOO_LONG, "1026 bytes"),
        ({"text": "hi", "metadata": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}}},
         Reason.BAD_METADATA, "8 levels"),
        ({"text": "hi", "metadata": {"many": list(range(1001))}}, Reason.BAD_METADATA, "1000"),
        ({"text": "hi", "created_at": "0001-01-01T00:00:00+01:00"}, Reason.BAD_CREATED_AT,
         "years 1-9999"),
    ],
)
def test_poison_fields_are_rejected_with_a_reason_naming_the_field(
    record: dict[str, object], reason: Reason, where: str
) -> None:
    outcome = validate(json.dumps(record).encode(), POS, 1, "chat", Limits(10**6, 100))
    assert isinstance(outcome, Rejection), outcome
    assert outcome.reason is reason
    assert where in outcome.detail
    outcome.detail.encode("utf-8")  # the detail goes into a dead letter and a log line


def test_control_characters_in_text_are_kept() -> None:
    outcome = check(json.dumps({"text": "line one\nline\ttwo\x07"}).encode())
    assert isinstance(outcome, Message) and outcome.text == "line one\nline\ttwo\x07"


def test_metadata_at_the_limits_is_accepted() -> None:
    deepest: dict[str, object] = {}
    for _ in range(6):  # metadata is level 1, "deep" level 2, six more wrap it: eight
        deepest = {"k": deepest}
    record = {"text": "hi", "metadata": {"deep": deepest, "many": list(range(990))}}
    outcome = validate(json.dumps(record).encode(), POS, 1, "chat", Limits(10**6, 100))
    assert isinstance(outcome, Message), outcome


@pytest.mark.parametrize(
    "raw",
    [
        b'{"text": "x", "metadata": {"n": NaN}}',
        b'{"text": "x", "metadata": {"n": -Infinity}}',
        b'{"text": "x", "metadata": {"n": 1e400}}',
        b'{"text": "x", "metadata": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b"[" * 100_000,
    ],
)
def test_json_no_index_could_store_is_not_json(raw: bytes) -> None:
    outcome = validate(raw, POS, 1, "chat", Limits(10**7, 100))
    assert isinstance(outcome, Rejection) and outcome.reason is Reason.NOT_JSON, outcome


@pytest.mark.parametrize("timestamp_ms", [2**62, 2**63 - 1])
def test_a_kafka_timestamp_no_calendar_holds_falls_back_to_now(timestamp_ms: int) -> None:
    before = datetime.now(UTC)
    outcome = check(b'{"text": "x"}', ts=timestamp_ms)
    assert isinstance(outcome, Message) and outcome.created_at >= before


def test_a_surrogate_lookalike_that_is_an_escaped_backslash_is_accepted() -> None:
    outcome = check(b'{"text": "path \\\\ud800 is literal", "author": "a\\\\udfff"}')
    assert isinstance(outcome, Message)
    assert outcome.text == "path \\ud800 is literal" and outcome.author == "a\\udfff"
