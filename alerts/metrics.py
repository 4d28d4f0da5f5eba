"""Prometheus metrics of the alerter, on their own registry (so tests can build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class AlerterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.evaluations = Counter(
            "moodwatch_alert_evaluations", "Rule evaluations", ["rule", "outcome"], registry=r
        )
        self.evaluation_seconds = Histogram(
            "moodwatch_alert_evaluation_seconds",
            "Time to evaluate one rule (query, judge, record)",
            ["rule"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
            registry=r,
        )
        self.firing = Gauge(
            "moodwatch_alert_firing_episodes", "Episodes firing now", ["rule"], registry=r
        )
        self.notifications = Counter(
            "moodwatch_alert_notifications",
            "Notices delivered or failed, per notifier",
            ["notifier", "outcome"],
            registry=r,
        )
        self.leader = Gauge(
            "moodwatch_alert_leader", "1 while this alerter holds the evaluation lease", registry=r
        )
        self.rule_problems = Gauge(
            "moodwatch_alert_rule_problems", "Problems in refused rule files", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
