"""One Elasticsearch aggregation per rule evaluation: every group, every window, in one request.

No scripts (the local node has none): the request only counts and sums; shares, ratios and
z-scores are computed in :mod:`alerts.conditions`. Only messages labelled negative, neutral or
positive are counted (``unsupported`` languages and anything else are left out).

Groups are a ``terms`` aggregation capped at ``rule.group_limit`` (most messages first); a
``cardinality`` aggregation says how many groups there were, so a cap is reported, never silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, Elasticsearch

from alerts.errors import EvaluationError
from alerts.rules import AlertRule, MessageFilter
from alerts.windows import SENTIMENT_LABELS, GroupStats, WindowPlan, WindowStats, plan_windows

#: The group name of a rule with ``group_by: none``.
ALL = "all"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def filter_clauses(rule_filter: MessageFilter) -> list[dict[str, Any]]:
    """Query clauses of a rule's ``filter`` plus the counted-labels restriction."""
    clauses: list[dict[str, Any]] = [{"terms": {"sentiment.label": list(SENTIMENT_LABELS)}}]
    if rule_filter.channel:
        clauses.append({"term": {"channel": rule_filter.channel}})
    if rule_filter.topics:
        clauses.append({"terms": {"topic.label": rule_filter.topics}})
    if rule_filter.sources:
        clauses.append({"terms": {"source": rule_filter.sources}})
    if rule_filter.query:
        clauses.append({"simple_query_string": {"query": rule_filter.query, "fields": ["text"]}})
    return clauses


def negative_clause(rule: AlertRule) -> dict[str, Any]:
    """A message counted as negative by label (with the rule's confidence floor)."""
    must: list[dict[str, Any]] = [{"term": {"sentiment.label": "negative"}}]
    if rule.counting.min_confidence > 0:
        must.append({"range": {"sentiment.confidence": {"gte": rule.counting.min_confidence}}})
    return {"bool": {"filter": must}}


def _window_aggs(rule: AlertRule, plan: WindowPlan) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "confidence": {"sum": {"field": "sentiment.confidence"}},
        "labels": {"terms": {"field": "sentiment.label", "size": 3}},
    }
    if rule.counting.mode == "probability":
        metrics["negative"] = {"sum": {"field": "sentiment.probs.negative"}}
    else:
        metrics["negative"] = {"filter": negative_clause(rule)}
    ranges = [{"key": w.key, "from": iso(w.start), "to": iso(w.end)} for w in plan.windows]
    return {
        "windows": {
            "date_range": {"field": "created_at", "ranges": ranges, "keyed": True},
            "aggs": metrics,
        }
    }


def build_search(rule: AlertRule, plan: WindowPlan) -> dict[str, Any]:
    """The ``_search`` body (size 0) of one evaluation."""
    clauses = filter_clauses(rule.filter)
    clauses.append(
        {"range": {"created_at": {"gte": iso(plan.earliest), "lt": iso(plan.current.end)}}}
    )
    aggs: dict[str, Any]
    field = rule.group_field
    if field is None:
        aggs = _window_aggs(rule, plan)
    else:
        aggs = {
            "groups": {
                "terms": {"field": field, "size": rule.group_limit},
                "aggs": _window_aggs(rule, plan),
            },
            "group_count": {"cardinality": {"field": field}},
        }
    return {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": clauses}},
        "aggs": aggs,
    }


@dataclass(frozen=True)
class Measurement:
    """Every group's numbers for one rule at one moment, and whether groups were capped."""

    rule: str
    at: datetime
    plan: WindowPlan
    groups: dict[str, GroupStats]
    groups_seen: int
    group_limit: int

    @property
    def truncated(self) -> bool:
        return self.groups_seen > len(self.groups) and len(self.groups) >= self.group_limit


def _window_stats(bucket: dict[str, Any], mode: str) -> WindowStats:
    negative = bucket["negative"]
    return WindowStats(
        count=int(bucket["doc_count"]),
        negative=float(negative["value"] or 0.0)
        if mode == "probability"
        else float(negative["doc_count"]),
        confidence_sum=float(bucket["confidence"]["value"] or 0.0),
        labels={str(b["key"]): int(b["doc_count"]) for b in bucket["labels"]["buckets"]},
    )


def _group_stats(group: str, aggs: dict[str, Any], rule: AlertRule, plan: WindowPlan) -> GroupStats:
    buckets = aggs["windows"]["buckets"]
    mode = rule.counting.mode
    return GroupStats(
        group=group,
        current=_window_stats(buckets[plan.current.key], mode),
        baseline=tuple(_window_stats(buckets[w.key], mode) for w in plan.baseline),
    )


def parse_response(
    rule: AlertRule, plan: WindowPlan, body: dict[str, Any], at: datetime
) -> Measurement:
    """Turn the aggregation response into per-group :class:`GroupStats`."""
    aggs = body.get("aggregations") or {}
    if not aggs:  # no messages index yet
        return Measurement(rule.name, at, plan, {}, 0, rule.group_limit)
    if rule.group_field is None:
        groups = {ALL: _group_stats(ALL, aggs, rule, plan)}
        seen = len(groups)
    else:
        groups = {
            str(b["key"]): _group_stats(str(b["key"]), b, rule, plan)
            for b in aggs["groups"]["buckets"]
        }
        # cardinality is approximate (exact below 3000): never report fewer than we got.
        seen = max(int(aggs["group_count"]["value"]), len(groups))
    return Measurement(rule.name, at, plan, groups, seen, rule.group_limit)


def measure(client: Elasticsearch, index: str, rule: AlertRule, now: datetime) -> Measurement:
    """Run one rule's aggregation ending at ``now`` over ``index`` (the messages alias)."""
    plan = plan_windows(rule, now)
    body = build_search(rule, plan)
    try:
        response = client.search(
            index=index, body=body, ignore_unavailable=True, allow_no_indices=True
        )
    except TransportConnectionError as exc:
        raise EvaluationError(f"rule {rule.name!r}: cannot reach Elasticsearch: {exc}") from exc
    except ApiError as exc:
        raise EvaluationError(
            f"rule {rule.name!r}: Elasticsearch refused the query: {exc}"
        ) from exc
    return parse_response(rule, plan, dict(response.body), now)
