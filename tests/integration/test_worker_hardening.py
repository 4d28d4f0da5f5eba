"""The worker on real Kafka + Elasticsearch when things go wrong around it: a model that fails
for everyone, Elasticsearch gone for a minute, both services frozen during a stop, a message
replayed a month later."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer
from elasticsearch.helpers import scan

from stream.connections import kafka_options
from tests.integration.streamkit import StreamRig, frozen, wait_for

FAULTY = [sys.executable, "-m", "tests.integration.apps.faulty_worker"]
REPO = Path(__file__).resolve().parents[2]


def chat(i: int, tag: str) -> tuple[str, bytes]:
    return ("chat", json.dumps({"id": f"{tag}-{i}", "text": f"parcel {i} is late again"}).encode())


def warnings_in(log: Path, after: int) -> list[str]:
    lines = log.read_text(errors="replace").splitlines()[after:]
    return [line for line in lines if '"level": "WARNING"' in line]


def test_a_model_failing_for_everyone_pauses_the_stream_and_resumes(
    rig: StreamRig, tmp_path: Path
) -> None:
    fault = tmp_path / "gpu-broken"
    worker = rig.start_worker(
        "faulty", FAULTY, env={"FAULT_FILE": str(fault), "PYTHONPATH": str(REPO)}
    )
    rig.produce(chat(i, "before") for i in range(20))
    rig.wait_indexed(20, timeout=90)

    fault.touch()  # from now on every model call fails, as with a sticky CUDA error
    rig.produce(chat(i, "during") for i in range(50))
    wait_for(lambda: "model" in worker.health().get("failing", {}), 60, "/health to name the model")
    health = worker.health()
    assert health["ok"] is False and health["paused"] is True
    assert "CUDA error" in health["failing"]["model"]
    assert "moodwatch_dependency_up{dependency=\"model\"} 0.0" in worker.metrics()
    assert rig.count() == 20, "nothing is indexed while the model is down"

    fault.unlink()  # the model works again: flow resumes by itself
    rig.wait_indexed(70, timeout=120)
    assert worker.alive()
    assert rig.dead_letters(expected=0, timeout=5) == [], "nothing may be dead-lettered"
    assert worker.health()["ok"] is True


def test_an_elasticsearch_outage_of_a_minute_is_three_warnings_and_loses_nothing(
    rig: StreamRig,
) -> None:
    worker = rig.start_worker("w1")
    rig.produce(chat(i, "warm") for i in range(10))
    rig.wait_indexed(10, timeout=90)
    before = len(worker.log.read_text(errors="replace").splitlines())

    with frozen(rig.settings, "elasticsearch"):
        rig.produce(chat(i, "outage") for i in range(200))
        deadline = time.monotonic() + 60
        wait_for(lambda: not worker.healthy(), 45, "/health to report Elasticsearch down")
        assert "elasticsearch" in worker.health()["failing"]
        while time.monotonic() < deadline:  # a real minute of outage: what is logged meanwhile
            assert worker.alive()
            time.sleep(1)

    rig.wait_indexed(210, timeout=120)
    wait_for(worker.healthy, 30, "/health to recover")
    warnings = warnings_in(worker.log, before)
    assert 1 <= len(warnings) <= 3, "\n".join(warnings)
    assert any("elasticsearch is down" in w for w in warnings)
    assert rig.dead_letters(expected=0, timeout=5) == []


def test_sigterm_with_kafka_and_elasticsearch_frozen_exits_within_ten_seconds(
    rig: StreamRig,
) -> None:
    worker = rig.start_worker("w1")
    rig.produce(chat(i, "x") for i in range(30))
    rig.wait_indexed(30, timeout=90)
    with frozen(rig.settings, "kafka", "elasticsearch"):
        worker.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = worker.process.wait(timeout=10)  # raises if the worker is still there
        took = time.monotonic() - started
    assert code == 0, worker.tail()
    assert took < 10
    assert "stopping" in worker.tail(80)


def test_a_second_signal_exits_at_once(rig: StreamRig) -> None:
    worker = rig.start_worker("w1")
    with frozen(rig.settings, "kafka", "elasticsearch"):
        worker.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping" in worker.tail(40), 5, "the first signal to be taken", 0.1)
        worker.process.send_signal(signal.SIGTERM)
        code = worker.process.wait(timeout=5)
    assert code == 128 + signal.SIGTERM.value, worker.tail()
    assert "exiting at once" in worker.tail(40)


def test_a_message_replayed_a_month_later_keeps_one_document(rig: StreamRig) -> None:
    rig.start_worker("w1")
    october = 1_791_000_000_000  # 2026-10-03, in ms
    december = october + 60 * 86_400_000  # two months later: another monthly index

    async def send(timestamp_ms: int) -> None:
        producer = AIOKafkaProducer(**kafka_options(rig.settings), acks="all")
        await producer.start()
        try:  # no created_at: the index comes from the Kafka timestamp, as for a replay
            body = json.dumps({"id": "replayed-1", "text": "refund still missing"}).encode()
            await producer.send_and_wait(rig.topic("chat"), body, timestamp_ms=timestamp_ms)
        finally:
            await producer.stop()

    asyncio.run(send(october))
    rig.wait_indexed(1, timeout=90)
    first = rig.documents()[0]
    asyncio.run(send(december))
    wait_for(
        lambda: rig.documents()[0]["indexed_at"] != first["indexed_at"], 60, "the replay"
    )
    rig.es.indices.refresh(index=rig.alias)
    hits = list(scan(rig.es, index=rig.alias, query={"query": {"ids": {"values": ["replayed-1"]}}}))
    assert len(hits) == 1, [h["_index"] for h in hits]
    assert hits[0]["_index"].endswith("2026.10")
