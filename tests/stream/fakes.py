"""In-memory stand-ins for the pipeline's edges (model, Elasticsearch client, dead letters).

Fast unit tests use these; the integration tests run the same pipeline on real services.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from elastic_transport import (
    ApiResponseMeta,
    HttpHeaders,
    NodeConfig,
)
from elastic_transport import (
    ConnectionError as TransportConnectionError,
)

from models.errors import InferenceError
from models.inference import Prediction


class FakeScorer:
    """Negative when the text says 'bad', positive otherwise; fails on 'BOOM'."""

    version = "fake-1"

    def __init__(self) -> None:
        self.languages = ["en"]
        self.calls: list[list[str]] = []
        self.gate: asyncio.Event | None = None  # when set, scoring waits for it
        self.broken = False  # when set, every call fails, as with a sticky CUDA error

    async def score(self, texts: Sequence[str], channels: Sequence[str | None]) -> list[Prediction]:
        self.calls.append(list(texts))
        if self.gate is not None:
            await self.gate.wait()
        if self.broken:
            raise InferenceError("CUDA error: an illegal memory access was encountered")
        if any("BOOM" in t for t in texts):
            raise InferenceError("the model choked")
        return [
            Prediction(
                sentiment="negative" if "bad" in t else "positive",
                sentiment_confidence=0.9,
                sentiment_probs={"negative": 0.9, "neutral": 0.05, "positive": 0.05}
                if "bad" in t
                else {"negative": 0.05, "neutral": 0.05, "positive": 0.9},
                topic="other",
                topic_confidence=0.8,
                topic_probs={"other": 0.8, "delivery": 0.2},
                model_version=self.version,
            )
            for t in texts
        ]


def api_error_meta(status: int) -> ApiResponseMeta:
    node = NodeConfig("http", "localhost", 9200)
    return ApiResponseMeta(
        status=status, http_version="1.1", headers=HttpHeaders(), duration=0.0, node=node
    )


class FakeElasticsearch:
    """Accepts bulk bodies; scripted failures: ``down`` whole-request failures first, then
    per-document statuses from ``item_status`` (doc id → list of statuses to answer in turn)."""

    def __init__(
        self,
        down: int = 0,
        item_status: dict[str, list[int]] | None = None,
        refuse_all: str | None = None,
    ) -> None:
        self.down = down
        self.item_status = item_status or {}
        self.refuse_all = refuse_all  # an error type every document gets, e.g. a cluster block
        self.documents: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.lookups = 0

    async def search(self, index: str, query: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.lookups += 1
        wanted = query["ids"]["values"]
        hits = [
            {"_id": doc_id, "_index": self.documents[doc_id]["_index"]}
            for doc_id in wanted
            if doc_id in self.documents
        ]
        return {"hits": {"hits": hits}}

    async def bulk(self, operations: bytes) -> dict[str, Any]:
        self.requests += 1
        if self.down > 0:
            self.down -= 1
            raise TransportConnectionError("connection refused")
        lines = operations.decode().splitlines()
        items, errors = [], False
        for action_line, source_line in zip(lines[::2], lines[1::2], strict=True):
            action = json.loads(action_line)["index"]
            doc_id = action["_id"]
            scripted = self.item_status.get(doc_id)
            status = scripted.pop(0) if scripted else 201
            if self.refuse_all:
                errors = True
                error = {"type": self.refuse_all, "reason": "refused for every document"}
                items.append({"index": {"_id": doc_id, "status": 403, "error": error}})
                continue
            if status < 300:
                self.documents[doc_id] = {"_index": action["_index"], **json.loads(source_line)}
                items.append({"index": {"_id": doc_id, "status": status}})
            else:
                errors = True
                items.append(
                    {
                        "index": {
                            "_id": doc_id,
                            "status": status,
                            "error": {
                                "type": "mapper_parsing_exception"
                                if status == 400
                                else "es_rejected_execution_exception"
                            },
                        }
                    }
                )
        return {"errors": errors, "items": items}


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def send(self, value: bytes, key: bytes | None) -> None:
        self.records.append(json.loads(value))
