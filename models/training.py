"""Fine-tuning the classifier (encoder included) on labelled examples, reproducibly on CPU.

The retrain loop calls :func:`fine_tune` with the newly labelled messages plus a replay of
older data, so the model learns the new without forgetting the old. Temperatures for
calibrated probabilities are fitted afterwards on a held-out slice of the same data.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from models.calibration import MIN_EXAMPLES, fit_channel_calibration
from models.checkpoint import Checkpoint
from models.classifier import MoodClassifier, channel_mask
from models.errors import InferenceError, ModelError
from models.examples import SENTIMENTS, Example
from models.inference import compute_dtype
from models.taxonomy import OTHER, Taxonomy

log = logging.getLogger(__name__)
IGNORE = -100
# An additional loss term per step: (batch, sentiment logits, channel-masked topic logits).
ExtraLoss = Callable[[Sequence[Example], torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 3
    batch_size: int = 16
    encoder_lr: float = 4e-5
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    max_length: int = 128
    calibration_fraction: float = 0.1
    topic_loss_weight: float = 1.0
    # Weigh each topic's loss by 1/sqrt(its share of the labels). Off by default: on the seed
    # data it measured golden topic macro-F1 0.893 against 0.902 without it.
    topic_class_balance: bool = False
    # Spread this share of each sentiment target over the other classes (softer logits;
    # 0 = plain cross-entropy). Off: 0.1 moved the public sets by under half a point either
    # way and golden sentiment 0.872 -> 0.867 (per-channel calibration already softens).
    label_smoothing: float = 0.0
    # Weigh each sentiment class's loss by (1/its share of the labels) ** this power, so a
    # class the data under-represents still pulls its weight (0 = off, 1 = fully balanced).
    # Off by default: the seed is near balance (0.5 changed no public-set number by > 0.001).
    sentiment_balance_power: float = 0.0
    seed: int = 1234
    threads: int | None = None
    # Speed: the encoder's compute type ("auto" = bf16 autocast on a CUDA device that has it,
    # else fp32; see training_dtype), batches of similar token length (less padding), and how
    # many of the lowest encoder layers (plus the embeddings) stay frozen. One frozen layer,
    # not two: on 800-row slices of the public sets it lifted twitter_financial_news macro-F1
    # 0.641 -> 0.665 and golden sentiment 0.866 -> 0.872 for a quarter more fine-tuning time;
    # none (embeddings trained too) took about three times as long (bench/README.md, issue 11).
    precision: str = "auto"
    length_bucketing: bool = True
    frozen_layers: int = 1
    # Stop fine-tuning (then calibrate as usual) once this many seconds have passed.
    time_budget_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainingResult:
    checkpoint: Checkpoint
    losses: list[float] = field(default_factory=list)
    sentiment_temperature: float = 1.0
    topic_temperature: float = 1.0
    trained_on: int = 0
    calibrated_on: int = 0
    channel_calibration: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    examples_seen: int = 0
    stopped_by_time_budget: bool = False

    @property
    def examples_per_second(self) -> float:
        return self.examples_seen / self.seconds if self.seconds else 0.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def new_classifier(
    encoder: Any, tokenizer: PreTrainedTokenizerBase, taxonomy: Taxonomy
) -> MoodClassifier:
    """A fresh classifier whose topic prototypes are the taxonomy's description embeddings."""
    classifier = MoodClassifier(encoder, [])
    classifier.align_topics(taxonomy, tokenizer)
    return classifier


def _labels(examples: Sequence[Example], taxonomy: Taxonomy) -> tuple[list[int], list[int]]:
    sentiments, topics = [], []
    for example in examples:
        sentiments.append(SENTIMENTS.index(example.sentiment) if example.sentiment else IGNORE)
        if (
            example.topic
            and example.channel
            and f"{example.channel}/{example.topic}" in taxonomy.keys
        ):
            topics.append(taxonomy.index(example.channel, example.topic))
        else:
            topics.append(IGNORE)
    return sentiments, topics


def _split_calibration(
    examples: Sequence[Example], fraction: float, rng: random.Random
) -> tuple[list[Example], list[Example]]:
    shuffled = list(examples)
    rng.shuffle(shuffled)
    held = int(len(shuffled) * fraction) if len(shuffled) >= 50 else 0
    return shuffled[held:], shuffled[:held]


def _batches(
    examples: Sequence[Example],
    size: int,
    rng: random.Random,
    lengths: dict[str, int] | None = None,
) -> list[list[Example]]:
    """Shuffled batches; with ``lengths``, rows of similar token length share a batch.

    Bucketing sorts within pools of 50 batches (not the whole set), then shuffles the batch
    order, so each epoch still mixes topics and channels while padding stays small.
    """
    order = list(examples)
    rng.shuffle(order)
    if lengths is None:
        return [order[i : i + size] for i in range(0, len(order), size)]
    pool = size * 50
    batches: list[list[Example]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda e: lengths[e.text])
        batches.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
    rng.shuffle(batches)
    return batches


def _autocast(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    return torch.autocast(
        device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None
    )


def training_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for fine-tuning; None means plain fp32.

    ``auto`` is fp32 on CPU even where serving uses bf16: measured on an AVX512-BF16 Xeon,
    a bf16-autocast forward + backward pass of MiniLM took 2.2x as long as fp32 (the
    backward kernels and the casts around every op cost more than the matmuls save). On
    CUDA, ``auto`` is bf16 when the device supports it (no loss scaling needed).
    """
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    try:
        return compute_dtype(device, precision)
    except InferenceError as exc:
        raise ModelError(f"training precision: {exc}") from exc


def freeze_lower_layers(model: MoodClassifier, layers: int) -> int:
    """Freeze the embeddings and the lowest ``layers`` encoder layers; returns how many froze.

    Lower layers hold general language knowledge that a few thousand examples barely move;
    freezing them skips their weight gradients (about a third less backward work for 2 of 6).
    """
    if layers <= 0:
        return 0
    stack = getattr(getattr(model.encoder, "encoder", None), "layer", None)
    embeddings = getattr(model.encoder, "embeddings", None)
    if stack is None or embeddings is None:
        raise ModelError(
            f"cannot freeze layers of a {type(model.encoder).__name__}: "
            "it has no .embeddings and .encoder.layer (a BERT-style encoder has)"
        )
    frozen = min(layers, len(stack))
    for module in [embeddings, *list(stack)[:frozen]]:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
    return frozen


def _logits(
    model: MoodClassifier,
    tokenizer: PreTrainedTokenizerBase,
    batch: Sequence[Example],
    taxonomy: Taxonomy,
    max_length: int,
    dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    device = model.topic_prototypes.device
    encoded = tokenizer(
        [e.text for e in batch],
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    ).to(device)
    with _autocast(device, dtype):
        sentiment, topic = model(encoded["input_ids"], encoded["attention_mask"])
    mask = channel_mask(taxonomy.keys, [e.channel for e in batch]).to(device)
    return sentiment.float(), topic.float().masked_fill(~mask, -1e4)


def fine_tune(
    checkpoint: Checkpoint,
    new: Sequence[Example],
    replay: Sequence[Example] = (),
    config: TrainingConfig | None = None,
    progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
    extra_loss: ExtraLoss | None = None,
) -> TrainingResult:
    """Fine-tune ``checkpoint`` in place on ``new`` + ``replay`` examples and calibrate it.

    ``extra_loss(batch, sentiment_logits, topic_logits)`` is added to each step's loss (the
    retrain loop distils the parent's answers this way); the topic logits arrive masked to
    each example's channel.
    """
    config = config or TrainingConfig()
    data = [*new, *replay]
    if not data:
        raise ModelError("nothing to train on: no labelled examples were given")
    seed_everything(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    rng = random.Random(config.seed)
    model, tokenizer, taxonomy = checkpoint.classifier, checkpoint.tokenizer, checkpoint.taxonomy
    model.align_topics(taxonomy, tokenizer)
    device = model.topic_prototypes.device
    dtype = training_dtype(device, config.precision)
    train_set, calibration_set = _split_calibration(data, config.calibration_fraction, rng)
    lengths = (
        _token_lengths(tokenizer, train_set, config.max_length)
        if (config.length_bucketing)
        else None
    )
    frozen = freeze_lower_layers(model, config.frozen_layers)
    topic_weights = (
        _topic_weights(train_set, taxonomy).to(device) if config.topic_class_balance else None
    )
    sentiment_weights = (
        _sentiment_weights(train_set, config.sentiment_balance_power).to(device)
        if config.sentiment_balance_power
        else None
    )

    encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder_params, "lr": config.encoder_lr},
            {"params": head_params, "lr": config.head_lr},
        ],
        weight_decay=config.weight_decay,
    )
    steps = config.epochs * -(-len(train_set) // config.batch_size)
    warmup = max(1, int(steps * config.warmup_fraction))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    result = TrainingResult(
        checkpoint, trained_on=len(train_set), calibrated_on=len(calibration_set)
    )
    log.info(
        "fine-tuning on %d examples: %d steps, precision %s, %d encoder layers frozen",
        len(train_set),
        steps,
        "fp32" if dtype is None else str(dtype).rsplit(".", 1)[-1],
        frozen,
    )
    model.train()
    bar = tqdm(total=steps, desc="fine-tuning", unit="step", disable=not progress)
    step = 0
    started = time.perf_counter()
    for _epoch in range(config.epochs):
        for batch in _batches(train_set, config.batch_size, rng, lengths):
            if config.time_budget_s is not None and time.perf_counter() - started > (
                config.time_budget_s
            ):
                result.stopped_by_time_budget = True
                break
            sentiment_y, topic_y = (torch.tensor(y) for y in _labels(batch, taxonomy))
            sentiment, topic = _logits(model, tokenizer, batch, taxonomy, config.max_length, dtype)
            loss = _loss(
                sentiment,
                sentiment_y,
                topic,
                topic_y,
                config.topic_loss_weight,
                topic_weights,
                sentiment_weights,
                config.label_smoothing,
            )
            if extra_loss is not None:
                loss = loss + extra_loss(batch, sentiment, topic)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            result.examples_seen += len(batch)
            result.losses.append(loss.item())
            bar.set_postfix(loss=f"{result.losses[-1]:.3f}")
            bar.update()
            if on_step:
                on_step(step, result.losses[-1])
        if result.stopped_by_time_budget:
            log.warning(
                "time budget of %.0f s reached after %d of %d steps",
                config.time_budget_s or 0,
                step,
                steps,
            )
            break
    result.seconds = time.perf_counter() - started
    bar.close()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model.eval()
    if calibration_set:
        result.sentiment_temperature, result.topic_temperature = calibrate(
            model, tokenizer, taxonomy, calibration_set, config.max_length
        )
        result.channel_calibration = {
            channel: calibration.to_dict()
            for channel, calibration in model.sentiment_calibration.items()
        }
    return result


def _token_lengths(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int
) -> dict[str, int]:
    texts = sorted({e.text for e in examples})
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    return {text: len(row) for text, row in zip(texts, ids, strict=True)}


def _loss(
    sentiment: torch.Tensor,
    sentiment_y: torch.Tensor,
    topic: torch.Tensor,
    topic_y: torch.Tensor,
    topic_weight: float,
    class_weights: torch.Tensor | None = None,
    sentiment_weights: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    total = sentiment.new_zeros(())
    if (sentiment_y != IGNORE).any():
        total = total + F.cross_entropy(
            sentiment,
            sentiment_y,
            weight=sentiment_weights,
            ignore_index=IGNORE,
            label_smoothing=label_smoothing,
        )
    if (topic_y != IGNORE).any():
        total = total + topic_weight * F.cross_entropy(
            topic, topic_y, weight=class_weights, ignore_index=IGNORE
        )
    return total


def _sentiment_weights(examples: Sequence[Example], power: float) -> torch.Tensor:
    """(1/share) ** power per sentiment class, normalised to mean 1; unseen classes get 1."""
    counts = torch.tensor(
        [sum(e.sentiment == s for e in examples) for s in SENTIMENTS], dtype=torch.float
    )
    weights = torch.where(counts > 0, (counts.sum() / counts.clamp(min=1)) ** power, 0.0)
    present = weights > 0
    if present.any():
        weights = weights / weights[present].mean()
    return torch.where(present, weights, 1.0)


def _topic_weights(examples: Sequence[Example], taxonomy: Taxonomy) -> torch.Tensor:
    """1/sqrt(share) per topic, normalised to mean 1 over the topics that have labels."""
    _, topics = _labels(examples, taxonomy)
    counts = torch.bincount(
        torch.tensor([t for t in topics if t != IGNORE] or [0], dtype=torch.long),
        minlength=len(taxonomy.keys),
    ).float()
    weights = torch.where(counts > 0, (counts.sum() / counts.clamp(min=1)).sqrt(), 0.0)
    present = weights > 0
    if present.any():
        weights = weights / weights[present].mean()
    return torch.where(present, weights, 1.0)


@torch.no_grad()
def calibrate(
    model: MoodClassifier,
    tokenizer: PreTrainedTokenizerBase,
    taxonomy: Taxonomy,
    held_out: Sequence[Example],
    max_length: int,
    keep_priors: bool = False,
) -> tuple[float, float]:
    """Fit one temperature per head on held-out data (minimum NLL) and store it in the model.

    Also fits each channel's sentiment temperature and class prior (``models.calibration``)
    when the channel has enough held-out labels; returns the two global temperatures. With
    ``keep_priors`` each channel keeps the class prior the model has (none: zero) and only
    its temperature is refitted: for held-out data whose class mix is not the channel's.
    """
    sentiments, topics = [], []
    for start in range(0, len(held_out), 64):
        batch = held_out[start : start + 64]
        s, t = _logits(model, tokenizer, batch, taxonomy, max_length)
        sentiments.append(s)
        topics.append(t)
    sentiment_y, topic_y = (torch.tensor(y) for y in _labels(held_out, taxonomy))
    s_t = _best_temperature(torch.cat(sentiments), sentiment_y)
    t_t = _best_temperature(torch.cat(topics), topic_y)
    model.sentiment_temperature.fill_(s_t)
    model.topic_temperature.fill_(t_t)
    model.zero_shot_other_threshold = fit_other_threshold(model, tokenizer, taxonomy, held_out)
    all_sentiment = torch.cat(sentiments)
    priors = {c: cal.bias for c, cal in model.sentiment_calibration.items()}
    model.sentiment_calibration = {}
    for channel in sorted({e.channel for e in held_out if e.channel}):
        rows = torch.tensor(
            [i for i, e in enumerate(held_out) if e.channel == channel], dtype=torch.long
        )
        labelled = rows[sentiment_y[rows] != IGNORE]
        if len(labelled) >= MIN_EXAMPLES:
            prior = priors.get(channel, (0.0,) * len(SENTIMENTS)) if keep_priors else None
            model.sentiment_calibration[channel] = fit_channel_calibration(
                all_sentiment[labelled], sentiment_y[labelled], prior
            )
    return s_t, t_t


OTHER_QUANTILE = 0.03  # share of in-taxonomy messages a zero-shot "other" may take


@torch.no_grad()
def fit_other_threshold(
    model: MoodClassifier,
    tokenizer: PreTrainedTokenizerBase,
    taxonomy: Taxonomy,
    held_out: Sequence[Example],
    max_length: int = 128,
) -> float | None:
    """The cosine below which a zero-shot channel's message is "other" (see ``classifier``).

    Held-out messages whose topic is a named one are compared with the *descriptions* of
    their channel's named topics, as a new taxonomy would be scored; the threshold is the
    ``OTHER_QUANTILE`` quantile of their best cosine, so about 3 % of messages that do fit a
    described topic would be sent to "other". None when there are too few such messages.
    """
    named = [
        e
        for e in held_out
        if e.channel and e.topic and e.topic != OTHER and f"{e.channel}/{e.topic}" in taxonomy.keys
    ]
    if len(named) < 20:
        return None
    was_training = model.training
    model.eval()
    best = []
    for channel in sorted({e.channel for e in named if e.channel}):
        topics = [t for t in taxonomy.for_channel(channel) if t.slug != OTHER]
        descriptions = model.embed_texts(tokenizer, [t.prompt for t in topics], max_length)
        texts = [e.text for e in named if e.channel == channel]
        for start in range(0, len(texts), 64):
            embedded = model.embed_texts(tokenizer, texts[start : start + 64], max_length)
            best.append((embedded @ descriptions.T).max(dim=1).values)
    model.train(was_training)
    return float(torch.quantile(torch.cat(best), OTHER_QUANTILE))


def _best_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    keep = labels != IGNORE
    if keep.sum() < 10:
        return 1.0
    logits, labels = logits[keep].float(), labels[keep]
    grid = torch.exp(torch.linspace(np.log(0.25), np.log(8.0), 121))
    losses = [float(F.cross_entropy(logits / t, labels)) for t in grid]
    return float(grid[int(np.argmin(losses))])
