"""The worker's pipeline, independent of Faust: validate → redact → score → index → ack.

Three stages run concurrently, joined by small bounded queues::

    submit() ─► [to_score] ─► score stage (validate, redact, dead-letter, model) ─►
                [to_index] ─► index stage (bulk, dead-letter rejects) ─► batch.done()

While batch n is in the model, batch n+1 is being collected and batch n-1 is being written.
When a queue is full, ``submit`` waits, the agent stops taking records and Faust stops fetching:
that is the backpressure path. ``done`` (the Kafka ack) runs only after every record of the batch
is durable in Elasticsearch or in the dead-letter topic, so an offset is never committed for a
record that could still be lost.

Two kinds of failure, two answers:

* **The record's fault** (bad input, a text the model chokes on, a document the index refuses):
  that record alone goes to the dead-letter topic with its reason; any exception while handling
  one record is caught for that record, never for the batch.
* **Everyone's problem** (the model fails on a known-good probe text too, Elasticsearch refuses
  every document or the whole request, Kafka cannot take a dead letter): the stage holds its
  batch and retries with back-off. Nothing is acknowledged and nothing is dead-lettered, so
  consumption pauses through backpressure; the failing :class:`Dependency` says why on
  ``/health`` and in the metrics, and flow resumes by itself when a retry succeeds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from models.errors import InferenceError
from models.inference import Prediction
from models.language import UNDETERMINED, detect_languages, is_supported
from stream.dependencies import ELASTICSEARCH, KAFKA, MODEL, Dependencies
from stream.documents import bulk_lines, scored_document, unsupported_document
from stream.errors import IndexingError
from stream.es_sink import ElasticsearchSink, IndexRequest
from stream.index_layout import IndexLayout
from stream.metrics import WorkerMetrics
from stream.records import Message, Position, Reason, Rejection, dead_letter, dead_letter_key
from stream.redaction import Redactor
from stream.validation import Limits, validate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawRecord:
    value: bytes | None
    key: bytes | None
    position: Position
    timestamp_ms: int | None
    headers: tuple[tuple[str, bytes], ...] = ()


class Scorer(Protocol):
    @property
    def version(self) -> str: ...

    @property
    def languages(self) -> list[str]: ...

    async def score(
        self, texts: Sequence[str], channels: Sequence[str | None]
    ) -> list[Prediction]: ...


class DeadLetterSink(Protocol):
    async def send(self, value: bytes, key: bytes | None) -> None:
        """Return only when the record is durable in the dead-letter topic."""


@dataclass(frozen=True, slots=True)
class Unsupported:
    """The message's language is not one the serving version scores."""

    language: str
    model_version: str


@dataclass
class Batch:
    records: list[RawRecord]
    done: Callable[[], Awaitable[None]]
    received_at: datetime
    accepted: list[Message] = field(default_factory=list)
    raw_by_id: dict[str, RawRecord] = field(default_factory=dict)
    results: list[Prediction | Rejection | Unsupported] = field(default_factory=list)
    scored_at: datetime | None = None


# A text every working model scores: when it fails too, the model is down for everyone.
PROBE_TEXT = "The service answered the question quickly."

# Rejections that say the index, not the document, is the problem.
INDEX_WIDE_ERRORS = frozenset(
    {
        "cluster_block_exception",
        "index_closed_exception",
        "index_not_found_exception",
        "security_exception",
        "invalid_index_name_exception",
        "illegal_argument_exception",
    }
)


class DeadLetterTally:
    """Dead letters summed into one log line per ``every_s`` seconds, not one line each."""

    def __init__(self, every_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self._clock = clock
        self._counts: Counter[str] = Counter()
        self._since = clock()

    def add(self, reason: str) -> None:
        self._counts[reason] += 1
        now = self._clock()
        if now - self._since >= self.every_s or sum(self._counts.values()) == 1:
            total = sum(self._counts.values())
            reasons = ", ".join(f"{r} {n}" for r, n in self._counts.most_common())
            log.info(
                "dead-lettered %d record(s) in the last %.0f s: %s",
                total,
                now - self._since,
                reasons,
            )
            self._counts.clear()
            self._since = now


class ModelUnavailable(Exception):
    """The model failed on the probe text too: no message is to blame."""


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
        dependencies: Dependencies | None = None,
        breaker_threshold: int = 5,
        retry_max_s: float = 30.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self.redactor = redactor
        self.scorer = scorer
        self.sink = sink
        self.layout = layout
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.topic_channels = topic_channels
        self.dependencies = dependencies or Dependencies()
        self.breaker_threshold = breaker_threshold
        self.retry_max_s = retry_max_s
        self._sleep = sleep
        self._to_score: asyncio.Queue[Batch] = asyncio.Queue(maxsize=depth)
        self._to_index: asyncio.Queue[Batch] = asyncio.Queue(maxsize=depth)
        self._tasks: list[asyncio.Task[None]] = []
        self._on_fatal = on_fatal
        self._consecutive_rejections = 0
        self.dead_letter_tally = DeadLetterTally()
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

    @property
    def paused(self) -> bool:
        """True while a stage holds its batch because a dependency is down."""
        return bool(self.dependencies.failing())

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
        except BaseException as exc:  # a bug in a stage itself: stop, do not ack, restart
            log.exception(
                "pipeline stage failed; nothing after the last acknowledged batch is lost"
            )
            self.failure = exc
            if self._on_fatal:
                self._on_fatal(exc)

    async def _hold(self, attempt: int, dependency: str, reason: str) -> int:
        """A dependency is down for everyone: note it, wait, and let the caller retry."""
        self.dependencies[dependency].failed(reason)
        self.metrics.held_batches.labels(dependency=dependency).inc()
        delay = min(self.retry_max_s, 0.2 * 2 ** min(attempt, 16)) * (0.5 + random.random() / 2)
        await self._sleep(delay)
        return attempt + 1

    # -- stages ---------------------------------------------------------------------------

    async def _score_stage(self) -> None:
        while True:
            batch = await self._to_score.get()
            await self._prepare(batch)
            if batch.accepted:
                self.metrics.batch_size.observe(len(batch.accepted))
                attempt = 0
                while True:
                    try:
                        with self.metrics.inference_seconds.time():
                            batch.results = await self._score_supported(batch)
                    except ModelUnavailable as exc:
                        attempt = await self._hold(attempt, MODEL, str(exc))
                        continue
                    self.dependencies[MODEL].recovered()
                    break
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
            try:
                outcome = self._accept(record)
            except Exception as exc:  # a bug or an input nobody foresaw: this record only
                log.exception("could not handle %s", record.position.default_id)
                outcome = Rejection(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
            if isinstance(outcome, Rejection):
                await self._dead_letter(record, outcome)
                continue
            if outcome.id in batch.raw_by_id:  # the same id twice in one batch: last one wins
                batch.accepted = [m for m in batch.accepted if m.id != outcome.id]
            batch.accepted.append(outcome)
            batch.raw_by_id[outcome.id] = record

    def _accept(self, record: RawRecord) -> Message | Rejection:
        outcome = validate(
            record.value,
            record.position,
            record.timestamp_ms,
            self.topic_channels.get(record.position.topic),
            self.limits,
        )
        if isinstance(outcome, Rejection):
            return outcome
        text, kinds = self.redactor.redact(outcome.text)
        return Message(
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

    async def _score_supported(self, batch: Batch) -> list[Prediction | Rejection | Unsupported]:
        """Score the messages in a language the serving version supports; mark the others.

        A message without ``lang`` gets the detected one (stored in its document); the check is
        redone per batch, so a swap to a multilingual version takes effect at once.
        """
        missing = [i for i, m in enumerate(batch.accepted) if not m.lang]
        if missing:
            found = detect_languages([batch.accepted[i].text for i in missing])
            for i, lang in zip(missing, found, strict=True):
                batch.accepted[i] = replace(batch.accepted[i], lang=lang)
        supported = self.scorer.languages
        version = self.scorer.version
        results: list[Prediction | Rejection | Unsupported] = []
        todo = [m for m in batch.accepted if is_supported(m.lang or UNDETERMINED, supported)]
        scored = iter(await self._score(todo)) if todo else iter(())
        for message in batch.accepted:
            if is_supported(message.lang or UNDETERMINED, supported):
                results.append(next(scored))
            else:
                language = message.lang or UNDETERMINED
                self.metrics.unsupported_language.labels(lang=language[:16]).inc()
                results.append(Unsupported(language, version))
        return results

    async def _score(self, messages: list[Message]) -> list[Prediction | Rejection]:
        """Score a batch; when the model fails, tell a bad text from a broken model.

        A failure is first checked against a known-good probe text: when that fails too, the
        model is down for everyone (:class:`ModelUnavailable`, the batch is held). Otherwise
        the batch is split in halves until only the culprits are left, and they are rejected.
        """
        try:
            return list(
                await self.scorer.score([m.text for m in messages], [m.channel for m in messages])
            )
        except InferenceError as exc:
            await self._probe_model(exc)
            if len(messages) == 1:
                return [Rejection(Reason.MODEL_FAILED, str(exc)[:2000])]
            half = len(messages) // 2
            return [*await self._score(messages[:half]), *await self._score(messages[half:])]

    async def _probe_model(self, failure: InferenceError) -> None:
        try:
            await self.scorer.score([PROBE_TEXT], [None])
        except InferenceError as exc:
            raise ModelUnavailable(f"the model fails on every text: {exc}"[:500]) from failure

    async def _index(self, batch: Batch) -> None:
        assert batch.scored_at is not None
        scored: list[tuple[Message, Prediction | Unsupported]] = [
            (message, result)
            for message, result in zip(batch.accepted, batch.results, strict=True)
            if not isinstance(result, Rejection)
        ]
        for message, result in zip(batch.accepted, batch.results, strict=True):
            if isinstance(result, Rejection):
                await self._dead_letter(batch.raw_by_id[message.id], result, message.id)
        if not scored:
            return
        existing = await self._locate([m.id for m, _ in scored])
        requests: list[IndexRequest] = []
        by_id: dict[str, Message] = {}
        for message, prediction in scored:
            try:
                if isinstance(prediction, Unsupported):
                    document = unsupported_document(
                        message, prediction.model_version, batch.received_at, batch.scored_at
                    )
                else:
                    document = scored_document(
                        message, prediction, batch.received_at, batch.scored_at
                    )
                index = existing.get(message.id) or self.layout.messages_index(message.created_at)
                requests.append(IndexRequest(message.id, bulk_lines(index, message.id, document)))
            except Exception as exc:  # e.g. a field that cannot be encoded: this record only
                log.exception("could not build the document of %s", message.id)
                rejection = Rejection(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
                await self._dead_letter(batch.raw_by_id[message.id], rejection, message.id)
                continue
            by_id[message.id] = message
        rejected = await self._write(requests)
        for request, error in rejected:
            rejection = Rejection(Reason.INDEX_REJECTED, error)
            await self._dead_letter(batch.raw_by_id[request.doc_id], rejection, request.doc_id)
        refused = {r.doc_id for r, _ in rejected}
        now = datetime.now(UTC)
        for doc_id, message in by_id.items():
            if doc_id not in refused:
                self.metrics.messages_indexed.labels(channel=message.channel).inc()
                self.metrics.end_to_end_seconds.observe(
                    max(0.0, (now - message.created_at).total_seconds())
                )

    async def _locate(self, ids: list[str]) -> dict[str, str]:
        attempt = 0
        while True:
            try:
                return await self.sink.locate(self.layout.messages_alias, ids)
            except IndexingError as exc:
                attempt = await self._hold(attempt, ELASTICSEARCH, str(exc)[:500])

    async def _write(self, requests: list[IndexRequest]) -> list[tuple[IndexRequest, str]]:
        """Write until every request is indexed or refused for its own sake; returns those."""
        pending = requests
        attempt = 0
        while pending:
            try:
                outcome = await self.sink.write(pending)
            except IndexingError as exc:  # the whole request refused: the index's problem
                attempt = await self._hold(attempt, ELASTICSEARCH, str(exc)[:500])
                continue
            if outcome.indexed:
                self._consecutive_rejections = 0
            rejected = outcome.rejected
            if rejected and self._index_wide(rejected, len(pending)):
                reason = f"every document refused: {rejected[0][1][:300]}"
                attempt = await self._hold(attempt, ELASTICSEARCH, reason)
                pending = [request for request, _ in rejected]
                continue
            self._consecutive_rejections += len(rejected)
            self.dependencies[ELASTICSEARCH].recovered()
            return rejected
        return []

    def _index_wide(self, rejected: list[tuple[IndexRequest, str]], sent: int) -> bool:
        """Whether refusals look like the index's fault rather than the documents'.

        An error type that is index-wide by nature; every document of a request of two or more
        refused for the same reason; or ``breaker_threshold`` refusals in a row with no
        success between them.
        """
        types = {_error_type(error) for _, error in rejected}
        if types & INDEX_WIDE_ERRORS:
            return True
        if len(rejected) == sent >= 2 and len(types) == 1:
            return True
        return self._consecutive_rejections + len(rejected) >= self.breaker_threshold > 0

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
            timestamp_ms=record.timestamp_ms,
            headers=record.headers,
        )
        attempt = 0
        while True:
            try:
                await self.dead_letters.send(value, dead_letter_key(record.position))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka cannot take it: hold, never drop the record
                attempt = await self._hold(attempt, KAFKA, f"dead-letter send failed: {exc}")
                continue
            self.dependencies[KAFKA].recovered()
            break
        self.metrics.dead_letters.labels(reason=rejection.reason.value).inc()
        log.debug(
            "dead-lettered %s: %s (%s)",
            record.position.default_id,
            rejection.reason.value,
            rejection.detail[:200],
        )
        self.dead_letter_tally.add(rejection.reason.value)


def _error_type(error: str) -> str:
    try:
        parsed = json.loads(error)
    except ValueError:
        return ""
    return str(parsed.get("type", "")) if isinstance(parsed, dict) else ""
