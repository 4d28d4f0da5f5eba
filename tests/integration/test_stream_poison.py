"""Issue 8, finding 1 on a live worker: records that used to pass validation and then crash
the document's encoding (a lone surrogate in `author` or deep in `metadata`), and their
cousins, are dead-lettered with their reason while good ones around them are indexed."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.integration.streamkit import StreamRig

# Each poison record and the reason it must be dead-lettered with.
POISON: list[tuple[bytes, str]] = [
    (b'{"text": "hi", "author": "\\ud800"}', "unencodable"),
    (b'{"text": "hi", "metadata": {"a": [{"b": "x\\udfff"}]}}', "unencodable"),
    (b'{"text": "hi", "metadata": {"\\ud83d": 1}}', "unencodable"),
    (b'{"text": "hi", "source": "feed\\n2"}', "control_character"),
    (b'{"text": "hi", "id": "a\\u0000b"}', "control_character"),
    (json.dumps({"text": "hi", "author": "x" * 2000}).encode(), "field_too_long"),
    (b'{"text": "hi", "metadata": ' + b'{"k": ' * 12 + b"1" + b"}" * 12 + b"}", "bad_metadata"),
    (b'{"text": "hi", "metadata": {"n": NaN}}', "not_json"),
    (b'{"text": "hi", "metadata": ' + b"[" * 5000 + b"]" * 5000 + b"}", "not_json"),
    (b'{"text": "hi", "created_at": "0001-01-01T00:00:00+01:00"}', "bad_created_at"),
]


@pytest.mark.slow
def test_poison_records_are_dead_lettered_and_the_worker_keeps_going(rig: StreamRig) -> None:
    worker = rig.start_worker("w1")
    good = [("chat", json.dumps({"id": f"good-{i}", "text": f"fine message {i}"}).encode())
            for i in range(20)]
    mixed = [("chat", raw) for raw, _ in POISON] + good
    assert rig.produce(mixed) == len(mixed)

    rig.wait_indexed(len(good), timeout=180)
    letters = rig.dead_letters(expected=len(POISON))
    assert worker.alive(), worker.tail()
    assert Counter(d["reason"] for d in letters) == Counter(reason for _, reason in POISON)
    assert sorted(d["_id"] for d in rig.documents()) == sorted(f"good-{i}" for i in range(20))
    assert worker.healthy(), worker.tail()
