"""The overview's numbers: headline counts, the timeline per channel, and the groups (topics,
sources) with the highest negative share and their change against the previous period.

Each function is one aggregation request over the messages alias (no documents fetched).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from dashboard.filters import View, iso_z
from dashboard.queries.search import (
    SENTIMENTS,
    UNSUPPORTED,
    time_range,
    translated,
    view_filter,
)

# Bucket widths the timeline may use; the first giving at most ~MAX_BUCKETS buckets wins.
INTERVALS = (
    ("1m", timedelta(minutes=1)),
    ("5m", timedelta(minutes=5)),
    ("15m", timedelta(minutes=15)),
    ("30m", timedelta(minutes=30)),
    ("1h", timedelta(hours=1)),
    ("3h", timedelta(hours=3)),
    ("6h", timedelta(hours=6)),
    ("12h", timedelta(hours=12)),
    ("1d", timedelta(days=1)),
)
MAX_BUCKETS = 60  # readable at a glance: 30-minute buckets over 24 h


@dataclass(frozen=True)
class Counts:
    """Messages in a period: all, per sentiment label, and in unsupported languages."""

    total: int
    negative: int
    neutral: int
    positive: int
    unsupported: int

    @property
    def scored(self) -> int:
        return self.negative + self.neutral + self.positive

    @property
    def negative_share(self) -> float | None:
        """Negative among scored messages (None when nothing was scored)."""
        return self.negative / self.scored if self.scored else None

    @property
    def unsupported_share(self) -> float | None:
        return self.unsupported / self.total if self.total else None


@dataclass(frozen=True)
class Headline:
    current: Counts
    previous: Counts


@dataclass(frozen=True)
class TimelinePoint:
    at: datetime
    channel: str
    total: int
    negative: int
    scored: int

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.scored if self.scored else None


@dataclass(frozen=True)
class GroupShare:
    """One topic or source: negative share now and in the previous period of the same length."""

    name: str
    messages: int
    negative: int
    share: float | None
    previous_messages: int
    previous_share: float | None

    @property
    def change(self) -> float | None:
        if self.share is None or self.previous_share is None:
            return None
        return self.share - self.previous_share


def interval_for(span: timedelta) -> tuple[str, timedelta]:
    """The timeline bucket width for a range of ``span``."""
    for name, width in INTERVALS:
        if span / width <= MAX_BUCKETS:
            return name, width
    return INTERVALS[-1]


def _counts(sentiment_buckets: list[dict[str, Any]], total: int) -> Counts:
    by = {str(b["key"]): int(b["doc_count"]) for b in sentiment_buckets}
    return Counts(
        total=total,
        negative=by.get("negative", 0),
        neutral=by.get("neutral", 0),
        positive=by.get("positive", 0),
        unsupported=by.get(UNSUPPORTED, 0),
    )


def _periods(view: View) -> dict[str, Any]:
    before = view.previous()
    return {
        "range": {
            "field": "created_at",
            "keyed": True,
            "ranges": [
                {"key": "previous", "from": iso_z(before.start), "to": iso_z(before.end)},
                {"key": "current", "from": iso_z(view.start), "to": iso_z(view.end)},
            ],
        }
    }


def _both_periods(view: View) -> list[dict[str, Any]]:
    spanning = view.previous()
    return [
        {"range": {"created_at": {"gte": iso_z(spanning.start), "lt": iso_z(view.end)}}},
        *view_filter(view, with_time=False),
    ]


_SENTIMENT_TERMS = {"terms": {"field": "sentiment.label", "size": 10}}


def headline(client: Elasticsearch, alias: str, view: View) -> Headline:
    """Counts for the view and for the period of the same length before it."""
    aggs = {"periods": {**_periods(view), "aggs": {"sentiment": _SENTIMENT_TERMS}}}
    with translated("headline counts"):
        body = client.search(
            index=alias,
            size=0,
            query={"bool": {"filter": _both_periods(view)}},
            aggs=aggs,
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    buckets = body.get("aggregations", {}).get("periods", {}).get("buckets", {})

    def counts(key: str) -> Counts:
        bucket = buckets.get(key, {"doc_count": 0, "sentiment": {"buckets": []}})
        return _counts(bucket["sentiment"]["buckets"], int(bucket["doc_count"]))

    return Headline(current=counts("current"), previous=counts("previous"))


def timeline(client: Elasticsearch, alias: str, view: View) -> list[TimelinePoint]:
    """Volume and negative share per channel per time bucket (empty buckets included)."""
    interval, _ = interval_for(view.span)
    aggs = {
        "over_time": {
            "date_histogram": {
                "field": "created_at",
                "fixed_interval": interval,
                "min_doc_count": 0,
                "extended_bounds": {"min": iso_z(view.start), "max": iso_z(view.end)},
            },
            "aggs": {
                "channel": {
                    "terms": {"field": "channel", "size": 20},
                    "aggs": {"sentiment": _SENTIMENT_TERMS},
                }
            },
        }
    }
    with translated("the timeline"):
        body = client.search(
            index=alias,
            size=0,
            query={"bool": {"filter": view_filter(view)}},
            aggs=aggs,
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    points: list[TimelinePoint] = []
    for bucket in body.get("aggregations", {}).get("over_time", {}).get("buckets", []):
        at = datetime.fromisoformat(bucket["key_as_string"].replace("Z", "+00:00"))
        for channel in bucket["channel"]["buckets"]:
            counts = _counts(channel["sentiment"]["buckets"], int(channel["doc_count"]))
            points.append(
                TimelinePoint(at, str(channel["key"]), counts.total, counts.negative, counts.scored)
            )
    return points


def negative_by_group(
    client: Elasticsearch,
    alias: str,
    view: View,
    field: str,
    *,
    size: int = 10,
    min_messages: int = 5,
    candidates: int = 100,
) -> list[GroupShare]:
    """The ``size`` groups of ``field`` (``topic.label``, ``source``) with the highest negative
    share among the ``candidates`` busiest, ignoring groups under ``min_messages`` scored messages
    in the view (a share of 2 of 3 is noise, not news)."""
    aggs = {
        "groups": {
            "terms": {"field": field, "size": candidates},
            "aggs": {"periods": {**_periods(view), "aggs": {"sentiment": _SENTIMENT_TERMS}}},
        }
    }
    with translated(f"negative share by {field}"):
        body = client.search(
            index=alias,
            size=0,
            query={"bool": {"filter": _both_periods(view)}},
            aggs=aggs,
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    groups: list[GroupShare] = []
    for bucket in body.get("aggregations", {}).get("groups", {}).get("buckets", []):
        periods = bucket["periods"]["buckets"]
        now = _counts(periods["current"]["sentiment"]["buckets"], periods["current"]["doc_count"])
        before = _counts(
            periods["previous"]["sentiment"]["buckets"], periods["previous"]["doc_count"]
        )
        if now.scored < min_messages:
            continue
        groups.append(
            GroupShare(
                name=str(bucket["key"]),
                messages=now.total,
                negative=now.negative,
                share=now.negative_share,
                previous_messages=before.total,
                previous_share=before.negative_share,
            )
        )
    groups.sort(key=lambda g: (g.share or 0.0, g.messages), reverse=True)
    return groups[:size]


def filter_options(client: Elasticsearch, alias: str, view: View) -> dict[str, list[str]]:
    """Channels, topics and sources present in the view's time range (busiest first, bounded;
    the view's other filters are ignored, so every choice stays offered)."""
    fields = {"channel": ("channel", 20), "topic": ("topic.label", 200), "source": ("source", 200)}
    aggs = {name: {"terms": {"field": f, "size": n}} for name, (f, n) in fields.items()}
    with translated("the filter values"):
        body = client.search(
            index=alias,
            size=0,
            query={"bool": {"filter": [time_range(view)]}},
            aggs=aggs,
            ignore_unavailable=True,
            allow_no_indices=True,
        ).body
    found = body.get("aggregations", {})
    return {
        name: [str(b["key"]) for b in found.get(name, {}).get("buckets", [])] for name in fields
    }


@dataclass(frozen=True)
class OverviewData:
    """Everything the overview draws, fetched in one go."""

    headline: Headline
    timeline: list[TimelinePoint]
    topics: list[GroupShare]
    sources: list[GroupShare]


def overview_data(client: Elasticsearch, alias: str, view: View) -> OverviewData:
    """The overview's four aggregations, run side by side (one Elasticsearch search thread
    each: on a 30-day range they cost about the same, so the page waits for the slowest
    instead of the sum)."""
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="overview") as pool:
        head = pool.submit(headline, client, alias, view)
        points = pool.submit(timeline, client, alias, view)
        topics = pool.submit(negative_by_group, client, alias, view, "topic.label")
        sources = pool.submit(negative_by_group, client, alias, view, "source")
        return OverviewData(head.result(), points.result(), topics.result(), sources.result())


__all__ = ["SENTIMENTS", "Counts", "GroupShare", "Headline", "OverviewData", "TimelinePoint"]
