"""Model versions for the models page: the registry on disk (read-only here) and the retrain
job history in ``<prefix>-retrain-runs`` (written by ``retrain/``)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from dashboard.errors import DashboardError
from dashboard.queries.search import translated
from models.errors import RegistryError
from models.registry import ModelVersion, Registry


@dataclass(frozen=True)
class RegistryView:
    versions: list[ModelVersion]
    current: str | None
    promotions: list[dict[str, Any]]


def read_registry(root: Path) -> RegistryView:
    """Every version (oldest first), the current id and the promotion log; empty when the
    registry does not exist yet."""
    registry = Registry(root)
    try:
        return RegistryView(registry.versions(), registry.current_id(), registry.promotion_log())
    except (RegistryError, OSError, json.JSONDecodeError) as exc:
        raise DashboardError(f"cannot read the model registry at {root}: {exc}") from exc


def slice_scores(version: ModelVersion) -> dict[str, float]:
    """Flat ``slice -> score`` numbers of a version (golden set, per channel, per topic), read
    from its metrics and ``report.json``; whatever numbers are there, nested keys joined by
    ``/``."""
    flat: dict[str, float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            flat[prefix] = float(value)
        elif isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}/{key}" if prefix else str(key), inner)

    walk("", version.metrics)
    report = version.path / "report.json"
    if report.is_file():
        # A version without a readable report still shows its metrics.
        with contextlib.suppress(OSError, json.JSONDecodeError):
            walk("report", json.loads(report.read_text()))
    return flat


def retrain_runs(client: Elasticsearch, prefix: str, size: int = 50) -> list[dict[str, Any]]:
    """The newest retrain runs as stored; empty while the index does not exist."""
    with translated("the retrain history"):
        body = client.search(
            index=f"{prefix}-retrain-runs",
            size=size,
            query={"match_all": {}},
            sort=[
                {"started_at": {"order": "desc", "unmapped_type": "date"}},
                {"at": {"order": "desc", "unmapped_type": "date"}},
            ],
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    return [dict(hit["_source"]) for hit in body["hits"]["hits"]]
