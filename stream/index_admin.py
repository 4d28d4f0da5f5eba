"""Creating and inspecting moodwatch's Elasticsearch indices (synchronous, for the CLI)."""

from __future__ import annotations

from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, Elasticsearch

from stream.errors import IndexingError, IndexUnavailable
from stream.index_layout import IndexLayout


def create_templates(client: Elasticsearch, layout: IndexLayout) -> list[str]:
    """Put the index templates (idempotent: same body, same result); returns their names."""
    try:
        client.indices.put_index_template(
            name=layout.messages_template, **layout.messages_template_body()
        )
    except TransportConnectionError as exc:
        raise IndexUnavailable(
            f"cannot reach Elasticsearch: {exc}; is it running (`moodwatch infra status`)?"
        ) from exc
    except ApiError as exc:
        raise IndexingError(f"Elasticsearch refused the messages template: {exc}") from exc
    return [layout.messages_template]


def index_status(client: Elasticsearch, layout: IndexLayout) -> dict[str, Any]:
    """Cluster health, the template's presence, and each messages index with its doc count."""
    try:
        health = client.cluster.health()
        has_template = bool(client.indices.exists_index_template(name=layout.messages_template))
        indices = client.cat.indices(
            index=f"{layout.prefix}-messages-*",
            format="json",
            h="index,docs.count,store.size,health",
        )
    except TransportConnectionError as exc:
        raise IndexUnavailable(
            f"cannot reach Elasticsearch: {exc}; is it running (`moodwatch infra status`)?"
        ) from exc
    except ApiError as exc:
        raise IndexingError(f"Elasticsearch refused a status request: {exc}") from exc
    found: list[dict[str, Any]] = [row for row in indices.body if isinstance(row, dict)]
    rows = sorted(found, key=lambda r: str(r["index"]))
    return {
        "cluster": health["cluster_name"],
        "status": health["status"],
        "template": layout.messages_template if has_template else None,
        "alias": layout.messages_alias,
        "indices": rows,
        "documents": sum(int(r.get("docs.count") or 0) for r in rows),
    }
