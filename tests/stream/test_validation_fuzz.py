"""Hypothesis over every contract field: whatever a producer puts anywhere, validation returns a
Message whose document encodes as strict UTF-8 JSON, or a Rejection with an encodable detail —
it never raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.inference import Prediction
from stream.contract import BY_NAME, FIELDS, NAMES, Kind
from stream.documents import bulk_lines, scored_document
from stream.records import Message, Position, Rejection
from stream.validation import Limits, validate

POS = Position("chat", 0, 7)
LIMITS = Limits(max_bytes=2 * 1024 * 1024, max_chars=5000)
NOW = datetime(2026, 12, 3, tzinfo=UTC)
PREDICTION = Prediction("neutral", 0.5, {"negative": 0.2, "neutral": 0.5, "positive": 0.3},
                        "other", 0.4, {"other": 0.4}, "v-test")

# Every code point, surrogates (category Cs) and control characters included.
any_char = st.characters(exclude_categories=())
poison = st.sampled_from(["\ud800", "\udfff", "\x00", "\n", "\x85", "\u2028", "\ufeff", ""])
strings = st.one_of(
    st.text(any_char, max_size=40),
    st.lists(st.one_of(poison, st.text(max_size=5)), max_size=6).map("".join),
    st.integers(0, 3000).map(lambda n: "é" * n),  # keyword byte limits and text length
    st.sampled_from(["2026-11-22T08:00:00Z", "0001-01-01T00:00:00+01:00",
                     "9999-12-31T23:59:59-05:00", "news", "chat"]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(2**80), 2**80),
                    st.floats(allow_nan=False, allow_infinity=False), strings)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(strings, inner, max_size=4)),
    max_leaves=30,
)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


field_values = st.one_of(json_values, st.integers(0, 40).map(nested))


def check_outcome(raw: bytes) -> Message | Rejection:
    outcome = validate(raw, POS, 1_700_000_000_000, "chat", LIMITS)
    if isinstance(outcome, Rejection):
        outcome.detail.encode("utf-8")
        return outcome
    document = scored_document(outcome, PREDICTION, NOW, NOW)
    json.dumps(document, allow_nan=False)  # no NaN or Infinity reaches the index
    lines = bulk_lines("mw-messages-2026.12", outcome.id, document)  # strict UTF-8 encode
    assert json.loads(lines.splitlines()[1])["id"] == outcome.id
    for field in FIELDS:
        value = getattr(outcome, field.name)
        if field.kind is Kind.KEYWORD and value is not None:
            assert field.max_bytes is not None and len(value.encode()) <= field.max_bytes
            assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in value), field.name
    assert outcome.text.strip() and len(outcome.text) <= LIMITS.max_chars
    return outcome


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(NAMES), value=field_values)
def test_any_value_in_any_one_field(name: str, value: Any) -> None:
    record = {"text": "fine text", name: value}
    for ascii_only in (True, False):  # escapes (\\ud800) and raw UTF-8
        try:
            raw = json.dumps(record, ensure_ascii=ascii_only).encode("utf-8")
        except UnicodeEncodeError:
            continue  # a lone surrogate cannot be sent as raw UTF-8, only escaped
        check_outcome(raw)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(record=st.fixed_dictionaries({}, optional={name: field_values for name in NAMES}),
       extra=st.dictionaries(strings, json_values, max_size=3))
def test_any_record_of_every_field_at_once(record: dict[str, Any], extra: dict[str, Any]) -> None:
    check_outcome(json.dumps({**extra, **record}).encode("utf-8"))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.one_of(st.binary(max_size=200), st.integers(0, 2 * 1024 * 1024).map(
    lambda n: json.dumps({"text": "x" * n}).encode())))
def test_any_bytes_from_empty_to_two_megabytes(raw: bytes) -> None:
    check_outcome(raw)


def test_every_contract_field_is_a_message_attribute() -> None:
    assert set(NAMES) <= set(Message.__dataclass_fields__)
    assert BY_NAME["text"].required and not any(f.required for f in FIELDS if f.name != "text")
