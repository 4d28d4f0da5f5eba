"""Bulk indexing into Elasticsearch that never loses a document.

``write`` returns only when every request is either indexed or permanently rejected (a mapping
error, say: the caller decides whether that is the document's fault or the index's). Everything
transient — connection errors, timeouts, 429 and 5xx, per-item ``es_rejected_execution`` — is
retried with capped exponential back-off, for as long as it takes. Blocking here is the point:
the caller does not acknowledge Kafka offsets until ``write`` returns, so an Elasticsearch outage
becomes backpressure, not loss. A whole bulk request refused for good (a cluster block, a
missing privilege) raises :class:`IndexingError`: no document can be written, and the caller
holds the batch instead of dead-lettering it.

``locate`` answers where documents with given ids already live behind the read alias, so a
message replayed with another ``created_at`` overwrites its document instead of writing a
second one into another time-based index.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch

from stream.dependencies import Dependency
from stream.errors import IndexingError

log = logging.getLogger(__name__)
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class IndexRequest:
    doc_id: str
    lines: bytes  # action + source, NDJSON


@dataclass
class BulkOutcome:
    indexed: int = 0
    rejected: list[tuple[IndexRequest, str]] = field(default_factory=list)
    retries: int = 0


def chunk_by_bytes(requests: Sequence[IndexRequest], max_bytes: int) -> list[list[IndexRequest]]:
    """Split into bulk bodies of at most ``max_bytes`` (a single larger document goes alone)."""
    chunks: list[list[IndexRequest]] = []
    current: list[IndexRequest] = []
    size = 0
    for request in requests:
        if current and size + len(request.lines) > max_bytes:
            chunks.append(current)
            current, size = [], 0
        current.append(request)
        size += len(request.lines)
    if current:
        chunks.append(current)
    return chunks


class ElasticsearchSink:
    def __init__(
        self,
        client: AsyncElasticsearch,
        max_bytes: int = 5_000_000,
        retry_max_s: float = 30.0,
        on_retry: Callable[[str], None] | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        health: Dependency | None = None,
    ) -> None:
        self.client = client
        self.max_bytes = max_bytes
        self.retry_max_s = retry_max_s
        self.on_retry = on_retry or (lambda reason: None)
        self._sleep = sleep
        self.health = health or Dependency("elasticsearch")

    async def locate(self, alias: str, ids: Sequence[str]) -> dict[str, str]:
        """Document id → the index it already lives in, for those of ``ids`` that exist.

        One search per batch (an ``ids`` query, no source). Search sees what was refreshed
        (1 s): a replay comes seconds after the first write at the earliest. Retried like a
        write while Elasticsearch is unreachable.
        """
        if not ids:
            return {}
        attempt = 0
        while True:
            try:
                response = await self.client.search(
                    index=alias,
                    query={"ids": {"values": list(ids)}},
                    size=len(ids),
                    source=False,
                    ignore_unavailable=True,
                    allow_no_indices=True,
                )
            except (TransportConnectionError, ConnectionTimeout) as exc:
                self._note_retry(f"unreachable ({exc.__class__.__name__})")
            except ApiError as exc:
                if exc.status_code == 404:  # no messages index yet
                    return {}
                if exc.status_code not in RETRYABLE_STATUS:
                    raise IndexingError(f"Elasticsearch refused a lookup: {exc}") from exc
                self._note_retry(f"lookup answered HTTP {exc.status_code}")
            else:
                self.health.recovered()
                return {hit["_id"]: hit["_index"] for hit in response["hits"]["hits"]}
            attempt = await self._back_off(attempt, "id lookup")

    async def write(self, requests: Sequence[IndexRequest]) -> BulkOutcome:
        outcome = BulkOutcome()
        pending = list(requests)
        attempt = 0
        while pending:
            retry: list[IndexRequest] = []
            for chunk in chunk_by_bytes(pending, self.max_bytes):
                retry += await self._send(chunk, outcome)
            if retry:
                outcome.retries += 1
                attempt = await self._back_off(attempt, f"{len(retry)} documents to retry")
            pending = retry
        self.health.recovered()
        return outcome

    async def _send(self, chunk: list[IndexRequest], outcome: BulkOutcome) -> list[IndexRequest]:
        """Send one bulk body; returns the requests that should be tried again."""
        body = b"".join(r.lines for r in chunk)
        try:
            # The client sends bytes as-is (NDJSON), which lets bodies be sized exactly.
            response = await self.client.bulk(operations=body)  # type: ignore[arg-type]
        except (TransportConnectionError, ConnectionTimeout) as exc:
            self._note_retry(f"unreachable ({exc.__class__.__name__})")
            return chunk
        except ApiError as exc:
            if exc.status_code in RETRYABLE_STATUS:
                self._note_retry(f"bulk HTTP {exc.status_code}")
                return chunk
            raise IndexingError(f"Elasticsearch refused a bulk request: {exc}") from exc
        if not response.get("errors"):
            outcome.indexed += len(chunk)
            return []
        retry = []
        for request, item in zip(chunk, response["items"], strict=True):
            result = item.get("index", {})
            status = int(result.get("status", 500))
            if status < 300:
                outcome.indexed += 1
            elif status in RETRYABLE_STATUS:
                retry.append(request)
            else:
                outcome.rejected.append((request, json.dumps(result.get("error"))[:2000]))
        if retry:
            self._note_retry(f"{len(retry)} documents answered 429/5xx")
        return retry

    def _note_retry(self, reason: str) -> None:
        # The dependency decides what to log: once when it goes down, then a reminder.
        self.health.failed(reason)
        self.on_retry(reason)

    async def _back_off(self, attempt: int, reason: str) -> int:
        delay = min(self.retry_max_s, 0.2 * 2 ** min(attempt, 16)) * (0.5 + random.random() / 2)
        log.debug("backing off %.1f s (%s)", delay, reason)
        await self._sleep(delay)
        return attempt + 1
