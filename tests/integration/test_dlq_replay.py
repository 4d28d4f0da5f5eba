"""`moodwatch dlq replay` on the real broker: each dead letter once, at its original time, with
its original headers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer

from moodwatch.settings import Settings
from stream.connections import kafka_options
from stream.records import Position, Reason, dead_letter
from tests.integration.test_feed_and_dlq import Namer, TopicFactory, end_total, invoke, read_all

A_MONTH_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(days=31)


def letter(reason: Reason, original: bytes, source: Position, **extra: object) -> bytes:
    """A dead letter as the worker writes it, plus the fields newer workers add."""
    record = json.loads(dead_letter(reason, "failed", original, source))
    record.update(extra)
    return json.dumps(record).encode()


async def test_replay_keeps_time_and_headers_and_never_sends_twice(
    services: Settings, create_topic: TopicFactory, unique: Namer, tmp_path: Path
) -> None:
    dlq = await create_topic(unique("dead-letter"), partitions=1)
    source = await create_topic(unique("chat-src"), partitions=1)
    state = tmp_path / "replayed.jsonl"
    env = {"MOODWATCH_TOPIC_DEAD_LETTER": dlq, "MOODWATCH_DLQ_REPLAY_STATE": str(state)}
    stamped_ms = int(A_MONTH_AGO.timestamp() * 1000)
    headers = [["trace", base64.b64encode(b"t-1").decode()], ["tenant", ""]]
    letters = [
        # A newer dead letter: the original Kafka timestamp and headers travel with it.
        letter(Reason.MODEL_FAILED, b'{"id": "m-1", "text": "first"}', Position(source, 0, 5),
               timestamp_ms=stamped_ms, headers=headers),
        # An older one: the time comes from created_at inside the message.
        letter(Reason.INDEX_REJECTED,
               b'{"id": "m-2", "text": "second", "created_at": "2026-10-01T12:00:00Z"}',
               Position(source, 0, 6)),
        # Neither: the producer stamps it now.
        letter(Reason.MODEL_FAILED, b'{"text": "third"}', Position(source, 0, 7)),
    ]
    producer = AIOKafkaProducer(**kafka_options(services), acks="all")
    await producer.start()
    try:
        for value in letters:
            await producer.send_and_wait(dlq, value, partition=0)
    finally:
        await producer.stop()

    before_ms = int(datetime.now(UTC).timestamp() * 1000)
    first = await invoke(["dlq", "replay"], env=env)
    assert first.exit_code == 0, first.output
    assert f"{source}: sent 3, failed 0" in first.stdout

    second = await invoke(["dlq", "replay"], env=env)
    assert second.exit_code == 0, second.output
    assert "skipped 3 already replayed" in second.stdout
    assert "nothing to replay" in second.stdout
    assert await end_total(services, source, 1) == 3, "the second run sent something"

    records = {json.loads(r.value)["text"]: r for r in await read_all(services, source, 1, 3)}
    assert records["first"].timestamp == stamped_ms
    assert records["first"].headers == (("trace", b"t-1"), ("tenant", b""))
    october = datetime(2026, 10, 1, 12, tzinfo=UTC)
    assert records["second"].timestamp == int(october.timestamp() * 1000)
    assert records["third"].timestamp >= before_ms
    assert json.loads(records["third"].value)["id"] == f"{source}-0-7"

    # --again sends what the log holds anyway, at the same original time: the same documents.
    again = await invoke(["dlq", "replay", "--again", "--limit", "1"], env=env)
    assert again.exit_code == 0, again.output
    assert f"{source}: sent 1, failed 0" in again.stdout
    replayed = await read_all(services, source, 1, 4)
    assert replayed[-1].timestamp == stamped_ms and replayed[-1].value == records["first"].value


async def test_a_fixed_export_line_is_replayed_once_and_a_refix_again(
    services: Settings, create_topic: TopicFactory, unique: Namer, tmp_path: Path
) -> None:
    dlq = await create_topic(unique("dead-letter"), partitions=1)
    source = await create_topic(unique("chat-src"), partitions=1)
    env = {"MOODWATCH_TOPIC_DEAD_LETTER": dlq,
           "MOODWATCH_DLQ_REPLAY_STATE": str(tmp_path / "replayed.jsonl")}
    record = json.loads(dead_letter(Reason.BAD_CREATED_AT, "bad date",
                                    b'{"id": "x-1", "text": "hi", "created_at": "soon"}',
                                    Position(source, 0, 9)))
    export = tmp_path / "fix.jsonl"

    def fix(created_at: str) -> None:
        line = {"dead_letter": {k: v for k, v in record.items() if k != "original_b64"},
                "message": {"id": "x-1", "text": "hi", "created_at": created_at}}
        export.write_text(json.dumps(line) + "\n", encoding="utf-8")

    fix("2026-11-01T00:00:00Z")
    for expected_total in (1, 1):  # the same fix twice: sent once
        result = await invoke(["dlq", "replay", "--file", str(export)], env=env)
        assert result.exit_code == 0, result.output
        assert await end_total(services, source, 1) == expected_total
    fix("2026-11-02T00:00:00Z")  # fixed differently: a new replay
    result = await invoke(["dlq", "replay", "--file", str(export)], env=env)
    assert f"{source}: sent 1, failed 0" in result.stdout
    sent = await read_all(services, source, 1, 2)
    assert [r.timestamp for r in sent] == [
        int(datetime(2026, 11, d, tzinfo=UTC).timestamp() * 1000) for d in (1, 2)
    ]
