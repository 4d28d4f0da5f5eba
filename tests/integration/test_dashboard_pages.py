"""The dashboard's pages, run headless by Streamlit's AppTest against the real Elasticsearch
(and Kafka for labels), seeded with the bundled samples scored by a real (tiny) model."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from aiokafka import AIOKafkaConsumer
from streamlit.testing.v1 import AppTest

from models.registry import Registry
from retrain.history import LoopHistory
from stream.connections import kafka_options
from tests.integration import dashboard_seed

seeded = dashboard_seed.seeded  # the module-scoped seeded prefix fixture

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
SCORED = ("negative", "neutral", "positive")


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tiny_registry: Registry) -> Callable[..., AppTest]:
    """An AppTest of the dashboard under the given settings (fresh caches each time)."""

    def start(prefix: str, **env: str) -> AppTest:
        monkeypatch.setenv("MOODWATCH_ES_INDEX_PREFIX", prefix)
        monkeypatch.setenv("MOODWATCH_REGISTRY_PATH", str(tiny_registry.root))
        for name, value in env.items():
            monkeypatch.setenv(f"MOODWATCH_{name.upper()}", value)
        st.cache_data.clear()
        st.cache_resource.clear()
        return AppTest.from_file(APP, default_timeout=60)

    return start


def in_last(documents: list[dict[str, Any]], hours: float, **match: str) -> list[dict[str, Any]]:
    since = datetime.now(UTC) - timedelta(hours=hours)
    return [
        d
        for d in documents
        if datetime.fromisoformat(d["created_at"]) >= since
        and all(d[k] == v for k, v in match.items())
    ]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_overview_headline_matches_the_index(seeded, app_env) -> None:  # type: ignore[no-untyped-def]
    prefix, documents = seeded
    at = app_env(prefix)
    at.run()
    assert not at.exception
    recent = in_last(documents, 24)
    scored = [d for d in recent if d["sentiment"]["label"] in SCORED]
    negative = sum(d["sentiment"]["label"] == "negative" for d in scored)
    unsupported = len(recent) - len(scored)
    assert metric(at, "Messages") == f"{len(recent):,}"
    assert metric(at, "Negative share") == f"{100 * negative / len(scored):.1f}%"
    assert metric(at, "Unsupported language") == f"{100 * unsupported / len(recent):.1f}%"
    assert at.title[0].value == "How people feel — last 24 hours"
    assert any("Most negative topics" in s.value for s in at.subheader)


def test_filters_live_in_the_url_and_narrow_every_number(seeded, app_env) -> None:  # type: ignore[no-untyped-def]
    prefix, documents = seeded
    at = app_env(prefix)
    at.query_params["from"] = "now-7d"
    at.query_params["channel"] = "news"
    at.run()
    assert not at.exception
    news = in_last(documents, 24 * 7, channel="news")
    assert news, "the seed has news messages"
    assert metric(at, "Messages") == f"{len(news):,}"
    assert at.title[0].value == "How people feel — last 7 days"

    channel = next(s for s in at.sidebar.selectbox if s.label == "Channel")
    channel.select("chat").run()
    assert at.query_params["channel"] == "chat"
    assert metric(at, "Messages") == f"{len(in_last(documents, 24 * 7, channel='chat')):,}"


def test_explorer_searches_text_and_exports_the_selection(seeded, app_env) -> None:  # type: ignore[no-untyped-def]
    prefix, documents = seeded
    word = "refund"
    at = app_env(prefix)
    at.query_params["from"] = "now-7d"
    at.query_params["q"] = word
    at.switch_page("views/explorer.py").run()
    assert not at.exception
    # The standard analyzer matches whole words: "refund", not "refunds".
    whole_word = re.compile(rf"\b{word}\b", re.IGNORECASE)
    expected = [d for d in in_last(documents, 24 * 7) if whole_word.search(d["text"])]
    assert expected, "the seed mentions refunds"
    shown = at.dataframe[0].value
    assert len(shown) == min(len(expected), 50)
    assert all(whole_word.search(text) for text in shown["text"])
    assert any(f"**{len(expected):,} messages** match" in m.value for m in at.markdown)

    at.button(key="export-prepare").click().run()
    csv_text = at.session_state["export_csv"]
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("time,channel,source,topic,sentiment,confidence,model_version")
    assert len(lines) == len(expected) + 1


def test_pages_say_so_when_there_is_nothing_yet(app_env, unique) -> None:  # type: ignore[no-untyped-def]
    at = app_env(unique("mwdash-empty"), registry_path=str(Path("/nonexistent/registry")))
    at.run()
    assert not at.exception
    assert any("No messages in this period" in i.value for i in at.info)
    at.switch_page("views/alerts.py").run()
    assert not at.exception
    assert any("No alerts yet" in i.value for i in at.info)
    at.switch_page("views/models.py").run()
    assert not at.exception
    assert any("No model version yet" in i.value for i in at.info)
    at.switch_page("views/explorer.py").run()
    assert not at.exception
    assert any("No messages match" in i.value for i in at.info)


def test_models_page_lists_the_registry(seeded, app_env, tiny_registry) -> None:  # type: ignore[no-untyped-def]
    prefix, _ = seeded
    at = app_env(prefix)
    at.switch_page("views/models.py").run()
    assert not at.exception
    current = tiny_registry.current_id()
    assert any(f"Serving **{current}**" in m.value for m in at.markdown)
    versions = at.dataframe[0].value
    assert list(versions["version"]) == [v.id for v in reversed(tiny_registry.versions())]
    # Roll back is behind a confirmation, and with one version there is nothing to go back to.
    assert at.button(key="rollback").disabled
    at.checkbox(key="rollback-confirm").check().run()
    at.button(key="rollback").click().run()
    assert any("nothing to roll back" in e.value for e in at.error)
    assert tiny_registry.current_id() == current


def test_password_gate_shows_nothing_before_the_password(seeded, app_env) -> None:  # type: ignore[no-untyped-def]
    prefix, _ = seeded
    secret = "s3cret-not-shown"
    at = app_env(prefix, dashboard_password=secret)
    at.run()
    assert not at.metric and not at.sidebar.selectbox
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert any("not right" in e.value for e in at.error)
    assert not at.metric
    at.text_input[0].input(secret)
    at.button[0].click().run()
    assert not at.exception
    assert metric(at, "Messages")
    rendered = json.dumps([str(e) for e in at.main] + [str(e) for e in at.sidebar])
    assert secret not in rendered


async def test_label_queue_sends_labels_with_the_labeler(  # type: ignore[no-untyped-def]
    seeded, app_env, unique, create_topic, services
) -> None:
    prefix, documents = seeded
    topic = await create_topic(unique("labels"))
    at = app_env(prefix, topic_labels=topic)
    at.switch_page("views/label_queue.py").run()
    assert any("Enter your name" in i.value for i in at.info)
    at.text_input[0].input("dana").run()
    queue_rows = [d for d in in_last(documents, 24) if d["sentiment"]["label"] in SCORED]
    least = min(queue_rows, key=lambda d: d["sentiment"]["confidence"])
    assert any(least["text"] in m.value for m in at.markdown)

    at.button(key="topic-refunds" if least["channel"] == "chat" else "topic-markets").click().run()
    at.button(key="sentiment-negative").click().run()
    assert not at.exception
    at.button(key="sentiment-positive").click().run()
    at.button(key="undo").click().run()
    assert any(m.value.startswith("### ") for m in at.markdown)

    consumer = AIOKafkaConsumer(
        topic, **kafka_options(services), auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    try:
        received: list[dict[str, Any]] = []
        async with asyncio.timeout(30):
            while len(received) < 2:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    received.extend(json.loads(r.value) for r in records)
    finally:
        await consumer.stop()
    first, second = received
    assert first["message_id"] == least["id"]
    assert first["sentiment"] == "negative" and first["labeler"] == "dana"
    assert first["topic"] in ("refunds", "markets")
    assert second["sentiment"] == "positive" and second["message_id"] != least["id"]
    # Undo offers the last labelled message again, first in the queue.
    undone = next(d for d in documents if d["id"] == second["message_id"])
    assert any(undone["text"] in m.value for m in at.markdown)


def test_alerts_page_shows_episodes_not_the_alerters_state(seeded, app_env, es) -> None:  # type: ignore[no-untyped-def]
    prefix, documents = seeded
    _, alerts = dashboard_seed.alert_documents(documents)
    dashboard_seed.index_alerts(es, prefix, alerts)
    at = app_env(prefix)
    at.query_params["from"] = "now-7d"
    at.switch_page("views/alerts.py").run()
    assert not at.exception
    assert any("**1 firing**, 0 resolved" in m.value for m in at.markdown)
    assert any("Rising terms:** `refund`" in m.value for m in at.markdown)
    # Notification outcomes on the episode itself, a failed one in red with its error.
    assert any(
        m.value == "**Notified:** log sent · :red[**webhook failed (HTTP 502, 2 attempts)**]"
        for m in at.markdown
    )
    # Silence from here: behind a confirmation, stored where the alerter reads silences.
    episode_id = next(k for k, v in alerts.items() if v["kind"] == "episode")
    assert at.button(key=f"silence-{episode_id}").disabled
    at.checkbox(key=f"silence-confirm-{episode_id}").check().run()
    at.button(key=f"silence-{episode_id}").click().run()
    assert any("Silenced until" in s.value for s in at.success)
    episode = alerts[episode_id]
    stored = es.get(index=f"{prefix}-alerts", id=f"silence:{episode['rule']}:{episode['group']}")
    assert datetime.fromisoformat(stored["_source"]["until"]) > datetime.now(UTC)
    # The episode is about chat: a news view does not show it, the overview counts it.
    at.query_params["channel"] = "news"
    at.run()
    assert any("No alerts yet" in i.value for i in at.info)
    del at.query_params["channel"]
    at.switch_page("views/overview.py").run()
    assert metric(at, "Alerts firing") == "1"


def test_models_page_shows_each_candidates_shadow_disagreement(seeded, app_env, es) -> None:  # type: ignore[no-untyped-def]
    prefix, _ = seeded
    history = LoopHistory(es, prefix)  # where the learning loop records its gate decisions
    history.ensure_indices()
    promoted = {
        "version": "v0002",
        "parent": "v0001",
        "run_id": "run-1",
        "decided_at": "2026-12-03T10:00:00+00:00",
        "promoted": True,
        "reason": "no slice regressed beyond tolerance",
        "gate": {"promote": True, "reason": "no slice regressed beyond tolerance", "checks": []},
        "shadow": {
            "messages": 240,
            "rescored_with_current": 12,
            "sentiment_disagreement": 0.125,
            "topic_disagreement": 0.3,
            "negative_share_tolerance": 0.05,
            "groups": {
                "channel chat": {
                    "n": 160,
                    "current_negative_share": 0.4,
                    "candidate_negative_share": 0.42,
                    "changed": False,
                },
                "topic chat/refunds": {
                    "n": 30,
                    "current_negative_share": 0.3,
                    "candidate_negative_share": 0.5,
                    "changed": True,
                },
            },
            "alert_relevant_change": True,
        },
    }
    rejected = {
        "version": "v0003",
        "parent": "v0002",
        "run_id": "run-2",
        "decided_at": "2026-12-03T11:00:00+00:00",
        "promoted": False,
        "reason": "golden sentiment macro F1 fell 0.08",
        "gate": {"promote": False, "reason": "golden sentiment macro F1 fell 0.08", "checks": []},
        "shadow": None,
    }
    for decision in (promoted, rejected):
        history.save_decision(decision)

    at = app_env(prefix)
    at.switch_page("views/models.py").run()
    assert not at.exception
    assert any(s.value == "Shadow disagreement" for s in at.subheader)
    table = next(d.value for d in at.dataframe if "sentiment disagreement" in d.value.columns)
    newest, older = table.to_dict("records")
    assert (newest["candidate"], newest["gate"]) == ("v0003", "rejected")
    assert newest["alert episodes could change"] == "not shadow-scored: the gate rejected it first"
    assert (older["candidate"], older["against"], older["messages"]) == ("v0002", "v0001", 240)
    assert older["sentiment disagreement"] == 0.125 and older["topic disagreement"] == 0.3
    assert older["alert episodes could change"] == "yes: topic chat/refunds 30.0% → 50.0%"
    groups = next(d.value for d in at.dataframe if "group" in d.value.columns)
    assert list(groups["group"]) == ["topic chat/refunds", "channel chat"]
    assert list(groups["changes"]) == ["yes", ""]


def test_retrain_now_starts_a_recorded_run_behind_a_confirmation(  # type: ignore[no-untyped-def]
    app_env, unique, es, tmp_path
) -> None:
    from tests.integration.streamkit import wait_for

    prefix = unique("mwdash-retrain")
    at = app_env(prefix, infra_home=str(tmp_path))
    try:
        at.switch_page("views/models.py").run()
        assert at.button(key="retrain").disabled
        at.checkbox(key="retrain-confirm").check().run()
        at.button(key="retrain").click().run()
        assert not at.exception
        assert any("Retrain started" in s.value for s in at.success)
        runs = f"{prefix}-retrain-runs"

        def finished() -> bool:
            if not es.indices.exists(index=runs):
                return False
            es.indices.refresh(index=runs)
            hits = es.search(index=runs, query={"match_all": {}})["hits"]["hits"]
            return any(h["_source"]["outcome"] != "running" for h in hits)

        wait_for(finished, 120, f"the dashboard's retrain run in {runs}")
        (run,) = [h["_source"] for h in es.search(index=runs)["hits"]["hits"]]
        # Nothing labelled under this prefix: the run is recorded, and trains nothing.
        assert (run["trigger"], run["outcome"]) == ("manual", "skipped")
        at.run()
        assert any("no new labels" in str(d.value.to_dict()) for d in at.dataframe)
    finally:
        dashboard_seed.delete_prefix(es, prefix)


async def test_label_counter_counts_stored_labels_against_the_retrain_threshold(  # type: ignore[no-untyped-def]
    seeded, app_env, services, taxonomy
) -> None:
    from stream.connections import async_elasticsearch
    from stream.labels import Label, LabelStore, Stored
    from stream.records import Position

    prefix, documents = seeded
    # Stored the way the worker's labels agent stores them.
    client = async_elasticsearch(services)
    try:
        store = LabelStore(client, prefix, taxonomy)
        await store.ensure_index()
        for n, document in enumerate(documents[:2]):
            label = Label(document["id"], "ops", datetime.now(UTC), sentiment="negative")
            outcome = await store.handle(label.to_bytes(), Position("labels", 0, n))
            assert isinstance(outcome, Stored)
        await client.indices.refresh(index=f"{prefix}-labels")
    finally:
        await client.close()

    at = app_env(prefix, retrain_min_new_labels="5")
    at.switch_page("views/label_queue.py").run()
    at.text_input[0].input("dana").run()
    assert not at.exception
    (progress,) = at.get("progress")
    assert progress.proto.text.startswith("**2 of 5** labels since model ")
    assert progress.proto.value == 40
