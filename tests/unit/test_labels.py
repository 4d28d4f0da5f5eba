"""Label records: what is accepted, what is refused and with which reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from models.taxonomy import load_taxonomy
from stream.labels import Label, MessageRef, check_topic, label_document, parse_label
from stream.records import Reason, Rejection


def raw(**fields: object) -> bytes:
    record = {"message_id": "m-1", "labeler": "ana", "labeled_at": "2026-12-01T10:00:00Z"}
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not None}).encode()


def test_a_full_label_is_accepted_with_utc_time() -> None:
    label = parse_label(raw(sentiment="negative", topic="delivery", note="late twice"))
    assert label == Label(
        "m-1", "ana", datetime(2026, 12, 1, 10, tzinfo=UTC), "negative", "delivery", "late twice"
    )
    assert label.doc_id == "m-1:ana"


def test_a_newer_label_has_a_higher_version() -> None:
    older = parse_label(raw(sentiment="negative", labeled_at="2026-12-01T10:00:00"))
    newer = parse_label(raw(sentiment="positive", labeled_at="2026-12-01T10:00:01+00:00"))
    assert isinstance(older, Label) and isinstance(newer, Label)
    assert newer.version - older.version == 1000


@pytest.mark.parametrize(
    ("record", "reason", "says"),
    [
        (raw(sentiment="angry"), Reason.UNKNOWN_CLASS, "'angry' is not one of"),
        (raw(), Reason.BAD_LABEL, "needs a 'sentiment', a 'topic' or both"),
        (raw(sentiment="positive", labeler=None), Reason.BAD_LABEL, "'labeler' is required"),
        (raw(sentiment="positive", message_id=""), Reason.BAD_LABEL, "'message_id' is required"),
        (raw(sentiment="positive", labeled_at="yesterday"), Reason.BAD_LABEL, "not ISO-8601"),
        (raw(sentiment=3), Reason.WRONG_TYPE, "'sentiment' must be a string"),
        (b"not json", Reason.NOT_JSON, "not JSON"),
        (b"[1, 2]", Reason.NOT_AN_OBJECT, "got list"),
        (b"\xff\xfe", Reason.INVALID_UTF8, "invalid UTF-8"),
        (None, Reason.BAD_LABEL, "empty"),
    ],
)
def test_bad_records_are_rejections_with_a_reason(
    record: bytes | None, reason: Reason, says: str
) -> None:
    result = parse_label(record)
    assert isinstance(result, Rejection)
    assert result.reason is reason
    assert says in result.detail


def test_a_topic_must_belong_to_the_message_channel() -> None:
    taxonomy = load_taxonomy()
    label = parse_label(raw(topic="delivery"))
    assert isinstance(label, Label)
    assert check_topic(label, "chat", taxonomy) is None
    refused = check_topic(label, "news", taxonomy)
    assert refused is not None
    assert refused.reason is Reason.UNKNOWN_CLASS
    assert "not a news topic" in refused.detail


def test_the_document_joins_the_message_and_keeps_the_models_guess() -> None:
    label = parse_label(raw(sentiment="negative"))
    assert isinstance(label, Label)
    message = MessageRef("m-1", "parcel lost", "chat", "web", None, "neutral", "delivery", "v0003")
    document = label_document(label, message, "stream")
    assert document["text"] == "parcel lost"
    assert document["channel"] == "chat"
    assert document["predicted"] == {
        "sentiment": "neutral",
        "topic": "delivery",
        "model_version": "v0003",
    }
    assert "topic" not in document  # the labeler gave no topic
