"""The evidence an alert carries: what rose, where, examples, which model, and a link.

Collected once when an episode fires (a second request, so evaluation stays one aggregation):
terms of the ``text`` field that rose most against the baseline windows (``significant_text``
with the baseline as background; the local node has the standard analyzer), top topics and
sources of the negative messages, the five negative messages with the highest confidence, the
model versions that scored them, and a dashboard link to that window and group.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, Elasticsearch

from alerts.query import ALL, filter_clauses, iso, negative_clause
from alerts.rules import AlertRule
from alerts.windows import WindowPlan

log = logging.getLogger(__name__)


SAMPLE_MESSAGES = 5

def dashboard_link(
    dashboard_url: str, rule: AlertRule, group: str, plan: WindowPlan, episode_id: str
) -> str:
    """``{dashboard_url}/explorer?from=..&to=..&channel=..&topic=..&episode=..``."""
    params: dict[str, str] = {"from": iso(plan.current.start), "to": iso(plan.current.end)}
    if rule.filter.channel:
        params["channel"] = rule.filter.channel
    if rule.group_by == "channel" and group != ALL:
        params["channel"] = group
    if rule.group_by == "topic" and group != ALL:
        params["topic"] = group
    elif len(rule.filter.topics) == 1:
        params["topic"] = rule.filter.topics[0]
    if rule.group_by == "source" and group != ALL:
        params["source"] = group
    if rule.filter.query:
        params["q"] = rule.filter.query
    params["episode"] = episode_id
    return f"{dashboard_url.rstrip('/')}/explorer?{urlencode(params)}"


def group_clauses(rule: AlertRule, group: str) -> list[dict[str, Any]]:
    clauses = filter_clauses(rule.filter)
    if rule.group_field is not None and group != ALL:
        clauses.append({"term": {rule.group_field: group}})
    return clauses


def collect_evidence(
    client: Elasticsearch, index: str, rule: AlertRule, group: str, plan: WindowPlan
) -> dict[str, Any]:
    """Evidence for one group's current window; an empty dict (logged) if ES cannot answer."""
    scope = group_clauses(rule, group)
    current = {
        "range": {"created_at": {"gte": iso(plan.current.start), "lt": iso(plan.current.end)}}
    }
    baseline_start = plan.baseline[-1].start if plan.baseline else plan.current.start
    background = {
        "bool": {
            "filter": [
                *scope,
                {
                    "range": {
                        "created_at": {"gte": iso(baseline_start), "lt": iso(plan.current.start)}
                    }
                },
            ]
        }
    }
    aggs: dict[str, Any] = {
        "topics": {"terms": {"field": "topic.label", "size": 5}},
        "sources": {"terms": {"field": "source", "size": 5}},
        "models": {"terms": {"field": "model_version", "size": 5}},
    }
    if plan.baseline:
        aggs["rising_terms"] = {
            "significant_text": {
                "field": "text",
                "size": 10,
                "background_filter": background,
                "filter_duplicate_text": True,
            }
        }
    query = {"bool": {"filter": [*scope, current, negative_clause(rule)]}}
    try:
        response = client.search(
            index=index,
            query=query,
            aggs=aggs,
            size=SAMPLE_MESSAGES * 4,  # room to skip repeats of the same text
            sort=[{"sentiment.confidence": "desc"}],
            source_includes=[
                "id",
                "text",
                "channel",
                "source",
                "topic.label",
                "created_at",
                "sentiment",
                "model_version",
            ],
            ignore_unavailable=True,
        )
    except (TransportConnectionError, ApiError) as exc:
        log.warning("rule %s group %s: evidence unavailable: %s", rule.name, group, exc)
        return {}
    found = response.body.get("aggregations", {})

    def buckets(name: str) -> list[dict[str, Any]]:
        return [
            {"key": b["key"], "count": b["doc_count"]}
            for b in found.get(name, {}).get("buckets", [])
        ]

    rising = [
        {
            "term": b["key"],
            "count": b["doc_count"],
            "baseline_count": b.get("bg_count"),
            "score": round(b["score"], 4),
        }
        for b in found.get("rising_terms", {}).get("buckets", [])
    ]
    messages: list[dict[str, Any]] = []
    texts: set[str] = set()
    for hit in response["hits"]["hits"]:
        source = hit["_source"]
        text = " ".join(str(source.get("text") or "").lower().split())
        if text in texts or len(messages) >= SAMPLE_MESSAGES:
            continue  # a copied complaint says nothing new; show five different ones
        texts.add(text)
        messages.append(
            {
                "id": source.get("id"),
                "text": source.get("text"),
                "channel": source.get("channel"),
                "source": source.get("source"),
                "topic": (source.get("topic") or {}).get("label"),
                "created_at": source.get("created_at"),
                "confidence": (source.get("sentiment") or {}).get("confidence"),
                "model_version": source.get("model_version"),
            }
        )
    return {
        "rising_terms": rising,
        "top_topics": buckets("topics"),
        "top_sources": buckets("sources"),
        "model_versions": buckets("models"),
        "messages": messages,
    }
