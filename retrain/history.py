"""What the learning loop remembers in Elasticsearch, beside the data (restart-safe, auditable):

- ``<prefix>-retrain-runs``: one document per run — start, end, outcome, reason, numbers;
- ``<prefix>-models``: one document per candidate version — the gate decision with every check,
  the shadow report, the data it was trained on. The same decision is in the version's
  ``version.json`` (``training.gate``), so the registry alone also tells the story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, Elasticsearch, NotFoundError

from retrain.errors import RetrainError
from stream.label_index import create_index

OUTCOMES = ("running", "promoted", "rejected", "skipped", "failed")


def runs_index(prefix: str) -> str:
    return f"{prefix}-retrain-runs"


def models_index(prefix: str) -> str:
    return f"{prefix}-models"


_K = {"type": "keyword"}
_D = {"type": "date"}

RUNS_BODY: dict[str, Any] = {
    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "run_id": _K,
            "trigger": _K,
            "owner": _K,
            "started_at": _D,
            "finished_at": _D,
            "outcome": _K,
            "reason": {"type": "text"},
            "candidate": _K,
            "previous": _K,
            "labels_since": _D,
            "labels_until": _D,
            "numbers": {"type": "object", "enabled": False},
        },
    },
}

MODELS_BODY: dict[str, Any] = {
    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "version": _K,
            "parent": _K,
            "run_id": _K,
            "decided_at": _D,
            "promoted": {"type": "boolean"},
            "reason": {"type": "text"},
            "gate": {"type": "object", "enabled": False},
            "shadow": {"type": "object", "enabled": False},
            "held_out": {"type": "object", "enabled": False},
            "golden": {"type": "object", "enabled": False},
            "training": {"type": "object", "enabled": False},
        },
    },
}


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    trigger: str
    owner: str
    started_at: str
    finished_at: str | None
    outcome: str
    reason: str
    candidate: str | None
    previous: str | None
    labels_since: str | None
    labels_until: str | None
    numbers: dict[str, Any]

    @classmethod
    def from_source(cls, source: dict[str, Any]) -> RunRecord:
        return cls(
            run_id=source["run_id"],
            trigger=source.get("trigger", ""),
            owner=source.get("owner", ""),
            started_at=source["started_at"],
            finished_at=source.get("finished_at"),
            outcome=source.get("outcome", ""),
            reason=source.get("reason", ""),
            candidate=source.get("candidate"),
            previous=source.get("previous"),
            labels_since=source.get("labels_since"),
            labels_until=source.get("labels_until"),
            numbers=source.get("numbers") or {},
        )


class LoopHistory:
    """Reads and writes the runs and model-decision indices (synchronous client)."""

    def __init__(self, client: Elasticsearch, prefix: str) -> None:
        self.client = client
        self.runs = runs_index(prefix)
        self.models = models_index(prefix)

    def ensure_indices(self) -> None:
        create_index(self.client, self.runs, RUNS_BODY)
        create_index(self.client, self.models, MODELS_BODY)

    def save_run(self, run: dict[str, Any]) -> None:
        self._index(self.runs, run["run_id"], run)

    def save_decision(self, decision: dict[str, Any]) -> None:
        self._index(self.models, decision["version"], decision)

    def _index(self, index: str, doc_id: str, document: dict[str, Any]) -> None:
        try:
            self.client.index(index=index, id=doc_id, document=document, refresh="wait_for")
        except TransportConnectionError as exc:
            raise RetrainError(f"cannot reach Elasticsearch to record {doc_id}: {exc}") from exc
        except ApiError as exc:
            raise RetrainError(f"Elasticsearch refused the record {doc_id}: {exc}") from exc

    def recent_runs(self, limit: int = 20) -> list[RunRecord]:
        try:
            result = self.client.search(
                index=self.runs, size=limit, sort=[{"started_at": "desc"}], query={"match_all": {}}
            )
        except NotFoundError:
            return []
        except TransportConnectionError as exc:
            raise RetrainError(f"cannot reach Elasticsearch: {exc}") from exc
        return [RunRecord.from_source(hit["_source"]) for hit in result.body["hits"]["hits"]]

    def last_labels_until(self) -> datetime | None:
        """The label cut-off of the newest finished run that trained (promoted or rejected):
        labels up to it have been tried, so the scheduler does not retrain on them again."""
        try:
            result = self.client.search(
                index=self.runs,
                size=1,
                sort=[{"labels_until": "desc"}],
                query={"terms": {"outcome": ["promoted", "rejected"]}},
            )
        except NotFoundError:
            return None
        hits = result.body["hits"]["hits"]
        if not hits or not hits[0]["_source"].get("labels_until"):
            return None
        return datetime.fromisoformat(hits[0]["_source"]["labels_until"])

    def last_training_rate(self) -> float | None:
        """Training examples per second the newest run that trained measured (None if none)."""
        try:
            result = self.client.search(
                index=self.runs,
                size=1,
                sort=[{"started_at": "desc"}],
                query={"terms": {"outcome": ["promoted", "rejected"]}},
            )
        except NotFoundError:
            return None
        hits = result.body["hits"]["hits"]
        rate = (hits[0]["_source"].get("numbers") or {}).get("examples_per_s") if hits else None
        return float(rate) if rate else None

    def decision(self, version: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.client.get(index=self.models, id=version)["_source"]
        except NotFoundError:
            return None
        return found
