"""Invariant 2 on real services: 5,000 generated bad messages mixed with good ones — every bad
one in the dead-letter topic with its reason and original bytes, every good one indexed, the
workers alive throughout."""

from __future__ import annotations

import base64
import json
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from stream.validation import parse_created_at
from tests.integration.streamkit import StreamRig, wait_for

MAX_CHARS = 400


def _unparseable(value: str) -> bool:
    try:
        parse_created_at(value)
    except ValueError:
        return bool(value.strip())
    return False


json_scalar = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=20),
)
bad_message = st.one_of(
    st.binary(max_size=60).map(lambda b: b"\xff" + b),  # 0xFF never occurs in UTF-8
    st.one_of(json_scalar, st.none(), st.lists(json_scalar, max_size=4)).map(
        lambda v: json.dumps(v).encode()
    ),
    st.dictionaries(st.sampled_from(["body", "msg", "txt"]), st.text(max_size=10), max_size=2).map(
        lambda d: json.dumps(d).encode()
    ),  # no text field at all
    st.one_of(st.integers(), st.lists(st.integers(), max_size=3), st.booleans()).map(
        lambda v: json.dumps({"text": v}).encode()
    ),
    st.text(alphabet=" \t\r\n", max_size=6).map(lambda t: json.dumps({"text": t}).encode()),
    st.integers(MAX_CHARS + 1, MAX_CHARS + 300).map(
        lambda n: json.dumps({"text": "x" * n}).encode()
    ),
    st.integers().map(lambda v: json.dumps({"text": "fine", "id": v}).encode()),
    st.text(min_size=1, max_size=8)
    .filter(lambda c: c not in ("news", "chat"))
    .map(lambda c: json.dumps({"text": "fine", "channel": c}).encode()),
    st.text(min_size=1, max_size=20)
    .filter(_unparseable)
    .map(lambda t: json.dumps({"text": "fine", "created_at": t}).encode()),
    st.text(min_size=1, max_size=30).map(
        lambda t: json.dumps({"text": t})[:-1].encode()
    ),  # truncated
    st.text(min_size=1, max_size=20).map(lambda t: b"\x00" + t.encode()),  # leading NUL: not JSON
)
good_text = st.text(min_size=1, max_size=120).filter(lambda t: t.strip() != "")


BATCHES = 40  # x 125 bad messages = 5,000 (hypothesis caps the size of a single example)
PER_BATCH = 125


@pytest.mark.slow
def test_bad_messages_go_to_dead_letters_and_good_ones_get_indexed(rig: StreamRig) -> None:
    rig.env["MOODWATCH_MAX_TEXT_CHARS"] = str(MAX_CHARS)
    workers = [rig.start_worker("w1"), rig.start_worker("w2")]
    sent_bad: list[bytes] = []
    good_ids: list[str] = []

    @settings(
        max_examples=BATCHES,
        phases=[Phase.generate],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        bad=st.lists(bad_message, min_size=PER_BATCH, max_size=PER_BATCH),
        good=st.lists(good_text, min_size=10, max_size=10),
    )
    def one_batch(bad: list[bytes], good: list[str]) -> None:
        good_records = []
        for text in good:
            good_ids.append(f"good-{len(good_ids)}")
            channel = "chat" if len(good_ids) % 2 else "news"
            good_records.append((channel, json.dumps({"id": good_ids[-1], "text": text}).encode()))
        mixed = [("chat", b) for b in bad] + good_records
        random.Random(len(good_ids)).shuffle(mixed)
        assert rig.produce(mixed) == len(mixed)
        sent_bad.extend(bad)

        rig.wait_indexed(len(good_ids), timeout=300)
        wait_for(lambda: dead_lettered() >= len(sent_bad), 300, f"{len(sent_bad)} dead letters")
        assert dead_lettered() == len(sent_bad)
        assert all(w.alive() for w in workers), [w.tail() for w in workers]

    def dead_lettered() -> float:
        return sum(
            float(line.split()[-1])
            for w in workers
            for line in w.metrics().splitlines()
            if line.startswith("moodwatch_dead_letters_total")
        )

    one_batch()

    assert len(sent_bad) == BATCHES * PER_BATCH
    letters = rig.dead_letters(expected=len(sent_bad))
    assert len(letters) == len(sent_bad)
    assert Counter(base64.b64decode(d["original_b64"]) for d in letters) == Counter(sent_bad)
    assert all(d["reason"] and d["detail"] for d in letters)
    assert {d["source"]["topic"] for d in letters} == {rig.topic("chat")}
    reasons = Counter(d["reason"] for d in letters)
    expected_reasons = {
        "invalid_utf8",
        "not_json",
        "not_an_object",
        "missing_text",
        "wrong_type",
        "empty_text",
        "text_too_long",
        "bad_channel",
        "bad_created_at",
    }
    assert expected_reasons <= set(reasons), reasons
    docs = rig.documents()
    assert sorted(d["_id"] for d in docs) == sorted(good_ids)
    assert all(w.alive() for w in workers), [w.tail() for w in workers]
    assert dead_lettered() == len(sent_bad)
