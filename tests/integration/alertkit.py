"""Shared pieces of the alert integration tests: a unique-prefix history and its cleanup."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from alerts.backtest import tick_at_or_before
from bench.seed_messages import index_documents
from stream.index_layout import IndexLayout


def aligned(moment: datetime, every: timedelta) -> datetime:
    return tick_at_or_before(moment, every)


def seed(es: Elasticsearch, prefix: str, documents: Iterable[dict[str, Any]]) -> int:
    """Index scored documents into ``<prefix>-messages`` through the real template."""
    return index_documents(es, IndexLayout(prefix), documents, chunk_size=2000, threads=1)


@contextmanager
def cleaned(es: Elasticsearch, prefix: str) -> Iterator[str]:
    """Yield ``prefix``; delete its indices and template afterwards."""
    try:
        yield prefix
    finally:
        for name in es.indices.get(index=f"{prefix}-*", ignore_unavailable=True):
            es.indices.delete(index=name)
        es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-messages")
