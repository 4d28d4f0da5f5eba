"""Prometheus metrics of one worker, on their own registry (so tests can build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_in = Counter(
            "moodwatch_messages_in", "Records read from Kafka", ["topic"], registry=r
        )
        self.messages_indexed = Counter(
            "moodwatch_messages_indexed",
            "Documents written to Elasticsearch",
            ["channel"],
            registry=r,
        )
        self.dead_letters = Counter(
            "moodwatch_dead_letters",
            "Records sent to the dead-letter topic",
            ["reason"],
            registry=r,
        )
        self.es_retries = Counter(
            "moodwatch_es_retries", "Elasticsearch writes retried", registry=r
        )
        self.batch_size = Histogram(
            "moodwatch_batch_size",
            "Messages per scored micro-batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.inference_seconds = Histogram(
            "moodwatch_inference_seconds",
            "Model time per micro-batch",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )
        self.index_seconds = Histogram(
            "moodwatch_index_seconds",
            "Elasticsearch bulk time per micro-batch",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 60),
        )
        self.end_to_end_seconds = Histogram(
            "moodwatch_end_to_end_seconds",
            "created_at to indexed, per message",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "moodwatch_consumer_lag",
            "Records behind the partition end",
            ["topic", "partition"],
            registry=r,
        )
        self.model_version = Gauge(
            "moodwatch_model_version_info",
            "The model version being served (value 1)",
            ["version"],
            registry=r,
        )

        self.dependency_up = Gauge(
            "moodwatch_dependency_up",
            "1 while the dependency answers, 0 while the stream is held for it",
            ["dependency"],
            registry=r,
        )
        self.held_batches = Counter(
            "moodwatch_held_batch_retries",
            "Retries of a batch held because a dependency was down for everyone",
            ["dependency"],
            registry=r,
        )
        self.model_swaps = Counter(
            "moodwatch_model_swaps", "Model versions swapped in while running", registry=r
        )
        self.model_load_failures = Counter(
            "moodwatch_model_load_failures",
            "Announced model versions that failed to load (the old one kept serving)",
            registry=r,
        )

        self.offset_jumps = Counter(
            "moodwatch_offset_jumps",
            "Records the stream skipped within one partition assignment (an offset jump)",
            ["topic"],
            registry=r,
        )
        self.skipped_acks = Counter(
            "moodwatch_skipped_acks_refused",
            "Acks of records skipped in a rebalance, kept from the commit (they are read again)",
            ["topic"],
            registry=r,
        )
        self.unsupported_language = Counter(
            "moodwatch_unsupported_language",
            "Messages indexed unscored: their language is not one the model supports",
            ["lang"],
            registry=r,
        )

    def dependency_changed(self, name: str, up: bool) -> None:
        self.dependency_up.labels(dependency=name).set(1 if up else 0)

    def serve_version(self, version: str) -> None:
        self.model_version.clear()
        self.model_version.labels(version=version).set(1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
