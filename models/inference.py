"""The inference engine: batched, length-bucketed scoring of many texts at once.

Per call: tokenize once (fast tokenizer, no padding), sort by length, cut into forward passes
that stay under a token budget (rows x longest row), pad each pass only to its own longest row,
and put results back in input order. CUDA runs under fp16 autocast with pinned host memory;
On CPU the passes of one call run side by side, one core each (``streams``): a forward pass
split over two cores waits at every operator for its slower half, and on a machine shared with
Kafka, Elasticsearch and the event loop one half is often descheduled; separate passes just
share what CPU there is. CPU runs under bf16 autocast when the processor has native bf16
dot products (AVX512-BF16 / AMX: about 2.5x the fp32 rate on MiniLM) and in fp32 otherwise.
The heads always run in fp32 on the pooled embedding, so probabilities stay well formed.
The engine is meant to be driven by one inference thread; a lock makes concurrent use safe
but serial.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

from models.calibration import ChannelCalibration
from models.checkpoint import Checkpoint
from models.classifier import channel_mask
from models.errors import InferenceError
from models.examples import SENTIMENTS
from models.taxonomy import OTHER, Taxonomy

log = logging.getLogger(__name__)


class EngineState(Enum):
    LOADING = "loading"
    READY = "ready"
    RETIRED = "retired"


@dataclass(frozen=True)
class Prediction:
    sentiment: str
    sentiment_confidence: float
    sentiment_probs: dict[str, float]
    topic: str
    topic_confidence: float
    topic_probs: dict[str, float]
    model_version: str


@dataclass(frozen=True)
class EngineOptions:
    device: str = "auto"  # auto | cpu | cuda
    max_length: int = 128  # tokens per text after truncation
    token_budget: int = 2048  # rows x padded length per forward pass (best pipeline here)
    max_batch: int = 256  # rows per forward pass
    threads: int | None = None  # CPU cores to use; None = every core this process may run on
    streams: int | None = None  # CPU passes side by side; None = one per core (CUDA: always 1)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (the encoder's compute type)


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def cpu_has_native_bf16() -> bool:
    """True when oneDNN runs bf16 matmuls natively here (else bf16 would be emulated, slowly)."""
    try:
        return bool(
            torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
            and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):  # private probe; absent on some builds
        return False


def compute_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for the encoder on ``device``; None means plain fp32."""
    if precision not in PRECISIONS:
        raise InferenceError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_native_bf16() else None
    if precision == "fp16" and device.type != "cuda":
        raise InferenceError("precision fp16 needs CUDA; on CPU use bf16 or fp32")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InferenceError("device 'cuda' was requested but CUDA is not available here")
    return torch.device(name)


def plan_batches(lengths: Sequence[int], token_budget: int, max_batch: int) -> list[list[int]]:
    """Group indices into forward passes, longest first, each within the token budget.

    Sorting by length means each pass pads to a length close to all of its rows, which is
    where most of the CPU time goes. A single text longer than the budget gets a pass alone.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        if current and ((len(current) + 1) * longest > token_budget or len(current) >= max_batch):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def cpu_layout(device: torch.device, options: EngineOptions) -> tuple[int, int]:
    """(passes side by side, intra-op threads per pass); streams x threads = the cores given."""
    if device.type != "cpu":
        return 1, torch.get_num_threads()
    cores = options.threads or len(os.sched_getaffinity(0))
    streams = max(1, min(options.streams or cores, cores))
    return streams, max(1, cores // streams)


def plan_call(
    lengths: Sequence[int], token_budget: int, max_batch: int, streams: int = 1
) -> list[list[int]]:
    """The forward passes of one ``predict`` call: with several streams, the budget shrinks so
    the call splits into at least that many passes of similar cost, one per core."""
    if streams > 1:
        token_budget = min(token_budget, max(1, -(-sum(lengths) // streams)))
    return plan_batches(lengths, token_budget, max_batch)


class InferenceEngine:
    """Scores texts with one model version.

    Lifecycle: build (loading) → :meth:`warm_up` (ready) → :meth:`predict` ... → :meth:`retire`.
    """

    def __init__(
        self,
        checkpoint: Checkpoint,
        version: str,
        taxonomy: Taxonomy | None = None,
        options: EngineOptions | None = None,
    ) -> None:
        self.state = EngineState.LOADING
        self.version = version
        self.options = options or EngineOptions()
        self.device = resolve_device(self.options.device)
        self.dtype = compute_dtype(self.device, self.options.precision)
        self.precision = {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[self.dtype]
        self.streams, threads = cpu_layout(self.device, self.options)
        self._passes: ThreadPoolExecutor | None = None
        if self.device.type == "cpu":
            # Process-wide default, used by a call that makes a single pass: it runs on the
            # calling thread over every core. Passes side by side get ``threads`` each.
            torch.set_num_threads(self.streams * threads)
            if self.streams > 1:
                # Each pass thread fixes its own intra-op thread count (an OpenMP per-thread
                # setting), so later torch.set_num_threads calls elsewhere cannot change it.
                self._passes = ThreadPoolExecutor(
                    self.streams,
                    thread_name_prefix="forward",
                    initializer=torch.set_num_threads,
                    initargs=(threads,),
                )
        self.tokenizer = checkpoint.tokenizer
        # What this version can score; messages in other languages should not reach
        # predict() (see models.language.is_supported).
        self.languages: list[str] = list(checkpoint.languages)
        self.classifier = checkpoint.classifier
        self.taxonomy = taxonomy or checkpoint.taxonomy
        self.zero_shot_topics = self.classifier.align_topics(self.taxonomy, self.tokenizer)
        # Channels whose "other" was never trained: there it is a decision (no named topic
        # is close enough), not a description competing with the named ones.
        threshold = self.classifier.zero_shot_other_threshold
        self.other_threshold = threshold
        self.other_is_decision = {
            channel
            for channel in self.taxonomy.channels
            if threshold is not None and f"{channel}/{OTHER}" in self.zero_shot_topics
        }
        self.classifier.to(self.device).eval()
        self._lock = threading.Lock()
        self._freeze_heads()

    def _freeze_heads(self) -> None:
        """Precompute what every batch reuses: normalized prototypes, scales, channel masks."""
        model = self.classifier
        with torch.no_grad():
            self._prototypes = torch.nn.functional.normalize(model.topic_prototypes.float(), dim=-1)
            self._topic_scale = float(model.topic_log_scale.exp())
            self._topic_bias = model.topic_bias.float()
            self._sentiment_t = float(model.sentiment_temperature)
            self._topic_t = float(model.topic_temperature)
        self.channel_calibration: dict[str, ChannelCalibration] = dict(model.sentiment_calibration)
        self._global_calibration = ChannelCalibration(self._sentiment_t, (0.0,) * len(SENTIMENTS))
        keys = list(self.taxonomy.keys)
        self._keys = keys
        self._slugs = [key.split("/", 1)[1] for key in keys]
        self._not_other = np.array([slug != OTHER for slug in self._slugs])
        self._topic_bias_np = self._topic_bias.detach().cpu().numpy()
        self._masks = {
            channel: channel_mask(keys, [channel])[0].numpy()
            for channel in (*self.taxonomy.channels, None)
        }

    # -- lifecycle ------------------------------------------------------------------------

    def warm_up(self, rounds: int = 2) -> float:
        """Run a few passes of typical shapes so the first real batch is not slow; seconds."""
        self._check_usable(allow_loading=True)
        started = time.perf_counter()
        sample = ["warm-up message for the model " * k for k in (1, 3, 8)]
        for _ in range(rounds):
            self._predict(sample * 4, [None] * len(sample) * 4)
        self.state = EngineState.READY
        return time.perf_counter() - started

    def retire(self) -> None:
        """Mark the engine as replaced; later calls fail loudly instead of scoring stale."""
        with self._lock:
            self.state = EngineState.RETIRED
            if self._passes is not None:
                self._passes.shutdown(wait=False)

    def _check_usable(self, allow_loading: bool = False) -> None:
        if self.state is EngineState.RETIRED:
            raise InferenceError(f"cannot predict: the engine for {self.version} has been retired")
        if self.state is EngineState.LOADING and not allow_loading:
            raise InferenceError(f"cannot predict: the engine for {self.version} is not warmed up")

    # -- scoring --------------------------------------------------------------------------

    def predict(
        self, texts: Sequence[str], channels: Sequence[str | None] | None = None
    ) -> list[Prediction]:
        """Score ``texts`` (one channel per text, or None); results in input order."""
        self._check_usable()
        if channels is not None and len(channels) != len(texts):
            raise InferenceError(f"{len(texts)} texts but {len(channels)} channels")
        if not all(isinstance(t, str) for t in texts):
            raise InferenceError("every text must be a string")
        return self._predict(texts, channels or [None] * len(texts))

    def _predict(self, texts: Sequence[str], channels: Sequence[str | None]) -> list[Prediction]:
        if not texts:
            return []
        with self._lock:
            encoded = self.tokenizer(
                list(texts), truncation=True, max_length=self.options.max_length
            )["input_ids"]
            lengths = [len(ids) for ids in encoded]
            passes = plan_call(
                lengths, self.options.token_budget, self.options.max_batch, self.streams
            )
            inputs = [[encoded[i] for i in rows] for rows in passes]
            if self._passes is not None and len(passes) > 1:
                outputs = list(self._passes.map(self._forward, inputs))
            else:
                outputs = [self._forward(rows) for rows in inputs]
            results: list[Prediction | None] = [None] * len(texts)
            for rows, (sentiment, topic) in zip(passes, outputs, strict=True):
                for row, index in enumerate(rows):
                    results[index] = self._decode(sentiment[row], topic[row], channels[index])
        return [r for r in results if r is not None]

    def _forward(self, rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)  # 0 is BERT's [PAD]
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        input_ids, attention = torch.from_numpy(ids), torch.from_numpy(mask)
        cuda = self.device.type == "cuda"
        if cuda:
            input_ids = input_ids.pin_memory().to(self.device, non_blocking=True)
            attention = attention.pin_memory().to(self.device, non_blocking=True)
        try:
            with torch.inference_mode():
                with torch.autocast(
                    device_type=self.device.type,
                    dtype=self.dtype or torch.float32,
                    enabled=self.dtype is not None,
                ):
                    pooled = self.classifier.embed(input_ids, attention).float()
                sentiment = self.classifier.sentiment_head(pooled)  # raw: calibrated per channel
                cosine = torch.nn.functional.normalize(pooled, dim=-1) @ self._prototypes.T
                topic = (cosine * self._topic_scale + self._topic_bias) / self._topic_t
        except RuntimeError as exc:
            raise InferenceError(f"forward pass failed for {len(rows)} texts: {exc}") from exc
        return sentiment.cpu().numpy(), topic.cpu().numpy()

    def _decode(
        self, sentiment_logits: np.ndarray, topic_logits: np.ndarray, channel: str | None
    ) -> Prediction:
        allowed = self._masks.get(channel, self._masks[None])
        names = self._slugs if channel in self._masks and channel is not None else self._keys
        decision = channel in self.other_is_decision
        if decision:
            allowed = allowed & self._not_other
        logits = np.where(allowed, topic_logits, -np.inf)
        exp = np.exp(logits - logits.max())
        probs = exp / exp.sum()
        best = int(probs.argmax())
        label = names[best]
        topic_probs = {names[i]: round(float(probs[i]), 4) for i in np.flatnonzero(allowed)}
        if decision:
            cosine = (topic_logits[best] * self._topic_t - self._topic_bias_np[best]) / (
                self._topic_scale
            )
            if self.other_threshold is not None and cosine < self.other_threshold:
                label = OTHER
                topic_probs[OTHER] = round(1.0 - float(probs[best]), 4)
        elif probs[best] < self.taxonomy.min_topic_confidence:
            label = OTHER
        calibration = self.channel_calibration.get(channel or "", self._global_calibration)
        scaled = calibration.apply(sentiment_logits)
        scaled = np.exp(scaled - scaled.max())
        sentiment = scaled / scaled.sum()
        s_best = int(sentiment.argmax())
        return Prediction(
            sentiment=SENTIMENTS[s_best],
            sentiment_confidence=float(sentiment[s_best]),
            sentiment_probs={
                s: round(float(p), 4) for s, p in zip(SENTIMENTS, sentiment, strict=True)
            },
            topic=label,
            topic_confidence=float(topic_probs.get(label, probs[best])),
            topic_probs=topic_probs,
            model_version=self.version,
        )
