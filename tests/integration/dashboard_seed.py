"""Scored messages for dashboard tests: the bundled sample texts scored by a real model and
built into documents by the worker's own builder (``stream.documents.scored_document``), then
indexed through the real template under a test's unique prefix.

Times are spread over the last ``hours`` so that both the current and the previous period of
the default 24-hour view have data; a few messages are in an unsupported language.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk

from models.inference import InferenceEngine, Prediction
from moodwatch.settings import Settings
from stream.connections import elasticsearch
from stream.documents import scored_document
from stream.index_admin import create_templates
from stream.index_layout import IndexLayout
from stream.records import Message, Position

UNSUPPORTED_TEXTS = (
    "der Kundendienst hat mir nicht geantwortet",
    "la livraison est encore en retard",
    "el pedido llegó roto",
)


@dataclass(frozen=True)
class Seeded:
    documents: list[dict[str, Any]]

    def by_id(self) -> dict[str, dict[str, Any]]:
        return {d["id"]: d for d in self.documents}


def sample_messages() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in ("chat.jsonl", "news.jsonl"):
        text = resources.files("stream").joinpath("samples", name).read_text(encoding="utf-8")
        rows.extend(json.loads(line) for line in text.splitlines() if line.strip())
    return rows


def build_documents(
    engine: InferenceEngine, now: datetime, hours: float = 48.0
) -> list[dict[str, Any]]:
    rows = sample_messages()
    predictions = engine.predict([r["text"] for r in rows], [r["channel"] for r in rows])
    step = timedelta(hours=hours) / (len(rows) + len(UNSUPPORTED_TEXTS))
    documents = []
    for n, (row, prediction) in enumerate(zip(rows, predictions, strict=True)):
        created = now - (n + 1) * step
        message = Message(
            id=row["id"],
            text=row["text"],
            channel=row["channel"],
            created_at=created,
            position=Position(f"test-{row['channel']}", 0, n),
            source=row.get("source"),
            lang=row.get("lang"),
        )
        documents.append(scored_document(message, prediction, created, created))
    for k, text in enumerate(UNSUPPORTED_TEXTS):
        created = now - (k + 1) * step * 3
        message = Message(
            id=f"other-lang-{k}",
            text=text,
            channel="chat",
            created_at=created,
            position=Position("test-chat", 1, k),
            source="web-chat",
            lang="xx",
        )
        unsupported = Prediction("unsupported", 0.0, {}, "other", 0.0, {}, engine.version)
        documents.append(scored_document(message, unsupported, created, created))
    return documents


def index_documents(client: Elasticsearch, prefix: str, documents: list[dict[str, Any]]) -> None:
    layout = IndexLayout(prefix)
    create_templates(client, layout)
    actions = [
        {
            "_index": layout.messages_index(datetime.fromisoformat(d["created_at"])),
            "_id": d["id"],
            "_source": d,
        }
        for d in documents
    ]
    bulk(client, actions, refresh="wait_for")


def delete_prefix(client: Elasticsearch, prefix: str) -> None:
    # The node refuses wildcard deletes (destructive_requires_name): name each index.
    names = list(client.indices.get(index=f"{prefix}-*", expand_wildcards="all"))
    if names:
        client.indices.delete(index=",".join(names))
    client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-messages")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def seeded(
    services: Settings, tiny_engine: InferenceEngine
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A unique prefix holding the scored samples of the last 48 hours (deleted afterwards)."""
    client = elasticsearch(services)
    prefix = f"mwdash-{uuid.uuid4().hex[:8]}"
    documents = build_documents(tiny_engine, utc_now())
    index_documents(client, prefix, documents)
    yield prefix, documents
    delete_prefix(client, prefix)
    client.close()


def alert_documents(documents: list[dict[str, Any]]) -> tuple[str, dict[str, dict[str, Any]]]:
    """A firing episode about the chat topic of a seeded negative message, shaped as the
    alerts component stores it (``alerts/episodes.py``), beside a track and a silence of the
    same rule (the alerter's own state, which the dashboard must not show as alerts)."""
    chat = [
        d for d in documents if d["channel"] == "chat" and d["sentiment"]["label"] == "negative"
    ]
    anchor = datetime.fromisoformat(chat[0]["created_at"])
    topic = chat[0]["topic"]["label"]
    rule = "chat-negative-spike"
    episode_id = f"{rule}:{topic}:1"
    window = (anchor - timedelta(hours=6), anchor + timedelta(minutes=1))
    link = (
        f"http://127.0.0.1:8501/explorer?from={iso(window[0])}&to={iso(window[1])}"
        f"&channel=chat&topic={topic}&episode={episode_id}"
    ).replace("+00:00", "Z")
    episode = {
        "kind": "episode",
        "id": episode_id,
        "rule": rule,
        "group": topic,
        "number": 1,
        "state": "firing",
        "route": "market",
        "severity": "warning",
        "description": "Negative share of chat messages per topic",
        "reason": "negative share 80% over 12 messages is above 50%",
        "first_breach": iso(anchor),
        "last_breach": iso(anchor),
        "fired_at": iso(anchor),
        "resolved_at": None,
        "window_from": iso(window[0]),
        "window_to": iso(window[1]),
        "numbers": {"negative_share": 0.8, "messages": 12},
        "last_numbers": {"negative_share": 0.8, "messages": 12},
        "evidence": {
            "rising_terms": [{"term": "refund", "count": 5, "baseline_count": 1, "score": 2.1}],
            "top_topics": [{"key": topic, "count": 12}],
            "top_sources": [{"key": chat[0]["source"], "count": 12}],
            "model_versions": [{"key": chat[0]["model_version"], "count": 12}],
            "messages": [{"id": chat[0]["id"], "text": chat[0]["text"]}],
        },
        "link": link,
        "notifications": [
            {"kind": "firing", "notifier": "log", "outcome": "sent", "at": iso(anchor)},
            {
                "kind": "firing",
                "notifier": "webhook",
                "outcome": "failed",
                "at": iso(anchor),
                "attempts": 2,
                "error": "HTTP 502",
            },
        ],
        "has_pending": True,
    }
    track = {"kind": "track", "rule": rule, "group": topic, "track": {}}
    silence = {"kind": "silence", "rule": rule, "group": "other", "until": iso(anchor)}
    return topic, {
        episode_id: episode,
        f"track:{rule}:{topic}": track,
        f"silence:{rule}:other": silence,
    }


def index_alerts(client: Elasticsearch, prefix: str, documents: dict[str, dict[str, Any]]) -> None:
    for doc_id, document in documents.items():
        client.index(index=f"{prefix}-alerts", id=doc_id, document=document, refresh="wait_for")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
