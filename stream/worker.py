"""The stream worker: one member of the consumer group reading the input topics into the pipeline.

A :class:`Worker` owns its parts — the Faust app, the scoring thread, the Elasticsearch client,
the pipeline, the metrics, the model-updates listener — and ``stop`` closes every one of them.
Several processes started with the same settings form one consumer group and share the
partitions.

Stopping and failover (see README "Stopping and failover"):

* The first SIGTERM or SIGINT stops fetching, abandons the in-flight batch without committing
  its offsets (it is redelivered to whoever takes the partition: ``_id`` = message id makes that
  an overwrite), closes everything and exits. A stop that is not done after
  ``worker_stop_grace_s`` (Kafka or Elasticsearch unreachable, say) exits anyway: nothing
  unacknowledged is lost by exiting. A second signal exits at once.
* A worker killed with SIGKILL is noticed by the group coordinator after
  ``worker_session_timeout_s`` without a heartbeat; its partitions then move to the others.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import faust
from aiokafka import AIOKafkaConsumer
from elasticsearch import AsyncElasticsearch
from faust.types import TP, EventT

from models.inference import InferenceEngine
from models.taxonomy import Taxonomy
from moodwatch.settings import Settings
from stream.commit_guard import CommitGuard
from stream.connections import async_elasticsearch, kafka_options
from stream.dependencies import Dependencies
from stream.errors import StreamError
from stream.es_sink import ElasticsearchSink
from stream.index_layout import layout_for
from stream.labels import LabelOutcome, LabelStore, Refused
from stream.metrics import WorkerMetrics
from stream.pipeline import Pipeline, RawRecord
from stream.records import Position, Reason
from stream.redaction import Redactor
from stream.scoring import ScoringThread
from stream.validation import Limits

log = logging.getLogger(__name__)
UNKNOWN = Reason.UNKNOWN_MESSAGE

# Loads a model version for serving (checksum verified, warmed up); raises when it cannot.
EngineLoader = Callable[[str], InferenceEngine]
CurrentVersion = Callable[[], str | None]  # the registry's current version id


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


class FaustDeadLetters:
    """Dead letters through the app's producer; ``send`` returns once the broker has them."""

    def __init__(self, topic: faust.TopicT, timeout_s: float = 30.0) -> None:
        self.topic = topic
        self.timeout_s = timeout_s

    async def send(self, value: bytes, key: bytes | None) -> None:
        async with asyncio.timeout(self.timeout_s):
            delivery = await self.topic.send(key=key, value=value)
            await delivery


class Worker:
    def __init__(
        self,
        settings: Settings,
        engine: InferenceEngine,
        *,
        web_port: int | None = None,
        load_version: EngineLoader | None = None,
        current_version: CurrentVersion | None = None,
        taxonomy: Taxonomy | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = WorkerMetrics()
        self.metrics.serve_version(engine.version)
        self.dependencies = Dependencies(on_change=self.metrics.dependency_changed)
        self.scoring = ScoringThread(engine)
        self.load_version = load_version
        self.current_version = current_version
        self._refused_version: str | None = None  # failed to load; retried only on an event
        self.taxonomy = taxonomy
        self.processed: dict[TP, int] = {}
        self.commits = CommitGuard(
            on_refused=lambda topic: self.metrics.skipped_acks.labels(topic=topic).inc()
        )
        # The next offset each partition should deliver within one consumer generation.
        self._next_offset: dict[TP, tuple[int | None, int]] = {}
        self.pipeline: Pipeline | None = None
        self.model_update_error: str | None = None
        self._es: AsyncElasticsearch | None = None
        self._labels_es: AsyncElasticsearch | None = None
        self._stopped = False
        # Faust wants a data folder even with in-memory tables; one per process.
        self.datadir = settings.infra_home / "faust" / f"worker-{os.getpid()}"
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.app = self._build_app(web_port or settings.worker_web_port)
        self._wire()

    # -- building -------------------------------------------------------------------------

    def _build_app(self, web_port: int) -> faust.App:
        s = self.settings
        return faust.App(
            s.worker_group,
            broker=[f"kafka://{server}" for server in s.bootstrap_servers],
            broker_credentials=faust_credentials(s),
            store="memory://",
            datadir=str(self.datadir),
            web_port=web_port,
            web_bind=s.metrics_bind,
            web_host="127.0.0.1",
            topic_partitions=s.topic_partitions,
            topic_replication_factor=1,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            broker_commit_interval=1.0,
            # Failover: a member that stops heartbeating is dropped after the session timeout.
            broker_session_timeout=s.worker_session_timeout_s,
            broker_heartbeat_interval=s.worker_heartbeat_interval_s,
            broker_rebalance_timeout=s.worker_rebalance_timeout_s,
            # Faust's own buffer per partition; when it is full, fetching pauses (backpressure).
            stream_buffer_maxsize=max(256, s.batch_max_size * 4),
        )

    def _make_pipeline(self) -> Pipeline:
        s = self.settings
        self._es = async_elasticsearch(s)
        dead_letter_topic = self.app.topic(
            s.topic_dead_letter, value_serializer="raw", key_serializer="raw"
        )
        pipeline = Pipeline(
            limits=Limits(s.max_message_bytes, s.max_text_chars),
            redactor=Redactor.from_setting(s.pii_redaction),
            scorer=self.scoring,
            sink=ElasticsearchSink(
                self._es,
                max_bytes=s.es_bulk_max_bytes,
                retry_max_s=s.es_retry_max_s,
                on_retry=lambda _reason: self.metrics.es_retries.inc(),
                health=self.dependencies["elasticsearch"],
            ),
            layout=layout_for(s),
            dead_letters=FaustDeadLetters(dead_letter_topic),
            metrics=self.metrics,
            topic_channels={topic: channel for channel, topic in s.input_topics.items()},
            on_fatal=self._on_fatal,
            dependencies=self.dependencies,
            breaker_threshold=s.breaker_threshold,
            retry_max_s=s.es_retry_max_s,
        )
        pipeline.start()
        return pipeline

    def _on_fatal(self, exc: BaseException) -> None:
        self.app.loop.create_task(self.app.crash(exc))

    def _wire(self) -> None:
        app, s = self.app, self.settings
        inputs = app.topic(*s.input_topics.values(), value_serializer="raw", key_serializer="raw")
        app.agent(inputs, name="classify")(self._classify)
        if self.taxonomy is not None:
            labels = app.topic(s.topic_labels, value_serializer="raw", key_serializer="raw")
            app.agent(labels, name="labels")(self._store_labels)
        app.timer(interval=5.0, name="record_lag")(self._record_lag)
        app.task(self._follow_model_updates)

        # Faust calls a page function with (view, request); a bound method would shift those.
        async def metrics_page(web: Any, request: Any) -> Any:
            return await self._metrics_page(web, request)

        async def health_page(web: Any, request: Any) -> Any:
            return await self._health_page(web, request)

        app.page("/metrics")(metrics_page)
        app.page("/health")(health_page)

    # -- the flow -------------------------------------------------------------------------

    async def _classify(self, stream: faust.StreamT[bytes]) -> None:
        """Micro-batches: up to batch_max_size records or batch_max_wait_s, whichever first.

        ``noack_take`` yields events and leaves acknowledging to us; ``take`` would ack a batch
        as soon as the next one is requested, before it is safely in Elasticsearch.
        """
        if self.pipeline is None:
            self.pipeline = self._make_pipeline()
        self.commits.install(self.app.consumer)
        running = self.pipeline
        concrete: Any = stream  # noack_take is on faust.Stream, not on the StreamT protocol
        async for events in concrete.noack_take(
            self.settings.batch_max_size, within=self.settings.batch_max_wait_s
        ):
            batch: list[EventT[Any]] = list(events)
            self._check_continuity(batch)
            records = [_raw_record(e) for e in batch]

            async def acknowledge(acked: list[EventT[Any]] = batch) -> None:
                with self.commits.finishing([e.message for e in acked]):
                    for event in acked:
                        await stream.ack(event)
                        tp = event.message.tp
                        self.processed[tp] = max(self.processed.get(tp, -1), event.message.offset)

            await running.submit(records, acknowledge)

    def _check_continuity(self, batch: list[EventT[Any]]) -> None:
        """Within one consumer generation a partition's offsets arrive one after another; a
        jump means records were skipped on delivery. Nothing in our input topics makes gaps
        (no compaction, no transactions), so a jump is reported, never expected."""
        for event in batch:
            message = event.message
            tp, generation = message.tp, message.generation_id
            seen = self._next_offset.get(tp)
            if seen is not None and seen[0] == generation and message.offset > seen[1]:
                skipped = message.offset - seen[1]
                self.metrics.offset_jumps.labels(topic=tp.topic).inc(skipped)
                log.warning(
                    "%s[%d]: offset jumped from %d to %d in generation %s (%d not delivered)",
                    tp.topic,
                    tp.partition,
                    seen[1],
                    message.offset,
                    generation,
                    skipped,
                )
            if seen is None or seen[0] != generation:
                log.info(
                    "%s[%d]: generation %s starts at offset %d",
                    tp.topic,
                    tp.partition,
                    generation,
                    message.offset,
                )
            if seen is None or seen[0] != generation or message.offset >= seen[1]:
                self._next_offset[tp] = (generation, message.offset + 1)

    async def _store_labels(self, stream: faust.StreamT[bytes]) -> None:
        """Labels topic → validated, joined to their message → labels index; refused → dead
        letters. Faust acknowledges each label after this loop body is done with it."""
        assert self.taxonomy is not None
        if self._labels_es is None:
            self._labels_es = async_elasticsearch(self.settings)
        store = LabelStore(self._labels_es, self.settings.es_index_prefix, self.taxonomy)
        await store.ensure_index()
        dead_letters = FaustDeadLetters(
            self.app.topic(
                self.settings.topic_dead_letter, value_serializer="raw", key_serializer="raw"
            )
        )
        self.commits.install(self.app.consumer)
        concrete: Any = stream
        async for event in concrete.events():
            message = event.message
            position = Position(message.topic, message.partition, message.offset)
            outcome = await self._handle_label(store, message.value, position, message.key)
            if isinstance(outcome, Refused):
                await dead_letters.send(outcome.dead_letter, position.default_id.encode())
                self.metrics.dead_letters.labels(reason=outcome.rejection.reason.value).inc()
            self.commits.finish(message)  # Faust acknowledges it when the loop comes round

    async def _handle_label(
        self, store: LabelStore, value: bytes | None, position: Position, key: bytes | None
    ) -> LabelOutcome:
        attempt = 0
        while True:
            try:
                outcome = await store.handle(value, position, key)
            except StreamError as exc:  # Elasticsearch unreachable: hold, never drop a label
                self.dependencies["elasticsearch"].failed(str(exc)[:300])
                await asyncio.sleep(min(self.settings.es_retry_max_s, 0.5 * 2 ** min(attempt, 8)))
                attempt += 1
                continue
            # A label can arrive before its message is searchable (refresh is 1 s): look again.
            unknown = isinstance(outcome, Refused) and outcome.rejection.reason is UNKNOWN
            if unknown and attempt < 2:
                attempt += 1
                await asyncio.sleep(1.5)
                continue
            return outcome

    async def _record_lag(self) -> None:
        for tp in self.app.consumer.assignment():
            try:
                end = self.app.consumer.highwater(tp)
            except Exception:  # the partition may be moving in a rebalance: skip this round
                log.debug("no high-water mark for %s yet", tp)
                continue
            if end is not None:
                done = self.processed.get(tp, -1) + 1
                self.metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(
                    max(0, end - done)
                )

    # -- hot swap -------------------------------------------------------------------------

    async def _follow_model_updates(self) -> None:
        """Every worker reads every model-updates event: no consumer group, new events only.

        A version promoted while this worker was starting is already what it loaded as
        ``current``; an event for it is then a no-op. An event missed anyway (promoted between
        loading ``current`` and subscribing, or while Kafka was out of reach) is caught by
        comparing the registry's current version with the served one every
        ``model_check_interval_s``; a version that failed to load is not retried that way.
        """
        if self.load_version is None:
            return
        consumer = AIOKafkaConsumer(
            self.settings.topic_model_updates,
            **kafka_options(self.settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        try:
            await consumer.start()
            log.info("following model updates on %s", self.settings.topic_model_updates)
            checked = time.monotonic()
            while not self._stopped:
                found = await consumer.getmany(timeout_ms=1000)
                for records in found.values():
                    for record in records:
                        await self.apply_model_update(record.value)
                if time.monotonic() - checked >= self.settings.model_check_interval_s:
                    checked = time.monotonic()
                    await self.follow_registry()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the model-updates listener stopped; restart the worker to follow swaps")
        finally:
            await consumer.stop()

    async def apply_model_update(self, value: bytes | None) -> bool:
        """Load the announced version beside the current one and swap between two batches.

        Returns whether a swap happened. A version that fails to load (corrupt files, checksum
        mismatch, out of memory) is never served: the old one keeps serving, and the failure
        shows in the log, the metrics and ``/health``.
        """
        try:
            event = json.loads(value or b"")
            version = str(event["version"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring a model-updates record that is not an event: %s", exc)
            return False
        return await self._swap_to(version)

    async def follow_registry(self) -> bool:
        """Swap to the registry's current version when it is not the served one (and did not
        already fail to load); whether a swap happened."""
        if self.current_version is None:
            return False
        loop = asyncio.get_running_loop()
        try:
            version = await loop.run_in_executor(None, self.current_version)
        except Exception as exc:  # an unreadable registry must not stop the listener
            log.warning("cannot read the registry's current version: %s", exc)
            return False
        if version is None or version == self._refused_version:
            return False
        if version != self.scoring.version:
            log.info("the registry's current version is %s; no event announced it", version)
        return await self._swap_to(version)

    async def _swap_to(self, version: str) -> bool:
        if version == self.scoring.version or self.load_version is None:
            return False
        loop = asyncio.get_running_loop()
        try:
            # Off the event loop and off the scoring thread: serving goes on meanwhile.
            engine = await loop.run_in_executor(None, self.load_version, version)
        except Exception as exc:
            self._refused_version = version
            self.model_update_error = f"{version}: {exc}"[:500]
            self.metrics.model_load_failures.inc()
            log.error(
                "model %s failed to load; still serving %s: %s", version, self.scoring.version, exc
            )
            return False
        old = self.scoring.swap(engine)
        self.metrics.serve_version(engine.version)
        self.metrics.model_swaps.inc()
        self.model_update_error = None
        self._refused_version = None
        self.scoring.after_current_batch(old.retire)
        log.info("now serving model %s (was %s)", engine.version, old.version)
        return True

    # -- web ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        running = self.pipeline
        failing = self.dependencies.failing()
        report: dict[str, Any] = {
            "ok": not failing and (running is None or running.failure is None),
            "model_version": self.scoring.version,
            "in_flight": running.in_flight if running else 0,
            "paused": bool(failing),
            "failing": failing,
        }
        if self.model_update_error:
            report["model_update_error"] = self.model_update_error
        return report

    async def _metrics_page(self, web: Any, request: Any) -> Any:
        return web.bytes(self.metrics.exposition(), content_type="text/plain; version=0.0.4")

    async def _health_page(self, web: Any, request: Any) -> Any:
        report = self.health()
        return web.json(report, status=200 if report["ok"] else 503)

    # -- lifecycle ------------------------------------------------------------------------

    async def stop(self) -> None:
        """Close every part; unacknowledged records are redelivered. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self.pipeline is not None:
            await self.pipeline.stop()
        for client in (self._es, self._labels_es):
            if client is not None:
                await client.close()
        self.scoring.close()
        shutil.rmtree(self.datadir, ignore_errors=True)

    def run(self) -> NoReturn:
        """Run until a signal; see the module docstring for what a stop guarantees."""
        _Runner(self).execute_from_commandline()


def _raw_record(event: EventT[Any]) -> RawRecord:
    message = event.message
    headers: Any = message.headers or ()
    pairs: Any = headers.items() if isinstance(headers, dict) else headers
    return RawRecord(
        value=message.value,
        key=message.key,
        position=Position(message.topic, message.partition, message.offset),
        timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
        headers=tuple(
            (str(k), v if isinstance(v, bytes) else str(v or "").encode()) for k, v in pairs
        ),
    )


class _Runner(faust.Worker):
    """Faust's worker with our stop policy: graceful within a deadline, a second signal exits."""

    def __init__(self, worker: Worker) -> None:
        from moodwatch.logs import logging_config

        settings = worker.settings
        super().__init__(
            worker.app,
            loglevel=settings.log_level,
            logging_config=logging_config(settings),
            redirect_stdouts=False,
        )
        self.moodwatch = worker
        self._deadline: threading.Timer | None = None

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        if self._signal_stop_time:  # the second signal: the user does not want to wait
            self._exit_now(f"second {signum.name}: exiting at once", 128 + signum.value)
        grace = self.moodwatch.settings.worker_stop_grace_s
        log.info(
            "%s: stopping (at most %.0f s); unacknowledged records are redelivered",
            signum.name,
            grace,
        )
        self._deadline = threading.Timer(
            grace, self._exit_now, (f"stop took over {grace:.0f} s: exiting without waiting", 0)
        )
        self._deadline.daemon = True
        self._deadline.start()
        super()._schedule_shutdown(signum)

    async def _stop_on_signal(self, signum: signal.Signals) -> None:
        await self.moodwatch.stop()  # first: stop taking batches, close the pipeline and clients
        await super()._stop_on_signal(signum)

    def on_worker_shutdown(self) -> None:
        if not self.moodwatch._stopped and not self.loop.is_closed():
            self.loop.run_until_complete(self.moodwatch.stop())

    def _exit_now(self, why: str, code: int) -> NoReturn:
        log.warning("%s", why)
        logging.shutdown()
        shutil.rmtree(Path(self.moodwatch.datadir), ignore_errors=True)
        os._exit(code)
