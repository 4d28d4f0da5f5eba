"""Shadow scoring: the candidate on the last hours of indexed traffic, beside the current version.

The current version's answers are the indexed ones where the document says it scored them; other
documents (scored by an older version) are scored again with the current engine. The report says
how often the two disagree and, per channel and per channel/topic group (the groups alert rules
watch), whether the share of negative messages would move by more than a tolerance: the sign
that an alert episode might have fired differently. Only negative/neutral/positive count (an
``unsupported`` language label is neither).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from models.evaluation import Scorer
from models.examples import SENTIMENTS


@dataclass(frozen=True)
class Indexed:
    text: str
    channel: str | None
    sentiment: str
    topic: str | None
    model_version: str | None


def recent_messages(
    client: Elasticsearch, alias: str, hours: float, limit: int, now: datetime | None = None
) -> list[Indexed]:
    """The newest ``limit`` scored messages created in the last ``hours``."""
    if hours <= 0 or limit <= 0:
        return []
    start = (now or datetime.now(UTC)) - timedelta(hours=hours)
    try:
        result = client.search(
            index=alias,
            size=min(limit, 10000),
            query={"range": {"created_at": {"gte": start.isoformat()}}},
            sort=[{"created_at": "desc"}],
            source_includes=["text", "channel", "sentiment.label", "topic.label", "model_version"],
            ignore_unavailable=True,
            allow_no_indices=True,
        )
    except NotFoundError:
        return []
    rows = []
    for hit in result.body["hits"]["hits"]:
        source = hit["_source"]
        sentiment = (source.get("sentiment") or {}).get("label")
        if sentiment not in SENTIMENTS or not source.get("text"):
            continue
        rows.append(
            Indexed(
                source["text"],
                source.get("channel"),
                sentiment,
                (source.get("topic") or {}).get("label"),
                source.get("model_version"),
            )
        )
    return rows


def shadow_report(
    messages: list[Indexed],
    current_version: str | None,
    current: Scorer,
    candidate: Scorer,
    tolerance: float,
) -> dict[str, Any]:
    """Disagreement rates and negative share per group, current vs candidate."""
    if not messages:
        return {"messages": 0, "note": "no indexed traffic in the shadow window"}
    stale = [i for i, m in enumerate(messages) if m.model_version != current_version]
    before = [m.sentiment for m in messages]
    topics_before = [m.topic for m in messages]
    if stale:
        rescored = current.predict(
            [messages[i].text for i in stale], [messages[i].channel for i in stale]
        )
        for i, prediction in zip(stale, rescored, strict=True):
            before[i] = prediction.sentiment
            topics_before[i] = prediction.topic
    after = candidate.predict([m.text for m in messages], [m.channel for m in messages])
    groups: dict[str, list[int]] = defaultdict(list)
    for i, message in enumerate(messages):
        groups[f"channel {message.channel}"].append(i)
        if topics_before[i]:
            groups[f"topic {message.channel}/{topics_before[i]}"].append(i)
    table = {}
    for name, rows in sorted(groups.items()):
        was = sum(before[i] == "negative" for i in rows) / len(rows)
        becomes = sum(after[i].sentiment == "negative" for i in rows) / len(rows)
        table[name] = {
            "n": len(rows),
            "current_negative_share": round(was, 4),
            "candidate_negative_share": round(becomes, 4),
            "changed": abs(becomes - was) > tolerance,
        }
    disagree = sum(b != a.sentiment for b, a in zip(before, after, strict=True))
    topic_disagree = sum(
        t is not None and t != a.topic for t, a in zip(topics_before, after, strict=True)
    )
    return {
        "messages": len(messages),
        "rescored_with_current": len(stale),
        "sentiment_disagreement": round(disagree / len(messages), 4),
        "topic_disagreement": round(topic_disagree / len(messages), 4),
        "negative_share_tolerance": tolerance,
        "groups": table,
        "alert_relevant_change": any(g["changed"] for g in table.values()),
    }
