"""The aggregation a rule sends: windows where the rule says, counted labels only, no scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from alerts.query import build_search
from alerts.rules import AlertRule
from alerts.windows import plan_windows

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def rule(**extra: object) -> AlertRule:
    spec = {"name": "r", "window": "5m", "condition": {"type": "spike", "min_ratio": 2}}
    return AlertRule.model_validate({**spec, **extra})


def test_trailing_baseline_windows_sit_right_before_the_current_one() -> None:
    plan = plan_windows(rule(), NOW)
    assert (plan.current.start, plan.current.end) == (NOW - timedelta(minutes=5), NOW)
    assert plan.baseline[0].end == plan.current.start
    assert len(plan.baseline) == 12 and plan.earliest == NOW - timedelta(minutes=65)


def test_same_hour_baselines_step_back_by_days_or_weeks() -> None:
    yesterday = rule(condition={"type": "spike", "min_ratio": 2, "baseline": "same_hour_yesterday",
                                "baseline_windows": 3})  # fmt: skip
    plan = plan_windows(yesterday, NOW)
    assert [w.end for w in plan.baseline] == [NOW - timedelta(days=k) for k in (1, 2, 3)]
    weekly = rule(condition={"type": "spike", "min_ratio": 2, "baseline": "same_hour_last_week",
                             "baseline_windows": 2})  # fmt: skip
    assert plan_windows(weekly, NOW).baseline[1].end == NOW - timedelta(days=14)


def test_the_search_counts_only_scored_labels_and_uses_no_scripts() -> None:
    r = rule(
        group_by="source",
        group_limit=7,
        filter={"channel": "chat", "topics": ["refunds"], "query": "refund OR money"},
        counting={"mode": "label", "min_confidence": 0.6},
    )
    body = build_search(r, plan_windows(r, NOW))
    text = json.dumps(body)
    assert "script" not in text  # the local Elasticsearch has no scripting
    clauses = body["query"]["bool"]["filter"]
    assert {"terms": {"sentiment.label": ["negative", "neutral", "positive"]}} in clauses
    assert {"term": {"channel": "chat"}} in clauses
    assert body["aggs"]["groups"]["terms"] == {"field": "source", "size": 7}
    assert "group_count" in body["aggs"]
    windows = body["aggs"]["groups"]["aggs"]["windows"]
    assert len(windows["date_range"]["ranges"]) == 13
    negative = windows["aggs"]["negative"]["filter"]["bool"]["filter"]
    assert {"range": {"sentiment.confidence": {"gte": 0.6}}} in negative


def test_probability_counting_sums_p_negative() -> None:
    r = rule(counting={"mode": "probability"})
    windows = build_search(r, plan_windows(r, NOW))["aggs"]["windows"]
    assert windows["aggs"]["negative"] == {"sum": {"field": "sentiment.probs.negative"}}
