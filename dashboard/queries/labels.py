"""Reads of the labels index ``<prefix>-labels`` (written by the labels agent in stream/)."""

from __future__ import annotations

from datetime import datetime

from elasticsearch import Elasticsearch

from dashboard.filters import iso_z
from dashboard.queries.search import translated


def labels_index(prefix: str) -> str:
    return f"{prefix}-labels"


def count_labels_since(client: Elasticsearch, prefix: str, since: datetime | None) -> int:
    """Labels stored after ``since`` (all when None); 0 while the index does not exist."""
    query: dict[str, object] = {"match_all": {}}
    if since is not None:
        # stored_at is when moodwatch received the label; labeled_at the labeller's clock.
        query = {
            "bool": {
                "should": [
                    {"range": {"stored_at": {"gt": iso_z(since)}}},
                    {
                        "bool": {
                            "must_not": {"exists": {"field": "stored_at"}},
                            "filter": {"range": {"labeled_at": {"gt": iso_z(since)}}},
                        }
                    },
                ],
                "minimum_should_match": 1,
            }
        }
    with translated("the labels count"):
        body = client.search(
            index=labels_index(prefix),
            size=0,
            query=query,
            track_total_hits=True,
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    return int(body["hits"]["total"]["value"])


def labelled_by(client: Elasticsearch, prefix: str, labeler: str, limit: int = 2000) -> set[str]:
    """Message ids ``labeler`` already labelled (the newest ``limit``), to keep out of the queue."""
    with translated("your labels"):
        body = client.search(
            index=labels_index(prefix),
            size=limit,
            query={"term": {"labeler": labeler}},
            source_includes=["message_id"],
            sort=[{"labeled_at": {"order": "desc", "unmapped_type": "date"}}],
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    return {str(hit["_source"]["message_id"]) for hit in body["hits"]["hits"]}


def labels_for(
    client: Elasticsearch, prefix: str, message_ids: list[str]
) -> list[dict[str, object]]:
    """The stored labels of some messages (bounded), newest first."""
    if not message_ids:
        return []
    with translated("labels"):
        body = client.search(
            index=labels_index(prefix),
            size=min(500, 20 * len(message_ids)),
            query={"terms": {"message_id": message_ids[:100]}},
            sort=[{"labeled_at": {"order": "desc", "unmapped_type": "date"}}],
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    return [dict(hit["_source"]) for hit in body["hits"]["hits"]]
