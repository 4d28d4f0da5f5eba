"""What `dlq replay` remembers and which time it sends a replay with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream.errors import StreamError
from stream.replays import ReplayLog, from_export, original_headers, original_timestamp_ms


@pytest.mark.parametrize(
    ("record", "original", "expected"),
    [
        ({"timestamp_ms": 1_700_000_000_000}, b'{"created_at": "2026-01-01T00:00:00Z"}',
         1_700_000_000_000),
        ({}, b'{"text": "x", "created_at": "2026-01-01T00:00:00Z"}', 1_767_225_600_000),
        ({"timestamp_ms": None}, b'{"text": "x", "created_at": "2026-01-01T01:00:00+01:00"}',
         1_767_225_600_000),
        ({"timestamp_ms": True}, b'{"text": "x"}', None),
        ({}, b'{"text": "x", "created_at": "yesterday"}', None),
        ({}, b'{"text": "x", "created_at": 5}', None),
        ({}, b'{"text": "x", "created_at": "1960-01-01T00:00:00Z"}', None),
        ({}, b"\xff not json", None),
        ({}, b'["a list"]', None),
    ],
)
def test_original_timestamp(record: dict[str, object], original: bytes, expected: int | None
                            ) -> None:
    assert original_timestamp_ms(record, original) == expected


def test_headers_come_back_as_sent_and_a_malformed_list_is_dropped() -> None:
    assert original_headers({"headers": [["a", "eA=="], ["b", ""]]}) == (("a", b"x"), ("b", b""))
    assert original_headers({"headers": [["a", "not base64!"]]}) == ()
    assert original_headers({"headers": "nonsense"}) == ()
    assert original_headers({}) == ()


def test_the_log_remembers_across_runs_and_survives_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "state" / "replayed.jsonl"
    with ReplayLog(path) as log:
        log.record("dl/0@1")
    with path.open("a", encoding="utf-8") as out:
        out.write('{"key": "dl/0@2"')  # a crash mid-line: that replay counts as not done
    with ReplayLog(path) as log:
        assert "dl/0@1" in log and "dl/0@2" not in log
        log.record("dl/0@3")
    with ReplayLog(path) as log:
        assert "dl/0@3" in log
    with ReplayLog(path, again=True) as log:
        assert "dl/0@1" not in log


def test_two_replays_cannot_share_a_log(tmp_path: Path) -> None:
    with ReplayLog(tmp_path / "r.jsonl"), pytest.raises(StreamError, match="another"):
        ReplayLog(tmp_path / "r.jsonl").__enter__()


def test_a_damaged_export_line_names_its_line() -> None:
    good = json.dumps({"dead_letter": {"source": {"topic": "chat", "partition": 0, "offset": 1},
                                       "reason": "model_failed", "timestamp_ms": 5},
                       "message": {"text": "hi"}})
    pending = list(from_export([good, "\n"], "fix.jsonl"))
    assert [p.timestamp_ms for p in pending] == [5]
    assert pending[0].replay.value == b'{"text": "hi", "id": "chat-0-1"}'
    with pytest.raises(StreamError, match=r"^fix\.jsonl:3: not an export line"):
        list(from_export([good, "\n", "{broken"], "fix.jsonl"))
