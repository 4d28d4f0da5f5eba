"""Shared pieces of the messages queries: the view as an ES filter, and error translation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, NotFoundError

from dashboard.errors import DashboardError, DataUnavailable
from dashboard.filters import View, iso_z

# Only these labels are sentiment; "unsupported" (another language) is counted apart.
SENTIMENTS = ("negative", "neutral", "positive")
UNSUPPORTED = "unsupported"
T = TypeVar("T")


def view_filter(view: View, *, with_time: bool = True) -> list[dict[str, Any]]:
    """The bool ``filter`` clauses of a view (time range, channel, topic, source, text)."""
    clauses: list[dict[str, Any]] = []
    if with_time:
        clauses.append(time_range(view))
    if view.channel:
        clauses.append({"term": {"channel": view.channel}})
    if view.topic:
        clauses.append({"term": {"topic.label": view.topic}})
    if view.source:
        clauses.append({"term": {"source": view.source}})
    if view.q:
        clauses.append(
            {
                "simple_query_string": {
                    "query": view.q,
                    "fields": ["text"],
                    "default_operator": "and",
                }
            }
        )
    return clauses


def time_range(view: View) -> dict[str, Any]:
    return {"range": {"created_at": {"gte": iso_z(view.start), "lt": iso_z(view.end)}}}


def is_scored() -> dict[str, Any]:
    return {"terms": {"sentiment.label": list(SENTIMENTS)}}


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Turn client errors into ours, with what was being read."""
    try:
        yield
    except (TransportConnectionError, ConnectionTimeout) as exc:
        raise DataUnavailable(
            f"cannot reach Elasticsearch while reading {what}; is it running? ({exc})"
        ) from exc
    except NotFoundError:
        raise
    except ApiError as exc:
        raise DashboardError(f"Elasticsearch refused the {what} query: {exc}") from exc


def or_empty(read: Callable[[], T], empty: T) -> T:
    """``read()``, or ``empty`` when its index does not exist yet."""
    try:
        return read()
    except NotFoundError:
        return empty
