"""The learning loop on the real Elasticsearch and Kafka: labels in, candidates judged, one run at
a time, decisions and history kept."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from models.examples import Example, seed_golden_set, seed_training_set
from models.registry import Registry
from models.taxonomy import Taxonomy
from moodwatch.cli import cli
from moodwatch.settings import Settings, load_settings
from retrain.history import LoopHistory
from retrain.job import RetrainJob
from stream.connections import async_elasticsearch, kafka_options
from stream.index_admin import create_templates
from stream.index_layout import layout_for
from stream.label_import import import_labels
from stream.label_index import disagreements, label_counts, labels_index
from stream.label_relay import LabelRelay
from stream.labels import Label, LabelStore, Refused, Stored, Superseded, send_labels
from stream.records import Position
from tests.integration.streamkit import wait_for

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def label(message_id: str, labeler: str, at: datetime, **fields: str) -> bytes:
    record = {"message_id": message_id, "labeler": labeler, "labeled_at": at.isoformat(), **fields}
    return json.dumps(record).encode()


def index_message(es: Elasticsearch, settings: Settings, message_id: str, **doc: Any) -> None:
    layout = layout_for(settings)
    create_templates(es, layout)
    created = datetime.now(UTC)
    es.index(
        index=layout.messages_index(created),
        id=message_id,
        document={"id": message_id, "created_at": created.isoformat(), **doc},
        refresh=True,
    )


@pytest.fixture
def loop_settings(
    services: Settings,
    unique: Callable[[str], str],
    tiny_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """Settings on a private index prefix, topics and a copy of the tiny registry."""
    registry = tmp_path / "registry"
    shutil.copytree(tiny_registry.root, registry)
    env = {
        "MOODWATCH_ES_INDEX_PREFIX": unique("mwloop"),
        "MOODWATCH_TOPIC_MODEL_UPDATES": unique("model-updates"),
        "MOODWATCH_TOPIC_LABELS": unique("labels"),
        "MOODWATCH_REGISTRY_PATH": str(registry),
        "MOODWATCH_RETRAIN_MIN_NEW_LABELS": "5",
        "MOODWATCH_RETRAIN_SEED_REPLAY": "0",
        "MOODWATCH_RETRAIN_LABEL_REPLAY": "0",
        "MOODWATCH_RETRAIN_HOLDOUT_FRACTION": "0.25",
        "MOODWATCH_RETRAIN_FROZEN_LAYERS": "0",
        "MOODWATCH_SHADOW_HOURS": "1",
        "MOODWATCH_LOG_FORMAT": "text",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


async def test_labels_are_validated_joined_and_the_newer_one_wins(
    loop_settings: Settings, es: Elasticsearch, taxonomy: Taxonomy
) -> None:
    index_message(
        es,
        loop_settings,
        "chat-1",
        text="my parcel never came",
        channel="chat",
        sentiment={"label": "neutral"},
        topic={"label": "delivery"},
        model_version="v0001",
    )
    prefix = loop_settings.es_index_prefix
    client = async_elasticsearch(loop_settings)
    store = LabelStore(client, prefix, taxonomy)
    where = Position(loop_settings.topic_labels, 0, 7)
    try:
        await store.ensure_index()
        await store.ensure_index()  # idempotent
        unknown = label("no-such-message", "ana", T0, sentiment="negative")
        refused = await store.handle(unknown, where, b"no-such-message")
        wrong_topic = await store.handle(label("chat-1", "ana", T0, topic="markets"), where)
        first = await store.handle(label("chat-1", "ana", T0, sentiment="negative"), where)
        older = await store.handle(
            label("chat-1", "ana", T0 - timedelta(hours=1), sentiment="positive"), where
        )
        newer = await store.handle(
            label("chat-1", "ana", T0 + timedelta(hours=1), sentiment="neutral", topic="delivery"),
            where,
        )
        other = await store.handle(label("chat-1", "bob", T0, sentiment="negative"), where)
    finally:
        await client.close()

    assert isinstance(refused, Refused)
    assert refused.rejection.reason.value == "unknown_message"
    dead = json.loads(refused.dead_letter)
    assert dead["reason"] == "unknown_message"
    assert dead["message_id"] == "no-such-message"
    assert base64.b64decode(dead["original_b64"]) == unknown
    assert dead["source"] == {"topic": loop_settings.topic_labels, "partition": 0, "offset": 7}
    assert isinstance(wrong_topic, Refused)
    assert wrong_topic.rejection.reason.value == "unknown_class"
    assert "not a chat topic" in wrong_topic.rejection.detail
    assert isinstance(first, Stored) and first.doc_id == "chat-1:ana"
    assert isinstance(older, Superseded)
    assert isinstance(newer, Stored) and isinstance(other, Stored)

    es.indices.refresh(index=labels_index(prefix))
    ana = es.get(index=labels_index(prefix), id="chat-1:ana")["_source"]
    assert (ana["sentiment"], ana["topic"]) == ("neutral", "delivery")
    assert ana["text"] == "my parcel never came"
    assert ana["predicted"]["model_version"] == "v0001"
    conflicts = disagreements(es, prefix)
    assert [c["message_id"] for c in conflicts] == ["chat-1"]
    assert sorted(x["sentiment"] for x in conflicts[0]["labels"]) == ["negative", "neutral"]
    counts = label_counts(es, prefix, None)
    assert (counts.total, counts.messages, counts.disagreements) == (2, 1, 1)
    assert counts.by_labeler == {"ana": 1, "bob": 1}


def test_labels_import_and_stats_commands(loop_settings: Settings, tmp_path: Path) -> None:
    rows = tmp_path / "labels.csv"
    rows.write_text(
        "text,channel,sentiment,topic,labeler\n"
        "Stocks rallied to a record,news,positive,markets,ana\n"
        "Stocks rallied to a record,news,negative,,bob\n"
        "the parcel is late,chat,negative,delivery,ana\n"
        "bad class,chat,furious,,ana\n"
    )
    runner = CliRunner()
    imported = runner.invoke(cli, ["labels", "import", str(rows)])
    again = runner.invoke(cli, ["labels", "import", str(rows)])
    stats = runner.invoke(cli, ["labels", "stats", "--json"])
    assert imported.exit_code == 0, imported.output
    assert "stored 3 labels" in imported.output
    assert "labels.csv:5: unknown_class" in imported.output
    assert "stored 3 labels" in again.output  # same synthetic ids: replaced, not doubled
    counts = json.loads(stats.output)
    assert counts["total"] == 3
    assert counts["messages"] == 2
    assert counts["disagreements"] == 1
    assert counts["by_channel"] == {"news": 2, "chat": 1}
    assert counts["current_model"] == "v0001"
    assert counts["new"] == 3  # v0001 was never trained on labels


async def _read_events(settings: Settings, expected: int) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        settings.topic_model_updates, **kafka_options(settings), auto_offset_reset="earliest"
    )
    await consumer.start()
    events: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(60):
            while len(events) < expected:
                batch = await consumer.getmany(timeout_ms=1000)
                events += [json.loads(r.value) for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return events


def test_promote_and_rollback_are_announced(loop_settings: Settings) -> None:
    registry = Registry(loop_settings.registry_path)
    first = registry.current_id()
    with registry.stage() as staged:  # a second version: the same files, a new id
        source = registry.get("v0001").path
        for item in source.iterdir():
            if item.name not in ("version.json", "manifest.json"):
                copy = shutil.copytree if item.is_dir() else shutil.copy2
                copy(item, staged / item.name)
        second = registry.commit(staged, first, {}, {}, "copy").id
    runner = CliRunner()
    promoted = runner.invoke(cli, ["model", "promote", second])
    rolled = runner.invoke(cli, ["model", "rollback"])
    assert promoted.exit_code == 0 and rolled.exit_code == 0, promoted.output + rolled.output
    events = asyncio.run(_read_events(loop_settings, 2))
    assert [(e["event"], e["version"], e["previous"]) for e in events] == [
        ("promoted", second, first),
        ("rolled_back", first, second),
    ]
    assert registry.current_id() == first


def flipped(example: Example) -> Example:
    swap = {"negative": "positive", "positive": "negative", "neutral": "neutral"}
    return Example(example.text, example.channel, swap[example.sentiment or "neutral"], None)


@pytest.mark.slow
def test_a_candidate_trained_on_wrong_labels_is_rejected_and_current_stays(
    loop_settings: Settings, es: Elasticsearch, taxonomy: Taxonomy, tmp_path: Path
) -> None:
    polar = [e for e in seed_training_set() if e.sentiment in ("negative", "positive")]
    wrong = [flipped(e) for e in polar[::4]]
    rows = tmp_path / "wrong.jsonl"
    rows.write_text("\n".join(e.to_json() for e in wrong))
    imported = import_labels(es, loop_settings.es_index_prefix, taxonomy, rows, "prankster")
    assert imported.stored == len(wrong)
    registry = Registry(loop_settings.registry_path)
    before = registry.current_id()
    golden = seed_golden_set()[::3]
    job = RetrainJob(loop_settings, es, registry, taxonomy, golden=golden)

    result = job.run(trigger="test", force=True)

    assert result.outcome == "rejected", result.reason
    assert result.decision is not None
    failed = [c.name for c in result.decision.failed]
    assert any(name.startswith("golden") and "sentiment" in name for name in failed), failed
    assert registry.current_id() == before
    candidate = registry.get(result.candidate or "")
    assert candidate.training["gate"]["promote"] is False
    history = LoopHistory(es, loop_settings.es_index_prefix)
    stored = history.decision(candidate.id)
    assert stored is not None and stored["promoted"] is False
    assert [r.outcome for r in history.recent_runs()] == ["rejected"]
    assert job.pending_labels() == 0  # tried labels are not retried on the next tick


def _start_scheduler(name: str, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / f"{name}.log"
    env = {
        **os.environ,
        "MOODWATCH_RETRAIN_INTERVAL_MINUTES": "0.05",
        "MOODWATCH_RETRAIN_EPOCHS": "1",
        "MOODWATCH_RETRAIN_LOCK_TTL_S": "600",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "moodwatch", "scheduler"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env=env,
    )
    return process, log


def _ticks(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "retrain tick:" in line]


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def schedulers(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            _stop(process)


@pytest.mark.slow
def test_two_schedulers_run_the_job_once_and_a_restart_keeps_history(
    loop_settings: Settings,
    es: Elasticsearch,
    taxonomy: Taxonomy,
    tmp_path: Path,
    schedulers: list[subprocess.Popen[bytes]],
) -> None:
    good = [e for e in seed_training_set() if e.sentiment][::25]
    rows = tmp_path / "good.jsonl"
    rows.write_text("\n".join(e.to_json() for e in good))
    assert import_labels(es, loop_settings.es_index_prefix, taxonomy, rows).stored == len(good)
    (a, log_a), (b, log_b) = (_start_scheduler(n, tmp_path) for n in ("a", "b"))
    schedulers += [a, b]

    def both_idle() -> bool:
        assert a.poll() is None and b.poll() is None, log_a.read_text() + log_b.read_text()
        return all(any("waiting for" in t for t in _ticks(log)) for log in (log_a, log_b))

    wait_for(both_idle, 600, "both schedulers to finish a run and tick idle")
    history = LoopHistory(es, loop_settings.es_index_prefix)
    trained = [r for r in history.recent_runs() if r.outcome in ("promoted", "rejected")]
    assert len(trained) == 1, history.recent_runs()

    _stop(a)
    _stop(b)
    c, log_c = _start_scheduler("c", tmp_path)
    schedulers.append(c)
    wait_for(lambda: bool(_ticks(log_c)), 120, "the restarted scheduler's first tick")
    assert "0 new labels, waiting for 5" in _ticks(log_c)[0]
    shown = CliRunner().invoke(cli, ["retrain", "history", "--json"])
    runs = json.loads(shown.output)
    assert [r["run_id"] for r in runs if r["outcome"] in ("promoted", "rejected")] == [
        trained[0].run_id
    ]


async def test_bad_labels_on_the_topic_land_in_the_dead_letter_topic_with_their_reason(
    loop_settings: Settings,
    es: Elasticsearch,
    taxonomy: Taxonomy,
    unique: Callable[[str], str],
    create_topic: Callable[..., Any],
) -> None:
    await create_topic(loop_settings.topic_labels)
    dead_topic = await create_topic(unique("dead-letter"))
    settings = load_settings(**{**loop_settings.model_dump(), "topic_dead_letter": dead_topic})
    index_message(es, settings, "news-1", text="Stocks slid", channel="news")
    good = Label("news-1", "ana", T0, "negative", "markets")
    unknown_id = Label("news-404", "ana", T0, "negative")
    wrong_class = Label("news-1", "bob", T0, None, "delivery")
    await send_labels(settings, [good, unknown_id, wrong_class])
    client = async_elasticsearch(settings)
    try:
        store = LabelStore(client, settings.es_index_prefix, taxonomy)
        await store.ensure_index()
        async with asyncio.timeout(120):
            counts = await LabelRelay(settings, store, unique("labels-group")).run(expected=3)
    finally:
        await client.close()

    assert counts["stored"] == 1 and counts["refused"] == 2
    consumer = AIOKafkaConsumer(dead_topic, **kafka_options(settings), auto_offset_reset="earliest")
    await consumer.start()
    dead: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(60):
            while len(dead) < 2:
                batch = await consumer.getmany(timeout_ms=1000)
                dead += [json.loads(r.value) for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    reasons = {d["message_id"]: (d["reason"], d["detail"]) for d in dead}
    assert reasons["news-404"][0] == "unknown_message"
    assert reasons["news-1"][0] == "unknown_class"
    assert "'delivery' is not a news topic" in reasons["news-1"][1]
    assert {d["source"]["topic"] for d in dead} == {settings.topic_labels}
    es.indices.refresh(index=labels_index(settings.es_index_prefix))
    assert es.get(index=labels_index(settings.es_index_prefix), id="news-1:ana")["found"]
