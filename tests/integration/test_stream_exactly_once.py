"""Invariant 1 on real Kafka + Elasticsearch: every accepted message indexed exactly once,
with two workers sharing 4-partition topics, through a SIGKILL and an Elasticsearch outage."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from infra.services import start_service, stop_service
from tests.integration.streamkit import StreamRig, wait_for

CHAT_LINES = [
    "where is my parcel",
    "refund still not here, furious",
    "thanks, all sorted!",
    "app crashes on login",
    "card charged twice??",
]
NEWS_LINES = [
    "Shares of Varda Motors rose 4% on strong orders",
    "Central bank holds rates",
    "Floods close ports along the coast",
    "Chipmaker Qorin misses forecasts",
]


def messages(n: int, tag: str) -> list[tuple[str, bytes]]:
    now = datetime.now(UTC).isoformat()
    out = []
    for i in range(n):
        channel = "chat" if i % 2 else "news"
        lines = CHAT_LINES if channel == "chat" else NEWS_LINES
        body = {
            "id": f"{tag}-{i}",
            "text": f"{lines[i % len(lines)]} #{i}",
            "source": f"src-{i % 3}",
            "created_at": now,
        }
        out.append((channel, json.dumps(body).encode()))
    return out


def assert_exactly_once(rig: StreamRig, n: int, tag: str) -> list[dict]:  # type: ignore[type-arg]
    docs = rig.documents()
    ids = [d["_id"] for d in docs]
    assert len(ids) == len(set(ids)) == rig.count() == n
    assert set(ids) == {f"{tag}-{i}" for i in range(n)}
    return docs


@pytest.mark.slow
def test_two_workers_index_ten_thousand_exactly_once(rig: StreamRig) -> None:
    first = rig.start_worker("worker-a")
    second = rig.start_worker("worker-b")
    assert rig.produce(messages(10_000, "m")) == 10_000
    rig.wait_indexed(10_000, timeout=600)
    docs = assert_exactly_once(rig, 10_000, "m")

    sample = {d["_id"]: d for d in docs}["m-7"]
    assert sample["channel"] == "chat" and sample["text"].endswith("#7")
    assert sample["source"] == "src-1"
    assert sample["kafka"]["topic"] == rig.topic("chat")
    assert sample["sentiment"]["label"] in {"negative", "neutral", "positive"}
    assert abs(sum(sample["sentiment"]["probs"].values()) - 1) < 0.01
    assert sample["model_version"] == "v0001"
    assert (
        sample["topic"]["label"] in sample["topic"]["probs"] or sample["topic"]["label"] == "other"
    )
    # both workers took part: each one's metrics counted messages
    for worker in (first, second):
        indexed = [
            line
            for line in worker.metrics().splitlines()
            if line.startswith("moodwatch_messages_indexed_total")
        ]
        assert sum(float(line.split()[-1]) for line in indexed) > 0, worker.name


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_is_still_exactly_once(rig: StreamRig) -> None:
    worker = rig.start_worker("victim")
    rig.produce(messages(6_000, "k"))
    wait_for(lambda: rig.count() >= 1_000, 300, "the first thousand documents")
    worker.kill()  # no shutdown, no final commit: uncommitted work is redelivered
    assert rig.count() < 6_000, "the kill should land mid-run"
    rig.start_worker("restarted")
    rig.wait_indexed(6_000, timeout=600)
    assert_exactly_once(rig, 6_000, "k")


@pytest.mark.slow
def test_elasticsearch_outage_loses_nothing_and_backlog_drains(rig: StreamRig) -> None:
    worker = rig.start_worker("patient")
    rig.produce(messages(2_000, "o"))
    wait_for(lambda: rig.count() >= 200, 300, "indexing to start")
    stop_service("elasticsearch", rig.settings)
    try:
        rig.produce(messages(4_000, "o")[2_000:])  # keeps arriving during the outage
        outage_started = datetime.now(UTC)
        wait_for(
            lambda: (
                (datetime.now(UTC) - outage_started).total_seconds() >= 30 or not worker.alive()
            ),
            60,
            "thirty seconds of outage",
            every=1.0,
        )
        assert worker.alive(), worker.tail()
    finally:
        start_service("elasticsearch", rig.settings)
    rig.wait_indexed(4_000, timeout=600)
    assert_exactly_once(rig, 4_000, "o")
    assert worker.alive()
    retries = [
        line
        for line in worker.metrics().splitlines()
        if line.startswith("moodwatch_es_retries_total")
    ]
    assert retries and float(retries[0].split()[-1]) > 0
