"""Messages for the explorer and the label queue: bounded pages, one message's detail, and a
bounded CSV export of the current selection."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from dashboard.filters import View
from dashboard.queries.search import SENTIMENTS, UNSUPPORTED, translated, view_filter

PAGE_MAX = 200
# Elasticsearch's default max_result_window: deeper pages need search_after (the export does).
WINDOW_MAX = 10_000
ROW_FIELDS = [
    "id",
    "created_at",
    "channel",
    "source",
    "topic.label",
    "sentiment.label",
    "sentiment.confidence",
    "model_version",
    "lang",
    "text",
]
CSV_COLUMNS = (
    "time",
    "channel",
    "source",
    "topic",
    "sentiment",
    "confidence",
    "model_version",
    "lang",
    "id",
    "text",
)


@dataclass(frozen=True)
class MessageRow:
    """One line of the explorer's table."""

    id: str
    time: datetime
    channel: str
    source: str | None
    topic: str | None
    sentiment: str | None
    confidence: float | None
    model_version: str | None
    lang: str | None
    text: str

    def as_csv(self) -> tuple[object, ...]:
        return (
            self.time.isoformat(),
            self.channel,
            self.source or "",
            self.topic or "",
            self.sentiment or "",
            "" if self.confidence is None else self.confidence,
            self.model_version or "",
            self.lang or "",
            self.id,
            self.text,
        )


@dataclass(frozen=True)
class Page:
    total: int  # matching messages (exact up to WINDOW_MAX, then a lower bound)
    total_is_exact: bool
    rows: list[MessageRow]


def row_from_source(source: dict[str, Any]) -> MessageRow:
    sentiment = source.get("sentiment") or {}
    topic = source.get("topic") or {}
    return MessageRow(
        id=str(source.get("id")),
        time=datetime.fromisoformat(str(source["created_at"]).replace("Z", "+00:00")),
        channel=str(source.get("channel", "")),
        source=source.get("source"),
        topic=topic.get("label"),
        sentiment=sentiment.get("label"),
        # An unsupported language has no sentiment, so no confidence either.
        confidence=None if sentiment.get("label") == UNSUPPORTED else sentiment.get("confidence"),
        model_version=source.get("model_version"),
        lang=source.get("lang"),
        text=str(source.get("text", "")),
    )


def search_messages(
    client: Elasticsearch,
    alias: str,
    view: View,
    *,
    offset: int = 0,
    size: int = 50,
    sort: str = "newest",
) -> Page:
    """A page of the view's messages: ``newest`` first, ``least_confident`` first, or by
    ``relevance`` to the text query."""
    size = max(1, min(size, PAGE_MAX))
    offset = max(0, min(offset, WINDOW_MAX - size))
    orders: dict[str, list[dict[str, Any]] | None] = {
        "newest": [{"created_at": "desc"}, {"id": "asc"}],
        "least_confident": [{"sentiment.confidence": {"order": "asc", "missing": "_last"}}],
        "relevance": None,
    }
    order = orders[sort]
    with translated("messages"):
        body = client.search(
            index=alias,
            query={"bool": {"filter": view_filter(view)}}
            if sort != "relevance" or not view.q
            else _scored_by_text(view),
            sort=order,
            from_=offset,
            size=size,
            source_includes=ROW_FIELDS,
            track_total_hits=WINDOW_MAX,
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    hits = body["hits"]
    return Page(
        total=int(hits["total"]["value"]),
        total_is_exact=hits["total"]["relation"] == "eq",
        rows=[row_from_source(hit["_source"]) for hit in hits["hits"]],
    )


def _scored_by_text(view: View) -> dict[str, Any]:
    filters = [c for c in view_filter(view) if "simple_query_string" not in c]
    must = {"simple_query_string": {"query": view.q, "fields": ["text"], "default_operator": "and"}}
    return {"bool": {"filter": filters, "must": [must]}}


def message_detail(client: Elasticsearch, alias: str, message_id: str) -> dict[str, Any] | None:
    """The whole indexed document of one message (both heads' probabilities), or None."""
    with translated("a message"):
        body = client.search(
            index=alias,
            query={"ids": {"values": [message_id]}},
            size=1,
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    hits = body["hits"]["hits"]
    return dict(hits[0]["_source"]) if hits else None


def export_rows(
    client: Elasticsearch, alias: str, view: View, max_rows: int, chunk: int = 1000
) -> list[MessageRow]:
    """Up to ``max_rows`` of the view's messages, newest first (search_after pages)."""
    rows: list[MessageRow] = []
    after: list[Any] | None = None
    while len(rows) < max_rows:
        want = min(chunk, max_rows - len(rows))
        extra: dict[str, Any] = {"search_after": after} if after else {}
        with translated("the export"):
            body = client.search(
                index=alias,
                query={"bool": {"filter": view_filter(view)}},
                sort=[{"created_at": "desc"}, {"id": "asc"}],
                size=want,
                source_includes=ROW_FIELDS,
                track_total_hits=False,
                **extra,
                ignore_unavailable=True,
                allow_no_indices=True,
            ).body
        hits = body["hits"]["hits"]
        rows.extend(row_from_source(hit["_source"]) for hit in hits)
        if len(hits) < want:
            break
        after = hits[-1]["sort"]
    return rows


def to_csv(rows: Iterable[MessageRow]) -> str:
    """CSV text with a header row (spreadsheet-safe: cells starting with = + - @ are quoted
    with a leading apostrophe, so a message cannot inject a formula)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(tuple(_defuse(cell) for cell in row.as_csv()))
    return out.getvalue()


def _defuse(cell: object) -> object:
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def least_confident(
    client: Elasticsearch,
    alias: str,
    view: View,
    *,
    exclude: Iterable[str] = (),
    size: int = 20,
    extra_filter: list[dict[str, Any]] | None = None,
) -> list[MessageRow]:
    """Scored messages of the view the model was least sure about, skipping ``exclude`` ids."""
    query: dict[str, Any] = {
        "bool": {
            "filter": [
                *view_filter(view),
                {"terms": {"sentiment.label": list(SENTIMENTS)}},
                *(extra_filter or []),
            ],
            "must_not": [{"ids": {"values": list(exclude)[:5000]}}],
        }
    }
    with translated("the label queue"):
        body = client.search(
            index=alias,
            query=query,
            sort=[{"sentiment.confidence": {"order": "asc"}}, {"created_at": "desc"}],
            size=max(1, min(size, PAGE_MAX)),
            source_includes=ROW_FIELDS,
            track_total_hits=False,
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    return [row_from_source(hit["_source"]) for hit in body["hits"]["hits"]]
