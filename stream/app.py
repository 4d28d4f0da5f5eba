"""The Faust worker: one consumer group reading the input topics into the pipeline.

``build_worker`` wires settings, the loaded model and the clients into a Faust app. Several
processes started with the same settings form one consumer group and share the partitions.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP, EventT

from models.inference import InferenceEngine
from moodwatch.settings import Settings
from stream.connections import async_elasticsearch, kafka_options
from stream.es_sink import ElasticsearchSink
from stream.index_layout import IndexLayout
from stream.metrics import WorkerMetrics
from stream.pipeline import Pipeline, RawRecord
from stream.records import Position
from stream.redaction import Redactor
from stream.scoring import ScoringThread
from stream.validation import Limits

log = logging.getLogger(__name__)


def faust_credentials(settings: Settings) -> Any:
    options = kafka_options(settings)
    if settings.kafka_security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=options.get("sasl_plain_username"),
            password=options.get("sasl_plain_password"),
            mechanism=options.get("sasl_mechanism"),
            ssl_context=options.get("ssl_context"),
        )
    return options.get("ssl_context")


def layout_for(settings: Settings) -> IndexLayout:
    return IndexLayout(settings.es_index_prefix, settings.es_index_period, settings.es_replicas)


@dataclass
class Worker:
    app: faust.App
    scoring: ScoringThread
    metrics: WorkerMetrics
    pipeline: Pipeline | None = None
    processed: dict[TP, int] = field(default_factory=dict)


class FaustDeadLetters:
    """Dead letters through the app's producer; ``send`` returns once the broker has them."""

    def __init__(self, topic: faust.TopicT) -> None:
        self.topic = topic

    async def send(self, value: bytes, key: bytes | None) -> None:
        delivery = await self.topic.send(key=key, value=value)
        await delivery


def build_worker(
    settings: Settings, engine: InferenceEngine, web_port: int | None = None
) -> Worker:
    # Faust wants a data folder even with in-memory tables; one per process, removed at exit.
    datadir = settings.infra_home / "faust" / f"worker-{os.getpid()}"
    datadir.mkdir(parents=True, exist_ok=True)
    atexit.register(shutil.rmtree, datadir, ignore_errors=True)
    app = faust.App(
        settings.worker_group,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers],
        broker_credentials=faust_credentials(settings),
        store="memory://",
        datadir=str(datadir),
        web_port=web_port or settings.worker_web_port,
        web_host="127.0.0.1",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_interval=1.0,
        # Faust's own buffer per partition; when it is full, fetching pauses (backpressure).
        stream_buffer_maxsize=max(256, settings.batch_max_size * 4),
    )
    scoring = ScoringThread(engine)
    metrics = WorkerMetrics()
    metrics.serve_version(engine.version)
    worker = Worker(app, scoring, metrics)
    topic_channels = {topic: channel for channel, topic in settings.input_topics.items()}
    inputs = app.topic(
        *settings.input_topics.values(), value_serializer="raw", key_serializer="raw"
    )
    dead_letter_topic = app.topic(
        settings.topic_dead_letter, value_serializer="raw", key_serializer="raw"
    )

    def on_fatal(exc: BaseException) -> None:
        app.loop.create_task(app.crash(exc))

    def pipeline() -> Pipeline:
        if worker.pipeline is None:
            worker.pipeline = Pipeline(
                limits=Limits(settings.max_message_bytes, settings.max_text_chars),
                redactor=Redactor.from_setting(settings.pii_redaction),
                scorer=scoring,
                sink=ElasticsearchSink(
                    async_elasticsearch(settings),
                    max_bytes=settings.es_bulk_max_bytes,
                    retry_max_s=settings.es_retry_max_s,
                    on_retry=lambda _reason: metrics.es_retries.inc(),
                ),
                layout=layout_for(settings),
                dead_letters=FaustDeadLetters(dead_letter_topic),
                metrics=metrics,
                topic_channels=topic_channels,
                on_fatal=on_fatal,
            )
            worker.pipeline.start()
        return worker.pipeline

    @app.agent(inputs)
    async def classify(stream: faust.StreamT[bytes]) -> None:
        """Micro-batches: up to batch_max_size records or batch_max_wait_s, whichever first.

        ``noack_take`` yields events and leaves acknowledging to us; ``take`` would ack a batch
        as soon as the next one is requested, before it is safely in Elasticsearch.
        """
        running = pipeline()
        concrete: Any = stream  # noack_take is on faust.Stream, not on the StreamT protocol
        async for events in concrete.noack_take(
            settings.batch_max_size, within=settings.batch_max_wait_s
        ):
            batch: list[EventT[Any]] = list(events)
            records = [
                RawRecord(
                    value=e.message.value,
                    key=e.message.key,
                    position=Position(e.message.topic, e.message.partition, e.message.offset),
                    timestamp_ms=int(e.message.timestamp * 1000) if e.message.timestamp else None,
                )
                for e in batch
            ]

            async def acknowledge(acked: list[EventT[Any]] = batch) -> None:
                for event in acked:
                    await stream.ack(event)
                    tp = event.message.tp
                    worker.processed[tp] = max(worker.processed.get(tp, -1), event.message.offset)

            await running.submit(records, acknowledge)

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]
    async def record_lag() -> None:
        for tp in app.consumer.assignment():
            try:
                end = app.consumer.highwater(tp)
            except Exception:  # the partition may be moving in a rebalance: skip this round
                log.debug("no high-water mark for %s yet", tp)
                continue
            if end is not None:
                done = worker.processed.get(tp, -1) + 1
                metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(
                    max(0, end - done)
                )

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        return web.bytes(metrics.exposition(), content_type="text/plain; version=0.0.4")

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        running = worker.pipeline
        ok = running is None or running.failure is None
        return web.json(
            {
                "ok": ok,
                "model_version": scoring.version,
                "in_flight": running.in_flight if running else 0,
            },
            status=200 if ok else 503,
        )

    return worker


async def stop_worker(worker: Worker) -> None:
    if worker.pipeline is not None:
        await worker.pipeline.stop()
    worker.scoring.close()
