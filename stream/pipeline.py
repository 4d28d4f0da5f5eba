"""The worker's pipeline, independent of Faust: validate → redact → score → index → ack.

Three stages run concurrently, joined by small bounded queues::

    submit() ─► [to_score] ─► score stage (validate, redact, dead-letter, model) ─►
                [to_index] ─► index stage (bulk, dead-letter rejects) ─► batch.done()

While batch n is in the model, batch n+1 is being collected and batch n-1 is being written.
When a queue is full, ``submit`` waits, the agent stops taking records and Faust stops fetching:
that is the backpressure path. ``done`` (the Kafka ack) runs only after every record of the batch
is durable in Elasticsearch or in the dead-letter topic, so an offset is never committed for a
record that could still be lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from models.errors import InferenceError
from models.inference import Prediction
from stream.documents import bulk_lines, scored_document
from stream.es_sink import ElasticsearchSink, IndexRequest
from stream.index_layout import IndexLayout
from stream.metrics import WorkerMetrics
from stream.records import Message, Position, Reason, Rejection, dead_letter
from stream.redaction import Redactor
from stream.validation import Limits, validate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawRecord:
    value: bytes | None
    key: bytes | None
    position: Position
    timestamp_ms: int | None


class Scorer(Protocol):
    @property
    def version(self) -> str: ...

    async def score(
        self, texts: Sequence[str], channels: Sequence[str | None]
    ) -> list[Prediction]: ...


class DeadLetterSink(Protocol):
    async def send(self, value: bytes, key: bytes | None) -> None:
        """Return only when the record is durable in the dead-letter topic."""


@dataclass
class Batch:
    records: list[RawRecord]
    done: Callable[[], Awaitable[None]]
    received_at: datetime
    accepted: list[Message] = field(default_factory=list)
    raw_by_id: dict[str, RawRecord] = field(default_factory=dict)
    results: list[Prediction | Rejection] = field(default_factory=list)
    scored_at: datetime | None = None


class Pipeline:
    def __init__(
        self,
        *,
        limits: Limits,
        redactor: Redactor,
        scorer: Scorer,
        sink: ElasticsearchSink,
        layout: IndexLayout,
        dead_letters: DeadLetterSink,
        metrics: WorkerMetrics,
        topic_channels: dict[str, str],
        depth: int = 2,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.limits = limits
        self.redactor = redactor
        self.scorer = scorer
        self.sink = sink
        self.layout = layout
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.topic_channels = topic_channels
        self._to_score: asyncio.Queue[Batch] = asyncio.Queue(maxsize=depth)
        self._to_index: asyncio.Queue[Batch] = asyncio.Queue(maxsize=depth)
        self._tasks: list[asyncio.Task[None]] = []
        self._on_fatal = on_fatal
        self.failure: BaseException | None = None
        self.in_flight = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(self._score_stage), name="moodwatch-score"),
            asyncio.create_task(self._run(self._index_stage), name="moodwatch-index"),
        ]

    async def stop(self) -> None:
        """Stop the stages. Batches not yet acknowledged are simply redelivered later."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def submit(self, records: list[RawRecord], done: Callable[[], Awaitable[None]]) -> None:
        """Queue a batch; waits while the pipeline is full (backpressure)."""
        if self.failure is not None:
            raise RuntimeError("the pipeline has failed; the worker must restart") from self.failure
        self.in_flight += len(records)
        await self._to_score.put(Batch(records, done, datetime.now(UTC)))

    async def _run(self, stage: Callable[[], Awaitable[None]]) -> None:
        try:
            await stage()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug or a fatal refusal: stop, do not ack, restart
            log.exception(
                "pipeline stage failed; nothing after the last acknowledged batch is lost"
            )
            self.failure = exc
            if self._on_fatal:
                self._on_fatal(exc)

    # -- stages ---------------------------------------------------------------------------

    async def _score_stage(self) -> None:
        while True:
            batch = await self._to_score.get()
            await self._prepare(batch)
            if batch.accepted:
                self.metrics.batch_size.observe(len(batch.accepted))
                with self.metrics.inference_seconds.time():
                    batch.results = await self._score(batch.accepted)
            batch.scored_at = datetime.now(UTC)
            await self._to_index.put(batch)

    async def _index_stage(self) -> None:
        while True:
            batch = await self._to_index.get()
            with self.metrics.index_seconds.time():
                await self._index(batch)
            await batch.done()
            self.in_flight -= len(batch.records)

    # -- steps ----------------------------------------------------------------------------

    async def _prepare(self, batch: Batch) -> None:
        for record in batch.records:
            self.metrics.messages_in.labels(topic=record.position.topic).inc()
            outcome = validate(
                record.value,
                record.position,
                record.timestamp_ms,
                self.topic_channels.get(record.position.topic),
                self.limits,
            )
            if isinstance(outcome, Rejection):
                await self._dead_letter(record, outcome)
                continue
            text, kinds = self.redactor.redact(outcome.text)
            message = Message(
                id=outcome.id,
                text=text,
                channel=outcome.channel,
                created_at=outcome.created_at,
                position=outcome.position,
                source=outcome.source,
                lang=outcome.lang,
                author=outcome.author,
                conversation_id=outcome.conversation_id,
                metadata=outcome.metadata,
                redactions=kinds,
            )
            batch.accepted.append(message)
            batch.raw_by_id[message.id] = record

    async def _score(self, messages: list[Message]) -> list[Prediction | Rejection]:
        """Score a batch; when the model fails, split it to find and reject only the culprits."""
        try:
            return list(
                await self.scorer.score([m.text for m in messages], [m.channel for m in messages])
            )
        except InferenceError as exc:
            if len(messages) == 1:
                return [Rejection(Reason.MODEL_FAILED, str(exc)[:2000])]
            half = len(messages) // 2
            return [*await self._score(messages[:half]), *await self._score(messages[half:])]

    async def _index(self, batch: Batch) -> None:
        assert batch.scored_at is not None
        requests: list[IndexRequest] = []
        by_id: dict[str, Message] = {}
        for message, result in zip(batch.accepted, batch.results, strict=True):
            if isinstance(result, Rejection):
                await self._dead_letter(batch.raw_by_id[message.id], result, message.id)
                continue
            document = scored_document(message, result, batch.received_at, batch.scored_at)
            index = self.layout.messages_index(message.created_at)
            requests.append(IndexRequest(message.id, bulk_lines(index, message.id, document)))
            by_id[message.id] = message
        if not requests:
            return
        outcome = await self.sink.write(requests)
        for request, error in outcome.rejected:
            rejection = Rejection(Reason.INDEX_REJECTED, error)
            await self._dead_letter(batch.raw_by_id[request.doc_id], rejection, request.doc_id)
        rejected = {r.doc_id for r, _ in outcome.rejected}
        now = datetime.now(UTC)
        for doc_id, message in by_id.items():
            if doc_id not in rejected:
                self.metrics.messages_indexed.labels(channel=message.channel).inc()
                self.metrics.end_to_end_seconds.observe(
                    max(0.0, (now - message.created_at).total_seconds())
                )

    async def _dead_letter(
        self, record: RawRecord, rejection: Rejection, message_id: str | None = None
    ) -> None:
        value = dead_letter(
            rejection.reason,
            rejection.detail,
            record.value or b"",
            record.position,
            record.key,
            message_id,
        )
        await self.dead_letters.send(value, record.key)
        self.metrics.dead_letters.labels(reason=rejection.reason.value).inc()
        log.info(
            "dead-lettered %s: %s (%s)",
            record.position.default_id,
            rejection.reason.value,
            rejection.detail[:200],
        )
