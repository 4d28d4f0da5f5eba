"""Index template, bulk, alias search and aggregations on the real Elasticsearch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk


def test_template_bulk_search_and_date_histogram(es: Elasticsearch, unique) -> None:  # type: ignore[no-untyped-def]
    base = unique("mw-test")
    es.indices.put_index_template(
        name=base,
        index_patterns=[f"{base}-*"],
        template={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "text": {"type": "text"},
                    "channel": {"type": "keyword"},
                    "sentiment": {"type": "keyword"},
                    "created_at": {"type": "date"},
                },
            },
            "aliases": {base: {}},
        },
    )
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    docs = []
    for i in range(500):
        created = start + timedelta(minutes=i)
        index = f"{base}-a" if i < 250 else f"{base}-b"  # two indices behind one alias
        docs.append(
            {
                "_index": index,
                "_id": f"m-{i}",
                "_source": {
                    "text": f"message number {i}",
                    "channel": "chat" if i % 2 else "news",
                    "sentiment": "negative" if i % 5 == 0 else "positive",
                    "created_at": created.isoformat(),
                },
            }
        )
    try:
        ok, errors = bulk(es, docs, refresh="wait_for")
        assert ok == 500 and errors == []
        # Same ids again overwrite instead of duplicating.
        ok, _ = bulk(es, docs[:100], refresh="wait_for")
        assert es.count(index=base)["count"] == 500

        result = es.search(
            index=base,
            size=0,
            query={"term": {"sentiment": "negative"}},
            aggs={
                "per_hour": {"date_histogram": {"field": "created_at", "fixed_interval": "1h"}},
                "per_channel": {"terms": {"field": "channel"}},
            },
        )
        assert result["hits"]["total"]["value"] == 100
        hours = result["aggregations"]["per_hour"]["buckets"]
        assert sum(b["doc_count"] for b in hours) == 100
        assert hours[0]["key_as_string"].startswith("2026-11-01T09:00")
        assert all(b["doc_count"] == 12 for b in hours[:8])  # every 5th minute of each full hour
        channels = {
            b["key"]: b["doc_count"] for b in result["aggregations"]["per_channel"]["buckets"]
        }
        assert channels == {"news": 50, "chat": 50}
    finally:
        # ES 8 refuses wildcard deletes (action.destructive_requires_name): name each index.
        for name in es.indices.get(index=f"{base}-*"):
            es.indices.delete(index=name)
        es.indices.delete_index_template(name=base)
