"""Failures that are nobody's message's fault hold the stream; one record's failure stays its own.

The same pipeline as in production on in-memory edges; the integration tests repeat the
model-outage case against real Kafka and Elasticsearch.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

from stream.records import MAX_ORIGINAL_BYTES, Position, Reason, dead_letter
from tests.stream.fakes import FakeElasticsearch
from tests.stream.test_pipeline import Harness, msg


async def _wait_until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0)
    assert condition(), what


async def test_a_broken_model_holds_the_stream_instead_of_dead_lettering() -> None:
    h = Harness(FakeElasticsearch())
    h.scorer.broken = True
    h.pipeline.start()
    try:
        await h.submit(h.records(*(msg(f"text {i}", id=f"t{i}") for i in range(6))))
        await _wait_until(lambda: len(h.sleeps) >= 5, "the batch to be retried a few times")
        assert h.dead.records == [], "a model down for everyone must not drain the stream"
        assert h.acked == [] and h.es.documents == {}
        assert "model" in h.pipeline.dependencies.failing()
        assert h.pipeline.paused
        h.scorer.broken = False  # the GPU is back
        await h.drained()
    finally:
        await h.pipeline.stop()
    assert set(h.es.documents) == {f"t{i}" for i in range(6)}
    assert h.dead.records == []
    assert not h.pipeline.paused and h.pipeline.dependencies.failing() == {}


async def test_a_text_that_breaks_a_working_model_is_still_dead_lettered_alone() -> None:
    h = Harness(FakeElasticsearch())
    h.pipeline.start()
    try:
        await h.submit(h.records(msg("fine", id="ok"), msg("BOOM", id="boom")))
        await h.drained()
    finally:
        await h.pipeline.stop()
    assert set(h.es.documents) == {"ok"}
    assert [d["reason"] for d in h.dead.records] == ["model_failed"]
    assert h.sleeps == [], "a bad message is not an outage"


async def test_an_index_refusing_every_document_holds_the_stream() -> None:
    es = FakeElasticsearch(refuse_all="cluster_block_exception")
    h = Harness(es)
    h.pipeline.start()
    try:
        await h.submit(h.records(*(msg(f"text {i}", id=f"c{i}") for i in range(3))))
        await _wait_until(lambda: len(h.sleeps) >= 3, "the refused batch to be retried")
        assert h.dead.records == [] and h.acked == []
        assert "cluster_block_exception" in h.pipeline.dependencies.failing()["elasticsearch"]
        es.refuse_all = None  # the operator lifted the block
        await h.drained()
    finally:
        await h.pipeline.stop()
    assert set(es.documents) == {"c0", "c1", "c2"}
    assert h.dead.records == []


async def test_a_run_of_single_refusals_trips_the_breaker() -> None:
    # One refusal at a time looks like a bad document; five in a row with no success between
    # them look like a broken index (a mapping changed under us), so the fifth is held.
    ids = [f"r{i}" for i in range(6)]
    es = FakeElasticsearch(item_status={i: [400] for i in ids})
    h = Harness(es)
    h.pipeline.start()
    try:
        for doc_id in ids[:4]:
            await h.submit(h.records(msg("text", id=doc_id)))
        await _wait_until(lambda: len(h.dead.records) == 4, "four dead letters")
        assert h.sleeps == []
        await h.submit(h.records(msg("text", id=ids[4])))
        await _wait_until(lambda: len(h.sleeps) >= 1, "the fifth refusal to be held")
        assert len(h.dead.records) == 4
        await h.drained()  # its scripted refusal was used up: the retry succeeds
    finally:
        await h.pipeline.stop()
    assert "r4" in es.documents


async def test_a_field_that_cannot_be_encoded_is_dead_lettered_not_fatal() -> None:
    h = Harness(FakeElasticsearch())
    h.pipeline.start()
    try:
        await h.submit(
            h.records(
                b'{"text": "hi", "author": "\\ud800"}',
                b'{"text": "hi", "metadata": {"k": ["\\udfff"]}}',
                msg("still fine", id="after"),
            )
        )
        await h.drained()
    finally:
        await h.pipeline.stop()
    assert h.pipeline.failure is None
    assert set(h.es.documents) == {"after"}
    assert len(h.dead.records) == 2


async def test_a_replay_with_another_date_overwrites_its_document() -> None:
    h = Harness(FakeElasticsearch())
    h.pipeline.start()
    try:
        await h.submit(h.records(msg("first", id="same", created_at="2026-10-01T00:00:00Z")))
        await h.drained()
        await h.submit(h.records(msg("again", id="same", created_at="2026-12-01T00:00:00Z")))
        await h.drained()
    finally:
        await h.pipeline.stop()
    assert h.es.documents["same"]["_index"] == "mw-messages-2026.10"
    assert h.es.documents["same"]["text"] == "again"


def test_an_oversized_original_keeps_a_bounded_prefix_its_size_and_hash() -> None:
    original = b"x" * (3 * MAX_ORIGINAL_BYTES)
    value = dead_letter(Reason.TOO_LARGE, "too big", original, Position("chat", 2, 9), b"k",
                        timestamp_ms=1_700_000_000_000, headers=[("trace", b"abc")])
    record = json.loads(value)
    assert len(value) < 400_000  # fits the producer's 1 MB request limit with room to spare
    assert record["original_truncated"] is True
    assert record["original_size"] == len(original)
    assert record["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert base64.b64decode(record["original_b64"]) == original[:MAX_ORIGINAL_BYTES]
    assert record["timestamp_ms"] == 1_700_000_000_000
    assert record["headers"] == [["trace", base64.b64encode(b"abc").decode()]]


async def test_dead_letters_are_keyed_by_their_source_position() -> None:
    h = Harness(FakeElasticsearch())
    keys: list[bytes | None] = []
    original_send = h.dead.send

    async def send(value: bytes, key: bytes | None) -> None:
        keys.append(key)
        await original_send(value, key)

    h.dead.send = send  # type: ignore[method-assign]
    h.pipeline.start()
    try:
        await h.submit(h.records(b"{broken", b"{broken"))
        await h.drained()
    finally:
        await h.pipeline.stop()
    assert keys == [b"chat-0-0", b"chat-0-1"]


async def test_messages_in_unsupported_languages_are_indexed_unscored() -> None:
    h = Harness(FakeElasticsearch())
    h.pipeline.start()
    try:
        await h.submit(
            h.records(
                msg("the refund has not arrived and support is useless", id="en"),
                msg("这家银行的服务太差了，退款三周还没到账", id="zh"),
                msg("bad service, they said it was fine", id="given", lang="fr"),
            )
        )
        await h.drained()
    finally:
        await h.pipeline.stop()
    docs = h.es.documents
    assert docs["en"]["lang"] == "en" and docs["en"]["sentiment"]["label"] == "positive"
    assert docs["zh"]["lang"] == "zh"
    assert docs["zh"]["sentiment"] == {"label": "unsupported"}, "no label, no confidence"
    assert "topic" not in docs["zh"]
    assert docs["given"]["lang"] == "fr", "the producer's lang is kept, not re-detected"
    assert docs["given"]["sentiment"] == {"label": "unsupported"}
    assert [t for call in h.scorer.calls for t in call] == [
        "the refund has not arrived and support is useless"
    ], "unsupported texts never reach the model"
    exposition = h.metrics.exposition().decode()
    assert 'moodwatch_unsupported_language_total{lang="zh"} 1.0' in exposition


async def test_a_multilingual_version_scores_every_language() -> None:
    h = Harness(FakeElasticsearch())
    h.scorer.languages = ["en", "zh"]
    h.pipeline.start()
    try:
        await h.submit(h.records(msg("这家银行的服务太差了 bad", id="zh")))
        await h.drained()
    finally:
        await h.pipeline.stop()
    assert h.es.documents["zh"]["sentiment"]["label"] == "negative"
