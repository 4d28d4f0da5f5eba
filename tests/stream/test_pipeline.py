"""The pipeline on in-memory edges: every record ends indexed or dead-lettered, then acked."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest

from stream.es_sink import ElasticsearchSink
from stream.index_layout import IndexLayout
from stream.metrics import WorkerMetrics
from stream.pipeline import Pipeline, RawRecord
from stream.records import Position
from stream.redaction import Redactor
from stream.validation import Limits
from tests.stream.fakes import FakeElasticsearch, FakeScorer, MemoryDeadLetters


class Harness:
    def __init__(self, es: FakeElasticsearch, depth: int = 2) -> None:
        self.es = es
        self.scorer = FakeScorer()
        self.dead = MemoryDeadLetters()
        self.metrics = WorkerMetrics()
        self.acked: list[int] = []
        self.sleeps: list[float] = []

        async def no_sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            await asyncio.sleep(0)  # a real sleep lets other tasks run: so must this one

        self.pipeline = Pipeline(
            limits=Limits(max_bytes=2000, max_chars=500),
            redactor=Redactor.from_setting("email,phone,card,iban"),
            scorer=self.scorer,
            sink=ElasticsearchSink(es, max_bytes=4000, sleep=no_sleep),  # type: ignore[arg-type]
            layout=IndexLayout("mw"),
            dead_letters=self.dead,
            metrics=self.metrics,
            topic_channels={"chat": "chat", "news": "news"},
            depth=depth,
            sleep=no_sleep,
        )
        self.offset = 0
        self.all_acked = asyncio.Event()
        self.expected = 0

    def records(self, *values: bytes | None, topic: str = "chat") -> list[RawRecord]:
        out = []
        for value in values:
            out.append(RawRecord(value, None, Position(topic, 0, self.offset), 1_763_800_000_000))
            self.offset += 1
        return out

    async def submit(self, records: list[RawRecord]) -> None:
        self.expected += len(records)
        self.all_acked.clear()  # drained() waits for these too

        async def done() -> None:
            self.acked.extend(r.position.offset for r in records)
            if len(self.acked) >= self.expected:
                self.all_acked.set()

        await self.pipeline.submit(records, done)

    async def drained(self) -> None:
        async with asyncio.timeout(10):
            await self.all_acked.wait()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness(FakeElasticsearch())
    h.pipeline.start()
    yield h
    await h.pipeline.stop()


def msg(text: str, **fields: object) -> bytes:
    return json.dumps({"text": text, **fields}).encode()


async def test_good_records_indexed_bad_ones_dead_lettered(harness: Harness) -> None:
    records = harness.records(
        msg("parcel arrived, great", id="a-1"),
        b"{not json",
        msg("   "),
        b"\xff\xfe broken",
        msg("fine", channel="fax"),
        msg("this is bad", created_at="2026-11-20T10:00:00+02:00"),
        None,
    )
    await harness.submit(records)
    await harness.drained()

    docs = harness.es.documents
    assert set(docs) == {"a-1", "chat-0-5"}  # producer id, else topic-partition-offset
    # Each prediction lands on its own message (the fake calls "bad" texts negative).
    assert docs["a-1"]["sentiment"]["label"] == "positive"
    assert docs["chat-0-5"]["sentiment"]["label"] == "negative"
    assert docs["chat-0-5"]["created_at"] == "2026-11-20T08:00:00.000+00:00"
    assert docs["chat-0-5"]["_index"] == "mw-messages-2026.11"
    assert docs["a-1"]["model_version"] == "fake-1"
    reasons = sorted(d["reason"] for d in harness.dead.records)
    assert reasons == ["bad_channel", "empty_text", "invalid_utf8", "missing_text", "not_json"]
    broken = next(d for d in harness.dead.records if d["reason"] == "invalid_utf8")
    assert base64.b64decode(broken["original_b64"]) == b"\xff\xfe broken"
    assert broken["source"] == {"topic": "chat", "partition": 0, "offset": 3}
    assert sorted(harness.acked) == list(range(7))


async def test_pii_is_redacted_before_indexing(harness: Harness) -> None:
    await harness.submit(harness.records(msg("mail me at jane.doe@example.com please", id="p")))
    await harness.drained()
    doc = harness.es.documents["p"]
    assert "jane.doe@example.com" not in doc["text"]
    assert "[EMAIL]" in doc["text"]
    assert doc["redactions"] == ["email"]


async def test_a_message_that_breaks_the_model_is_isolated(harness: Harness) -> None:
    texts = [msg(f"message {i}", id=f"m{i}") for i in range(7)] + [
        msg("BOOM goes the model", id="boom")
    ]
    await harness.submit(harness.records(*texts))
    await harness.drained()
    assert set(harness.es.documents) == {f"m{i}" for i in range(7)}
    [dead] = harness.dead.records
    assert dead["reason"] == "model_failed" and dead["message_id"] == "boom"
    assert "the model choked" in dead["detail"]


async def test_elasticsearch_outage_delays_the_ack_but_loses_nothing() -> None:
    h = Harness(FakeElasticsearch(down=3, item_status={"x2": [429, 429], "x3": [400]}))
    h.pipeline.start()
    try:
        await h.submit(h.records(*(msg(f"text {i}", id=f"x{i}") for i in range(5))))
        await h.drained()
    finally:
        await h.pipeline.stop()
    assert set(h.es.documents) == {"x0", "x1", "x2", "x4"}
    assert [d["reason"] for d in h.dead.records] == ["index_rejected"]
    assert "mapper_parsing_exception" in h.dead.records[0]["detail"]
    assert len(h.sleeps) == 5  # three outages + two 429 rounds, each backed off
    assert h.sleeps == sorted(h.sleeps), "back-off grows while the outage lasts"


async def test_full_pipeline_pushes_back_on_submit() -> None:
    h = Harness(FakeElasticsearch(), depth=1)
    h.scorer.gate = asyncio.Event()
    h.pipeline.start()
    try:
        # batch 1 is held in the model, batch 2 waits in to_score; batch 3 cannot get in.
        await h.submit(h.records(msg("one")))
        await h.submit(h.records(msg("two")))
        third = asyncio.create_task(h.submit(h.records(msg("three"))))
        async with asyncio.timeout(5):
            while not h.scorer.calls:
                await asyncio.sleep(0)
        for _ in range(20):  # let every runnable task run; none can free a queue slot
            await asyncio.sleep(0)
        assert not third.done(), "submit must wait while the pipeline is full"
        assert h.acked == []
        h.scorer.gate.set()
        await third
        await h.drained()
    finally:
        await h.pipeline.stop()
    assert sorted(h.acked) == [0, 1, 2]
