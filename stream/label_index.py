"""The labels index ``<prefix>-labels``: its mapping, idempotent creation, and the reads the CLI,
the retrain job and the dashboard share (synchronous client).

One document per (message, labeler): ``_id = <message_id>:<labeler>``. Its ES version is the
label's ``labeled_at`` in epoch milliseconds, written with ``version_type=external_gte``, so a
newer label by the same labeler replaces the older one and an older one arriving late (a replay,
an out-of-order partition) is refused by Elasticsearch itself, atomically. Labels by different
labelers on one message are separate documents: disagreements stay visible.

``stored_at`` is when moodwatch received the label (never the labeler's clock): "new since the
current model" means ``stored_at`` after the cut-off the model version was trained up to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, Elasticsearch, NotFoundError
from elasticsearch.helpers import scan

from stream.errors import IndexingError

LABELS_MAPPING_VERSION = 1
_KEYWORD = {"type": "keyword"}
_DATE = {"type": "date"}

LABEL_PROPERTIES: dict[str, Any] = {
    "message_id": _KEYWORD,
    "labeler": _KEYWORD,
    "sentiment": _KEYWORD,
    "topic": _KEYWORD,
    "labeled_at": _DATE,
    "stored_at": _DATE,
    "note": {"type": "text"},
    "origin": _KEYWORD,  # "stream" (labels topic) or "import" (moodwatch labels import)
    "text": {"type": "text"},
    "channel": _KEYWORD,
    "source": _KEYWORD,
    "message_created_at": _DATE,
    "predicted": {
        "properties": {"sentiment": _KEYWORD, "topic": _KEYWORD, "model_version": _KEYWORD}
    },
}


def labels_index(prefix: str) -> str:
    return f"{prefix}-labels"


def labels_index_body() -> dict[str, Any]:
    return {
        "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
        "mappings": {
            "dynamic": "strict",
            "_meta": {"moodwatch_mapping_version": LABELS_MAPPING_VERSION},
            "properties": LABEL_PROPERTIES,
        },
    }


def create_index(client: Elasticsearch, name: str, body: dict[str, Any]) -> bool:
    """Create ``name`` unless it exists (safe to call from several processes); True if created."""
    try:
        if client.indices.exists(index=name):
            return False
        client.indices.create(index=name, **body)
        return True
    except TransportConnectionError as exc:
        raise IndexingError(f"cannot reach Elasticsearch: {exc}") from exc
    except ApiError as exc:
        if exc.meta.status == 400 and "resource_already_exists" in str(exc):
            return False  # another process created it between our check and our create
        raise IndexingError(f"Elasticsearch refused to create index {name}: {exc}") from exc


@dataclass(frozen=True)
class LabelCounts:
    """What ``moodwatch labels stats`` shows."""

    total: int
    since: datetime | None
    new: int
    by_sentiment: dict[str, int]
    by_topic: dict[str, int]
    by_channel: dict[str, int]
    by_labeler: dict[str, int]
    by_origin: dict[str, int]
    messages: int
    disagreements: int


def _buckets(aggs: dict[str, Any], name: str) -> dict[str, int]:
    return {str(b["key"]): int(b["doc_count"]) for b in aggs[name]["buckets"]}


def count_new(client: Elasticsearch, prefix: str, since: datetime | None) -> int:
    """Labels stored after ``since`` (all of them when None); 0 when the index is missing."""
    query: dict[str, Any] = (
        {"range": {"stored_at": {"gt": since.isoformat()}}} if since else {"match_all": {}}
    )
    try:
        return int(client.count(index=labels_index(prefix), query=query)["count"])
    except NotFoundError:
        return 0
    except TransportConnectionError as exc:
        raise IndexingError(f"cannot reach Elasticsearch: {exc}") from exc


def label_counts(client: Elasticsearch, prefix: str, since: datetime | None) -> LabelCounts:
    """Counts per class, topic, channel, labeler and origin; labels new since ``since``;
    messages with labels, and messages whose labelers disagree on the sentiment."""
    aggs: dict[str, Any] = {
        name: {"terms": {"field": name, "size": 200}}
        for name in ("sentiment", "topic", "channel", "labeler", "origin")
    }
    aggs["messages"] = {"cardinality": {"field": "message_id"}}
    aggs["conflicts"] = {
        "terms": {"field": "message_id", "min_doc_count": 2, "size": 10000},
        "aggs": {"classes": {"cardinality": {"field": "sentiment"}}},
    }
    try:
        result = client.search(index=labels_index(prefix), size=0, aggs=aggs, track_total_hits=True)
    except NotFoundError:
        return LabelCounts(0, since, 0, {}, {}, {}, {}, {}, 0, 0)
    except TransportConnectionError as exc:
        raise IndexingError(f"cannot reach Elasticsearch: {exc}") from exc
    body = result.body
    agg = body["aggregations"]
    conflicts = sum(1 for b in agg["conflicts"]["buckets"] if b["classes"]["value"] > 1)
    return LabelCounts(
        total=int(body["hits"]["total"]["value"]),
        since=since,
        new=count_new(client, prefix, since),
        by_sentiment=_buckets(agg, "sentiment"),
        by_topic=_buckets(agg, "topic"),
        by_channel=_buckets(agg, "channel"),
        by_labeler=_buckets(agg, "labeler"),
        by_origin=_buckets(agg, "origin"),
        messages=int(agg["messages"]["value"]),
        disagreements=conflicts,
    )


def disagreements(client: Elasticsearch, prefix: str, limit: int = 100) -> list[dict[str, Any]]:
    """Messages whose labelers gave different sentiments: ``{message_id, labels: [...]}``."""
    counts = {
        "terms": {"field": "message_id", "min_doc_count": 2, "size": 10000},
        "aggs": {"classes": {"cardinality": {"field": "sentiment"}}},
    }
    try:
        result = client.search(index=labels_index(prefix), size=0, aggs={"m": counts})
    except NotFoundError:
        return []
    ids = [
        b["key"] for b in result.body["aggregations"]["m"]["buckets"] if b["classes"]["value"] > 1
    ][:limit]
    if not ids:
        return []
    found = client.search(
        index=labels_index(prefix), size=len(ids) * 20, query={"terms": {"message_id": ids}}
    )
    grouped: dict[str, list[dict[str, Any]]] = {}
    for hit in found.body["hits"]["hits"]:
        source = hit["_source"]
        grouped.setdefault(source["message_id"], []).append(
            {k: source.get(k) for k in ("labeler", "sentiment", "topic", "labeled_at", "note")}
        )
    return [{"message_id": mid, "labels": grouped.get(mid, [])} for mid in ids]


def refresh_labels(client: Elasticsearch, prefix: str) -> None:
    """Make every label written so far searchable (before a retrain reads them)."""
    try:
        client.indices.refresh(index=labels_index(prefix), ignore_unavailable=True)
    except TransportConnectionError as exc:
        raise IndexingError(f"cannot reach Elasticsearch: {exc}") from exc


def iter_labels(
    client: Elasticsearch,
    prefix: str,
    after: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[dict[str, Any]]:
    """Every label document stored in ``(after, until]`` (all when None), as stored."""
    bounds: dict[str, str] = {}
    if after is not None:
        bounds["gt"] = after.isoformat()
    if until is not None:
        bounds["lte"] = until.isoformat()
    query: dict[str, Any] = {"range": {"stored_at": bounds}} if bounds else {"match_all": {}}
    try:
        if not client.indices.exists(index=labels_index(prefix)):
            return
        for hit in scan(client, index=labels_index(prefix), query={"query": query}, size=1000):
            yield hit["_source"]
    except TransportConnectionError as exc:
        raise IndexingError(f"cannot reach Elasticsearch: {exc}") from exc
