"""`moodwatch feed` and `moodwatch dlq` against the real broker.

Commands run through click's CliRunner in a worker thread (they call asyncio.run themselves),
except the Ctrl-C test, which needs a real process to send SIGINT to.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from click.testing import CliRunner, Result

from moodwatch.cli import cli
from moodwatch.settings import Settings
from stream.connections import kafka_options
from stream.records import Message, Position, Reason, dead_letter
from stream.validation import Limits, validate

LIMITS = Limits(max_bytes=65536, max_chars=10000)
TopicFactory = Callable[..., Awaitable[str]]
Namer = Callable[[str], str]


async def invoke(
    args: list[str], env: dict[str, str] | None = None, stdin: str | None = None
) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, cli, args, input=stdin, env=env)


async def read_all(
    settings: Settings, topic: str, partitions: int, expected: int, timeout: float = 30
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` once ``expected`` have arrived (no consumer group)."""
    consumer = AIOKafkaConsumer(
        **kafka_options(settings),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(timeout):
            while len(records) < expected:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
        ends = await consumer.end_offsets(tps)
        assert sum(ends.values()) == expected, f"{topic} holds more than the {expected} expected"
        return records
    finally:
        await consumer.stop()


async def end_total(settings: Settings, topic: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(**kafka_options(settings), group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


def accepted(record: ConsumerRecord[bytes, bytes], channel: str) -> Message:
    """The worker's own validation is the judge of "contract fields right"."""
    position = Position(record.topic, record.partition, record.offset)
    result = validate(record.value, position, record.timestamp, channel, LIMITS)
    assert isinstance(result, Message), f"{position.default_id} rejected: {result}"
    return result


# --- feed ----------------------------------------------------------------------------------------


async def test_feed_csv_jsonl_and_stdin_into_a_four_partition_topic(
    services: Settings, create_topic: TopicFactory, unique: Namer, tmp_path: Path
) -> None:
    topic = await create_topic(unique("chat-in"), partitions=4)
    csv_file = tmp_path / "chats.csv"
    with csv_file.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "source", "lang", "queue"])
        writer.writerows(
            [f"csv message {i}, with a comma", "web", "en", f"q{i % 3}"] for i in range(120)
        )
    jsonl_file = tmp_path / "chats.jsonl"
    jsonl_file.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"j-{i}",
                    "text": f"jsonl message {i}",
                    "agent": f"a{i}",
                    **({"channel": "news"} if i == 0 else {}),
                }
            )
            + "\n"
            for i in range(80)
        ),
        encoding="utf-8",
    )

    results = [
        await invoke(["feed", str(csv_file), "--channel", "chat", "--topic", topic]),
        await invoke(["feed", str(jsonl_file), "--channel", "chat", "--topic", topic]),
        await invoke(
            ["feed", "-", "--channel", "chat", "--topic", topic],
            stdin="typed by hand\nand piped in\n",
        ),
    ]
    for result, count in zip(results, (120, 80, 2), strict=True):
        assert result.exit_code == 0, result.output
        summary = rf"^sent {count}, failed 0 in [\d.]+ s \(\d+ msg/s\)$"
        assert re.search(summary, result.stdout, re.M), result.stdout

    records = await read_all(services, topic, 4, 202)
    by_text = {accepted(r, "chat").text: (r, accepted(r, "chat")) for r in records}

    csv_records = [r for r in records if b"csv message" in r.value]
    assert {r.partition for r in csv_records} == {0, 1, 2, 3}, "id-less rows use every partition"
    assert all(r.key is None for r in csv_records)
    record, message = by_text["csv message 7, with a comma"]
    assert (message.channel, message.source, message.lang) == ("chat", "web", "en")
    assert message.metadata == {"queue": "q1"}
    assert message.id == f"{topic}-{record.partition}-{record.offset}"
    assert abs(message.created_at.timestamp() * 1000 - record.timestamp) < 60_000  # stamped now

    record, message = by_text["jsonl message 5"]
    assert record.key == b"j-5"
    assert message.id == "j-5"
    assert json.loads(record.value)["agent"] == "a5"  # extra fields travel along
    assert by_text["jsonl message 0"][1].channel == "news"  # a row's own channel wins
    assert by_text["and piped in"][1].channel == "chat"


async def test_feed_rate_paces_the_sends(
    services: Settings, create_topic: TopicFactory, unique: Namer, tmp_path: Path
) -> None:
    topic = await create_topic(unique("news-paced"), partitions=1)
    lines = tmp_path / "headlines.txt"
    lines.write_text("".join(f"headline {i}\n" for i in range(30)), encoding="utf-8")

    result = await invoke(
        [
            "feed",
            str(lines),
            "--channel",
            "news",
            "--topic",
            topic,
            "--rate",
            "20",
            "--loop",
            "--limit",
            "50",
        ]
    )

    assert result.exit_code == 0, result.output
    sent, seconds = re.search(r"sent (\d+), failed 0 in ([\d.]+) s", result.stdout).groups()  # type: ignore[union-attr]
    assert int(sent) == 50
    # 50 at 20/s after a burst of 2: at least 48 / 20 = 2.4 s.
    assert float(seconds) >= 2.3
    records = await read_all(services, topic, 1, 50)
    texts = [json.loads(r.value)["text"] for r in records]
    assert texts == [f"headline {i % 30}" for i in range(50)]


async def test_feed_to_a_missing_topic_is_an_error_not_a_new_topic(
    services: Settings, unique: Namer, tmp_path: Path
) -> None:
    lines = tmp_path / "t.txt"
    lines.write_text("hello\n", encoding="utf-8")
    result = await invoke(["feed", str(lines), "--channel", "news", "--topic", unique("nowhere")])
    assert result.exit_code == 1
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


async def test_ctrl_c_flushes_what_is_in_flight_and_prints_the_summary(
    services: Settings, create_topic: TopicFactory, unique: Namer, tmp_path: Path
) -> None:
    topic = await create_topic(unique("chat-loop"), partitions=2)
    source = tmp_path / "loop.jsonl"
    source.write_text(
        "".join(json.dumps({"id": f"m{i}", "text": f"loop text {i}"}) + "\n" for i in range(25)),
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("moodwatch")),
            "feed",
            str(source),
            "--channel",
            "chat",
            "--topic",
            topic,
            "--loop",
            "--rate",
            "400",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        async with asyncio.timeout(30):  # until a few passes are in: then interrupt
            while await end_total(services, topic, 2) < 100:
                await asyncio.sleep(0.2)
        process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.to_thread(process.communicate, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr.decode()
    assert b"stopping" in stderr
    match = re.search(rb"^sent (\d+), failed 0 in .*, interrupted$", stdout, re.M)
    assert match, stdout.decode()
    sent = int(match.group(1))

    # Nothing acknowledged was lost, nothing extra arrived.
    records = await read_all(services, topic, 2, sent)
    ids = [json.loads(r.value)["id"] for r in records]
    assert len(set(ids)) == sent, "every pass sends new ids"
    assert "m3-loop2" in ids


async def test_ctrl_c_while_stdin_is_idle_exits_cleanly(
    services: Settings, create_topic: TopicFactory, unique: Namer
) -> None:
    topic = await create_topic(unique("chat-pipe"), partitions=1)
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("moodwatch")),
            "feed",
            "-",
            "--channel",
            "chat",
            "--topic",
            topic,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    try:
        process.stdin.write(b'{"text": "first", "id": "p1"}\n{"text": "second"}\n')
        process.stdin.flush()  # and then the pipe stays open, with nothing more to say
        async with asyncio.timeout(30):
            while await end_total(services, topic, 1) < 2:
                await asyncio.sleep(0.2)
        process.send_signal(signal.SIGINT)
        # Not communicate(): it would close stdin, and the point is that stdin stays open.
        await asyncio.to_thread(process.wait, timeout=30)
        assert process.stdout is not None and process.stderr is not None
        stdout, stderr = process.stdout.read(), process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.stdin.close()
    assert process.returncode == 0, stderr.decode()
    assert re.search(rb"^sent 2, failed 0 in .*, interrupted$", stdout, re.M), stdout.decode()
    assert b"Fatal Python error" not in stderr


# --- dlq -----------------------------------------------------------------------------------------


async def test_dead_letters_inspect_redacted_export_fix_and_replay(
    services: Settings, create_topic: TopicFactory, unique: Namer, tmp_path: Path
) -> None:
    dlq = await create_topic(unique("dead-letter"), partitions=2)
    source = await create_topic(unique("chat-src"), partitions=1)
    env = {"MOODWATCH_TOPIC_DEAD_LETTER": dlq,
           "MOODWATCH_DLQ_REPLAY_STATE": str(tmp_path / "replayed.jsonl")}
    failed_model = b'{"text": "Please write to jane.doe@example.com about my refund"}'
    bad_date = b'{"id": "c-7", "text": "Where is my parcel?", "created_at": "yesterday"}'
    producer = AIOKafkaProducer(**kafka_options(services), acks="all")
    await producer.start()
    try:
        for value in (
            dead_letter(
                Reason.MODEL_FAILED, "inference failed", failed_model, Position(source, 0, 41)
            ),
            dead_letter(
                Reason.BAD_CREATED_AT,
                "'created_at' 'yesterday' is not ISO-8601",
                bad_date,
                Position(source, 0, 42),
                key=b"c-7",
                message_id="c-7",
            ),
            dead_letter(
                Reason.NOT_JSON, "not JSON", b"\xff\xfe half a message", Position(source, 0, 43)
            ),
            b"written here by mistake",
        ):
            await producer.send_and_wait(dlq, value, partition=0)
    finally:
        await producer.stop()

    shown = await invoke(["dlq", "inspect"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "[EMAIL]" in shown.stdout
    assert "jane.doe" not in shown.output
    assert "model_failed" in shown.stdout
    assert "bad_created_at" in shown.stdout
    assert f"{source}/0@41" in shown.stdout
    assert "3 newest of 4 records" in shown.stdout
    assert "is not a dead-letter record" in shown.stderr  # the stray record is named, not fatal

    as_json = await invoke(["dlq", "inspect", "--json", "--reason", "model_failed"], env=env)
    (line,) = as_json.stdout.splitlines()
    view = json.loads(line)
    assert view["preview"] == "Please write to [EMAIL] about my refund"
    assert view["redacted"] == ["email"]

    export = tmp_path / "dead.jsonl"
    exported = await invoke(["dlq", "inspect", "--export", str(export)], env=env)
    assert exported.exit_code == 0, exported.output
    assert "UNREDACTED" in exported.stderr
    assert export.stat().st_mode & 0o077 == 0, "the export is readable by its owner only"
    entries = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    reasons = {e["dead_letter"]["reason"] for e in entries}
    assert reasons == {"model_failed", "bad_created_at", "not_json"}
    assert all("original_b64" not in e["dead_letter"] for e in entries)

    # Fix the date by hand, drop the hopeless one, and replay the file.
    fixed = []
    for entry in entries:
        if entry["dead_letter"]["reason"] == "bad_created_at":
            entry["message"]["created_at"] = "2026-03-01T09:30:00Z"
        if entry["dead_letter"]["reason"] != "not_json":
            fixed.append(json.dumps(entry))
    export.write_text("\n".join(fixed) + "\n", encoding="utf-8")

    dry = await invoke(["dlq", "replay", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert f"would send {source}/0@41 (model_failed) → {source}" in dry.stdout
    assert await end_total(services, source, 1) == 0, "a dry run sends nothing"

    from_topic = await invoke(["dlq", "replay"], env=env)  # default: the transient reasons
    assert from_topic.exit_code == 0, from_topic.output
    assert f"{source}: sent 1, failed 0" in from_topic.stdout

    from_file = await invoke(["dlq", "replay", "--file", str(export)], env=env)
    assert from_file.exit_code == 0, from_file.output
    assert f"{source}: sent 2, failed 0" in from_file.stdout

    records = await read_all(services, source, 1, 3)
    messages = [accepted(r, "chat") for r in records]
    # Replayed twice, the failed-model message carries its original position both times: one
    # document in the index, however often it comes back.
    assert sorted(m.id for m in messages) == ["c-7", f"{source}-0-41", f"{source}-0-41"]
    (parcel,) = [m for m in messages if m.id == "c-7"]
    assert parcel.created_at.isoformat() == "2026-03-01T09:30:00+00:00"
    assert [r.key for r in records if json.loads(r.value)["id"] == "c-7"] == [b"c-7"]


async def test_inspect_of_a_missing_topic_says_so(services: Settings, unique: Namer) -> None:
    result = await invoke(["dlq", "inspect"], env={"MOODWATCH_TOPIC_DEAD_LETTER": unique("none")})
    assert result.exit_code == 1
    assert "there is no topic" in result.output
    assert "Traceback" not in result.output
